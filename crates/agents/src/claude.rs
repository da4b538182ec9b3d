//! Claude Code: `claude -p <prompt> --output-format stream-json --verbose
//! --permission-mode bypassPermissions`, one JSON object per stdout line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::lines::{Line, LineSplitter, MAX_LINE_BYTES};
use crate::process::{end_stragglers, own_process_group, stop_escalating, track_group, untrack_group};
use crate::{
    AgentBackend, AgentError, AgentEvent, AgentRun, EVENT_BUFFER, LogLevel, ModelUsage,
    OutcomeReceiver, Provider, RunOutcome, RunSpec, RunStatus,
};

/// How much stderr is kept to explain a failure.
const STDERR_TAIL_BYTES: usize = 4096;

/// How long the output may go on after the CLI exited (a tool's background job can
/// hold the pipe open) before the group is ended.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Longest excerpt of an unparseable line quoted in the log event.
const EXCERPT_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeBackend;

impl AgentBackend for ClaudeBackend {
    fn provider(&self) -> Provider {
        Provider::Claude
    }

    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError> {
        if !spec.cwd.is_dir() {
            return Err(AgentError::MissingWorkDir { path: spec.cwd });
        }
        let mut command = Command::new(&spec.executable);
        command
            .args(claude_args(&spec))
            .current_dir(&spec.cwd)
            .envs(spec.env.iter().map(|(key, value)| (key, value)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        own_process_group(&mut command);
        let mut child = command.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                AgentError::NotFound {
                    path: spec.executable.clone(),
                }
            } else {
                AgentError::Spawn {
                    path: spec.executable.clone(),
                    source,
                }
            }
        })?;
        let pid = child.id();
        track_group(pid);
        info!(pid, cwd = %spec.cwd.display(), model = ?spec.model, resume = ?spec.resume_session_id, "claude started");

        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let stdin = child.stdin.take();

        tokio::spawn(async move {
            let started = Instant::now();
            let stdout_reader = tokio::spawn(read_stdout(stdout, stdin, events_tx.clone()));
            let stderr_reader = tokio::spawn(read_stderr(stderr, events_tx));

            let timeout = tokio::time::sleep(spec.timeout);
            tokio::pin!(timeout);
            let (exit, stopped) = tokio::select! {
                status = child.wait() => (status.ok(), None),
                () = cancel.cancelled() => {
                    info!(pid, "stopping claude: cancelled");
                    (stop_escalating(&mut child, pid, spec.kill_grace).await, Some(RunStatus::Cancelled))
                }
                () = &mut timeout => {
                    info!(pid, "stopping claude: timed out");
                    (stop_escalating(&mut child, pid, spec.kill_grace).await, Some(RunStatus::TimedOut))
                }
            };

            let mut stdout_reader = stdout_reader;
            let drained = tokio::time::timeout(DRAIN_GRACE, &mut stdout_reader).await;
            if drained.is_err() {
                debug!(
                    pid,
                    "output still open after exit; ending the process group"
                );
            }
            end_stragglers(pid).await;
            untrack_group(pid);
            let parser = match drained {
                Ok(parser) => parser.unwrap_or_default(),
                Err(_) => stdout_reader.await.unwrap_or_default(),
            };
            let stderr_tail = stderr_reader.await.unwrap_or_default();

            let outcome = build_outcome(
                parser,
                exit.and_then(|status| status.code()),
                stopped,
                &stderr_tail,
                spec.timeout,
                started.elapsed(),
            );
            info!(pid, status = ?outcome.status, duration = ?outcome.duration, "claude finished");
            // The receiver may be gone (the engine gave up on the task); nothing to do.
            let _ = outcome_tx.send(outcome);
        });

        Ok(AgentRun {
            events: events_rx,
            outcome: OutcomeReceiver {
                receiver: outcome_rx,
            },
            pid,
        })
    }
}

