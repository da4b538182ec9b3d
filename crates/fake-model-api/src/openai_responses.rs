//! The OpenAI Responses dialect (`POST /v1/responses`, streamed as server-sent
//! events), as Codex speaks it.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::RESPONSE_USAGE;
use crate::script::{Block, Conversation, offered_shell_tool};

/// The shell tools Codex offers, newest first: `exec_command` takes `{"cmd"}`,
/// the older `shell` an argv array.
const SHELL_TOOLS: &[&str] = &["exec_command", "shell"];

/// Reads the state of the conversation from a request body: a tool call is being
/// answered when a `function_call_output` comes after the last user message.
pub(crate) fn conversation(body: &Value) -> Conversation {
    let items = body
        .get("input")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_user = items.iter().rposition(|item| {
        item.get("type").and_then(Value::as_str) == Some("message")
            && item.get("role").and_then(Value::as_str) == Some("user")
    });
    let answers_tool_call = items
        .iter()
        .skip(last_user.map_or(0, |index| index + 1))
        .any(|item| item.get("type").and_then(Value::as_str) == Some("function_call_output"));
    let offered: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| tool.get("name").and_then(Value::as_str))
        .collect();
    let shell_tool = offered_shell_tool(&offered, SHELL_TOOLS);
    Conversation {
        answers_tool_call,
        shell_tool,
        message_count: items.len(),
    }
}

pub(crate) fn model(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-fake")
        .to_owned()
}

/// The arguments a shell tool call carries, in the tool's own shape.
fn shell_arguments(tool: &str, input: &Value) -> String {
    let command = input
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let arguments = if tool == "shell" {
        json!({"command": ["bash", "-lc", command]})
    } else {
        json!({"cmd": command})
    };
    arguments.to_string()
}

fn output_items(id: &str, blocks: &[Block]) -> Vec<Value> {
    blocks
        .iter()
        .enumerate()
        .map(|(index, block)| match block {
            Block::Text(text) => json!({
                "type": "message",
                "id": format!("{id}_msg_{index}"),
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }),
            Block::ToolCall {
                id: call_id,
                name,
                input,
            } => json!({
                "type": "function_call",
                "id": format!("{id}_fc_{index}"),
                "call_id": call_id,
                "name": name,
                "arguments": shell_arguments(name, input),
                "status": "completed",
            }),
        })
        .collect()
}

fn usage() -> Value {
    json!({
        "input_tokens": RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.cache_read_input_tokens,
        "input_tokens_details": {"cached_tokens": RESPONSE_USAGE.cache_read_input_tokens},
        "output_tokens": RESPONSE_USAGE.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": RESPONSE_USAGE.input_tokens
            + RESPONSE_USAGE.cache_read_input_tokens
            + RESPONSE_USAGE.output_tokens,
    })
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

pub(crate) fn response_id(conversation: &Conversation) -> String {
    format!("resp_fake_{:04}", conversation.message_count)
}

/// The opening event of a response, alone (for answers that never finish).
pub(crate) fn created(id: &str, model: &str) -> Bytes {
    event(
        "response.created",
        &json!({
            "type": "response.created",
            "response": {"id": id, "object": "response", "status": "in_progress", "model": model, "output": []},
        }),
    )
}

/// The whole event stream of a finished response.
pub(crate) fn stream_events(id: &str, model: &str, blocks: &[Block]) -> Vec<Bytes> {
    let items = output_items(id, blocks);
    let mut events = vec![created(id, model)];
    for (index, item) in items.iter().enumerate() {
        let mut started = item.clone();
        started["status"] = json!("in_progress");
        if item["type"] == "message" {
            started["content"] = json!([]);
        }
        events.push(event(
            "response.output_item.added",
            &json!({"type": "response.output_item.added", "output_index": index, "item": started}),
        ));
        if let Some(text) = item["content"][0]["text"].as_str() {
            events.push(event(
                "response.output_text.delta",
                &json!({
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "delta": text,
                }),
            ));
        }
        events.push(event(
            "response.output_item.done",
            &json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ));
    }
    events.push(event(
        "response.completed",
        &json!({
            "type": "response.completed",
            "response": {
                "id": id,
                "object": "response",
                "status": "completed",
                "model": model,
                "output": items,
                "usage": usage(),
            },
        }),
    ));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_call_output_after_the_user_message_answers_the_tool_call() {
        let asking = json!({
            "model": "gpt-test",
            "tools": [{"type": "function", "name": "exec_command"}],
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            ],
        });
        let seen = conversation(&asking);
        assert_eq!(seen.shell_tool.as_deref(), Some("exec_command"));
        assert!(!seen.answers_tool_call);

        let mut answered = asking;
        answered["input"]
            .as_array_mut()
            .expect("array")
            .extend([
                json!({"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}),
                json!({"type": "function_call_output", "call_id": "c1", "output": "ok"}),
            ]);
        assert!(conversation(&answered).answers_tool_call);

        // A new user message after the tool round starts over.
        answered["input"].as_array_mut().expect("array").push(
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "again"}]}),
        );
        assert!(!conversation(&answered).answers_tool_call);
    }

    #[test]
    fn tool_calls_use_the_offered_tools_argument_shape() {
        let input = json!({"command": "ls -la", "description": "x"});
        assert_eq!(
            shell_arguments("exec_command", &input),
            r#"{"cmd":"ls -la"}"#
        );
        assert_eq!(
            shell_arguments("shell", &input),
            r#"{"command":["bash","-lc","ls -la"]}"#
        );
    }

    #[test]
    fn a_stream_ends_with_completed_and_usage() {
        let events = stream_events("r1", "gpt-test", &[Block::Text("hi".into())]);
        let last = String::from_utf8_lossy(events.last().expect("events")).into_owned();
        assert!(last.starts_with("event: response.completed\n"));
        assert!(last.contains(r#""cached_tokens":2000"#));
        assert_eq!(events.len(), 5);
    }
}
