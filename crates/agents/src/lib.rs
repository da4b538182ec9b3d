//! Runs the coding-agent CLIs (Claude Code, Codex, OpenCode, the ACP agents, …) for
//! the engine, and hides their differences behind one interface.
//!
//! - **One event type.** Every backend turns its CLI's output into [`AgentEvent`]s
//!   (text, thinking, tool calls and results, status, logs, errors), and every run
//!   ends in one [`RunOutcome`]. Callers never see a CLI's own format.
//! - **A trait and a factory.** [`AgentBackend::spawn`] starts a run from a
//!   [`RunSpec`] and returns an [`AgentRun`]: its events and its outcome. [`backend`]
//!   picks the backend for a [`Provider`]. Each CLI is an [`AgentProfile`] (a table
//!   entry: command, fixed arguments, protocol family), and the family picks the
//!   backend: Claude-compatible stream-json, Codex's app server, OpenCode's JSON
//!   events, or ACP.
//! - **Line parsers without IO.** What a backend knows about its CLI is an output
//!   protocol (`child::OutputProtocol`): fed one stdout line at a time, it answers
//!   with events, lines to write to stdin, and whether the turn is over. So parsers
//!   ([`ClaudeStreamParser`], [`OpenCodeParser`], the Codex and ACP clients) are
//!   tested and fuzzed on recorded lines alone.
//! - **Process handling in one place** (`child`, over `process`): every CLI runs in
//!   a process group of its own; its output is read with back-pressure (a slow
//!   consumer pauses reading, and the agent with it; no event is dropped), in lines
//!   of any length (one over [`MAX_LINE_BYTES`] is skipped and reported); timeouts
//!   are enforced; a stop reaches the whole group (SIGINT, SIGTERM, then SIGKILL),
//!   and whatever the agent leaves running when it exits is ended too.

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
