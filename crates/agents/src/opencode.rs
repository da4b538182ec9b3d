//! OpenCode (`opencode`), driven headless:
//!
//! ```text
//! opencode run --format json [--model provider/model] [--session ID]   (prompt on stdin)
//! ```
//!
//! Checked with OpenCode 1.18.33:
//! - the prompt is read from stdin when no message argument is given, so prompts of
//!   any size fit and stay out of `ps`;
//! - tools are approved through `OPENCODE_PERMISSION={"*":"allow"}`;
//! - one JSON object per line: `step_start`, `text`, `reasoning`, `tool_use` (the
//!   call and its result in one event), `step_finish` (tokens and cost of the
//!   step) and `error`; each carries the `sessionID`;
//! - after an `error` event it may exit 0: the error decides the outcome;
//! - `--session` with a session it no longer has exits 1 with "Session not found"
//!   on stderr before printing anything; the run is then started afresh.

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::child::{self, Ended, Launch, OutputProtocol, Reaction};
use crate::{
    AgentBackend, AgentError, AgentEvent, AgentRun, EVENT_BUFFER, LogLevel, ModelUsage,
    OutcomeReceiver, Provider, RunOutcome, RunSpec, RunStatus,
};

/// What OpenCode says when `--session` names a session it does not have.
const SESSION_NOT_FOUND: &str = "Session not found";

/// The model usage is booked under when the run did not pick one (OpenCode then
/// uses its configured default, which its output does not name).
const DEFAULT_MODEL_LABEL: &str = "opencode-default";

#[derive(Debug, Clone)]
pub struct OpenCodeBackend {
    provider: Provider,
}

impl OpenCodeBackend {
    pub fn new(provider: Provider) -> Self {
        Self { provider }
    }
}

impl Default for OpenCodeBackend {
    fn default() -> Self {
        Self::new(Provider::opencode())
    }
}

impl AgentBackend for OpenCodeBackend {
    fn provider(&self) -> Provider {
        self.provider.clone()
    }

    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError> {
        let resuming = spec
            .resume_session_id
            .as_ref()
            .is_some_and(|id| !id.trim().is_empty());
        let first = launch(&self.provider, &spec, cancel.clone())?;
        if !resuming {
            return Ok(first);
        }
        Ok(fresh_if_session_is_gone(
            self.provider.clone(),
            spec,
            cancel,
            first,
        ))
    }
}

