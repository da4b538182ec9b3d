//! Turning an agent's event stream into the server's transcript messages.
//!
//! Consecutive text (or thinking) chunks are merged into one message, as the Go
//! daemon does, but unlike it we close the open chunk as soon as any other event
//! arrives, so `seq` follows the order in which things happened: text written before
//! a tool call gets a smaller `seq` than the call.

use std::collections::{HashMap, VecDeque};

use multica_agents::AgentEvent;
use multica_api::wire::{TaskMessage, TaskMessageKind};
use serde_json::Value;

/// Tool output kept per message, as in the Go daemon. The agent still sees all of it.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 8192;

/// Text longer than this is sent as several messages rather than one huge one.
pub const MAX_TEXT_MESSAGE_BYTES: usize = 256 * 1024;

const REDACTED: &str = "[REDACTED]";

/// Replaces known secret values (the user's token, task tokens, the local API's
/// bearer) wherever they appear in transcript text, tool input or tool output.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// Very short values are ignored: redacting "a" everywhere would destroy the
    /// transcript without protecting anything.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= 8)
            .map(str::to_owned)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if self
                    .secrets
                    .iter()
                    .any(|secret| text.contains(secret.as_str()))
                {
                    *text = self.redact(text);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(map) => map.values_mut().for_each(|item| self.redact_value(item)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Builds the ordered, numbered transcript of one task.
#[derive(Debug)]
pub struct TranscriptBuilder {
    next_seq: u64,
    ready: VecDeque<TaskMessage>,
    open: Option<(TaskMessageKind, String)>,
    tool_names: HashMap<String, String>,
    redactor: Redactor,
}

impl TranscriptBuilder {
    pub fn new(redactor: Redactor) -> Self {
        Self {
            next_seq: 1,
            ready: VecDeque::new(),
            open: None,
            tool_names: HashMap::new(),
            redactor,
        }
    }

    /// Adds one agent event. Status and log events are not part of the transcript.
    pub fn push(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::Text(text) => self.append_text(TaskMessageKind::Text, &text),
            AgentEvent::Thinking(text) => self.append_text(TaskMessageKind::Thinking, &text),
            AgentEvent::ToolUse {
                call_id,
                tool,
                input,
            } => {
                self.close_open();
                if !call_id.is_empty() {
                    self.tool_names.insert(call_id, tool.clone());
                }
                let mut input = input;
                self.redactor.redact_value(&mut input);
                let input = match input {
                    Value::Object(map) => Some(map),
                    Value::Null => None,
                    other => {
                        let mut map = serde_json::Map::new();
                        map.insert("value".to_owned(), other);
                        Some(map)
                    }
                };
                self.emit(TaskMessage {
                    seq: 0,
                    kind: TaskMessageKind::ToolUse,
                    tool,
                    content: String::new(),
                    input,
                    output: String::new(),
                });
            }
            AgentEvent::ToolResult {
                call_id,
                tool,
                output,
                is_error: _,
            } => {
                self.close_open();
                let tool = tool
                    .filter(|name| !name.is_empty())
                    .or_else(|| self.tool_names.get(&call_id).cloned())
                    .unwrap_or_default();
                let output = truncate_output(&self.redactor.redact(&output));
                self.emit(TaskMessage {
                    seq: 0,
                    kind: TaskMessageKind::ToolResult,
                    tool,
                    content: String::new(),
                    input: None,
                    output,
                });
            }
            AgentEvent::Error(text) => {
                self.close_open();
                let content = self.redactor.redact(&text);
                self.emit_text(TaskMessageKind::Error, &content);
            }
            AgentEvent::Status(_) | AgentEvent::Session(_) | AgentEvent::Log { .. } => {}
            #[allow(
                unreachable_patterns,
                reason = "new event kinds must not break the engine"
            )]
            _ => {}
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Appends a daemon-side error (e.g. "the agent was stopped") to the transcript.
    pub fn push_error(&mut self, text: &str) {
        self.push(AgentEvent::Error(text.to_owned()));
    }

    /// Everything finished so far, including the open text chunk, in `seq` order.
    pub fn take_ready(&mut self) -> Vec<TaskMessage> {
        self.close_open();
        self.ready.drain(..).collect()
    }

    /// The number of messages numbered so far.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    fn append_text(&mut self, kind: TaskMessageKind, text: &str) {
        if text.is_empty() {
            return;
        }
        match &mut self.open {
            Some((open_kind, buffer)) if *open_kind == kind => buffer.push_str(text),
            _ => {
                self.close_open();
                self.open = Some((kind, text.to_owned()));
            }
        }
    }

    fn close_open(&mut self) {
        if let Some((kind, text)) = self.open.take() {
            let content = self.redactor.redact(&text);
            self.emit_text(kind, &content);
        }
    }

    fn emit_text(&mut self, kind: TaskMessageKind, content: &str) {
        for piece in split_at_char_boundaries(content, MAX_TEXT_MESSAGE_BYTES) {
            self.emit(TaskMessage {
                seq: 0,
                kind,
                tool: String::new(),
                content: piece.to_owned(),
                input: None,
                output: String::new(),
            });
        }
    }

    fn emit(&mut self, mut message: TaskMessage) {
        message.seq = self.next_seq;
        self.next_seq += 1;
        self.ready.push_back(message);
    }
}

