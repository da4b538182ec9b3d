use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::AgentEvent;

/// Events buffered between the reader and the consumer before reading pauses.
pub const EVENT_BUFFER: usize = 256;

/// Grace periods of the stop sequence: SIGINT, then SIGTERM, then SIGKILL, each sent
/// to the agent's whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillGrace {
    /// How long the agent may take to wind down after SIGINT.
    pub after_interrupt: Duration,
    /// How long it may take after SIGTERM, before SIGKILL.
    pub after_terminate: Duration,
}

impl Default for KillGrace {
    fn default() -> Self {
        Self {
            after_interrupt: Duration::from_secs(2),
            after_terminate: Duration::from_secs(2),
        }
    }
}

/// One run of an agent CLI.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub executable: PathBuf,
    /// The work directory; it must exist.
    pub cwd: PathBuf,
    pub prompt: String,
    pub model: Option<String>,
    /// Continue this session of the CLI instead of starting a new one.
    pub resume_session_id: Option<String>,
    /// Set on top of (and overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    /// The longest the run may take, from spawn to exit (`None`: no wall clock).
    pub timeout: Option<Duration>,
    /// Stop the run when the CLI has printed nothing (stdout or stderr) for this
    /// long: a CLI stuck on a prompt or a dead connection would otherwise hold its
    /// slot until `timeout`.
    pub idle_timeout: Option<Duration>,
    pub kill_grace: KillGrace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
    TimedOut,
    Cancelled,
}

/// Tokens one model used during a run, as the CLI totals them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// What the CLI says the run cost, when it can tell for this run alone.
    pub cost_usd: Option<f64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The agent's final answer.
    pub output: String,
    /// Why the run did not complete, in words a person can act on.
    pub error: Option<String>,
    /// The CLI's session, to resume it later.
    pub session_id: Option<String>,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// Usage of this run alone, per model.
    pub usage: Vec<ModelUsage>,
}

impl RunOutcome {
    pub(crate) fn failed(error: String, duration: Duration) -> Self {
        Self {
            status: RunStatus::Failed,
            output: String::new(),
            error: Some(error),
            session_id: None,
            exit_code: None,
            duration,
            usage: Vec::new(),
        }
    }
}

/// A running agent: its events, and its outcome once it has ended.
#[derive(Debug)]
pub struct AgentRun {
    /// Every event, in order; closed when the agent's output has ended. Read it to
    /// the end: reading the agent's output pauses while it is full. Dropping it is
    /// fine too (the output is then read and discarded).
    pub events: mpsc::Receiver<AgentEvent>,
    /// Resolves once the agent and everything it started have ended.
    pub outcome: OutcomeReceiver,
    pub pid: Option<u32>,
}

/// The outcome of a run, once it is known: `outcome.await` or `outcome.wait().await`.
#[derive(Debug)]
pub struct OutcomeReceiver {
    receiver: oneshot::Receiver<RunOutcome>,
}

impl OutcomeReceiver {
    pub(crate) fn new(receiver: oneshot::Receiver<RunOutcome>) -> Self {
        Self { receiver }
    }

    pub async fn wait(self) -> RunOutcome {
        self.receiver.await.unwrap_or_else(|_| {
            RunOutcome::failed(
                "the task driving the agent ended without an outcome (the runtime is shutting down?)"
                    .to_owned(),
                Duration::ZERO,
            )
        })
    }
}

impl IntoFuture for OutcomeReceiver {
    type Output = RunOutcome;
    type IntoFuture = Pin<Box<dyn Future<Output = RunOutcome> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}
