//! The Agent Client Protocol: JSON-RPC 2.0 over the CLI's stdio, one message per
//! line. One backend for every ACP-speaking CLI (Gemini CLI, Kimi, Kiro, Goose,
//! Hermes, Qoder…); which CLI, and the arguments that put it in ACP mode, come
//! from its [`AgentProfile`](crate::AgentProfile).
//!
//! ```text
//! → initialize                        ← result {agentCapabilities.loadSession}
//! → session/load (resume, if offered) or session/new {cwd}
//!                                     ← result {sessionId}  (a failed load: session/new)
//! → session/prompt {sessionId, prompt}
//!   ← session/update notifications (message and thought chunks, tool calls)
//!   ← session/request_permission requests, answered "allow"
//!                                     ← result {stopReason, usage?}
//! ```
//!
//! We offer no client capabilities (no file system, no terminal): the agent works
//! in its own work dir with its own tools, and a request for ours gets "method not
//! found". Updates that replay a loaded session's history are not shown again.
//!
//! This module starts the CLI and turns the ended run into its outcome; what the
//! lines mean is [`protocol`]'s, which needs no process to be tested.

pub(crate) mod protocol;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::child::{self, Ended, Launch};
use crate::{AgentBackend, AgentError, AgentRun, Provider, RunOutcome, RunSpec, RunStatus};
use protocol::{AcpClient, AcpEnd};

/// How long the CLI may take to start, load or create the session.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct AcpBackend {
    provider: Provider,
}

impl AcpBackend {
    pub fn new(provider: Provider) -> Self {
        Self { provider }
    }
}

impl AgentBackend for AcpBackend {
    fn provider(&self) -> Provider {
        self.provider.clone()
    }

    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError> {
        let command = child::command_for(&self.provider, &spec)?;
        let client = AcpClient::new(
            spec.cwd.to_string_lossy().into_owned(),
            spec.prompt.clone(),
            spec.model.clone().filter(|m| !m.trim().is_empty()),
            spec.resume_session_id
                .clone()
                .filter(|s| !s.trim().is_empty()),
        );
        let agent: Arc<str> = self.provider.as_str().into();
        let launch = Launch {
            agent: Arc::clone(&agent),
            executable: spec.executable,
            command,
            stdin_lines: vec![AcpClient::initialize_line()],
            close_stdin: false,
            protocol: client,
            timeout: spec.timeout,
            idle_timeout: spec.idle_timeout,
            kill_grace: spec.kill_grace,
            handshake_timeout: Some(HANDSHAKE_TIMEOUT),
        };
        child::start(launch, cancel, move |ended| outcome(&agent, ended))
    }
}

fn outcome(agent: &str, ended: Ended<AcpClient>) -> RunOutcome {
    let Ended {
        protocol: mut client,
        exit,
        stopped,
        stderr_tail,
        timeout,
        duration,
    } = ended;
    // Chunks of a turn cut short still belong in the answer.
    let _ = client.finish_turn();
    let (status, error) = match (
        child::stopped_outcome(agent, stopped, timeout, &stderr_tail),
        client.end(),
    ) {
        (Some((status, error)), _) => (status, Some(error)),
        (None, Some(AcpEnd::Completed)) => (RunStatus::Completed, None),
        (None, Some(AcpEnd::Failed(reason))) => (
            RunStatus::Failed,
            Some(format!("{agent} reported an error: {reason}")),
        ),
        (None, None) => (
            RunStatus::Failed,
            Some(child::ended_before_the_turn(
                agent,
                exit,
                None,
                &stderr_tail,
            )),
        ),
    };
    RunOutcome {
        status,
        output: client.final_text().unwrap_or_default().to_owned(),
        error,
        session_id: client.session_id().map(str::to_owned),
        exit_code: exit.and_then(|status| status.code()),
        duration,
        usage: client.usage(),
    }
}
