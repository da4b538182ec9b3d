//! The Anthropic Messages dialect (`POST /v1/messages`, streaming or not, and
//! `POST /v1/messages/count_tokens`), as Claude Code speaks it.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::script::{Block, Conversation, Stop};
use crate::{RESPONSE_USAGE, Usage};

/// Largest piece of text or tool input sent in one delta event, so a big answer
/// arrives as many deltas, as it does from the real API.
const DELTA_BYTES: usize = 16 * 1024;

/// Reads the state of the conversation from a request body.
pub(crate) fn conversation(body: &Value) -> Conversation {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let answers_tool_call = messages
        .last()
        .filter(|message| message.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|message| message.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|blocks| {
            blocks
                .iter()
                .any(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
        });
    let shell_tool = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| tool.get("name").and_then(Value::as_str))
        .find(|name| name.eq_ignore_ascii_case("bash"))
        .map(str::to_owned);
    Conversation {
        answers_tool_call,
        shell_tool,
        message_count: messages.len(),
    }
}

pub(crate) fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn model(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-fake")
        .to_owned()
}

pub(crate) fn message_id(conversation: &Conversation) -> String {
    format!("msg_fake_{:04}", conversation.message_count)
}

fn usage_json(usage: &Usage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    })
}

fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "end_turn",
        Stop::ToolUse => "tool_use",
    }
}

fn block_json(block: &Block) -> Value {
    match block {
        Block::Text(text) => json!({"type": "text", "text": text}),
        Block::ToolCall { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    }
}

/// The whole answer of a non-streaming request.
pub(crate) fn message(id: &str, model: &str, blocks: &[Block], stop: Stop) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks.iter().map(block_json).collect::<Vec<_>>(),
        "stop_reason": stop_reason(stop),
        "stop_sequence": null,
        "usage": usage_json(&RESPONSE_USAGE, RESPONSE_USAGE.output_tokens),
    })
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// `message_start`, sent first; also all a hanging answer ever sends.
pub(crate) fn message_start(id: &str, model: &str) -> Bytes {
    event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                // Output tokens grow while streaming; the final count comes in
                // message_delta, as from the real API.
                "usage": usage_json(&RESPONSE_USAGE, 1),
            },
        }),
    )
}

pub(crate) fn ping() -> Bytes {
    event("ping", &json!({"type": "ping"}))
}

/// The SSE events of a streamed answer, in order.
pub(crate) fn stream_events(id: &str, model: &str, blocks: &[Block], stop: Stop) -> Vec<Bytes> {
    let mut events = vec![message_start(id, model), ping()];
    for (index, block) in blocks.iter().enumerate() {
        let (start, deltas) = match block {
            Block::Text(text) => (
                json!({"type": "text", "text": ""}),
                pieces(text)
                    .map(|piece| json!({"type": "text_delta", "text": piece}))
                    .collect::<Vec<_>>(),
            ),
            Block::ToolCall { id, name, input } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                pieces(&input.to_string())
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                    .collect(),
            ),
        };
        events.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for delta in deltas {
            events.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(stop), "stop_sequence": null},
            "usage": usage_json(&RESPONSE_USAGE, RESPONSE_USAGE.output_tokens),
        }),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}

/// Splits text into delta-sized pieces on character boundaries; short text comes in
/// two pieces so that clients really have to join deltas.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let size = if text.len() <= DELTA_BYTES {
        text.len().div_ceil(2).max(1)
    } else {
        DELTA_BYTES
    };
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// `count_tokens`: a deterministic estimate, about four bytes per token.
pub(crate) fn count_tokens(body: &Value) -> Value {
    let bytes = body.get("messages").map_or(0, |m| m.to_string().len())
        + body.get("system").map_or(0, |s| s.to_string().len())
        + body.get("tools").map_or(0, |t| t.to_string().len());
    json!({"input_tokens": bytes.div_ceil(4)})
}

/// The body of an error the API itself raises (an unknown path).
pub(crate) fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_data(events: &[Bytes]) -> Vec<Value> {
        events
            .iter()
            .map(|event| {
                let text = std::str::from_utf8(event).expect("utf-8");
                let data = text
                    .lines()
                    .find_map(|line| line.strip_prefix("data: "))
                    .expect("a data line");
                serde_json::from_str(data).expect("json data")
            })
            .collect()
    }

    #[test]
    fn reads_tool_results_and_tools_from_the_request() {
        let first = json!({"model": "m", "tools": [{"name": "Read"}, {"name": "Bash"}],
            "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            conversation(&first),
            Conversation {
                answers_tool_call: false,
                shell_tool: Some("Bash".into()),
                message_count: 1
            }
        );
        let second = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]});
        let read = conversation(&second);
        assert!(read.answers_tool_call);
        assert_eq!(read.shell_tool, None);
        assert_eq!(read.message_count, 3);
    }

    #[test]
    fn a_streamed_tool_call_reassembles() {
        let blocks = [
            Block::Text("Sure.".into()),
            Block::ToolCall {
                id: "toolu_1".into(),
                name: "Bash".into(),
                input: json!({"command": "echo hé", "description": "d"}),
            },
        ];
        let data = sse_data(&stream_events("msg", "m", &blocks, Stop::ToolUse));
        let kinds: Vec<&str> = data
            .iter()
            .map(|d| d["type"].as_str().expect("type"))
            .collect();
        assert_eq!(kinds.first(), Some(&"message_start"));
        assert_eq!(kinds.last(), Some(&"message_stop"));
        let text: String = data
            .iter()
            .filter(|d| d["index"] == 0 && d["type"] == "content_block_delta")
            .map(|d| d["delta"]["text"].as_str().expect("text"))
            .collect();
        assert_eq!(text, "Sure.");
        let input: String = data
            .iter()
            .filter(|d| d["index"] == 1 && d["type"] == "content_block_delta")
            .map(|d| d["delta"]["partial_json"].as_str().expect("json"))
            .collect();
        let input: Value = serde_json::from_str(&input).expect("input json");
        assert_eq!(input["command"], "echo hé");
        let delta = data
            .iter()
            .find(|d| d["type"] == "message_delta")
            .expect("message_delta");
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert_eq!(
            delta["usage"]["output_tokens"],
            RESPONSE_USAGE.output_tokens
        );
    }

    #[test]
    fn big_text_is_split_into_many_deltas() {
        let text = "é".repeat(100_000);
        let joined: Vec<&str> = pieces(&text).collect();
        assert!(joined.len() > 10);
        assert!(joined.iter().all(|piece| piece.len() <= DELTA_BYTES + 1));
        assert_eq!(joined.concat(), text);
    }
}
