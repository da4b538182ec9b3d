//! The client side of `codex app-server`'s JSON-RPC 2.0 conversation, one
//! message per line, as a state machine fed with stdout lines: it answers the
//! server's responses and requests with the next lines for stdin and turns
//! notifications into [`AgentEvent`]s.
//!
//! ```text
//! → initialize                 ← result
//! → initialized, thread/start (or thread/resume)
//!                              ← result {thread.id}   (a failed resume: thread/start)
//! → turn/start {threadId, input}
//!                              ← item/*, thread/tokenUsage/updated, …, turn/completed
//! ```
//!
//! Both notification dialects are understood: the current `item/*` and `turn/*`
//! one, and the legacy `codex/event/*` one of older releases (ignored once the
//! current one has been seen, since some releases send both). Anything else is
//! ignored.

use serde_json::{Value, json};

use crate::child::Reaction;
use crate::jsonrpc::{self, Incoming, METHOD_NOT_FOUND};
use crate::{AgentEvent, LogLevel, ModelUsage};

const INITIALIZE_ID: u64 = 1;
const THREAD_ID: u64 = 2;
const TURN_ID: u64 = 3;
/// A fresh thread after a resume was refused.
const FALLBACK_THREAD_ID: u64 = 4;

/// What the run is for.
#[derive(Debug, Clone)]
pub(crate) struct TurnRequest {
    pub(crate) cwd: String,
    pub(crate) prompt: String,
    pub(crate) model: Option<String>,
    pub(crate) resume_thread_id: Option<String>,
}

/// How the turn ended, as far as the protocol tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TurnEnd {
    Completed,
    /// The turn, or the conversation before it, failed with this message.
    Failed(String),
}

/// Token counts as Codex reports them (`inputTokens` includes the cached ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tokens {
    input: u64,
    cached_input: u64,
    cache_write: u64,
    output: u64,
}

impl Tokens {
    fn from_current(value: &Value) -> Self {
        let count = |name: &str| value.get(name).and_then(Value::as_u64).unwrap_or(0);
        Self {
            input: count("inputTokens"),
            cached_input: count("cachedInputTokens"),
            cache_write: count("cacheWriteInputTokens"),
            output: count("outputTokens"),
        }
    }

    fn from_legacy(value: &Value) -> Self {
        let count = |name: &str| value.get(name).and_then(Value::as_u64).unwrap_or(0);
        Self {
            input: count("input_tokens"),
            cached_input: count("cached_input_tokens"),
            cache_write: 0,
            output: count("output_tokens"),
        }
    }

    fn minus(self, earlier: Self) -> Self {
        Self {
            input: self.input.saturating_sub(earlier.input),
            cached_input: self.cached_input.saturating_sub(earlier.cached_input),
            cache_write: self.cache_write.saturating_sub(earlier.cache_write),
            output: self.output.saturating_sub(earlier.output),
        }
    }
}

#[derive(Debug)]
pub(crate) struct AppServerClient {
    request: TurnRequest,
    thread_id: Option<String>,
    /// The turn this run started; usage reported for other turns (a resumed
    /// thread's restored totals) is not this run's.
    turn_id: Option<String>,
    model: Option<String>,
    /// The thread's token totals before this run's first request, and the latest.
    tokens_before: Option<Tokens>,
    tokens_now: Tokens,
    last_text: Option<String>,
    end: Option<TurnEnd>,
    ready: bool,
    current_dialect_seen: bool,
    /// The last error Codex reported that it will not retry.
    last_error: Option<String>,
}

impl AppServerClient {
    pub(crate) fn new(request: TurnRequest) -> Self {
        Self {
            model: request.model.clone(),
            request,
            thread_id: None,
            turn_id: None,
            tokens_before: None,
            tokens_now: Tokens::default(),
            last_text: None,
            end: None,
            ready: false,
            current_dialect_seen: false,
            last_error: None,
        }
    }

    /// The first line to send.
    pub(crate) fn initialize_line() -> String {
        jsonrpc::request(
            INITIALIZE_ID,
            "initialize",
            &json!({
                "clientInfo": {"name": "multica", "version": env!("CARGO_PKG_VERSION")},
                "capabilities": {},
            }),
        )
    }