fn claude_args(spec: &RunSpec) -> Vec<String> {
    let mut args: Vec<String> = [
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "bypassPermissions",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(model) = spec.model.as_ref().filter(|m| !m.is_empty()) {
        args.extend(["--model".to_owned(), model.clone()]);
    }
    if let Some(session) = spec.resume_session_id.as_ref().filter(|s| !s.is_empty()) {
        args.extend(["--resume".to_owned(), session.clone()]);
    }
    args.extend(["-p".to_owned(), spec.prompt.clone()]);
    args
}

/// Reads stdout to its end, forwarding events and answering permission prompts.
/// Returns the parser, which holds the session id and the final result.
async fn read_stdout(
    stdout: Option<impl AsyncRead + Unpin>,
    mut stdin: Option<ChildStdin>,
    events: mpsc::Sender<AgentEvent>,
) -> ClaudeStreamParser {
    let mut parser = ClaudeStreamParser::default();
    let Some(mut stdout) = stdout else {
        return parser;
    };
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut lines = Vec::new();
    // Once the consumer is gone we keep reading (so the CLI never blocks on a full
    // pipe) but stop sending.
    let mut consumer_alive = true;
    loop {
        let read = match stdout.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                splitter.finish(&mut lines);
                0
            }
            Ok(read) => {
                splitter.push(&buffer[..read], &mut lines);
                read
            }
        };
        for line in lines.drain(..) {
            let parsed = match line {
                Line::Complete(bytes) => parser.parse_line(&bytes),
                Line::TooLong(length) => ParsedLine {
                    events: vec![AgentEvent::Error(format!(
                        "skipped an output line of {length} bytes: longer than the {} MiB limit",
                        MAX_LINE_BYTES / (1024 * 1024)
                    ))],
                    control_request: None,
                },
            };
            if let Some(request) = parsed.control_request {
                answer_control_request(&mut stdin, &request).await;
            }
            for event in parsed.events {
                if consumer_alive && events.send(event).await.is_err() {
                    consumer_alive = false;
                }
            }
        }
        if read == 0 {
            return parser;
        }
    }
}

/// The daemon runs agents unattended: every permission prompt is allowed, with the
/// tool input unchanged.
async fn answer_control_request(stdin: &mut Option<ChildStdin>, request: &ControlRequest) {
    let Some(pipe) = stdin else {
        return;
    };
    let mut line = request.allow_response();
    line.push('\n');
    if let Err(error) = pipe.write_all(line.as_bytes()).await {
        warn!(%error, "cannot answer claude's permission request");
        *stdin = None;
    } else if let Err(error) = pipe.flush().await {
        warn!(%error, "cannot answer claude's permission request");
        *stdin = None;
    }
}

/// Forwards stderr as log events and keeps its tail to explain failures.
async fn read_stderr(
    stderr: Option<impl AsyncRead + Unpin>,
    events: mpsc::Sender<AgentEvent>,
) -> String {
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut splitter = LineSplitter::new(64 * 1024);
    let mut buffer = vec![0u8; 16 * 1024];
    let mut lines = Vec::new();
    let mut consumer_alive = true;
    loop {
        let read = match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => 0,
            Ok(read) => read,
        };
        if read == 0 {
            splitter.finish(&mut lines);
        } else {
            tail.extend_from_slice(&buffer[..read]);
            if tail.len() > STDERR_TAIL_BYTES * 2 {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
            splitter.push(&buffer[..read], &mut lines);
        }
        for line in lines.drain(..) {
            let Line::Complete(bytes) = line else {
                continue;
            };
            let message = String::from_utf8_lossy(&bytes).trim().to_owned();
            if message.is_empty() {
                continue;
            }
            debug!(target: "agent_stderr", "{message}");
            let event = AgentEvent::Log {
                level: LogLevel::Warn,
                message,
            };
            if consumer_alive && events.send(event).await.is_err() {
                consumer_alive = false;
            }
        }
        if read == 0 {
            let start = tail.len().saturating_sub(STDERR_TAIL_BYTES);
            return String::from_utf8_lossy(&tail[start..]).trim().to_owned();
        }
    }
}