fn launch(
    provider: &Provider,
    spec: &RunSpec,
    cancel: CancellationToken,
) -> Result<AgentRun, AgentError> {
    let mut command = child::command_for(provider, spec)?;
    command.args(["run", "--format", "json"]);
    let model = spec.model.clone().filter(|m| !m.trim().is_empty());
    if let Some(model) = &model {
        command.args(["--model", model]);
    }
    if let Some(session) = spec
        .resume_session_id
        .as_ref()
        .filter(|s| !s.trim().is_empty())
    {
        command.args(["--session", session]);
    }
    // Unattended: nobody is there to approve a tool. Our values win over inherited
    // ones; the run's own environment was applied above and cannot loosen this.
    command
        .env("OPENCODE_PERMISSION", r#"{"*":"allow"}"#)
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1");
    let agent: std::sync::Arc<str> = provider.as_str().into();
    let launch = Launch {
        agent: agent.clone(),
        executable: spec.executable.clone(),
        command,
        stdin_lines: vec![spec.prompt.clone()],
        close_stdin: true,
        protocol: OpenCodeParser::new(model.unwrap_or_else(|| DEFAULT_MODEL_LABEL.to_owned())),
        timeout: spec.timeout,
        idle_timeout: spec.idle_timeout,
        kill_grace: spec.kill_grace,
        handshake_timeout: None,
    };
    child::start(launch, cancel, move |ended| outcome(&agent, ended))
}

/// Forwards the resumed run; when OpenCode no longer has the session, starts a
/// fresh one instead and says so in the transcript.
fn fresh_if_session_is_gone(
    provider: Provider,
    spec: RunSpec,
    cancel: CancellationToken,
    first: AgentRun,
) -> AgentRun {
    let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let pid = first.pid;
    tokio::spawn(async move {
        let AgentRun {
            mut events,
            outcome,
            ..
        } = first;
        // A refused session ends before OpenCode prints anything but stderr, so
        // what was forwarded is only its complaint, kept in the transcript.
        while let Some(event) = events.recv().await {
            // A gone consumer is fine: the outcome still matters.
            let _ = events_tx.send(event).await;
        }
        let first_outcome = outcome.await;
        let session_gone = first_outcome.status == RunStatus::Failed
            && first_outcome
                .error
                .as_deref()
                .is_some_and(|error| error.contains(SESSION_NOT_FOUND));
        if !session_gone || cancel.is_cancelled() {
            let _ = outcome_tx.send(first_outcome);
            return;
        }
        info!(session = ?spec.resume_session_id, "OpenCode no longer has the session; starting a fresh one");
        let _ = events_tx
            .send(AgentEvent::Status(
                "the prior OpenCode session is gone; starting a fresh session".to_owned(),
            ))
            .await;
        let fresh_spec = RunSpec {
            resume_session_id: None,
            ..spec
        };
        let outcome = match launch(&provider, &fresh_spec, cancel) {
            Ok(AgentRun {
                mut events,
                outcome,
                ..
            }) => {
                while let Some(event) = events.recv().await {
                    let _ = events_tx.send(event).await;
                }
                let mut outcome = outcome.await;
                outcome.duration += first_outcome.duration;
                outcome
            }
            Err(error) => RunOutcome::failed(error.to_string(), first_outcome.duration),
        };
        let _ = outcome_tx.send(outcome);
    });
    AgentRun {
        events: events_rx,
        outcome: OutcomeReceiver::new(outcome_rx),
        pid,
    }
}

/// Reads `opencode run --format json` output, one event per line.
#[derive(Debug, Default)]
pub struct OpenCodeParser {
    model: String,
    session_id: Option<String>,
    /// Text of the message that last said something, in order.
    final_text: Vec<String>,
    final_message_id: Option<String>,
    error: Option<String>,
    usage: ModelUsage,
    /// Costs the CLI reported per step; `None` until one says anything but 0.
    cost: Option<f64>,
}

impl OpenCodeParser {
    /// `model` is the one the run asked for; usage is booked under it.
    pub fn new(model: String) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The last message's text: the agent's answer.
    pub fn final_text(&self) -> String {
        self.final_text.join("")
    }

    /// The error OpenCode reported, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Tokens of every step of the run (reasoning counts as output).
    pub fn usage(&self) -> Vec<ModelUsage> {
        let usage = ModelUsage {
            model: self.model.clone(),
            cost_usd: self.cost,
            ..self.usage.clone()
        };
        let counted = usage.input_tokens
            + usage.output_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens;
        if counted == 0 {
            Vec::new()
        } else {
            vec![usage]
        }
    }

    /// The events one output line stands for.
    pub fn parse_line(&mut self, line: &[u8]) -> Vec<AgentEvent> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Vec::new();
        }
        let value: Value = match serde_json::from_slice(trimmed) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                return vec![AgentEvent::Log {
                    level: LogLevel::Info,
                    message: String::from_utf8_lossy(trimmed).into_owned(),
                }];
            }
        };
        if let Some(session) = value.get("sessionID").and_then(Value::as_str) {
            if self.session_id.is_none() && !session.is_empty() {
                self.session_id = Some(session.to_owned());
            }
        }
        let part = value.get("part").unwrap_or(&Value::Null);
        match value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" => self.text(part),
            "reasoning" => text_of(part)
                .map(|text| vec![AgentEvent::Thinking(text.to_owned())])
                .unwrap_or_default(),
            "tool_use" => tool_use(part),
            "step_finish" => {
                self.count(part);
                Vec::new()
            }
            "error" => {
                let message = error_message(value.get("error").unwrap_or(&Value::Null));
                self.error = Some(message.clone());
                vec![AgentEvent::Error(message)]
            }
            "step_start" => Vec::new(),
            other => vec![AgentEvent::Log {
                level: LogLevel::Debug,
                message: format!("opencode event {other:?} ignored"),
            }],
        }
    }

    fn text(&mut self, part: &Value) -> Vec<AgentEvent> {
        let Some(text) = text_of(part) else {
            return Vec::new();
        };
        let message_id = part
            .get("messageID")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if message_id != self.final_message_id || message_id.is_none() {
            self.final_text.clear();
            self.final_message_id = message_id;
        }
        self.final_text.push(text.to_owned());
        vec![AgentEvent::Text(text.to_owned())]
    }

    fn count(&mut self, part: &Value) {
        let tokens = part.get("tokens").unwrap_or(&Value::Null);
        let count = |path: &str| tokens.pointer(path).and_then(Value::as_u64).unwrap_or(0);
        let usage = &mut self.usage;
        usage.input_tokens = usage.input_tokens.saturating_add(count("/input"));
        usage.output_tokens = usage
            .output_tokens
            .saturating_add(count("/output"))
            .saturating_add(count("/reasoning"));
        usage.cache_read_tokens = usage.cache_read_tokens.saturating_add(count("/cache/read"));
        usage.cache_write_tokens = usage
            .cache_write_tokens
            .saturating_add(count("/cache/write"));
        if let Some(cost) = part.get("cost").and_then(Value::as_f64) {
            if cost > 0.0 && cost.is_finite() {
                self.cost = Some(self.cost.unwrap_or(0.0) + cost);
            }
        }
    }
}

