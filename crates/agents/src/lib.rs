//! One backend per agent CLI. A backend spawns its CLI in a process group of its
//! own, turns the CLI's output into one normalized event stream, and stops the whole
//! group on cancel or timeout.
//!
//! What the Go seed got wrong, and this crate does not:
//! - events go through a bounded channel with back-pressure: when the consumer is
//!   slow, reading pauses (and the agent with it) instead of dropping events;
//! - output lines may be of any length (one over [`MAX_LINE_BYTES`] is skipped and
//!   reported while reading goes on) instead of ending the read loop at 10 MB;
//! - a stop reaches every process the agent started (SIGINT, SIGTERM, then SIGKILL
//!   to the group), and whatever is left when the agent exits is ended too.
//!
//! Claude Code and Codex are driven now; OpenCode and ACP agents fit the same
//! [`AgentBackend`] trait and the shared supervision in `supervisor`.

mod claude;
mod codex;
mod error;
mod event;
mod lines;
mod process;
mod provider;
mod run;
mod supervisor;
mod version;

pub use claude::{ClaudeBackend, ClaudeStreamParser, ControlRequest, ParsedLine};
pub use codex::CodexBackend;
pub use error::AgentError;
pub use event::{AgentEvent, LogLevel};
pub use lines::{Line, LineSplitter, MAX_LINE_BYTES};
pub use process::kill_all_agents;
pub use provider::{Provider, UnknownProvider};
pub use run::{
    AgentRun, EVENT_BUFFER, KillGrace, ModelUsage, OutcomeReceiver, RunOutcome, RunSpec, RunStatus,
};
pub use version::detect_version;

use tokio_util::sync::CancellationToken;

/// Drives one kind of agent CLI.
pub trait AgentBackend: Send + Sync + std::fmt::Debug {
    fn provider(&self) -> Provider;

    /// Starts the CLI. Fails only when it cannot be started at all; everything that
    /// goes wrong later is reported in the run's outcome. Firing `cancel` stops the
    /// run (its outcome is then [`RunStatus::Cancelled`]).
    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError>;
}

/// The backend that drives `provider`'s CLI.
pub fn backend(provider: Provider) -> Box<dyn AgentBackend> {
    match provider {
        Provider::Claude => Box::new(ClaudeBackend),
        Provider::Codex => Box::new(CodexBackend),
    }
}
