//! Property tests for every line parser: whatever a CLI prints (random bytes,
//! broken JSON, well-formed messages with wrong types in every field), parsing
//! neither panics nor loops; each line is handled in one bounded pass.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::acp::protocol::AcpClient;
use crate::codex::protocol::{AppServerClient, TurnRequest};
use crate::opencode::OpenCodeParser;
use crate::stream_json::ClaudeStreamParser;

/// Keys and values the parsers look at, so random messages reach deep branches.
const KEYS: &[&str] = &[
    "type",
    "subtype",
    "method",
    "id",
    "params",
    "result",
    "error",
    "message",
    "content",
    "part",
    "state",
    "status",
    "text",
    "tool",
    "callID",
    "sessionID",
    "session_id",
    "sessionUpdate",
    "update",
    "toolCallId",
    "rawInput",
    "rawOutput",
    "usage",
    "tokens",
    "modelUsage",
    "item",
    "turn",
    "threadId",
    "thread",
    "msg",
    "request",
    "request_id",
    "options",
    "kind",
    "optionId",
    "stopReason",
    "agentCapabilities",
    "loadSession",
    "input",
    "output",
    "name",
    "data",
    "cache",
    "read",
    "write",
    "is_error",
];
const WORDS: &[&str] = &[
    "assistant",
    "user",
    "result",
    "system",
    "control_request",
    "text",
    "tool_use",
    "tool_result",
    "thinking",
    "step_finish",
    "step_start",
    "error",
    "reasoning",
    "session/update",
    "session/request_permission",
    "agent_message_chunk",
    "agent_thought_chunk",
    "tool_call",
    "tool_call_update",
    "plan",
    "completed",
    "failed",
    "item/started",
    "item/completed",
    "turn/completed",
    "turn/started",
    "thread/tokenUsage/updated",
    "codex/event/agent_message",
    "commandExecution",
    "agentMessage",
    "allow_always",
    "end_turn",
    "success",
    "",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(WORDS).prop_map(|word| json!(word)),
        ".{0,40}".prop_map(Value::String),
        (1u64..6).prop_map(|n| json!(n)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A line as a CLI might print it: a JSON message, or bytes of any kind.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => value().prop_map(|value| value.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => value().prop_map(|value| {
            // Cut off mid-message, as a killed CLI leaves it.
            let text = value.to_string();
            let cut = text.len() / 2;
            text.as_bytes()[..cut].to_vec()
        }),
    ]
}

fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(line(), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn claude_stream_json_never_panics(lines in lines()) {
        let mut parser = ClaudeStreamParser::new();
        for line in &lines {
            let _ = parser.parse_line(line);
        }
        let _ = (parser.usage_for_run(false), parser.final_text(), parser.session_id());
    }

    #[test]
    fn codex_app_server_never_panics(lines in lines(), resume in any::<bool>()) {
        let mut client = AppServerClient::new(TurnRequest {
            cwd: "/w".into(),
            prompt: "p".into(),
            model: None,
            resume_thread_id: resume.then(|| "t".to_owned()),
        });
        for line in &lines {
            let _ = client.on_line(line);
        }
        let _ = (client.end(), client.usage(), client.final_text(), client.thread_id());
    }

    #[test]
    fn opencode_never_panics(lines in lines()) {
        let mut parser = OpenCodeParser::new("m".into());
        for line in &lines {
            let _ = parser.parse_line(line);
        }
        let _ = (parser.usage(), parser.final_text(), parser.error());
    }

    #[test]
    fn acp_never_panics(lines in lines(), resume in any::<bool>(), model in any::<bool>()) {
        let mut client = AcpClient::new(
            "/w".into(),
            "p".into(),
            model.then(|| "m".to_owned()),
            resume.then(|| "s".to_owned()),
        );
        for line in &lines {
            let _ = client.on_line(line);
        }
        let _ = (client.usage(), client.final_text(), client.end(), client.session_id());
    }
}
