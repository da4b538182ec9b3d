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
//! Each CLI is an [`AgentProfile`] (a table entry: command, fixed arguments,
//! protocol family); the family picks the backend: Claude-compatible stream-json,
//! Codex's app server, OpenCode's JSON events, or ACP.

mod acp;
mod child;
mod codex;
mod error;
mod event;
#[cfg(test)]
mod fuzz;
mod jsonrpc;
mod lines;
mod opencode;
mod process;
mod provider;
mod run;
mod stream_json;
mod version;

pub use acp::AcpBackend;
pub use codex::CodexBackend;
pub use error::AgentError;
pub use event::{AgentEvent, LogLevel};
pub use lines::{Line, LineSplitter, MAX_LINE_BYTES};
pub use opencode::{OpenCodeBackend, OpenCodeParser};
pub use process::kill_all_agents;
pub use provider::{
    AgentProfile, PromptInput, Protocol, Provider, StreamJsonStyle, UnknownProvider,
    builtin_profiles,
};
pub use run::{
    AgentRun, EVENT_BUFFER, KillGrace, ModelUsage, OutcomeReceiver, RunOutcome, RunSpec, RunStatus,
};
pub use stream_json::{ClaudeStreamParser, ControlRequest, ParsedLine, StreamJsonBackend};
pub use version::{VersionCheck, check_min_version, detect_version};

use tokio_util::sync::CancellationToken;

/// Drives one kind of agent CLI.
pub trait AgentBackend: Send + Sync + std::fmt::Debug {
    fn provider(&self) -> Provider;

    /// Starts the CLI. Fails only when it cannot be started at all; everything that
    /// goes wrong later is reported in the run's outcome. Firing `cancel` stops the
    /// run (its outcome is then [`RunStatus::Cancelled`]).
    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError>;
}

/// The backend that drives `provider`'s CLI, chosen by its protocol family.
pub fn backend(provider: &Provider) -> Box<dyn AgentBackend> {
    let provider = provider.clone();
    match provider.protocol().clone() {
        Protocol::StreamJson(style) => Box::new(StreamJsonBackend::with_style(provider, style)),
        Protocol::CodexAppServer => Box::new(CodexBackend::new(provider)),
        Protocol::OpenCode => Box::new(OpenCodeBackend::new(provider)),
        Protocol::Acp => Box::new(AcpBackend::new(provider)),
    }
}
