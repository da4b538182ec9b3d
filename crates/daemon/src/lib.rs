//! The Multica agent daemon engine. It knows nothing of its host: the desktop app
//! and the headless `multica daemon start --foreground` both drive the same
//! [`Engine`]. `docs/architecture.md` draws the modules and their one-way doors,
//! and follows a task from claim to report.
//!
//! From the bottom up:
//! - leaves: [`events`], [`failure`], `backoff`, `sync`, [`go_duration`],
//!   [`server_features`];
//! - components that know nothing of the engine: configuration ([`config`],
//!   [`cli_config`], [`agent_config`]), agent discovery ([`discovery`],
//!   [`agent_detection`]), task directories ([`execenv`], [`brief`]), the
//!   [`outbox`], [`repo_cache`], [`gc`], [`transcript`], [`history`];
//! - the engine's parts, each with its own lock: `server`, `agent_set`,
//!   `registry`, `task_book`, `bus`, `grants`, `health`, `usage_book`;
//! - the work: `task` (one task's life), `workspaces` (registration), `loops`
//!   (one file per background loop), `local_api`;
//! - [`Engine`] and [`EngineHandle`] on top, wiring it together.

pub mod agent_config;
pub mod agent_detection;
mod agent_set;
mod backoff;
pub mod brief;
mod bus;
pub mod cli_config;
pub mod config;
pub mod discovery;
pub mod disk_usage;
mod engine;
pub mod events;
pub mod execenv;
pub mod failure;
pub mod gc;
pub mod go_duration;
mod grants;
pub mod health;
pub mod history;
mod local_api;
mod loops;
pub mod outbox;
mod registry;
pub mod repo_cache;
pub mod self_update;
mod server;
pub mod server_features;
pub mod signals;
mod sync;
mod task;
mod task_book;
pub mod transcript;
pub mod usage_book;
mod workspaces;

pub use config::{
    AgentSetting, ConfigError, ConfigOverrides, DaemonConfig, Environment, ProcessEnvironment,
};
pub use engine::{Engine, EngineError, EngineHandle};
pub use events::{EngineEvent, EngineState, TaskOutcome};
pub use grants::ControlToken;
pub use health::{HealthAgent, HealthMissingAgent, HealthReport, HealthRuntime, HealthWorkspace};
pub use registry::RuntimeBinding;
pub use task_book::ActiveTask;