fn truncate_output(output: &str) -> String {
    if output.len() <= MAX_TOOL_OUTPUT_BYTES {
        return output.to_owned();
    }
    let cut = floor_char_boundary(output, MAX_TOOL_OUTPUT_BYTES);
    format!(
        "{}\n… [output truncated: {} bytes in all]",
        &output[..cut],
        output.len()
    )
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut cut = index.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

fn split_at_char_boundaries(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = floor_char_boundary(rest, max_bytes);
        if cut == 0 {
            // A single character wider than the limit; cannot happen with UTF-8 and a
            // limit of at least 4 bytes, but never loop forever.
            cut = rest.len();
        }
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn builder() -> TranscriptBuilder {
        TranscriptBuilder::new(Redactor::new(["mul_secret_token_123"]))
    }

    #[test]
    fn text_before_a_tool_call_keeps_its_place() {
        let mut transcript = builder();
        transcript.push(AgentEvent::Text("Let me ".into()));
        transcript.push(AgentEvent::Text("look.".into()));
        transcript.push(AgentEvent::ToolUse {
            call_id: "c1".into(),
            tool: "Bash".into(),
            input: json!({"command": "ls"}),
        });
        transcript.push(AgentEvent::ToolResult {
            call_id: "c1".into(),
            tool: None,
            output: "a\nb".into(),
            is_error: false,
        });
        transcript.push(AgentEvent::Thinking("hmm".into()));
        transcript.push(AgentEvent::Text("Done.".into()));
        let messages = transcript.take_ready();
        let summary: Vec<(u64, TaskMessageKind, &str)> = messages
            .iter()
            .map(|m| (m.seq, m.kind, m.content.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, TaskMessageKind::Text, "Let me look."),
                (2, TaskMessageKind::ToolUse, ""),
                (3, TaskMessageKind::ToolResult, ""),
                (4, TaskMessageKind::Thinking, "hmm"),
                (5, TaskMessageKind::Text, "Done."),
            ]
        );
        assert_eq!(
            messages[2].tool, "Bash",
            "tool name recovered from the call id"
        );
        assert_eq!(messages[2].output, "a\nb");
    }

    #[test]
    fn seq_continues_across_flushes() {
        let mut transcript = builder();
        transcript.push(AgentEvent::Text("one".into()));
        assert_eq!(transcript.take_ready()[0].seq, 1);
        transcript.push(AgentEvent::Text("two".into()));
        transcript.push(AgentEvent::Error("boom".into()));
        let second = transcript.take_ready();
        assert_eq!(second.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert!(transcript.take_ready().is_empty());
        assert_eq!(transcript.last_seq(), 3);
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut transcript = builder();
        transcript.push(AgentEvent::Text("token is mul_secret_token_123!".into()));
        transcript.push(AgentEvent::ToolUse {
            call_id: "c".into(),
            tool: "Bash".into(),
            input: json!({"command": "echo mul_secret_token_123", "args": ["mul_secret_token_123"]}),
        });
        transcript.push(AgentEvent::ToolResult {
            call_id: "c".into(),
            tool: None,
            output: "mul_secret_token_123\n".into(),
            is_error: false,
        });
        let rendered = serde_json::to_string(&transcript.take_ready()).expect("json");
        assert!(!rendered.contains("mul_secret_token_123"), "{rendered}");
        assert!(rendered.contains(REDACTED));
    }

    #[test]
    fn long_tool_output_is_truncated_on_a_char_boundary() {
        let mut transcript = builder();
        let output = "é".repeat(10_000);
        transcript.push(AgentEvent::ToolResult {
            call_id: "c".into(),
            tool: Some("Read".into()),
            output,
            is_error: false,
        });
        let message = &transcript.take_ready()[0];
        assert!(message.output.len() < MAX_TOOL_OUTPUT_BYTES + 100);
        assert!(
            message
                .output
                .ends_with("[output truncated: 20000 bytes in all]")
        );
    }

    #[test]
    fn huge_text_is_split_without_losing_anything() {
        let mut transcript = builder();
        let text = "x".repeat(MAX_TEXT_MESSAGE_BYTES * 2 + 10);
        transcript.push(AgentEvent::Text(text.clone()));
        let messages = transcript.take_ready();
        assert_eq!(messages.len(), 3);
        let joined: String = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let redactor = Redactor::new(["abc", ""]);
        assert_eq!(redactor.redact("abc abc"), "abc abc");
    }
}
