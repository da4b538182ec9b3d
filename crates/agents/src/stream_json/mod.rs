//! Claude Code's stream-json format, and the CLIs that copy it (CodeBuddy, Qwen
//! Code, Cursor's agent…): one backend, configured by the provider's
//! [`StreamJsonStyle`]. Claude Code itself runs as
//!
//! ```text
//! claude -p --input-format stream-json --output-format stream-json --verbose
//!        --permission-mode bypassPermissions [--model M] [--resume SESSION]
//! ```
//!
//! with the prompt on stdin as one stream-json user message, not as an argument.
//! Checked with Claude Code 2.1.331:
//! - With `-p <prompt>` and a stdin pipe that stays open, the CLI waits 3 s for
//!   stdin data ("no stdin data received in 3s, proceeding without it") before it
//!   starts: every run would begin with a 3 s stall. Closing stdin instead would
//!   leave no way to answer its requests.
//! - With `--input-format stream-json` the CLI starts at once, reads further
//!   messages from stdin, and exits only when stdin closes. So stdin stays open
//!   while the agent works (a `control_request` on stdout is answered with a
//!   `control_response` line on stdin; the CLI waits for it) and is closed once the
//!   `result` line has arrived. Closing it early makes pending permission prompts
//!   fail ("Tool permission request failed: AbortError: Stream closed").
//! - Prompts of any size fit (an argument is limited to 128 KiB on Linux) and they
//!   do not show up in `ps`.
//!
//! CLIs that take the prompt as an argument or as plain stdin get their stdin
//! closed once the prompt is written.
//!
//! `--permission-prompt-tool stdio` is not passed: it would route permission
//! prompts to us, but it also offers the model the AskUserQuestion tool, and an
//! unattended agent must not wait for answers. With `bypassPermissions` tools do
//! not ask; control requests that come anyway are still answered.
//!
//! As root, Claude Code refuses `bypassPermissions` unless `IS_SANDBOX=1` is set. We
//! do not set it: that is the operator's call. The refusal (exit 1, a line on
//! stderr) becomes a failed outcome that says what to do.

mod parser;

use std::process::ExitStatus;

use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use parser::{ClaudeStreamParser, ControlRequest, ParsedLine};

use crate::child::{self, Ended, Launch, OutputProtocol, Reaction};
use crate::provider::{PromptInput, Protocol, StreamJsonStyle};
use crate::{AgentBackend, AgentError, AgentRun, Provider, RunOutcome, RunSpec, RunStatus};

/// What Claude Code prints on stderr when it refuses to bypass permissions as root.
const ROOT_REFUSAL: &str = "cannot be used with root/sudo privileges";

/// Drives a CLI that prints Claude Code's stream-json.
#[derive(Debug, Clone)]
pub struct StreamJsonBackend {
    provider: Provider,
    style: StreamJsonStyle,
}

impl StreamJsonBackend {
    /// `None` when `provider` speaks another protocol.
    pub fn new(provider: Provider) -> Option<Self> {
        let Protocol::StreamJson(style) = provider.protocol() else {
            return None;
        };
        let style = style.clone();
        Some(Self::with_style(provider, style))
    }

    pub(crate) fn with_style(provider: Provider, style: StreamJsonStyle) -> Self {
        Self { provider, style }
    }

    /// Claude Code's backend.
    pub fn claude() -> Self {
        Self {
            provider: Provider::claude(),
            style: StreamJsonStyle::claude(),
        }
    }
}

impl AgentBackend for StreamJsonBackend {
    fn provider(&self) -> Provider {
        self.provider.clone()
    }

    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError> {
        let mut command = child::command_for(&self.provider, &spec)?;
        command.args(run_args(&self.style, &spec));
        let resumed = spec.resume_session_id.is_some();
        let (stdin_lines, close_stdin) = match &self.style.prompt {
            PromptInput::StdinMessage => (vec![prompt_message(&spec.prompt)], false),
            PromptInput::StdinText => (vec![spec.prompt.clone()], true),
            PromptInput::Argument { .. } => (Vec::new(), true),
        };
        let agent: std::sync::Arc<str> = self.provider.as_str().into();
        let launch = Launch {
            agent: agent.clone(),
            executable: spec.executable,
            command,
            stdin_lines,
            close_stdin,
            protocol: ClaudeStreamParser::new(),
            timeout: spec.timeout,
            idle_timeout: spec.idle_timeout,
            kill_grace: spec.kill_grace,
            handshake_timeout: None,
        };
        child::start(launch, cancel, move |ended| outcome(&agent, ended, resumed))
    }
}

