//! Claude Code's `--output-format stream-json --verbose`: one JSON object per line.
//!
//! ```text
//! {"type":"system","subtype":"init","session_id":…,"model":…}
//! {"type":"assistant","message":{"content":[one text|thinking|tool_use block]}}
//! {"type":"user","message":{"content":[{"type":"tool_result","tool_use_id","content"}]}}
//! {"type":"control_request","request_id":…,"request":{"subtype":"can_use_tool",…}}
//! {"type":"result","subtype":"success","is_error":false,"result":…,"usage":…,"modelUsage":…}
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use crate::{AgentEvent, LogLevel, ModelUsage};

/// Longest excerpt of an unreadable line quoted in its log event.
const EXCERPT_CHARS: usize = 200;

/// A request Claude Code sends on stdout and waits for an answer to on stdin.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    pub request_id: String,
    /// `can_use_tool` for a permission prompt.
    pub subtype: String,
    pub tool_name: Option<String>,
    pub input: Value,
}

impl ControlRequest {
    /// The `control_response` line to write back. The daemon runs agents
    /// unattended, so a permission prompt is allowed with its input unchanged; a
    /// request of any other kind is declined with an error, so that the CLI does
    /// not wait for an answer that never comes.
    pub fn response_line(&self) -> String {
        let response = if self.subtype == "can_use_tool" {
            let input = if self.input.is_object() {
                self.input.clone()
            } else {
                Value::Object(serde_json::Map::new())
            };
            serde_json::json!({
                "subtype": "success",
                "request_id": self.request_id,
                "response": {"behavior": "allow", "updatedInput": input},
            })
        } else {
            serde_json::json!({
                "subtype": "error",
                "request_id": self.request_id,
                "error": format!("the Multica daemon does not handle {:?} requests", self.subtype),
            })
        };
        serde_json::json!({"type": "control_response", "response": response}).to_string()
    }
}

/// What one line means.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedLine {
    pub events: Vec<AgentEvent>,
    /// A request that must be answered on stdin.
    pub control_request: Option<ControlRequest>,
    /// This was the `result` line: the run has said all it will say.
    pub finished: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct FinalResult {
    text: String,
    is_error: bool,
    subtype: String,
}

/// Turns Claude Code's stream-json lines into [`AgentEvent`]s and remembers what the
/// outcome needs: session id, final result, usage. Pure and synchronous: no I/O, one
/// line at a time, never panics on bad input.
#[derive(Debug, Default)]
pub struct ClaudeStreamParser {
    session_id: Option<String>,
    model: Option<String>,
    result: Option<FinalResult>,
    /// `modelUsage` of the result line: per model, for the whole session.
    session_usage: BTreeMap<String, ModelUsage>,
    /// `usage` of the result line: this run alone, all models together.
    run_usage: Option<RawUsage>,
    /// Tool names by call id, so results can say which tool they answer.
    tools: HashMap<String, String>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    subtype: String,
    session_id: Option<String>,
    model: Option<String>,
    message: Option<RawMessage>,
    result: Option<String>,
    #[serde(default)]
    is_error: bool,
    errors: Option<Vec<Value>>,
    usage: Option<RawUsage>,
    #[serde(rename = "modelUsage")]
    model_usage: Option<BTreeMap<String, RawModelUsage>>,
    log: Option<RawLog>,
    request_id: Option<String>,
    request: Option<RawControlRequest>,
    error: Option<Value>,
    attempt: Option<u32>,
    max_retries: Option<u32>,
}

#[derive(Deserialize)]
struct RawMessage {
    content: Option<RawContent>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawContent {
    Text(String),
    Blocks(Vec<RawBlock>),
}

#[derive(Deserialize)]
struct RawBlock {
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<String>,
    thinking: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
    tool_use_id: Option<String>,
    content: Option<Value>,
    #[serde(default)]
    is_error: bool,
}

#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(default)]
struct RawUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    /// Only CLIs that count cached tokens inside `input_tokens` (Qwen Code) send
    /// it, and then it is input + output.
    total_tokens: Option<u64>,
}

