//! The tasks this machine works on right now, and the switches that act on them:
//! stopping one from this machine, pausing new claims, waking the claim loop.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::sync::lock;

/// A task being worked on, for status reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActiveTask {
    pub task_id: String,
    pub issue_id: String,
    pub workspace_id: String,
    pub provider: String,
    pub started_at_unix: u64,
}

#[derive(Debug, Default)]
pub(crate) struct TaskBook {
    running: Mutex<BTreeMap<String, Running>>,
    /// No new tasks are claimed while set; running ones go on.
    paused: AtomicBool,
    /// Wakes the claim loop early: a slot freed up, a workspace was registered, the
    /// server said a task waits, or claiming was resumed.
    claims_wanted: Notify,
}

#[derive(Debug)]
struct Running {
    task: ActiveTask,
    /// Stops the task from this machine (the app's tray or window).
    stop_here: CancellationToken,
}

impl TaskBook {
    /// Books a task as running; the token fires when someone here stops it.
    pub(crate) fn start(&self, task: ActiveTask) -> CancellationToken {
        let stop_here = CancellationToken::new();
        lock(&self.running).insert(
            task.task_id.clone(),
            Running {
                task,
                stop_here: stop_here.clone(),
            },
        );
        stop_here
    }

    pub(crate) fn finish(&self, task_id: &str) {
        lock(&self.running).remove(task_id);
    }

    /// Stops a running task from this machine; `false` when none runs by that id.
    pub(crate) fn stop_here(&self, task_id: &str) -> bool {
        match lock(&self.running).get(task_id) {
            Some(running) => {
                running.stop_here.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn active(&self) -> Vec<ActiveTask> {
        lock(&self.running)
            .values()
            .map(|running| running.task.clone())
            .collect()
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.running).len()
    }

    /// Returns whether it changed.
    pub(crate) fn set_paused(&self, paused: bool) -> bool {
        let was = self.paused.swap(paused, Ordering::Relaxed);
        if was != paused {
            self.claims_wanted.notify_one();
        }
        was != paused
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub(crate) fn want_claims(&self) {
        self.claims_wanted.notify_one();
    }

    pub(crate) async fn claims_wanted(&self) {
        self.claims_wanted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> ActiveTask {
        ActiveTask {
            task_id: id.into(),
            issue_id: "issue".into(),
            workspace_id: "ws".into(),
            provider: "claude".into(),
            started_at_unix: 1,
        }
    }

    #[test]
    fn a_task_can_be_stopped_here_only_while_it_runs() {
        let book = TaskBook::default();
        let stop = book.start(task("a"));
        assert_eq!(book.count(), 1);
        assert!(!book.stop_here("b"));
        assert!(book.stop_here("a"));
        assert!(stop.is_cancelled());
        book.finish("a");
        assert!(!book.stop_here("a"));
        assert!(book.active().is_empty());
    }

    #[test]
    fn pausing_reports_changes_only() {
        let book = TaskBook::default();
        assert!(!book.is_paused());
        assert!(book.set_paused(true));
        assert!(!book.set_paused(true));
        assert!(book.is_paused());
        assert!(book.set_paused(false));
    }
}
