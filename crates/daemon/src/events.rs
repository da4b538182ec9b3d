//! What the engine tells its hosts (tray, UI, local API) as it works. Hosts
//! subscribe to a broadcast bus; none of them polls the engine. A leaf: the
//! payloads are defined here or in the crates below the engine.

use multica_api::wire::TaskMessage;
use multica_usage::Totals;
use multica_usage::task_runs::TaskUsage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// The engine is up: agents detected, health port bound.
    Started {
        daemon_id: String,
        agents: Vec<String>,
    },
    /// Re-discovery found a different set of agent CLIs; workspaces are being
    /// registered again with it.
    AgentsChanged {
        agents: Vec<String>,
    },
    WorkspaceRegistered {
        workspace_id: String,
        runtime_ids: Vec<String>,
    },
    WorkspaceRegistrationFailed {
        workspace_id: String,
        error: String,
    },
    WorkspaceDropped {
        workspace_id: String,
    },
    TaskClaimed {
        task_id: String,
        issue_id: String,
        workspace_id: String,
        runtime_id: String,
        provider: String,
    },
    TaskProgress {
        task_id: String,
        summary: String,
        step: u32,
        total: u32,
    },
    /// The task's directory is ready: the agent works in `work_dir`.
    TaskWorkDir {
        task_id: String,
        work_dir: std::path::PathBuf,
    },
    /// Transcript messages, as sent (or about to be sent) to the server.
    TaskMessages {
        task_id: String,
        messages: Vec<TaskMessage>,
    },
    TaskFinished {
        task_id: String,
        outcome: TaskOutcome,
    },
    /// A run's tokens, as its agent reported them (also kept in the local ledger).
    TaskUsage {
        usage: TaskUsage,
    },
    /// A scan of the machine's agent logs changed the figures.
    UsageUpdated {
        summary: UsageSummary,
    },
    /// The engine's health changed.
    StateChanged {
        state: EngineState,
    },
    /// Taking new tasks was paused or resumed ([`crate::EngineHandle::set_paused`]).
    PausedChanged {
        paused: bool,
    },
    /// Shutdown began; running tasks get the grace period.
    Stopping,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskOutcome {
    Completed {
        session_id: Option<String>,
    },
    Failed {
        error: String,
    },
    /// The server cancelled the task; only the transcript was reported.
    Cancelled,
}

/// What the engine is up to, as one word and a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum EngineState {
    Starting,
    /// Registered and in touch with the server.
    Online,
    /// Working, but something needs attention.
    Degraded(String),
    /// Not in touch with the server.
    Offline(String),
}

impl EngineState {
    pub fn word(&self) -> &'static str {
        match self {
            EngineState::Starting => "starting",
            EngineState::Online => "online",
            EngineState::Degraded(_) => "degraded",
            EngineState::Offline(_) => "offline",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            EngineState::Degraded(reason) | EngineState::Offline(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The short form the event bus carries after each scan that changed something.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageSummary {
    pub today: Totals,
    pub last_30_days: Totals,
}