    pub(crate) fn thread_id(&self) -> Option<&str> {
        self.thread_id.as_deref()
    }

    pub(crate) fn final_text(&self) -> Option<&str> {
        self.last_text.as_deref()
    }

    pub(crate) fn end(&self) -> Option<&TurnEnd> {
        self.end.as_ref()
    }

    /// Whether the turn has been accepted (the handshake is over).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// This run's usage (a resumed thread's earlier turns are not counted).
    pub(crate) fn usage(&self) -> Vec<ModelUsage> {
        let Some(before) = self.tokens_before else {
            return Vec::new();
        };
        let run = self.tokens_now.minus(before);
        if run == Tokens::default() {
            return Vec::new();
        }
        vec![ModelUsage {
            model: self.model.clone().unwrap_or_else(|| "codex".to_owned()),
            input_tokens: run.input.saturating_sub(run.cached_input),
            output_tokens: run.output,
            cache_read_tokens: run.cached_input,
            cache_write_tokens: run.cache_write,
            cost_usd: None,
        }]
    }

    pub(crate) fn on_line(&mut self, line: &[u8]) -> Reaction {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Reaction::default();
        }
        let Ok(message) = serde_json::from_str::<Value>(trimmed) else {
            return Reaction {
                events: vec![AgentEvent::Log {
                    level: LogLevel::Debug,
                    message: format!("codex: not JSON: {}", clip(trimmed, 300)),
                }],
                ..Reaction::default()
            };
        };
        match Incoming::of(&message) {
            Incoming::Request { method, id } => self.on_server_request(method, id),
            Incoming::Notification { method } => self.on_notification(method, &message["params"]),
            Incoming::Response { id } => self.on_response(id, &message),
            Incoming::Other => Reaction::default(),
        }
    }

    fn on_response(&mut self, id: &Value, message: &Value) -> Reaction {
        let error = message.get("error").map(jsonrpc::error_text);
        match (id.as_u64(), error) {
            (Some(INITIALIZE_ID), None) => {
                let start = match self.request.resume_thread_id.clone() {
                    Some(thread_id) => {
                        self.thread_request(THREAD_ID, "thread/resume", Some(&thread_id))
                    }
                    None => self.thread_request(THREAD_ID, "thread/start", None),
                };
                Reaction {
                    replies: vec![jsonrpc::notification("initialized"), start],
                    ..Reaction::default()
                }
            }
            (Some(THREAD_ID), Some(error)) if self.request.resume_thread_id.is_some() => Reaction {
                events: vec![AgentEvent::Log {
                    level: LogLevel::Warn,
                    message: format!(
                        "codex could not resume the previous session ({error}); starting a new one"
                    ),
                }],
                replies: vec![self.thread_request(FALLBACK_THREAD_ID, "thread/start", None)],
                ..Reaction::default()
            },
            (Some(THREAD_ID | FALLBACK_THREAD_ID), None) => {
                let result = &message["result"];
                self.thread_id = result["thread"]["id"].as_str().map(str::to_owned);
                if let Some(model) = result["model"]
                    .as_str()
                    .or(result["thread"]["model"].as_str())
                {
                    self.model = Some(model.to_owned());
                }
                let Some(thread_id) = self.thread_id.clone() else {
                    return self.fail("codex started a thread without an id".to_owned());
                };
                Reaction {
                    replies: vec![jsonrpc::request(
                        TURN_ID,
                        "turn/start",
                        &json!({
                            "threadId": thread_id,
                            "input": [{"type": "text", "text": self.request.prompt}],
                        }),
                    )],
                    ..Reaction::default()
                }
            }
            (Some(TURN_ID), None) => {
                self.ready = true;
                self.turn_id = message["result"]["turn"]["id"].as_str().map(str::to_owned);
                Reaction {
                    events: vec![AgentEvent::Status("running".to_owned())],
                    ..Reaction::default()
                }
            }
            (Some(INITIALIZE_ID), Some(error)) => {
                self.fail(format!("codex refused to initialize: {error}"))
            }
            (Some(THREAD_ID | FALLBACK_THREAD_ID), Some(error)) => {
                self.fail(format!("codex could not start a thread: {error}"))
            }
            (Some(TURN_ID), Some(error)) => self.fail(format!("codex refused the turn: {error}")),
            _ => Reaction::default(),
        }
    }

    fn thread_request(&self, id: u64, method: &str, thread_id: Option<&str>) -> String {
        let mut params = json!({
            "cwd": self.request.cwd,
            // Unattended: nobody is there to approve, and the task directory is
            // the agent's own.
            "approvalPolicy": "never",
            "sandbox": "danger-full-access",
        });
        if let Some(model) = self.request.model.as_ref().filter(|m| !m.trim().is_empty()) {
            params["model"] = json!(model);
        }
        if let Some(thread_id) = thread_id {
            params["threadId"] = json!(thread_id);
        }
        jsonrpc::request(id, method, &params)
    }

    fn fail(&mut self, error: String) -> Reaction {
        self.end = Some(TurnEnd::Failed(error.clone()));
        Reaction {
            events: vec![AgentEvent::Error(error)],
            finished: true,
            ..Reaction::default()
        }
    }

    /// Approvals are granted (the policy is `never`, so they are rare); anything
    /// that would wait for a person is declined so the agent does not hang.
    fn on_server_request(&mut self, method: &str, id: &Value) -> Reaction {
        let result = match method {
            // The legacy names want the legacy answer.
            "execCommandApproval" | "applyPatchApproval" => Some(json!({"decision": "approved"})),
            _ if method.ends_with("requestApproval") => Some(json!({"decision": "accept"})),
            _ => None,
        };
        let reply = match result {
            Some(result) => jsonrpc::result_response(id, &result),
            None => jsonrpc::error_response(
                id,
                METHOD_NOT_FOUND,
                &format!("{method} is not supported by an unattended agent"),
            ),
        };
        Reaction {
            replies: vec![reply],
            ..Reaction::default()
        }
    }

    fn on_notification(&mut self, method: &str, params: &Value) -> Reaction {
        if let Some(legacy) = method.strip_prefix("codex/event/") {
            if self.current_dialect_seen {
                return Reaction::default();
            }
            return self.on_legacy_event(legacy, &params["msg"]);
        }
        let mut events = Vec::new();
        let mut finished = false;
        match method {
            "item/started" => {
                self.current_dialect_seen = true;
                events.extend(tool_use(&params["item"]));
            }
            "item/completed" => {
                self.current_dialect_seen = true;
                events.extend(self.completed_item(&params["item"]));
            }
            "thread/tokenUsage/updated" => {
                let usage = &params["tokenUsage"];
                let total = Tokens::from_current(&usage["total"]);
                let ours = match (params["turnId"].as_str(), &self.turn_id) {
                    (Some(reported), Some(ours)) => reported == ours,
                    // Before our turn is known, or without a turn id: a restored
                    // total if the turn has not started yet.
                    (Some(_), None) => false,
                    (None, _) => self.ready,
                };
                if ours {
                    self.record_tokens(total, Tokens::from_current(&usage["last"]));
                } else {
                    self.tokens_before = Some(total);
                    self.tokens_now = total;
                }
            }
            "turn/completed" => {
                self.current_dialect_seen = true;
                let turn = &params["turn"];
                self.end = Some(match turn["status"].as_str() {
                    Some("completed") => TurnEnd::Completed,
                    Some("interrupted") => {
                        TurnEnd::Failed("the codex turn was interrupted".to_owned())
                    }
                    other => TurnEnd::Failed(
                        turn["error"]["message"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| self.last_error.clone())
                            .unwrap_or_else(|| {
                                format!("the codex turn ended as {}", other.unwrap_or("unknown"))
                            }),
                    ),
                });
                finished = true;
            }
            "error" => {
                let error = &params["error"];
                let text = error["message"]
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned);
                if params["willRetry"].as_bool() == Some(true) {
                    events.push(AgentEvent::Log {
                        level: LogLevel::Warn,
                        message: format!("codex will retry: {text}"),
                    });
                } else {
                    self.last_error = Some(text.clone());
                    events.push(AgentEvent::Error(text));
                }
            }
            "warning" | "configWarning" => {
                let text = params["message"]
                    .as_str()
                    .or(params["summary"].as_str())
                    .unwrap_or_default();
                if !text.is_empty() {
                    events.push(AgentEvent::Log {
                        level: LogLevel::Warn,
                        message: format!("codex: {text}"),
                    });
                }
            }
            _ => {}
        }
        Reaction {
            events,
            finished,
            ..Reaction::default()
        }
    }

    fn record_tokens(&mut self, total: Tokens, last: Tokens) {
        if self.tokens_before.is_none() {
            self.tokens_before = Some(total.minus(last));
        }
        self.tokens_now = total;
    }

    fn completed_item(&mut self, item: &Value) -> Vec<AgentEvent> {
        let id = item["id"].as_str().unwrap_or_default().to_owned();
        match item["type"].as_str() {
            Some("agentMessage") => {
                let text = item["text"].as_str().unwrap_or_default();
                if text.is_empty() {
                    return Vec::new();
                }
                self.last_text = Some(text.to_owned());
                vec![AgentEvent::Text(text.to_owned())]
            }
            Some("reasoning") => {
                let parts: Vec<&str> = ["summary", "content"]
                    .iter()
                    .flat_map(|field| item[*field].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                if parts.is_empty() {
                    Vec::new()
                } else {
                    vec![AgentEvent::Thinking(parts.join("\n"))]
                }
            }
            Some("commandExecution") => {
                let failed = item["status"].as_str() == Some("failed")
                    || item["exitCode"].as_i64().is_some_and(|code| code != 0);
                vec![AgentEvent::ToolResult {
                    call_id: id,
                    tool: Some("shell".to_owned()),
                    output: item["aggregatedOutput"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    is_error: failed,
                }]
            }
            Some("fileChange") => vec![AgentEvent::ToolResult {
                call_id: id,
                tool: Some("edit".to_owned()),
                output: item["status"].as_str().unwrap_or("completed").to_owned(),
                is_error: item["status"].as_str() == Some("failed"),
            }],
            Some("mcpToolCall") => vec![AgentEvent::ToolResult {
                call_id: id,
                tool: item["tool"].as_str().map(str::to_owned),
                output: item["result"]
                    .get("content")
                    .map_or_else(|| item["error"].to_string(), Value::to_string),
                is_error: !item["error"].is_null(),
            }],
            _ => Vec::new(),
        }
    }

    fn on_legacy_event(&mut self, kind: &str, message: &Value) -> Reaction {
        let mut events = Vec::new();
        let mut finished = false;
        match kind {
            "agent_message" => {
                if let Some(text) = message["message"].as_str().filter(|t| !t.is_empty()) {
                    self.last_text = Some(text.to_owned());
                    events.push(AgentEvent::Text(text.to_owned()));
                }
            }
            "exec_command_begin" => events.push(AgentEvent::ToolUse {
                call_id: message["call_id"].as_str().unwrap_or_default().to_owned(),
                tool: "shell".to_owned(),
                input: json!({"command": command_text(&message["command"])}),
            }),
            "exec_command_end" => events.push(AgentEvent::ToolResult {
                call_id: message["call_id"].as_str().unwrap_or_default().to_owned(),
                tool: Some("shell".to_owned()),
                output: message["aggregated_output"]
                    .as_str()
                    .or(message["stdout"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                is_error: message["exit_code"].as_i64().is_some_and(|code| code != 0),
            }),
            "token_count" => {
                let info = &message["info"];
                self.record_tokens(
                    Tokens::from_legacy(&info["total_token_usage"]),
                    Tokens::from_legacy(&info["last_token_usage"]),
                );
            }
            "error" => {
                let text = message["message"]
                    .as_str()
                    .unwrap_or("codex reported an error")
                    .to_owned();
                self.last_error = Some(text.clone());
                events.push(AgentEvent::Error(text));
            }
            "task_complete" => {
                if let Some(text) = message["last_agent_message"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                {
                    self.last_text = Some(text.to_owned());
                }
                self.end = Some(match &self.last_error {
                    Some(error) if self.last_text.is_none() => TurnEnd::Failed(error.clone()),
                    _ => TurnEnd::Completed,
                });
                finished = true;
            }
            _ => {}
        }
        Reaction {
            events,
            finished,
            ..Reaction::default()
        }
    }
}

/// The `ToolUse` a started item stands for, if it is a tool.
fn tool_use(item: &Value) -> Option<AgentEvent> {
    let call_id = item["id"].as_str().unwrap_or_default().to_owned();
    match item["type"].as_str()? {
        "commandExecution" => Some(AgentEvent::ToolUse {
            call_id,
            tool: "shell".to_owned(),
            input: json!({"command": shown_command(item), "cwd": item["cwd"]}),
        }),
        "fileChange" => Some(AgentEvent::ToolUse {
            call_id,
            tool: "edit".to_owned(),
            input: item["changes"].clone(),
        }),
        "mcpToolCall" => Some(AgentEvent::ToolUse {
            call_id,
            tool: format!(
                "{}/{}",
                item["server"].as_str().unwrap_or("mcp"),
                item["tool"].as_str().unwrap_or("tool")
            ),
            input: item["arguments"].clone(),
        }),
        _ => None,
    }
}

/// The command as the model wrote it: Codex reports the shell wrapper it ran
/// (`/bin/bash -lc '…'`) and, in `commandActions`, what was inside.
fn shown_command(item: &Value) -> String {
    match item["commandActions"].as_array().map(Vec::as_slice) {
        Some([action]) => action["command"]
            .as_str()
            .map_or_else(|| command_text(&item["command"]), str::to_owned),
        _ => command_text(&item["command"]),
    }
}

/// A command as text, whether Codex gives a string or an argv array.
fn command_text(command: &Value) -> String {
    match command {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from `codex app-server` 0.169.0 against the fake model API: a
    /// shell tool call, then an answer.
    const RECORDED: &str =
        include_str!("../../tests/fixtures/codex_app_server_tool_then_answer.jsonl");

    fn client(resume: Option<&str>) -> AppServerClient {
        AppServerClient::new(TurnRequest {
            cwd: "/work".into(),
            prompt: "run the thing".into(),
            model: None,
            resume_thread_id: resume.map(str::to_owned),
        })
    }

    fn replay(client: &mut AppServerClient, text: &str) -> (Vec<AgentEvent>, Vec<String>, bool) {
        let (mut events, mut replies, mut finished) = (Vec::new(), Vec::new(), false);
        for line in text.lines() {
            let reaction = client.on_line(line.as_bytes());
            events.extend(reaction.events);
            replies.extend(reaction.replies);
            finished |= reaction.finished;
        }
        (events, replies, finished)
    }

    #[test]
    fn a_recorded_run_becomes_text_tool_use_tool_result_text() {
        let mut client = client(None);
        let (events, replies, finished) = replay(&mut client, RECORDED);
        assert!(finished);
        assert_eq!(client.end(), Some(&TurnEnd::Completed));
        assert_eq!(client.final_text(), Some("All done."));
        assert_eq!(
            client.thread_id(),
            Some("01a20f38-984c-7e10-8144-4345d76aa96f")
        );
        let plain: Vec<&AgentEvent> = events
            .iter()
            .filter(|event| !matches!(event, AgentEvent::Log { .. }))
            .collect();
        assert_eq!(plain.len(), 5, "{plain:#?}");
        assert_eq!(plain[0], &AgentEvent::Status("running".into()));
        assert_eq!(plain[1], &AgentEvent::Text("I'll run the command.".into()));
        assert!(matches!(plain[2], AgentEvent::ToolUse { tool, input, .. }
            if tool == "shell" && input["command"] == "echo hi-from-tool"));
        assert!(
            matches!(plain[3], AgentEvent::ToolResult { output, is_error: false, .. }
            if output == "hi-from-tool\n")
        );
        assert_eq!(plain[4], &AgentEvent::Text("All done.".into()));
        // The handshake replies: initialized + thread/start, then turn/start.
        assert!(replies[0].contains(r#""method":"initialized""#));
        assert!(replies[1].contains(r#""method":"thread/start""#));
        assert!(replies[2].contains(r#""method":"turn/start""#));
        assert!(replies[2].contains("run the thing"));
        assert_eq!(
            client.usage(),
            vec![ModelUsage {
                model: "gpt-test".into(),
                input_tokens: 2_400,
                output_tokens: 96,
                cache_read_tokens: 4_000,
                cache_write_tokens: 0,
                cost_usd: None,
            }]
        );
    }

    #[test]
    fn a_refused_resume_falls_back_to_a_new_thread() {
        let mut client = client(Some("old-thread"));
        let (_, replies, _) = replay(&mut client, r#"{"id":1,"result":{}}"#);
        assert!(replies[1].contains(r#""method":"thread/resume""#));
        assert!(replies[1].contains("old-thread"));
        let (events, replies, finished) = replay(
            &mut client,
            r#"{"error":{"code":-32600,"message":"no rollout found for thread id old-thread"},"id":2}"#,
        );
        assert!(!finished);
        assert!(replies[0].contains(r#""method":"thread/start""#));
        assert!(
            matches!(&events[0], AgentEvent::Log { level: LogLevel::Warn, message }
            if message.contains("no rollout found"))
        );
    }

    #[test]
    fn approvals_are_granted_and_questions_declined() {
        let mut client = client(None);
        let (_, replies, _) = replay(
            &mut client,
            concat!(
                r#"{"id":7,"method":"item/commandExecution/requestApproval","params":{}}"#,
                "\n",
                r#"{"id":8,"method":"execCommandApproval","params":{}}"#,
                "\n",
                r#"{"id":"q","method":"item/tool/requestUserInput","params":{}}"#,
            ),
        );
        assert_eq!(
            replies[0],
            r#"{"id":7,"jsonrpc":"2.0","result":{"decision":"accept"}}"#
        );
        assert!(replies[1].contains(r#""decision":"approved""#));
        assert!(replies[2].contains("-32601") && replies[2].contains(r#""id":"q""#));
    }

    #[test]
    fn failed_turns_and_legacy_events() {
        let mut client = client(None);
        let (events, _, finished) = replay(
            &mut client,
            concat!(
                r#"{"method":"error","params":{"error":{"message":"stream disconnected"},"willRetry":true}}"#,
                "\n",
                r#"{"method":"error","params":{"error":{"message":"quota exceeded"},"willRetry":false}}"#,
                "\n",
                r#"{"method":"turn/completed","params":{"turn":{"status":"failed","error":null}}}"#,
            ),
        );
        assert!(finished);
        assert_eq!(
            client.end(),
            Some(&TurnEnd::Failed("quota exceeded".into()))
        );
        assert!(events.contains(&AgentEvent::Error("quota exceeded".into())));

        let mut legacy = self::client(None);
        let (events, _, finished) = replay(
            &mut legacy,
            concat!(
                r#"{"method":"codex/event/exec_command_begin","params":{"msg":{"type":"exec_command_begin","call_id":"c1","command":["bash","-lc","ls"]}}}"#,
                "\n",
                r#"{"method":"codex/event/exec_command_end","params":{"msg":{"call_id":"c1","aggregated_output":"a\n","exit_code":0}}}"#,
                "\n",
                r#"{"method":"codex/event/agent_message","params":{"msg":{"message":"Done."}}}"#,
                "\n",
                r#"{"method":"codex/event/token_count","params":{"msg":{"info":{"total_token_usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":7},"last_token_usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":7}}}}}"#,
                "\n",
                r#"{"method":"codex/event/task_complete","params":{"msg":{"last_agent_message":"Done."}}}"#,
            ),
        );
        assert!(finished);
        assert_eq!(legacy.end(), Some(&TurnEnd::Completed));
        assert_eq!(events.len(), 3);
        assert_eq!(legacy.usage()[0].input_tokens, 60);
        assert_eq!(legacy.usage()[0].cache_read_tokens, 40);
    }

    #[test]
    fn garbage_never_panics() {
        let mut client = client(None);
        for line in [
            "",
            "not json",
            "[]",
            "null",
            "{}",
            r#"{"id":null}"#,
            r#"{"method":5}"#,
            r#"{"method":"item/completed","params":null}"#,
            r#"{"method":"item/completed","params":{"item":{"type":"commandExecution"}}}"#,
            r#"{"id":3,"result":null}"#,
            r#"{"id":2,"result":{"thread":{}}}"#,
            "{\"method\":\"turn/completed\",\"params\":{\"turn\":7}}",
            "\u{0}\u{1}\u{ff}",
        ] {
            let _ = client.on_line(line.as_bytes());
        }
    }
}