fn build_outcome(
    parser: ClaudeStreamParser,
    exit_code: Option<i32>,
    stopped: Option<RunStatus>,
    stderr_tail: &str,
    timeout: Duration,
    duration: Duration,
) -> RunOutcome {
    let usage = parser.usage();
    let session_id = parser.session_id.clone();
    let (status, output, error) = match (stopped, parser.result) {
        (Some(RunStatus::TimedOut), _) => (
            RunStatus::TimedOut,
            String::new(),
            Some(format!("claude timed out after {}", humanize(timeout))),
        ),
        (Some(_), _) => (
            RunStatus::Cancelled,
            String::new(),
            Some("claude was stopped".to_owned()),
        ),
        (None, Some(result)) if result.is_error => {
            let reason = if result.text.trim().is_empty() {
                format!("claude reported an error ({})", result.subtype)
            } else {
                result.text.trim().to_owned()
            };
            (RunStatus::Failed, result.text, Some(reason))
        }
        (None, Some(result)) => (RunStatus::Completed, result.text, None),
        (None, None) => {
            let ending = match exit_code {
                Some(0) => "claude exited without a result".to_owned(),
                Some(code) => format!("claude exited with status {code}"),
                None => "claude was killed by a signal".to_owned(),
            };
            let reason = if stderr_tail.is_empty() {
                ending
            } else {
                format!("{ending}: {stderr_tail}")
            };
            (RunStatus::Failed, String::new(), Some(reason))
        }
    };
    RunOutcome {
        status,
        output,
        error,
        session_id,
        exit_code,
        duration,
        usage,
    }
}

/// `2h`, `1m30s`, `1s`, `500ms`.
fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || out.is_empty() {
        out.push_str(&format!("{seconds}s"));
    }
    out
}

// ---------------------------------------------------------------------------
// The stream-json parser

/// A permission prompt Claude Code sends on stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    pub request_id: String,
    pub subtype: String,
    pub tool_name: Option<String>,
    pub input: Value,
}

impl ControlRequest {
    /// The `control_response` line that allows the request with its input as is.
    pub fn allow_response(&self) -> String {
        let input = if self.input.is_object() {
            self.input.clone()
        } else {
            Value::Object(serde_json::Map::new())
        };
        serde_json::json!({
            "type": "control_response",
            "response": {
                "subtype": "success",
                "request_id": self.request_id,
                "response": {"behavior": "allow", "updatedInput": input},
            },
        })
        .to_string()
    }
}

/// What one line means.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedLine {
    pub events: Vec<AgentEvent>,
    pub control_request: Option<ControlRequest>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct FinalResult {
    text: String,
    is_error: bool,
    subtype: String,
}

/// Turns Claude Code's stream-json lines into [`AgentEvent`]s and remembers what the
/// run's outcome needs: the session id, the final result and the usage totals.
#[derive(Debug, Default)]
pub struct ClaudeStreamParser {
    session_id: Option<String>,
    result: Option<FinalResult>,
    usage: BTreeMap<String, ModelUsage>,
    /// Tool names by call id, so results can say which tool they answer.
    tools: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    subtype: String,
    session_id: Option<String>,
    message: Option<RawMessage>,
    result: Option<String>,
    #[serde(default)]
    is_error: bool,
    #[serde(rename = "modelUsage")]
    model_usage: Option<BTreeMap<String, RawModelUsage>>,
    log: Option<RawLog>,
    request_id: Option<String>,
    request: Option<RawControlRequest>,
    error: Option<String>,
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

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawModelUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64, // cache writes
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
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The final answer, once the `result` line arrived.
    pub fn final_text(&self) -> Option<&str> {
        self.result.as_ref().map(|result| result.text.as_str())
    }

    pub fn final_is_error(&self) -> bool {
        self.result.as_ref().is_some_and(|result| result.is_error)
    }

    /// Per-model totals from the `result` line (the per-message usage of assistant
    /// lines repeats across content blocks and is not a reliable sum).
    pub fn usage(&self) -> Vec<ModelUsage> {
        self.usage.values().cloned().collect()
    }

