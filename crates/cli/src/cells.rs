//! Turning the server's JSON objects into table cells. Read commands print the
//! server's JSON untouched with `--output json`; these only shape the table view.

use serde_json::Value;

/// A field as text: strings as they are, numbers and booleans printed, null and
/// missing as empty.
pub(crate) fn text(object: &Value, field: &str) -> String {
    match object.get(field) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The first 8 characters of an id: enough to tell rows apart in a table.
pub(crate) fn short_id(object: &Value, field: &str) -> String {
    text(object, field).chars().take(8).collect()
}

/// `agent 1a2b3c4d`, `member 5e6f7a8b`, or empty: who a `<kind>_type`/`<kind>_id`
/// pair names.
pub(crate) fn actor(object: &Value, kind: &str) -> String {
    let actor_type = text(object, &format!("{kind}_type"));
    let id = short_id(object, &format!("{kind}_id"));
    match (actor_type.is_empty(), id.is_empty()) {
        (true, true) => String::new(),
        (true, false) => id,
        (false, true) => actor_type,
        (false, false) => format!("{actor_type} {id}"),
    }
}

/// The date part of an RFC 3339 timestamp plus hours and minutes, for narrow
/// columns: `2026-04-01 12:30`.
pub(crate) fn when(object: &Value, field: &str) -> String {
    let raw = text(object, field);
    match (raw.get(..10), raw.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => raw,
    }
}

/// The items of a list answer: a bare array, or the array under `key` of an
/// envelope (`{"issues":[…],"total":n}`).
pub(crate) fn items<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer
        .as_array()
        .or_else(|| answer.get(key).and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_read_the_server_shapes() {
        let issue = json!({
            "identifier": "MUL-7", "number": 7, "due_date": null,
            "assignee_type": "agent", "assignee_id": "0123456789abcdef",
            "created_at": "2026-04-01T12:30:45Z"
        });
        assert_eq!(text(&issue, "identifier"), "MUL-7");
        assert_eq!(text(&issue, "number"), "7");
        assert_eq!(text(&issue, "due_date"), "");
        assert_eq!(text(&issue, "missing"), "");
        assert_eq!(actor(&issue, "assignee"), "agent 01234567");
        assert_eq!(actor(&json!({}), "assignee"), "");
        assert_eq!(when(&issue, "created_at"), "2026-04-01 12:30");
        assert_eq!(
            items(&json!({"issues": [1, 2], "total": 2}), "issues").len(),
            2
        );
        assert_eq!(items(&json!([1]), "issues").len(), 1);
    }
}
