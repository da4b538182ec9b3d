//! Behaviour of the Go server's standard library that clients can observe: how it
//! parses UUIDs and request bodies, and how it formats times and JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `pgtype.UUID.Scan` as the seed server uses it (`util.ParseUUID`): 36 characters
/// (the four separators are dropped unchecked) or 32 hex digits, either case.
/// Anything else becomes a NULL UUID, which matches no row: `None` here.
pub(crate) fn parse_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    let hex: Vec<u8> = match bytes.len() {
        36 => bytes
            .iter()
            .enumerate()
            .filter(|(index, _)| !matches!(index, 8 | 13 | 18 | 23))
            .map(|(_, byte)| *byte)
            .collect(),
        32 => bytes.to_vec(),
        _ => return None,
    };
    let mut raw = [0u8; 16];
    for (slot, pair) in raw.iter_mut().zip(hex.chunks_exact(2)) {
        let high = hex_value(pair[0])?;
        let low = hex_value(pair[1])?;
        *slot = (high << 4) | low;
    }
    Some(Uuid::from_bytes(raw))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `time.RFC3339`: second precision, `Z` for UTC.
pub(crate) fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Millisecond precision, for the admin API's records of arrival times.
pub(crate) fn format_time_millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------------------
// Request bodies: `json.NewDecoder(r.Body).Decode(&req)`

/// Why a body did not decode. The handlers answer every one of them with
/// 400 `invalid request body`, as the seed does.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("empty body")]
    Empty,
    #[error("malformed JSON: {0}")]
    Syntax(serde_json::Error),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("field of the wrong type: {0}")]
    Type(serde_json::Error),
}

/// A request struct decoded the way Go's `encoding/json` decodes into a struct:
/// only the first JSON value of the body counts (trailing bytes are ignored),
/// `null` leaves the zero value, unknown fields are ignored, and object keys
/// match field names case-insensitively.
pub(crate) trait GoRequest: DeserializeOwned + Default {
    /// Rename keys that match a field name only case-insensitively, here and in
    /// nested objects that are Go structs (not in `map[string]any` values).
    fn fold_keys(value: &mut Map<String, Value>);
}

pub(crate) fn decode<T: GoRequest>(body: &[u8]) -> Result<T, DecodeError> {
    let first = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .ok_or(DecodeError::Empty)?
        .map_err(DecodeError::Syntax)?;
    match first {
        Value::Null => Ok(T::default()),
        Value::Object(mut object) => {
            T::fold_keys(&mut object);
            serde_json::from_value(Value::Object(object)).map_err(DecodeError::Type)
        }
        _ => Err(DecodeError::NotAnObject),
    }
}

/// Renames keys of `object` that equal one of `fields` ignoring ASCII case. An
/// exact match is left alone and wins over a folded one.
pub(crate) fn fold_keys(object: &mut Map<String, Value>, fields: &[&str]) {
    let renames: Vec<(String, &str)> = object
        .keys()
        .filter(|key| !fields.contains(&key.as_str()))
        .filter_map(|key| {
            fields
                .iter()
                .find(|field| field.eq_ignore_ascii_case(key))
                .map(|field| (key.clone(), *field))
        })
        .collect();
    for (from, to) in renames {
        if let Some(value) = object.remove(&from)
            && !object.contains_key(to)
        {
            object.insert(to.to_owned(), value);
        }
    }
}

/// Applies `fold` to every object inside the array stored under `field`.
pub(crate) fn fold_array_items(
    object: &mut Map<String, Value>,
    field: &str,
    fold: impl Fn(&mut Map<String, Value>),
) {
    if let Some(Value::Array(items)) = object.get_mut(field) {
        for item in items {
            if let Value::Object(inner) = item {
                fold(inner);
            }
        }
    }
}

/// `deserialize_with` for any field: JSON `null` leaves Go's zero value.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `deserialize_with` for slices: `null` is an empty slice and `null` elements are
/// zero values.
pub(crate) fn null_items_as_default<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let items = Option::<Vec<Option<T>>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(items.into_iter().map(Option::unwrap_or_default).collect())
}

// ---------------------------------------------------------------------------
// Response bodies: `json.NewEncoder(w).Encode(v)`

/// Serializes like Go's `json.Encoder`: HTML-sensitive characters and the two
/// JavaScript line terminators escaped, and a trailing newline.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let plain = serde_json::to_string(value)?;
    let mut out = String::with_capacity(plain.len() + 1);
    // These characters never occur outside strings in serde_json's output, so a
    // textual replacement is exact.
    for ch in plain.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out.push('\n');
    Ok(out)
}

/// A JSON value as Go re-encodes it after decoding into `any`: object keys
/// sorted, and numbers that went through `float64` printed the way Go prints
/// them (an integral float has no `.0`).
pub(crate) fn as_go_any(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for key in keys {
                if let Some(inner) = object.get(key) {
                    sorted.insert(key.clone(), as_go_any(inner));
                }
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_go_any).collect()),
        Value::Number(number) => Value::Number(go_float_number(number)),
        other => other.clone(),
    }
}

fn go_float_number(number: &serde_json::Number) -> serde_json::Number {
    if number.is_i64() || number.is_u64() {
        return number.clone();
    }
    match number.as_f64() {
        // Below 1e21 Go prints integral floats without exponent or fraction.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked to be integral and in range"
        )]
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => {
            serde_json::Number::from(float as i64)
        }
        _ => number.clone(),
    }
}

// ---------------------------------------------------------------------------
// Small helpers of the seed's handlers