/// The arguments after the provider's fixed ones: model, session, and the prompt
/// when it goes on the command line.
fn run_args(style: &StreamJsonStyle, spec: &RunSpec) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(model) = spec.model.as_ref().filter(|m| !m.trim().is_empty()) {
        args.extend([style.model_flag.clone(), model.clone()]);
    }
    if let Some(session) = spec
        .resume_session_id
        .as_ref()
        .filter(|s| !s.trim().is_empty())
    {
        args.extend([style.resume_flag.clone(), session.clone()]);
    }
    if let PromptInput::Argument { flag } = &style.prompt {
        args.extend(flag.iter().cloned());
        args.push(spec.prompt.clone());
    }
    args
}

/// The prompt as the one user message of a stream-json conversation.
fn prompt_message(prompt: &str) -> String {
    json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "text", "text": prompt}]},
    })
    .to_string()
}

impl OutputProtocol for ClaudeStreamParser {
    fn on_line(&mut self, line: &[u8]) -> Reaction {
        let parsed = self.parse_line(line);
        Reaction {
            events: parsed.events,
            replies: parsed
                .control_request
                .map(|request| request.response_line())
                .into_iter()
                .collect(),
            finished: parsed.finished,
            ready: true,
        }
    }
}

fn outcome(agent: &str, ended: Ended<ClaudeStreamParser>, resumed: bool) -> RunOutcome {
    let Ended {
        protocol: parser,
        exit,
        stopped,
        stderr_tail,
        timeout,
        duration,
    } = ended;
    let usage = parser.usage_for_run(resumed);
    let session_id = parser.session_id().map(str::to_owned);
    let final_text = parser.final_text().map(str::to_owned);
    let (status, error) = match (
        child::stopped_outcome(agent, stopped, timeout, &stderr_tail),
        &final_text,
    ) {
        (Some((status, error)), _) => (status, Some(error)),
        (_, Some(text)) if parser.final_is_error() => (
            RunStatus::Failed,
            Some(format!("{agent} reported an error: {}", text.trim())),
        ),
        (_, Some(_)) => (RunStatus::Completed, None),
        (_, None) => (
            RunStatus::Failed,
            Some(no_result_error(agent, exit, &stderr_tail)),
        ),
    };
    RunOutcome {
        status,
        output: final_text.unwrap_or_default(),
        error,
        session_id,
        exit_code: exit.and_then(|status| status.code()),
        duration,
        usage,
    }
}

/// Why a run that printed no result failed, with what the CLI said on stderr.
fn no_result_error(agent: &str, exit: Option<ExitStatus>, stderr_tail: &str) -> String {
    let ending = match exit {
        Some(status) if status.success() => format!("{agent} exited without a result"),
        Some(status) => match (status.code(), exit_signal(status)) {
            (Some(code), _) => format!("{agent} exited with status {code}"),
            (None, Some(signal)) => format!("{agent} was killed by {signal}"),
            (None, None) => format!("{agent} ended ({status}) without a result"),
        },
        None => format!("{agent} ended without a result and its exit status is unknown"),
    };
    let mut message = if stderr_tail.is_empty() {
        format!("{ending} (nothing on stderr)")
    } else {
        format!("{ending}: {stderr_tail}")
    };
    if stderr_tail.contains(ROOT_REFUSAL) {
        message.push_str(
            " — Claude Code refuses to bypass permissions as root: run the daemon as a regular user, \
             or, if this machine is a throw-away sandbox, set IS_SANDBOX=1 in the daemon's environment",
        );
    }
    message
}

#[cfg(unix)]
fn exit_signal(status: ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.signal()?;
    Some(match nix::sys::signal::Signal::try_from(signal) {
        Ok(name) => format!("signal {signal} ({name})"),
        Err(_) => format!("signal {signal}"),
    })
}

