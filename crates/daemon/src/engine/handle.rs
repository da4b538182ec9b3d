//! What hosts hold of a running engine: events to subscribe to, status to read,
//! and the few things a user can ask of it (pause, stop a task, rescan usage).

use std::sync::Arc;

use multica_api::wire::TaskMessage;
use tokio::sync::broadcast;
use tracing::info;

use super::Parts;
use crate::agent_detection::DetectedAgent;
use crate::events::EngineEvent;
use crate::health::HealthReport;
use crate::history::TaskSummary;
use crate::registry::RuntimeBinding;
use crate::self_update::SelfUpdater;
use crate::task_book::ActiveTask;
use crate::usage_book::UsageReport;

/// A cheap handle for hosts: subscribe to events, read status.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    parts: Arc<Parts>,
}

impl EngineHandle {
    pub(super) fn new(parts: Arc<Parts>) -> Self {
        Self { parts }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.parts.bus.subscribe()
    }

    pub fn active_tasks(&self) -> Vec<ActiveTask> {
        self.parts.tasks.active()
    }

    pub fn runtimes(&self) -> Vec<RuntimeBinding> {
        self.parts.registry.runtimes()
    }

    pub fn agents(&self) -> Vec<DetectedAgent> {
        self.parts.agents.found().as_ref().clone()
    }

    /// What `/health` would answer now.
    pub fn health(&self) -> HealthReport {
        self.parts.health_report()
    }

    pub fn health_port(&self) -> u16 {
        self.parts.config.health_port
    }

    /// Token usage from `since` (default: the last 30 days): the machine's, from
    /// the agents' logs, and the daemon's runs.
    pub fn usage(&self, since: Option<chrono::NaiveDate>) -> UsageReport {
        self.parts.usage.report(since)
    }

    /// The server refuses the login token (401 on the daemon's calls): a new login
    /// is needed. Tasks that hold their own task tokens go on meanwhile.
    pub fn token_refused(&self) -> bool {
        self.parts.server.vitals.is_token_refused()
    }

    /// The last tasks, newest first, with their state, progress and tokens.
    pub fn recent_tasks(&self) -> Vec<TaskSummary> {
        self.parts.bus.history().recent()
    }

    /// A recent task's transcript (as sent to the server, secrets redacted) after
    /// `after_seq`; `None` when the task is not among the recent ones.
    pub fn transcript(&self, task_id: &str, after_seq: Option<u64>) -> Option<Vec<TaskMessage>> {
        self.parts.bus.history().transcript(task_id, after_seq)
    }

    /// Lets the server's update requests go to the host's updater (once).
    pub fn set_self_updater(&self, updater: Arc<dyn SelfUpdater>) {
        let _ = self.parts.updater.set(updater);
    }

    /// Stops or resumes taking new tasks; running tasks go on either way.
    pub fn set_paused(&self, paused: bool) {
        if self.parts.tasks.set_paused(paused) {
            let word = if paused { "paused" } else { "resumed" };
            info!(paused, "taking new tasks {word}");
            self.parts.bus.emit(EngineEvent::PausedChanged { paused });
        }
    }

    pub fn is_paused(&self) -> bool {
        self.parts.tasks.is_paused()
    }

    /// Stops a running task's agent and reports the task failed ("stopped on this
    /// machine"). `false` when no such task runs here.
    pub fn cancel_task(&self, task_id: &str) -> bool {
        self.parts.tasks.stop_here(task_id)
    }

    /// Asks for a scan of the agents' logs soon (scans are at least 10 s apart).
    pub fn rescan_usage(&self) {
        self.parts.usage.want_scan();
    }
}
