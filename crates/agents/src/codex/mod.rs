//! Codex (`codex`), driven through its app server:
//!
//! ```text
//! codex app-server -c allow_login_shell=false -c shell_environment_policy… --listen stdio://
//! ```
//!
//! One JSON-RPC 2.0 message per line each way (see [`protocol`]). The thread is
//! started in the work dir with `approvalPolicy: never` and a `danger-full-access`
//! sandbox: the task directory is the agent's own and nobody is there to approve.
//! A run resumes the prior session's thread when Codex still has it (the thread id
//! is the session id), else starts a fresh one and says so in the transcript.
//!
//! Codex reads its configuration and keeps its sessions in `CODEX_HOME`; the daemon
//! gives each task its own (see the daemon's execution environment), seeded from
//! the user's.

pub(crate) mod protocol;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::child::{self, Ended, Launch, OutputProtocol, Reaction};
use crate::{AgentBackend, AgentError, AgentRun, Provider, RunOutcome, RunSpec, RunStatus};
use protocol::{AppServerClient, TurnEnd, TurnRequest};

/// Settings every run needs, whatever the user's `config.toml` says:
/// - no login shell: a login shell re-reads `/etc/profile`, which on many Linux
///   systems resets `PATH`, and the agent's shell would lose the directory of our
///   `multica` ("command not found: multica");
/// - the shell gets the whole environment: Codex's default drops variables named
///   like `*TOKEN*` or `*KEY*`, and the `multica` CLI needs `MULTICA_TOKEN` and
///   `MULTICA_LOCAL_API_TOKEN` to act for the agent.
const CONFIG_OVERRIDES: &[&str] = &[
    "allow_login_shell=false",
    "shell_environment_policy.inherit=\"all\"",
    "shell_environment_policy.ignore_default_excludes=true",
];

/// How long the app server may take to accept the turn (start-up, thread
/// creation or resume) before the run is given up.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct CodexBackend {
    provider: Provider,
}

impl CodexBackend {
    pub fn new(provider: Provider) -> Self {
        Self { provider }
    }
}

impl Default for CodexBackend {
    fn default() -> Self {
        Self::new(Provider::codex())
    }
}

impl AgentBackend for CodexBackend {
    fn provider(&self) -> Provider {
        self.provider.clone()
    }

    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError> {
        let mut command = child::command_for(&self.provider, &spec)?;
        command
            .arg("app-server")
            .args(CONFIG_OVERRIDES.iter().flat_map(|value| ["-c", value]))
            .args(["--listen", "stdio://"]);
        let client = AppServerClient::new(TurnRequest {
            cwd: spec.cwd.to_string_lossy().into_owned(),
            prompt: spec.prompt.clone(),
            model: spec.model.clone().filter(|m| !m.trim().is_empty()),
            resume_thread_id: spec
                .resume_session_id
                .clone()
                .filter(|s| !s.trim().is_empty()),
        });
        let launch = Launch {
            agent: self.provider.as_str().into(),
            executable: spec.executable,
            command,
            stdin_lines: vec![AppServerClient::initialize_line()],
            close_stdin: false,
            protocol: CodexProtocol(client),
            timeout: spec.timeout,
            idle_timeout: spec.idle_timeout,
            kill_grace: spec.kill_grace,
            handshake_timeout: Some(HANDSHAKE_TIMEOUT),
        };
        child::start(launch, cancel, outcome)
    }
}

#[derive(Debug)]
struct CodexProtocol(AppServerClient);

impl OutputProtocol for CodexProtocol {
    fn on_line(&mut self, line: &[u8]) -> Reaction {
        let mut reaction = self.0.on_line(line);
        reaction.ready = self.0.is_ready();
        reaction
    }
}

fn outcome(ended: Ended<CodexProtocol>) -> RunOutcome {
    let Ended {
        protocol: CodexProtocol(client),
        exit,
        stopped,
        stderr_tail,
        timeout,
        duration,
    } = ended;
    let (status, error) = match (
        child::stopped_outcome("codex", stopped, timeout, &stderr_tail),
        client.end(),
    ) {
        (Some((status, error)), _) => (status, Some(error)),
        (_, Some(TurnEnd::Completed)) => (RunStatus::Completed, None),
        (_, Some(TurnEnd::Failed(reason))) => (
            RunStatus::Failed,
            Some(format!("codex reported an error: {reason}")),
        ),
        (_, None) => (
            RunStatus::Failed,
            Some(child::ended_before_the_turn(
                "codex",
                exit,
                client.last_error(),
                &stderr_tail,
            )),
        ),
    };
    RunOutcome {
        status,
        output: client.final_text().unwrap_or_default().to_owned(),
        error,
        session_id: client.thread_id().map(str::to_owned),
        exit_code: exit.and_then(|status| status.code()),
        duration,
        usage: client.usage(),
    }
}