/// `generateIssuePrefix`: the first three letters of the name, upper-cased, or `WS`.
pub(crate) fn issue_prefix_for(name: &str) -> String {
    let letters: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase();
    if letters.is_empty() {
        "WS".to_owned()
    } else {
        letters
    }
}

/// A URL slug for a workspace name: lower-case ASCII letters and digits joined by `-`.
pub(crate) fn slug_for(name: &str) -> String {
    let mut slug = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "workspace".to_owned()
    } else {
        slug
    }
}

/// One `[label](mention://type/id)` reference (`util.ParseMentions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mention {
    pub(crate) kind: String,
    pub(crate) id: String,
}

/// `util.ParseMentions`: `[@?label](mention://(member|agent|issue|all)/(hex-or-dash+|all))`,
/// deduplicated, in order of appearance.
pub(crate) fn parse_mentions(content: &str) -> Vec<Mention> {
    static MENTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\[@?[^\]]*\]\(mention://(member|agent|issue|all)/([0-9a-fA-F-]+|all)\)")
            .expect("the mention pattern is valid")
    });
    let mut found: Vec<Mention> = Vec::new();
    for captures in MENTION.captures_iter(content) {
        let (Some(kind), Some(id)) = (captures.get(1), captures.get(2)) else {
            continue;
        };
        let mention = Mention {
            kind: kind.as_str().to_owned(),
            id: id.as_str().to_owned(),
        };
        if !found.contains(&mention) {
            found.push(mention);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuid_parsing_follows_pgtype() {
        let canonical = "0b6f2a5e-3c1d-4e8f-9a7b-112233445566";
        let id = parse_uuid(canonical).expect("canonical form parses");
        assert_eq!(id.to_string(), canonical);
        assert_eq!(parse_uuid(&canonical.to_uppercase()), Some(id));
        assert_eq!(parse_uuid(&canonical.replace('-', "")), Some(id));
        // pgtype drops the separator positions without looking at them.
        assert_eq!(parse_uuid("0b6f2a5eX3c1dX4e8fX9a7bX112233445566"), Some(id));
        assert_eq!(parse_uuid("not-a-uuid"), None);
        assert_eq!(parse_uuid(""), None);
        assert_eq!(parse_uuid("zb6f2a5e-3c1d-4e8f-9a7b-112233445566"), None);
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Sample {
        #[serde(default, deserialize_with = "null_as_default")]
        name: String,
        #[serde(default, deserialize_with = "null_as_default")]
        count: i64,
        #[serde(default, deserialize_with = "null_items_as_default")]
        ids: Vec<String>,
    }

    impl GoRequest for Sample {
        fn fold_keys(value: &mut Map<String, Value>) {
            fold_keys(value, &["name", "count", "ids"]);
        }
    }

    #[test]
    fn decoding_is_as_lenient_as_go() {
        let sample: Sample =
            decode(br#"{"NAME":"a","count":null,"ids":["x",null],"extra":1} trailing"#)
                .expect("lenient decode");
        assert_eq!(
            sample,
            Sample {
                name: "a".into(),
                count: 0,
                ids: vec!["x".into(), String::new()],
            }
        );
        assert_eq!(
            decode::<Sample>(b"null").expect("null body"),
            Sample::default()
        );
        assert!(matches!(decode::<Sample>(b""), Err(DecodeError::Empty)));
        assert!(matches!(decode::<Sample>(b"  \n"), Err(DecodeError::Empty)));
        assert!(matches!(
            decode::<Sample>(b"[]"),
            Err(DecodeError::NotAnObject)
        ));
        assert!(matches!(
            decode::<Sample>(b"{\"name\":"),
            Err(DecodeError::Syntax(_))
        ));
        assert!(matches!(
            decode::<Sample>(br#"{"count":1.5}"#),
            Err(DecodeError::Type(_))
        ));
        assert!(matches!(
            decode::<Sample>(br#"{"name":3}"#),
            Err(DecodeError::Type(_))
        ));
    }

    #[test]
    fn encoding_matches_go_encoder() {
        let body = encode(&json!({"error": "a<b>&c\u{2028}"})).expect("encode");
        assert_eq!(body, "{\"error\":\"a\\u003cb\\u003e\\u0026c\\u2028\"}\n");
    }

    #[test]
    fn go_any_sorts_keys_and_prints_integral_floats_plainly() {
        let value = json!({"b": 1.0, "a": {"d": [2.5, 3.0], "c": 7}});
        let text = serde_json::to_string(&as_go_any(&value)).expect("encode");
        assert_eq!(text, r#"{"a":{"c":7,"d":[2.5,3]},"b":1}"#);
    }

    #[test]
    fn issue_prefix_and_slug() {
        assert_eq!(issue_prefix_for("Jiayuan's Workspace"), "JIA");
        assert_eq!(issue_prefix_for("AB"), "AB");
        assert_eq!(issue_prefix_for("42"), "WS");
        assert_eq!(slug_for("My Team!"), "my-team");
    }

    #[test]
    fn mentions_are_parsed_and_deduplicated() {
        let text = "hi [@Ada](mention://agent/abc-1) and [@Ada](mention://agent/abc-1) \
                    [MUL-1](mention://issue/ff) [@all](mention://all/all)";
        let kinds: Vec<(String, String)> = parse_mentions(text)
            .into_iter()
            .map(|m| (m.kind, m.id))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("agent".into(), "abc-1".into()),
                ("issue".into(), "ff".into()),
                ("all".into(), "all".into()),
            ]
        );
    }
}