fn text_of(part: &Value) -> Option<&str> {
    part.get("text")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// One `tool_use` event carries the call and, once it ran, its result.
fn tool_use(part: &Value) -> Vec<AgentEvent> {
    let call_id = part
        .get("callID")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let tool = part
        .get("tool")
        .and_then(Value::as_str)
        .unwrap_or("tool")
        .to_owned();
    let state = part.get("state").unwrap_or(&Value::Null);
    let mut events = vec![AgentEvent::ToolUse {
        call_id: call_id.clone(),
        tool: tool.clone(),
        input: state.get("input").cloned().unwrap_or(Value::Null),
    }];
    let status = state.get("status").and_then(Value::as_str);
    let result = match status {
        Some("completed") => Some((state.get("output"), false)),
        Some("error") => Some((state.get("error"), true)),
        _ => None,
    };
    if let Some((output, is_error)) = result {
        let output = match output {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        events.push(AgentEvent::ToolResult {
            call_id,
            tool: Some(tool),
            output,
            is_error,
        });
    }
    events
}

/// `APIError: scripted failure` from `{"name", "data": {"message"}}`.
fn error_message(error: &Value) -> String {
    let name = error.get("name").and_then(Value::as_str);
    let message = error
        .pointer("/data/message")
        .or_else(|| error.get("message"))
        .and_then(Value::as_str);
    match (name, message) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message.to_owned(),
        (Some(name), None) => name.to_owned(),
        (None, None) if error.is_null() => "an unspecified error".to_owned(),
        (None, None) => error.to_string(),
    }
}

impl OutputProtocol for OpenCodeParser {
    fn on_line(&mut self, line: &[u8]) -> Reaction {
        Reaction {
            events: self.parse_line(line),
            ready: true,
            ..Reaction::default()
        }
    }
}

fn outcome(agent: &str, ended: Ended<OpenCodeParser>) -> RunOutcome {
    let Ended {
        protocol: parser,
        exit,
        stopped,
        stderr_tail,
        timeout,
        duration,
    } = ended;
    let stderr = strip_ansi(stderr_tail.trim());
    let (status, error) = match (
        child::stopped_outcome(agent, stopped, timeout, &stderr),
        parser.error(),
    ) {
        (Some((status, error)), _) => (status, Some(error)),
        (None, Some(error)) => (
            RunStatus::Failed,
            Some(format!("{agent} reported an error: {error}")),
        ),
        (None, None) => match exit {
            Some(status) if status.success() => (RunStatus::Completed, None),
            Some(status) => {
                let ending = match status.code() {
                    Some(code) => format!("{agent} exited with status {code}"),
                    None => format!("{agent} ended ({status})"),
                };
                let message = if stderr.is_empty() {
                    format!("{ending} (nothing on stderr)")
                } else {
                    format!("{ending}: {stderr}")
                };
                (RunStatus::Failed, Some(message))
            }
            None => (
                RunStatus::Failed,
                Some(format!("{agent} ended and its exit status is unknown")),
            ),
        },
    };
    RunOutcome {
        status,
        output: parser.final_text(),
        error,
        session_id: parser.session_id().map(str::to_owned),
        exit_code: exit.and_then(|status| status.code()),
        duration,
        usage: parser.usage(),
    }
}

/// OpenCode colours its stderr even into a pipe.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("../tests/fixtures/opencode_run_tool_then_answer.jsonl");
    const RECORDED_ERROR: &str = include_str!("../tests/fixtures/opencode_run_api_error.jsonl");

    fn parse_all(parser: &mut OpenCodeParser, text: &str) -> Vec<AgentEvent> {
        text.lines()
            .flat_map(|line| parser.parse_line(line.as_bytes()))
            .collect()
    }

    #[test]
    fn a_recorded_run_becomes_text_tool_use_tool_result_text() {
        let mut parser = OpenCodeParser::new("fake/gpt-test".into());
        let events = parse_all(&mut parser, RECORDED);
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[0], AgentEvent::Text("I'll run the command.".into()));
        assert!(matches!(&events[1], AgentEvent::ToolUse { tool, input, .. }
            if tool == "bash" && input["command"] == "echo hi-from-tool && pwd"));
        assert!(
            matches!(&events[2], AgentEvent::ToolResult { output, is_error: false, tool: Some(tool), .. }
            if output.starts_with("hi-from-tool\n") && tool == "bash")
        );
        assert_eq!(events[3], AgentEvent::Text("All done.".into()));
        assert_eq!(parser.final_text(), "All done.");
        assert_eq!(parser.session_id(), Some("ses_dd209c814ffeyrlws2rGgKOw3q"));
        assert_eq!(parser.error(), None);
        let usage = parser.usage();
        assert_eq!(usage.len(), 1);
        assert_eq!(usage[0].model, "fake/gpt-test");
        assert_eq!(usage[0].input_tokens, 2 * 1_200);
        assert_eq!(usage[0].output_tokens, 2 * 48);
        assert_eq!(usage[0].cache_read_tokens, 2 * 2_000);
        assert_eq!(usage[0].cost_usd, None);
    }

    #[test]
    fn a_recorded_api_error_decides_the_outcome() {
        let mut parser = OpenCodeParser::new("m".into());
        let events = parse_all(&mut parser, RECORDED_ERROR);
        assert_eq!(
            events,
            vec![AgentEvent::Error("APIError: scripted failure".into())]
        );
        assert_eq!(parser.error(), Some("APIError: scripted failure"));
        assert!(parser.usage().is_empty());
    }

    #[test]
    fn failed_tools_reasoning_costs_and_junk() {
        let mut parser = OpenCodeParser::new("m".into());
        let events = parse_all(
            &mut parser,
            concat!(
                r#"{"type":"reasoning","part":{"text":"hmm"}}"#,
                "\n",
                r#"{"type":"tool_use","part":{"tool":"bash","callID":"c","state":{"status":"error","input":{},"error":"denied"}}}"#,
                "\n",
                r#"{"type":"tool_use","part":{"tool":"read","callID":"d","state":{"status":"running","input":{"path":"x"}}}}"#,
                "\n",
                r#"{"type":"step_finish","part":{"tokens":{"input":1,"output":2,"reasoning":3,"cache":{"read":4,"write":5}},"cost":0.25}}"#,
                "\n",
                "not json\n",
                r#"{"type":"new_thing"}"#,
                "\n",
                "[1,2]\n",
            ),
        );
        assert_eq!(events[0], AgentEvent::Thinking("hmm".into()));
        assert!(
            matches!(&events[2], AgentEvent::ToolResult { output, is_error: true, .. } if output == "denied")
        );
        assert!(matches!(&events[3], AgentEvent::ToolUse { tool, .. } if tool == "read"));
        assert!(matches!(&events[4], AgentEvent::Log { message, .. } if message == "not json"));
        assert!(matches!(
            &events[5],
            AgentEvent::Log {
                level: LogLevel::Debug,
                ..
            }
        ));
        assert!(matches!(&events[6], AgentEvent::Log { .. }));
        let usage = &parser.usage()[0];
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens
            ),
            (1, 5, 4, 5)
        );
        assert_eq!(usage.cost_usd, Some(0.25));
    }

    #[test]
    fn ansi_colours_are_stripped_from_stderr() {
        assert_eq!(
            strip_ansi("\u{1b}[91m\u{1b}[1mError: \u{1b}[0mSession not found"),
            "Error: Session not found"
        );
        assert_eq!(strip_ansi("plain é"), "plain é");
        assert_eq!(strip_ansi("cut \u{1b}[9"), "cut ");
    }
}
