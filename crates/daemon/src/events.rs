//! What the engine tells its hosts (tray, UI, local API) as it works. Hosts
//! subscribe to a broadcast bus; none of them polls the engine.

use multica_api::wire::TaskMessage;
use serde::Serialize;

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
        usage: crate::usage::TaskUsage,
    },
    /// A scan of the machine's agent logs changed the figures.
    UsageUpdated {
        summary: crate::usage::UsageSummary,
    },
    /// The engine's health changed (see [`crate::supervision::EngineState`]).
    StateChanged {
        state: crate::supervision::EngineState,
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
