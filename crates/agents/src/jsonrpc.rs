//! JSON-RPC 2.0 envelopes for the CLIs that speak it over stdio, one message per
//! line (Codex's app server, ACP agents): the lines sent to the CLI, and what a line
//! from it is. What the methods mean is each backend's business.

use serde_json::{Value, json};

/// The error code for a request the receiver does not handle.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;

/// A request: the CLI answers it with a response carrying the same `id`.
pub(crate) fn request(id: u64, method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A notification without parameters: nothing answers it.
pub(crate) fn notification(method: &str) -> String {
    json!({"jsonrpc": "2.0", "method": method}).to_string()
}

/// The successful response to the CLI's request `id`.
pub(crate) fn result_response(id: &Value, result: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// The error response to the CLI's request `id`.
pub(crate) fn error_response(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// What a message from the CLI is, by its envelope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Incoming<'a> {
    /// The CLI asks something and waits for the response with this `id`.
    Request {
        method: &'a str,
        id: &'a Value,
    },
    Notification {
        method: &'a str,
    },
    /// The response to one of our requests (`result` or `error`).
    Response {
        id: &'a Value,
    },
    /// Neither a method nor an id.
    Other,
}

impl<'a> Incoming<'a> {
    pub(crate) fn of(message: &'a Value) -> Self {
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id").filter(|id| !id.is_null());
        match (method, id) {
            (Some(method), Some(id)) => Self::Request { method, id },
            (Some(method), None) => Self::Notification { method },
            (None, Some(id)) => Self::Response { id },
            (None, None) => Self::Other,
        }
    }
}

/// An error object in words: `message (code N)`, or its JSON when it has no message.
pub(crate) fn error_text(error: &Value) -> String {
    let message = error.get("message").and_then(Value::as_str);
    let code = error.get("code").and_then(Value::as_i64);
    match (message, code) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message.to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).expect("JSON")
    }

    #[test]
    fn outgoing_envelopes() {
        assert_eq!(
            parsed(&request(3, "session/new", &json!({"cwd": "/w"}))),
            json!({"jsonrpc": "2.0", "id": 3, "method": "session/new", "params": {"cwd": "/w"}})
        );
        assert_eq!(
            parsed(&notification("initialized")),
            json!({"jsonrpc": "2.0", "method": "initialized"})
        );
        assert_eq!(
            result_response(&json!(7), &json!({"decision": "accept"})),
            r#"{"id":7,"jsonrpc":"2.0","result":{"decision":"accept"}}"#
        );
        assert_eq!(
            parsed(&error_response(&json!("q"), METHOD_NOT_FOUND, "no")),
            json!({"jsonrpc": "2.0", "id": "q", "error": {"code": -32601, "message": "no"}})
        );
    }

    #[test]
    fn incoming_by_envelope() {
        let request = json!({"id": 1, "method": "m"});
        assert_eq!(
            Incoming::of(&request),
            Incoming::Request {
                method: "m",
                id: &json!(1)
            }
        );
        let notification = json!({"method": "m", "id": null});
        assert_eq!(
            Incoming::of(&notification),
            Incoming::Notification { method: "m" }
        );
        let response = json!({"id": "x", "result": {}});
        assert_eq!(
            Incoming::of(&response),
            Incoming::Response { id: &json!("x") }
        );
        assert_eq!(Incoming::of(&json!({})), Incoming::Other);
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            error_text(&json!({"code": -32000, "message": "Authentication required"})),
            "Authentication required (code -32000)"
        );
        assert_eq!(error_text(&json!({"message": "nope"})), "nope");
        assert_eq!(error_text(&json!({"code": 1})), r#"{"code":1}"#);
    }
}
