//! What the current server (contract Part B) adds to the seed's tables.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{NoRows, State, TaskBody, TaskToken, TaskUsageRecord};
use crate::go;
use multica_api::wire::TaskStatus;

/// What recover-orphans fails a task with.
pub(crate) const ORPHANED: &str = "task orphaned: the daemon restarted while it ran";

impl State {
    /// A fresh `mat_` token for `task_id`, acting as `user_id`.
    pub(crate) fn mint_task_token(&mut self, task_id: Uuid, user_id: Uuid) -> String {
        let token = format!("mat_{}", Uuid::new_v4().simple());
        self.task_tokens
            .insert(token.clone(), TaskToken { task_id, user_id });
        token
    }

    /// The user a live task token acts for.
    pub(crate) fn authenticate_task_token(&self, token: &str) -> Option<Uuid> {
        self.task_tokens.get(token).map(|row| row.user_id)
    }

    /// `DeleteTaskTokensByTask`, on complete and fail.
    pub(crate) fn revoke_task_tokens(&mut self, task_id: Uuid) {
        self.task_tokens.retain(|_, row| row.task_id != task_id);
    }

    /// Batch claim: up to `max_tasks` tasks over `runtime_ids`, skipping
    /// runtimes of another daemon, each runtime as many times as it yields one.
    pub(crate) fn claim_batch(
        &mut self,
        daemon_id: &str,
        runtime_ids: &[String],
        max_tasks: usize,
        now: DateTime<Utc>,
    ) -> Vec<Uuid> {
        let runtimes: Vec<Uuid> = runtime_ids
            .iter()
            .filter_map(|id| go::parse_uuid(id))
            .filter(|id| {
                self.runtimes
                    .get(id)
                    .is_some_and(|runtime| runtime.daemon_id.as_deref() == Some(daemon_id))
            })
            .collect();
        let mut claimed = Vec::new();
        loop {
            let before = claimed.len();
            for runtime in &runtimes {
                if claimed.len() >= max_tasks {
                    return claimed;
                }
                if let Some(task) = self.claim_for_runtime(*runtime, now) {
                    claimed.push(task);
                }
            }
            if claimed.len() == before {
                return claimed;
            }
        }
    }

    /// Fails what a restarted daemon's runtime left dispatched or running.
    pub(crate) fn recover_orphans(&mut self, runtime_id: Uuid, now: DateTime<Utc>) -> Vec<Uuid> {
        let orphans: Vec<Uuid> = self
            .tasks
            .values()
            .filter(|task| task.runtime_id == runtime_id && task.is_in_flight())
            .map(|task| task.id)
            .collect();
        // `runtime_recovery` is retried: the crash was not the agent's fault.
        let recovered = super::FailureDetails {
            reason: Some("runtime_recovery".to_owned()),
            ..super::FailureDetails::default()
        };
        for task_id in &orphans {
            let _ = self.fail_task(*task_id, ORPHANED, &recovered, true, now);
            self.revoke_task_tokens(*task_id);
        }
        orphans
    }

    /// Complete or fail on a task that is already terminal: 200 with the row.
    pub(crate) fn terminal_task_body(&self, task_id: Uuid) -> Result<TaskBody, NoRows> {
        let task = self.tasks.get(&task_id).ok_or(NoRows)?;
        if matches!(
            task.status,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        ) {
            Ok(super::task_body(task))
        } else {
            Err(NoRows)
        }
    }

    /// The oldest queued task of each of `runtime_ids`, for wake-ups.
    pub(crate) fn queued_per_runtime(&self, runtime_ids: &[Uuid]) -> Vec<(Uuid, Uuid)> {
        runtime_ids
            .iter()
            .filter_map(|runtime| {
                self.tasks
                    .values()
                    .filter(|task| task.runtime_id == *runtime && task.status == TaskStatus::Queued)
                    .min_by_key(|task| (task.created_at, task.seq))
                    .map(|task| (*runtime, task.id))
            })
            .collect()
    }

    pub(crate) fn record_task_usage(&mut self, rows: Vec<TaskUsageRecord>) {
        self.task_usage.extend(rows);
    }
}