impl RawUsage {
    /// Input without the cached tokens, however the CLI counted it.
    fn uncached_input(&self) -> u64 {
        let cached = self.cache_read_input_tokens + self.cache_creation_input_tokens;
        let includes_cache = self
            .total_tokens
            .is_some_and(|total| total == self.input_tokens + self.output_tokens)
            && self.input_tokens >= cached;
        if includes_cache {
            self.input_tokens - cached
        } else {
            self.input_tokens
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawModelUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    #[serde(rename = "costUSD")]
    cost_usd: Option<f64>,
}

#[derive(Deserialize)]
struct RawLog {
    #[serde(default)]
    level: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RawControlRequest {
    #[serde(default)]
    subtype: String,
    tool_name: Option<String>,
    input: Option<Value>,
}

impl ClaudeStreamParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The main model, as the `init` line names it.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether the `result` line has arrived.
    pub fn has_result(&self) -> bool {
        self.result.is_some()
    }

    /// The final answer, once the `result` line arrived.
    pub fn final_text(&self) -> Option<&str> {
        self.result.as_ref().map(|result| result.text.as_str())
    }

    pub fn final_is_error(&self) -> bool {
        self.result.as_ref().is_some_and(|result| result.is_error)
    }

    /// The `result` line's subtype (`success`, `error_max_turns`, …).
    pub fn final_subtype(&self) -> Option<&str> {
        self.result.as_ref().map(|result| result.subtype.as_str())
    }

    /// Per-model totals of the whole session (`modelUsage` of the result line). The
    /// per-message usage of assistant lines is no sum: it repeats for every content
    /// block and holds the output count from the start of the message.
    pub fn session_usage(&self) -> Vec<ModelUsage> {
        self.session_usage.values().cloned().collect()
    }

    /// Usage of this run alone.
    ///
    /// `modelUsage` totals the session: for a new session that is this run, but a
    /// resumed session starts from the totals of its earlier runs (checked with
    /// Claude Code 2.1). The result line's `usage` is this run's alone, without a
    /// split by model; for a resumed run it is attributed to the main model, and the
    /// cost, only known for the session, is left out.
    ///
    /// CLIs that copy the format without `modelUsage` (Qwen Code) get the result's
    /// `usage` in every case.
    pub fn usage_for_run(&self, resumed: bool) -> Vec<ModelUsage> {
        if !resumed && !self.session_usage.is_empty() {
            return self.session_usage();
        }
        let Some(usage) = self.run_usage.filter(|usage| *usage != RawUsage::default()) else {
            return Vec::new();
        };
        let model = self
            .model
            .clone()
            .filter(|model| self.session_usage.is_empty() || self.session_usage.contains_key(model))
            .or_else(|| {
                self.session_usage
                    .values()
                    .max_by_key(|usage| usage.output_tokens)
                    .map(|usage| usage.model.clone())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        vec![ModelUsage {
            model,
            input_tokens: usage.uncached_input(),
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens,
            cost_usd: None,
        }]
    }

    /// Reads one line (without its newline). Blank lines mean nothing; lines that
    /// are not JSON become a warning; unknown types are ignored.
    pub fn parse_line(&mut self, line: &[u8]) -> ParsedLine {
        let trimmed = line.trim_ascii();
        let mut parsed = ParsedLine::default();
        if trimmed.is_empty() {
            return parsed;
        }
        let raw: RawLine = match serde_json::from_slice(trimmed) {
            Ok(raw) => raw,
            Err(error) => {
                let text = String::from_utf8_lossy(trimmed);
                let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
                let ellipsis = if text.chars().nth(EXCERPT_CHARS).is_some() {
                    "…"
                } else {
                    ""
                };
                parsed.events.push(AgentEvent::Log {
                    level: LogLevel::Warn,
                    message: format!(
                        "unreadable output line from claude ({error}): {excerpt}{ellipsis}"
                    ),
                });
                return parsed;
            }
        };
        if let Some(session) = raw.session_id.as_ref().filter(|s| !s.is_empty()) {
            self.session_id = Some(session.clone());
        }
        match (raw.kind.as_str(), raw.subtype.as_str()) {
            ("system", "init") => {
                if let Some(model) = raw.model.filter(|m| !m.is_empty()) {
                    self.model = Some(model);
                }
                parsed.events.push(AgentEvent::Status("running".to_owned()));
                if let Some(session) = &self.session_id {
                    parsed.events.push(AgentEvent::Session(session.clone()));
                }
            }
            // The model API failed and the CLI waits before trying again: worth
            // showing, since the agent looks stuck meanwhile.
            ("system", "api_retry") => parsed.events.push(AgentEvent::Log {
                level: LogLevel::Warn,
                message: format!(
                    "model API request failed ({}); retry {} of {}",
                    raw.error
                        .as_ref()
                        .map_or_else(|| "unknown error".to_owned(), value_text),
                    raw.attempt.unwrap_or(0),
                    raw.max_retries.unwrap_or(0)
                ),
            }),
            ("system", "compact_boundary") => parsed
                .events
                .push(AgentEvent::Status("context compacted".to_owned())),
            ("assistant", _) => self.assistant_blocks(raw.message, &mut parsed.events),
            ("user", _) => self.user_blocks(raw.message, &mut parsed.events),
            ("result", _) => {
                self.take_result(raw, &mut parsed.events);
                parsed.finished = true;
            }
            ("log", _) => {
                if let Some(log) = raw.log {
                    parsed.events.push(AgentEvent::Log {
                        level: match log.level.as_str() {
                            "debug" | "trace" => LogLevel::Debug,
                            "warn" | "warning" => LogLevel::Warn,
                            "error" => LogLevel::Error,
                            _ => LogLevel::Info,
                        },
                        message: log.message,
                    });
                }
            }
            ("control_request", _) => {
                if let (Some(request_id), Some(request)) = (raw.request_id, raw.request) {
                    parsed.control_request = Some(ControlRequest {
                        request_id,
                        subtype: request.subtype,
                        tool_name: request.tool_name,
                        input: request.input.unwrap_or(Value::Null),
                    });
                }
            }
            _ => {}
        }
        parsed
    }

    fn take_result(&mut self, raw: RawLine, events: &mut Vec<AgentEvent>) {
        let mut text = raw.result.unwrap_or_default();
        if raw.is_error && text.trim().is_empty() {
            // Error subtypes (e.g. error_during_execution) may carry no `result`
            // but a list of errors.
            let errors: Vec<String> = raw.errors.iter().flatten().map(value_text).collect();
            text = if errors.is_empty() {
                format!("claude reported an error ({})", raw.subtype)
            } else {
                errors.join("; ")
            };
        }
        if raw.is_error {
            events.push(AgentEvent::Error(text.clone()));
        }
        if let Some(model_usage) = raw.model_usage {
            self.session_usage = model_usage
                .into_iter()
                .map(|(model, usage)| {
                    let usage = ModelUsage {
                        model: model.clone(),
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                        cache_read_tokens: usage.cache_read_input_tokens,
                        cache_write_tokens: usage.cache_creation_input_tokens,
                        cost_usd: usage.cost_usd,
                    };
                    (model, usage)
                })
                .collect();
        }
        self.run_usage = raw.usage;
        self.result = Some(FinalResult {
            text,
            is_error: raw.is_error,
            subtype: raw.subtype,
        });
    }

    fn assistant_blocks(&mut self, message: Option<RawMessage>, events: &mut Vec<AgentEvent>) {
        let blocks = match message.and_then(|m| m.content) {
            None => return,
            Some(RawContent::Text(text)) => {
                if !text.is_empty() {
                    events.push(AgentEvent::Text(text));
                }
                return;
            }
            Some(RawContent::Blocks(blocks)) => blocks,
        };
        for block in blocks {
            match block.kind.as_str() {
                "text" => {
                    if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                        events.push(AgentEvent::Text(text));
                    }
                }
                "thinking" => {
                    if let Some(text) = block.thinking.or(block.text).filter(|t| !t.is_empty()) {
                        events.push(AgentEvent::Thinking(text));
                    }
                }
                "tool_use" | "server_tool_use" => {
                    let call_id = block.id.unwrap_or_default();
                    let tool = block.name.unwrap_or_default();
                    if !call_id.is_empty() {
                        self.tools.insert(call_id.clone(), tool.clone());
                    }
                    events.push(AgentEvent::ToolUse {
                        call_id,
                        tool,
                        input: block.input.unwrap_or(Value::Null),
                    });
                }
                _ => {}
            }
        }
    }

    fn user_blocks(&mut self, message: Option<RawMessage>, events: &mut Vec<AgentEvent>) {
        let Some(RawContent::Blocks(blocks)) = message.and_then(|m| m.content) else {
            return;
        };
        for block in blocks {
            if block.kind != "tool_result" {
                continue;
            }
            let call_id = block.tool_use_id.unwrap_or_default();
            events.push(AgentEvent::ToolResult {
                tool: self.tools.remove(&call_id),
                call_id,
                output: tool_result_text(block.content),
                is_error: block.is_error,
            });
        }
    }
}

/// A tool result's content is a string or a list of blocks; shows the text of it,
/// not its JSON.
fn tool_result_text(content: Option<Value>) -> String {
    match content {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(Value::Array(blocks)) => {
            let parts: Vec<String> = blocks.into_iter().map(content_block_text).collect();
            parts.join("\n")
        }
        Some(other) => other.to_string(),
    }
}

fn content_block_text(block: Value) -> String {
    let Value::Object(mut block) = block else {
        return value_text(&block);
    };
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match (kind.as_str(), block.remove("text")) {
        ("text", Some(Value::String(text))) => text,
        ("", _) => Value::Object(block).to_string(),
        (other, _) => format!("[{other}]"),
    }
}

/// A JSON value as text: strings as they are, anything else as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(parser: &mut ClaudeStreamParser, value: &Value) -> ParsedLine {
        parser.parse_line(value.to_string().as_bytes())
    }

    #[test]
    fn a_full_turn_becomes_events_and_a_result() {
        let mut parser = ClaudeStreamParser::new();
        let init = parse(
            &mut parser,
            &json!({"type":"system","subtype":"init","session_id":"s-1","model":"claude-x","tools":["Bash"]}),
        );
        assert_eq!(
            init.events,
            vec![
                AgentEvent::Status("running".into()),
                AgentEvent::Session("s-1".into())
            ],
            "the session is told as soon as the CLI names it"
        );
        assert_eq!(parser.session_id(), Some("s-1"));
        assert_eq!(parser.model(), Some("claude-x"));

        let assistant = parse(
            &mut parser,
            &json!({"type":"assistant","message":{"content":[
                {"type":"thinking","thinking":"plan","signature":"sig"},
                {"type":"text","text":"Running it."},
                {"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}),
        );
        assert_eq!(
            assistant.events,
            vec![
                AgentEvent::Thinking("plan".into()),
                AgentEvent::Text("Running it.".into()),
                AgentEvent::ToolUse {
                    call_id: "t1".into(),
                    tool: "Bash".into(),
                    input: json!({"command":"ls"})
                },
            ]
        );

        let user = parse(
            &mut parser,
            &json!({"type":"user","message":{"content":[
                {"type":"tool_result","tool_use_id":"t1","content":[
                    {"type":"text","text":"a"},{"type":"image","source":{}},{"type":"text","text":"b"}]}]}}),
        );
        assert_eq!(
            user.events,
            vec![AgentEvent::ToolResult {
                call_id: "t1".into(),
                tool: Some("Bash".into()),
                output: "a\n[image]\nb".into(),
                is_error: false
            }]
        );

        let result = parse(
            &mut parser,
            &json!({"type":"result","subtype":"success","is_error":false,"result":"Done.","session_id":"s-1",
                   "usage":{"input_tokens":10,"output_tokens":4,"cache_read_input_tokens":2,"cache_creation_input_tokens":1},
                   "modelUsage":{"claude-x":{"inputTokens":10,"outputTokens":4,"cacheReadInputTokens":2,
                                             "cacheCreationInputTokens":1,"costUSD":0.5}}}),
        );
        assert!(result.events.is_empty());
        assert!(result.finished);
        assert_eq!(parser.final_text(), Some("Done."));
        assert!(!parser.final_is_error());
        let expected = ModelUsage {
            model: "claude-x".into(),
            input_tokens: 10,
            output_tokens: 4,
            cache_read_tokens: 2,
            cache_write_tokens: 1,
            cost_usd: Some(0.5),
        };
        assert_eq!(parser.usage_for_run(false), vec![expected.clone()]);
        assert_eq!(
            parser.usage_for_run(true),
            vec![ModelUsage {
                cost_usd: None,
                ..expected
            }]
        );
    }

    #[test]
    fn a_resumed_run_counts_only_its_own_tokens() {
        let mut parser = ClaudeStreamParser::new();
        parse(
            &mut parser,
            &json!({"type":"system","subtype":"init","session_id":"s","model":"main"}),
        );
        parse(
            &mut parser,
            &json!({"type":"result","subtype":"success","is_error":false,"result":"ok",
                   "usage":{"input_tokens":100,"output_tokens":10,"cache_read_input_tokens":0,"cache_creation_input_tokens":0},
                   "modelUsage":{
                       "main":{"inputTokens":300,"outputTokens":30,"costUSD":0.3},
                       "side":{"inputTokens":5,"outputTokens":1,"costUSD":0.01}}}),
        );
        assert_eq!(parser.session_usage().len(), 2);
        let run = parser.usage_for_run(true);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].model, "main");
        assert_eq!((run[0].input_tokens, run[0].output_tokens), (100, 10));
    }

    #[test]
    fn tool_results_as_plain_strings_and_errors() {
        let mut parser = ClaudeStreamParser::new();
        let line = parse(
            &mut parser,
            &json!({"type":"user","message":{"role":"user","content":[
                {"type":"tool_result","tool_use_id":"unknown","content":"Exit code 1\nno such file","is_error":true}]}}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::ToolResult {
                call_id: "unknown".into(),
                tool: None,
                output: "Exit code 1\nno such file".into(),
                is_error: true
            }]
        );
        // A user's own text (a replayed prompt) is not an event.
        assert!(
            parse(
                &mut parser,
                &json!({"type":"user","message":{"content":"hello"}})
            )
            .events
            .is_empty()
        );
    }

    #[test]
    fn broken_and_unknown_lines_never_panic() {
        let mut parser = ClaudeStreamParser::new();
        let broken = parser.parse_line(b"{\"type\":\"assistant\",");
        assert!(matches!(
            &broken.events[..],
            [AgentEvent::Log { level: LogLevel::Warn, message }] if message.contains("unreadable output line")
        ));
        assert!(parser.parse_line(b"   ").events.is_empty());
        assert_eq!(parser.parse_line(b"not json at all").events.len(), 1);
        let long = format!("not json {}", "x".repeat(10_000));
        let excerpt = parser.parse_line(long.as_bytes());
        assert!(
            matches!(&excerpt.events[0], AgentEvent::Log { message, .. } if message.len() < 400 && message.ends_with('…'))
        );
        for ignored in [
            json!({"type":"stream_event","event":{}}),
            json!({"type":"assistant","message":{"content":[{"type":"image"}]}}),
            json!({"type":"assistant"}),
            json!({"type":"user","message":{"content":[{"type":"text","text":"x"}]}}),
            json!({"type":"system","subtype":"hook_response"}),
            json!({"type":"rate_limit_event"}),
            json!({"type": 5}),
        ] {
            assert_eq!(
                parse(&mut parser, &ignored).events.len(),
                usize::from(ignored["type"] == 5),
                "{ignored}"
            );
        }
        assert_eq!(parse(&mut parser, &json!([1, 2])).events.len(), 1);
        assert_eq!(parser.parse_line(&[0xff, 0xfe, b'{']).events.len(), 1);
        assert!(!parser.has_result());
    }

    #[test]
    fn api_retries_become_warnings() {
        let mut parser = ClaudeStreamParser::new();
        let line = parse(
            &mut parser,
            &json!({"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"error_status":500,"error":"server_error","session_id":"s"}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::Log {
                level: LogLevel::Warn,
                message: "model API request failed (server_error); retry 3 of 10".into()
            }]
        );
    }

    #[test]
    fn error_results_are_reported() {
        let mut parser = ClaudeStreamParser::new();
        let line = parse(
            &mut parser,
            &json!({"type":"result","subtype":"success","is_error":true,"result":"API Error: 400 bad"}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::Error("API Error: 400 bad".into())]
        );
        assert!(line.finished);
        assert!(parser.final_is_error());

        let mut parser = ClaudeStreamParser::new();
        let line = parse(
            &mut parser,
            &json!({"type":"result","subtype":"error_during_execution","is_error":true,"errors":["tool crashed", {"code": 1}]}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::Error("tool crashed; {\"code\":1}".into())]
        );

        let mut parser = ClaudeStreamParser::new();
        parse(
            &mut parser,
            &json!({"type":"result","subtype":"error_max_turns","is_error":true}),
        );
        assert_eq!(
            parser.final_text(),
            Some("claude reported an error (error_max_turns)")
        );
        assert_eq!(parser.final_subtype(), Some("error_max_turns"));
    }

    #[test]
    fn permission_prompts_are_allowed_with_their_input() {
        let mut parser = ClaudeStreamParser::new();
        let line = parse(
            &mut parser,
            &json!({"type":"control_request","request_id":"r-1",
                   "request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf build"}}}),
        );
        let request = line.control_request.expect("a control request");
        assert_eq!(request.tool_name.as_deref(), Some("Bash"));
        let response: Value = serde_json::from_str(&request.response_line()).expect("json");
        assert_eq!(
            response,
            json!({"type":"control_response","response":{"subtype":"success","request_id":"r-1",
                "response":{"behavior":"allow","updatedInput":{"command":"rm -rf build"}}}})
        );
    }

    #[test]
    fn other_control_requests_are_declined() {
        let request = ControlRequest {
            request_id: "r-2".into(),
            subtype: "elicitation".into(),
            tool_name: None,
            input: Value::Null,
        };
        let response: Value = serde_json::from_str(&request.response_line()).expect("json");
        assert_eq!(response["response"]["subtype"], "error");
        assert_eq!(response["response"]["request_id"], "r-2");
    }
}