    pub fn parse_line(&mut self, line: &[u8]) -> ParsedLine {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return ParsedLine::default();
        }
        let raw: RawLine = match serde_json::from_slice(trimmed) {
            Ok(raw) => raw,
            Err(error) => {
                let text = String::from_utf8_lossy(trimmed);
                let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
                return ParsedLine {
                    events: vec![AgentEvent::Log {
                        level: LogLevel::Warn,
                        message: format!("unparseable output line ({error}): {excerpt}"),
                    }],
                    control_request: None,
                };
            }
        };
        if let Some(session) = raw.session_id.as_ref().filter(|s| !s.is_empty()) {
            self.session_id = Some(session.clone());
        }
        let mut parsed = ParsedLine::default();
        match raw.kind.as_str() {
            "system" if raw.subtype == "init" => {
                parsed.events.push(AgentEvent::Status("running".to_owned()));
            }
            // The model API failed and the CLI waits before trying again: worth
            // showing, since the agent looks stuck meanwhile.
            "system" if raw.subtype == "api_retry" => {
                parsed.events.push(AgentEvent::Log {
                    level: LogLevel::Warn,
                    message: format!(
                        "model API request failed ({}); retry {} of {}",
                        raw.error.as_deref().unwrap_or("unknown error"),
                        raw.attempt.unwrap_or(0),
                        raw.max_retries.unwrap_or(0)
                    ),
                });
            }
            "assistant" => self.assistant_blocks(raw.message, &mut parsed.events),
            "user" => self.user_blocks(raw.message, &mut parsed.events),
            "result" => {
                let text = raw.result.unwrap_or_default();
                if raw.is_error {
                    let message = if text.trim().is_empty() {
                        format!("claude reported an error ({})", raw.subtype)
                    } else {
                        text.clone()
                    };
                    parsed.events.push(AgentEvent::Error(message));
                }
                for (model, usage) in raw.model_usage.unwrap_or_default() {
                    self.usage.insert(
                        model.clone(),
                        ModelUsage {
                            model,
                            input_tokens: usage.input_tokens,
                            output_tokens: usage.output_tokens,
                            cache_read_tokens: usage.cache_read_input_tokens,
                            cache_write_tokens: usage.cache_creation_input_tokens,
                            cost_usd: usage.cost_usd,
                        },
                    );
                }
                self.result = Some(FinalResult {
                    text,
                    is_error: raw.is_error,
                    subtype: raw.subtype,
                });
            }
            "log" => {
                if let Some(log) = raw.log {
                    parsed.events.push(AgentEvent::Log {
                        level: match log.level.as_str() {
                            "debug" => LogLevel::Debug,
                            "warn" | "warning" => LogLevel::Warn,
                            "error" => LogLevel::Error,
                            _ => LogLevel::Info,
                        },
                        message: log.message,
                    });
                }
            }
            "control_request" => {
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

    fn assistant_blocks(&mut self, message: Option<RawMessage>, events: &mut Vec<AgentEvent>) {
        let Some(content) = message.and_then(|m| m.content) else {
            return;
        };
        let blocks = match content {
            RawContent::Text(text) => {
                if !text.is_empty() {
                    events.push(AgentEvent::Text(text));
                }
                return;
            }
            RawContent::Blocks(blocks) => blocks,
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
                "tool_use" => {
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

/// A tool result's content is a string or a list of blocks; show the text of it,
/// not its JSON.
fn tool_result_text(content: Option<Value>) -> String {
    match content {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|block| match block.get("type").and_then(Value::as_str) {
                Some("text") => block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                Some(other) => format!("[{other}]"),
                None => block.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
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
    fn a_full_turn_becomes_events_and_an_outcome() {
        let mut parser = ClaudeStreamParser::default();
        let init = parse(
            &mut parser,
            &json!({"type":"system","subtype":"init","session_id":"s-1","tools":["Bash"]}),
        );
        assert_eq!(init.events, vec![AgentEvent::Status("running".into())]);
        assert_eq!(parser.session_id(), Some("s-1"));

        let assistant = parse(
            &mut parser,
            &json!({"type":"assistant","message":{"content":[
                {"type":"thinking","thinking":"plan"},
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
                {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}}),
        );
        assert_eq!(
            user.events,
            vec![AgentEvent::ToolResult {
                call_id: "t1".into(),
                tool: Some("Bash".into()),
                output: "a\nb".into(),
                is_error: false
            }]
        );

        let result = parse(
            &mut parser,
            &json!({"type":"result","subtype":"success","is_error":false,"result":"Done.","session_id":"s-1",
                   "modelUsage":{"claude-x":{"inputTokens":10,"outputTokens":4,"cacheReadInputTokens":2,
                                             "cacheCreationInputTokens":1,"costUSD":0.5}}}),
        );
        assert!(result.events.is_empty());
        assert_eq!(parser.final_text(), Some("Done."));
        assert!(!parser.final_is_error());
        assert_eq!(
            parser.usage(),
            vec![ModelUsage {
                model: "claude-x".into(),
                input_tokens: 10,
                output_tokens: 4,
                cache_read_tokens: 2,
                cache_write_tokens: 1,
                cost_usd: Some(0.5)
            }]
        );
    }

    #[test]
    fn broken_and_unknown_lines_never_panic() {
        let mut parser = ClaudeStreamParser::default();
        let broken = parser.parse_line(b"{\"type\":\"assistant\",");
        assert!(matches!(
            broken.events[0],
            AgentEvent::Log {
                level: LogLevel::Warn,
                ..
            }
        ));
        assert!(parser.parse_line(b"   ").events.is_empty());
        assert!(parser.parse_line(b"not json at all").events.len() == 1);
        assert!(
            parse(&mut parser, &json!({"type":"stream_event","event":{}}))
                .events
                .is_empty()
        );
        assert!(
            parse(
                &mut parser,
                &json!({"type":"assistant","message":{"content":[{"type":"image"}]}})
            )
            .events
            .is_empty()
        );
        assert!(parse(&mut parser, &json!([1, 2])).events.len() == 1);
        assert!(parser.parse_line(&[0xff, 0xfe, b'{']).events.len() == 1);
    }

    #[test]
    fn api_retries_become_warnings() {
        let mut parser = ClaudeStreamParser::default();
        let line = parse(
            &mut parser,
            &json!({"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"error":"unknown","session_id":"s"}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::Log {
                level: LogLevel::Warn,
                message: "model API request failed (unknown); retry 3 of 10".into()
            }]
        );
    }

    #[test]
    fn error_results_are_reported() {
        let mut parser = ClaudeStreamParser::default();
        let line = parse(
            &mut parser,
            &json!({"type":"result","subtype":"error_during_execution","is_error":true,"result":"API Error: 401"}),
        );
        assert_eq!(
            line.events,
            vec![AgentEvent::Error("API Error: 401".into())]
        );
        assert!(parser.final_is_error());
    }

    #[test]
    fn control_requests_are_allowed_with_their_input() {
        let mut parser = ClaudeStreamParser::default();
        let line = parse(
            &mut parser,
            &json!({"type":"control_request","request_id":"r-1",
                   "request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf build"}}}),
        );
        let request = line.control_request.expect("a control request");
        let response: Value = serde_json::from_str(&request.allow_response()).expect("json");
        assert_eq!(response["type"], "control_response");
        assert_eq!(response["response"]["request_id"], "r-1");
        assert_eq!(response["response"]["response"]["behavior"], "allow");
        assert_eq!(
            response["response"]["response"]["updatedInput"]["command"],
            "rm -rf build"
        );
    }

    #[test]
    fn outcome_mapping() {
        let outcome = |parser, exit, stopped| {
            build_outcome(
                parser,
                exit,
                stopped,
                "boom on stderr",
                Duration::from_secs(3600),
                Duration::ZERO,
            )
        };
        let timed_out = outcome(
            ClaudeStreamParser::default(),
            None,
            Some(RunStatus::TimedOut),
        );
        assert_eq!(timed_out.status, RunStatus::TimedOut);
        assert_eq!(
            timed_out.error.as_deref(),
            Some("claude timed out after 1h")
        );

        let crashed = outcome(ClaudeStreamParser::default(), Some(1), None);
        assert_eq!(crashed.status, RunStatus::Failed);
        assert_eq!(
            crashed.error.as_deref(),
            Some("claude exited with status 1: boom on stderr")
        );

        let silent = build_outcome(
            ClaudeStreamParser::default(),
            Some(0),
            None,
            "",
            Duration::ZERO,
            Duration::ZERO,
        );
        assert_eq!(
            silent.error.as_deref(),
            Some("claude exited without a result")
        );

        let mut parser = ClaudeStreamParser::default();
        parse(
            &mut parser,
            &json!({"type":"result","subtype":"success","result":"ok","session_id":"s"}),
        );
        let done = outcome(parser, Some(0), None);
        assert_eq!(done.status, RunStatus::Completed);
        assert_eq!(done.output, "ok");
        assert_eq!(done.session_id.as_deref(), Some("s"));
    }

    #[test]
    fn args_carry_model_resume_and_prompt_last() {
        let spec = RunSpec {
            executable: "claude".into(),
            cwd: ".".into(),
            prompt: "do it".into(),
            model: Some("opus".into()),
            resume_session_id: Some("s-9".into()),
            env: vec![],
            timeout: Duration::from_secs(1),
            kill_grace: crate::KillGrace::default(),
        };
        assert_eq!(
            claude_args(&spec).join(" "),
            "--output-format stream-json --verbose --permission-mode bypassPermissions --model opus --resume s-9 -p do it"
        );
    }
}