#[cfg(not(unix))]
fn exit_signal(_status: ExitStatus) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::KillGrace;
    use crate::child::StopCause;

    fn spec() -> RunSpec {
        RunSpec {
            executable: "claude".into(),
            cwd: ".".into(),
            prompt: "do it".into(),
            model: Some("opus".into()),
            resume_session_id: Some("s-9".into()),
            env: vec![],
            timeout: Some(Duration::from_secs(1)),
            idle_timeout: None,
            kill_grace: KillGrace::default(),
        }
    }

    #[test]
    fn claude_args_carry_model_and_resume_but_not_the_prompt() {
        let claude = Provider::claude();
        let Protocol::StreamJson(style) = claude.protocol() else {
            panic!("claude speaks stream-json");
        };
        assert_eq!(
            [claude.profile().args.clone(), run_args(style, &spec())]
                .concat()
                .join(" "),
            "-p --input-format stream-json --output-format stream-json --verbose \
             --permission-mode bypassPermissions --model opus --resume s-9"
        );
        let plain = RunSpec {
            model: Some(" ".into()),
            resume_session_id: None,
            ..spec()
        };
        assert!(run_args(style, &plain).is_empty());
    }

    #[test]
    fn a_prompt_argument_comes_last_after_its_flag() {
        let qwen = Provider::builtin("qwen").expect("qwen");
        let backend = StreamJsonBackend::new(qwen).expect("stream-json");
        assert_eq!(
            run_args(&backend.style, &spec()).join(" "),
            "--model opus --resume s-9 -p do it"
        );
        let cursor = StreamJsonBackend::new(Provider::builtin("cursor").expect("cursor"))
            .expect("stream-json");
        assert_eq!(cursor.style.prompt, PromptInput::StdinText);
        assert!(StreamJsonBackend::new(Provider::codex()).is_none());
    }

    #[test]
    fn the_prompt_is_a_user_message() {
        let line: serde_json::Value =
            serde_json::from_str(&prompt_message("fix \"it\"\nnow")).expect("json");
        assert_eq!(line["type"], "user");
        assert_eq!(line["message"]["content"][0]["text"], "fix \"it\"\nnow");
        assert!(!prompt_message("a\nb").contains('\n'));
    }

    fn ended(
        parser: ClaudeStreamParser,
        exit: Option<ExitStatus>,
        stopped: Option<StopCause>,
        stderr_tail: &str,
    ) -> Ended<ClaudeStreamParser> {
        Ended {
            protocol: parser,
            exit,
            stopped,
            stderr_tail: stderr_tail.to_owned(),
            timeout: Some(Duration::from_secs(2 * 3600)),
            duration: Duration::ZERO,
        }
    }

    #[cfg(unix)]
    fn exit_code(code: i32) -> Option<ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        Some(ExitStatus::from_raw(code << 8))
    }

    #[cfg(unix)]
    #[test]
    fn outcome_mapping() {
        use std::os::unix::process::ExitStatusExt;

        let timed_out = outcome(
            "claude",
            ended(
                ClaudeStreamParser::new(),
                None,
                Some(StopCause::TimedOut),
                "",
            ),
            false,
        );
        assert_eq!(timed_out.status, RunStatus::TimedOut);
        assert!(
            timed_out
                .error
                .as_deref()
                .is_some_and(|e| e == "claude timed out after 2h")
        );

        let cancelled = outcome(
            "claude",
            ended(
                ClaudeStreamParser::new(),
                None,
                Some(StopCause::Cancelled),
                "",
            ),
            false,
        );
        assert_eq!(cancelled.status, RunStatus::Cancelled);

        let crashed = outcome(
            "claude",
            ended(
                ClaudeStreamParser::new(),
                exit_code(1),
                None,
                "boom on stderr",
            ),
            false,
        );
        assert_eq!(crashed.status, RunStatus::Failed);
        assert_eq!(crashed.exit_code, Some(1));
        assert_eq!(
            crashed.error.as_deref(),
            Some("claude exited with status 1: boom on stderr")
        );

        let root = outcome(
            "claude",
            ended(
                ClaudeStreamParser::new(),
                exit_code(1),
                None,
                "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
            ),
            false,
        );
        assert!(
            root.error
                .as_deref()
                .is_some_and(|e| e.contains("IS_SANDBOX=1"))
        );

        let silent = outcome(
            "claude",
            ended(ClaudeStreamParser::new(), exit_code(0), None, ""),
            false,
        );
        assert_eq!(silent.status, RunStatus::Failed);
        assert_eq!(
            silent.error.as_deref(),
            Some("claude exited without a result (nothing on stderr)")
        );

        let killed = outcome(
            "claude",
            ended(
                ClaudeStreamParser::new(),
                Some(ExitStatus::from_raw(9)),
                None,
                "",
            ),
            false,
        );
        assert!(
            killed
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("claude was killed by signal 9 (SIGKILL)"))
        );

        let mut parser = ClaudeStreamParser::new();
        parser.parse_line(br#"{"type":"result","subtype":"success","is_error":false,"result":"ok","session_id":"s"}"#);
        let done = outcome(
            "claude",
            ended(parser, None, Some(StopCause::LingeredAfterFinish), ""),
            false,
        );
        assert_eq!(done.status, RunStatus::Completed);
        assert_eq!(done.output, "ok");
        assert_eq!(done.session_id.as_deref(), Some("s"));

        let mut parser = ClaudeStreamParser::new();
        parser.parse_line(
            br#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 400 nope"}"#,
        );
        let failed = outcome("claude", ended(parser, exit_code(1), None, ""), false);
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("claude reported an error: API Error: 400 nope")
        );
    }
}
