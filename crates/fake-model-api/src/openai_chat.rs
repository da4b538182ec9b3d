//! The OpenAI chat-completions dialect (`POST /v1/chat/completions`, streamed as
//! `chat.completion.chunk` server-sent events ending with `data: [DONE]`), as
//! OpenCode's openai-compatible provider speaks it.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::RESPONSE_USAGE;
use crate::script::{Block, Conversation, Stop, offered_shell_tool};

/// The shell tools offered by the CLIs that speak this dialect (`bash` is
/// OpenCode's, taking `{"command","description"}`).
const SHELL_TOOLS: &[&str] = &["bash", "shell", "run_shell_command"];

/// A tool call is being answered when a `tool` message comes after the last user
/// message.
pub(crate) fn conversation(body: &Value) -> Conversation {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let role = |message: &Value| {
        message
            .get("role")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let last_user = messages
        .iter()
        .rposition(|message| role(message).as_deref() == Some("user"));
    let answers_tool_call = messages
        .iter()
        .skip(last_user.map_or(0, |index| index + 1))
        .any(|message| role(message).as_deref() == Some("tool"));
    let offered: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| tool.pointer("/function/name").and_then(Value::as_str))
        .collect();
    let shell_tool = offered_shell_tool(&offered, SHELL_TOOLS);
    Conversation {
        answers_tool_call,
        shell_tool,
        message_count: messages.len(),
    }
}

pub(crate) fn model(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-fake")
        .to_owned()
}

pub(crate) fn completion_id(conversation: &Conversation) -> String {
    format!("chatcmpl_fake_{:04}", conversation.message_count)
}

fn usage() -> Value {
    let prompt = RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.cache_read_input_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": RESPONSE_USAGE.output_tokens,
        "total_tokens": prompt + RESPONSE_USAGE.output_tokens,
        "prompt_tokens_details": {"cached_tokens": RESPONSE_USAGE.cache_read_input_tokens},
    })
}

fn chunk(
    id: &str,
    model: &str,
    delta: &Value,
    finish: Option<&str>,
    usage: Option<Value>,
) -> Bytes {
    let mut data = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 1_767_225_600,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    if let Some(usage) = usage {
        data["usage"] = usage;
    }
    Bytes::from(format!("data: {data}\n\n"))
}

/// The first chunk alone (for answers that never finish).
pub(crate) fn opening(id: &str, model: &str) -> Bytes {
    chunk(
        id,
        model,
        &json!({"role": "assistant", "content": ""}),
        None,
        None,
    )
}

/// The whole stream of a finished completion.
pub(crate) fn stream_events(id: &str, model: &str, blocks: &[Block], stop: Stop) -> Vec<Bytes> {
    let mut events = vec![opening(id, model)];
    let mut tool_index = 0;
    for block in blocks {
        match block {
            Block::Text(text) => {
                events.push(chunk(id, model, &json!({"content": text}), None, None));
            }
            Block::ToolCall {
                id: call_id,
                name,
                input,
            } => {
                let call = json!({
                    "index": tool_index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                });
                events.push(chunk(id, model, &json!({"tool_calls": [call]}), None, None));
                tool_index += 1;
            }
        }
    }
    let finish = match stop {
        Stop::EndTurn => "stop",
        Stop::ToolUse => "tool_calls",
    };
    events.push(chunk(id, model, &json!({}), Some(finish), Some(usage())));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_message_after_the_user_message_answers_the_call() {
        let asking = json!({
            "model": "gpt-test",
            "tools": [{"type": "function", "function": {"name": "bash"}}],
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "go"}],
        });
        let seen = conversation(&asking);
        assert_eq!(seen.shell_tool.as_deref(), Some("bash"));
        assert!(!seen.answers_tool_call);

        let mut answered = asking;
        answered["messages"].as_array_mut().expect("array").extend([
            json!({"role": "assistant", "tool_calls": [{"id": "c1"}]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "ok"}),
        ]);
        assert!(conversation(&answered).answers_tool_call);
    }

    #[test]
    fn a_stream_ends_with_usage_and_done() {
        let events = stream_events(
            "c1",
            "gpt-test",
            &[Block::ToolCall {
                id: "t1".into(),
                name: "bash".into(),
                input: json!({"command": "ls"}),
            }],
            Stop::ToolUse,
        );
        let text: Vec<String> = events
            .iter()
            .map(|event| String::from_utf8_lossy(event).into_owned())
            .collect();
        assert_eq!(text.last().map(String::as_str), Some("data: [DONE]\n\n"));
        assert!(
            text[1].contains(r#""arguments":"{\"command\":\"ls\"}""#),
            "{}",
            text[1]
        );
        assert!(text[2].contains(r#""finish_reason":"tool_calls""#));
        assert!(text[2].contains(r#""prompt_tokens":3200"#));
    }
}
