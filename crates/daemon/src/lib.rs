//! The Multica agent daemon engine. It knows nothing of its host: the desktop app and
//! the headless `multica daemon start --foreground` both drive the same [`Engine`].

pub mod agent_config;
pub mod agent_detection;
pub mod brief;
pub mod cli_config;
pub mod config;
pub mod discovery;
pub mod disk_usage;
mod engine;
pub mod events;
pub mod execenv;
pub mod gc;
pub mod go_duration;
mod heartbeat;
pub mod history;
mod local_api;
pub mod outbox;
pub mod repo_cache;
pub mod self_update;
pub mod server_features;
pub mod signals;
pub mod supervision;
mod task_runner;
pub mod transcript;
pub mod usage;
mod wakeups;

pub use config::{
    AgentSetting, ConfigError, ConfigOverrides, DaemonConfig, Environment, ProcessEnvironment,
};
pub use engine::{ActiveTask, Engine, EngineError, EngineHandle, RuntimeBinding};
pub use events::{EngineEvent, TaskOutcome};
pub use local_api::{
    ControlToken, HealthAgent, HealthMissingAgent, HealthReport, HealthRuntime, HealthWorkspace,
};
