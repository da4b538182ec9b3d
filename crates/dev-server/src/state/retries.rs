//! The current server's answer to a failed task (`service/task.go`): it keeps the
//! `failure_reason`, the session and the work directory, and retries the reasons
//! that say the agent was not at fault (`retryableReasons`) in a new task, which
//! resumes the session unless the reason says the session is poisoned. Deferred
//! retries (`runtime_offline` waits for a heartbeat) are queued at once here.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{State, Task};
use multica_api::wire::TaskStatus;

/// What a fail report carries beyond its words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FailureDetails {
    pub(crate) reason: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) work_dir: Option<String>,
}

/// `retryableReasons`.
const RETRYABLE: &[&str] = &[
    "runtime_offline",
    "runtime_recovery",
    "timeout",
    "codex_semantic_inactivity",
    "agent_error.provider_network",
    "skill_bundle_unavailable",
];

/// Reasons whose session must never be resumed (svc:4744).
const POISONED: &[&str] = &[
    "iteration_limit",
    "agent_fallback_message",
    "api_invalid_request",
    "codex_semantic_inactivity",
    "agent_error.context_overflow",
    "codex_resume_oversized",
];

/// `max_attempts`' default: the first run and one retry; a network error gets one more.
fn attempt_ceiling(reason: &str) -> u32 {
    if reason == "agent_error.provider_network" {
        3
    } else {
        2
    }
}

pub(crate) fn is_poisoned(reason: Option<&str>) -> bool {
    reason.is_some_and(|reason| POISONED.contains(&reason))
}

impl State {
    /// Retries a task that just failed, when its reason and attempt allow it and
    /// no other run of that agent waits on the issue. Returns the new task.
    pub(crate) fn retry_failed(&mut self, failed: Uuid, now: DateTime<Utc>) -> Option<Uuid> {
        let parent = self.tasks.get(&failed)?.clone();
        let reason = parent.failure_reason.as_deref()?;
        if !RETRYABLE.contains(&reason) || parent.attempt >= attempt_ceiling(reason) {
            return None;
        }
        let waiting = self.tasks.values().any(|task| {
            task.issue_id == parent.issue_id
                && task.agent_id == parent.agent_id
                && task.is_pending()
        });
        if waiting {
            return None;
        }
        let fresh_session = reason == "codex_semantic_inactivity";
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let child = Task {
            id,
            seq,
            status: TaskStatus::Queued,
            dispatched_at: None,
            started_at: None,
            completed_at: None,
            result: None,
            error: None,
            failure_reason: None,
            created_at: now,
            session_id: (!fresh_session)
                .then(|| parent.session_id.clone())
                .flatten(),
            work_dir: (!fresh_session).then(|| parent.work_dir.clone()).flatten(),
            messages: Vec::new(),
            attempt: parent.attempt + 1,
            retry_of: Some(parent.id),
            ..parent
        };
        self.tasks.insert(id, child);
        tracing::info!(task_id = %id, retry_of = %failed, reason, "failed task retried");
        Some(id)
    }

    /// `GetLastTaskSession` as current servers run it: the newest finished run of
    /// `(agent, issue)` with a session, failed and cancelled ones included, but
    /// never one whose failure poisoned its session.
    pub(crate) fn last_resumable_session(&self, agent_id: Uuid, issue_id: Uuid) -> Option<&Task> {
        self.tasks
            .values()
            .filter(|task| {
                task.agent_id == agent_id
                    && task.issue_id == issue_id
                    && matches!(
                        task.status,
                        TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
                    )
                    && task.session_id.is_some()
                    && !is_poisoned(task.failure_reason.as_deref())
            })
            .max_by_key(|task| (task.completed_at, task.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::World;
    use super::*;

    fn failed_with(world: &mut World, task: Uuid, reason: &str) -> Option<Uuid> {
        world.state.claim_for_runtime(world.runtime, world.now);
        let details = FailureDetails {
            reason: Some(reason.to_owned()),
            session_id: Some("sess-1".into()),
            work_dir: Some("/w/1".into()),
        };
        world
            .state
            .fail_task(task, "boom", &details, true, world.now)
            .expect("fail");
        world
            .state
            .tasks
            .values()
            .find(|t| t.retry_of == Some(task))
            .map(|t| t.id)
    }

    #[test]
    fn a_retryable_failure_is_run_again_once_with_its_session() {
        let mut world = World::new();
        let (issue, task) = world.assigned_issue("fix", "none");
        let retry = failed_with(&mut world, task, "timeout").expect("retried");
        let child = &world.state.tasks[&retry];
        assert_eq!((child.attempt, child.status), (2, TaskStatus::Queued));
        let prior = world
            .state
            .last_resumable_session(child.agent_id, issue)
            .expect("the failed run's session");
        assert_eq!(prior.session_id.as_deref(), Some("sess-1"));
        assert!(
            failed_with(&mut world, retry, "timeout").is_none(),
            "the second attempt is the last"
        );
    }

    #[test]
    fn the_agents_own_failures_are_not_retried_and_poisoned_sessions_not_resumed() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("fix", "none");
        assert!(failed_with(&mut world, task, "agent_error.provider_auth_or_access").is_none());
        let mut world = World::new();
        let (issue, task) = world.assigned_issue("fix", "none");
        assert!(failed_with(&mut world, task, "iteration_limit").is_none());
        let agent = world.state.tasks[&task].agent_id;
        assert!(world.state.last_resumable_session(agent, issue).is_none());
    }
}
