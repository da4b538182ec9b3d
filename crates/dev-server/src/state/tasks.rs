//! The task state machine (contract A.2.4 – A.2.12, A.4): claim, start, complete,
//! fail, cancel, transcript messages, progress, and the sweeper's rules.

use chrono::{DateTime, Utc};
use multica_api::wire::{self, TaskStatus};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{FailureDetails, Progress, State, StoredMessage, Task};
use crate::go;
use crate::views::{MessageRecord, ProgressRecord, SweepReport, TaskView};

/// An `UPDATE … RETURNING` that matched nothing; the handlers prefix it with the
/// operation, e.g. `start task: no rows in result set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no rows in result set")]
pub(crate) struct NoRows;

/// What `complete` stores (`TaskCompleteRequest`; the daemon's `branch_name` is
/// not part of it and is dropped).
#[derive(Debug, Clone, Default)]
pub(crate) struct CompleteInput {
    pub(crate) pr_url: String,
    pub(crate) output: String,
    pub(crate) session_id: String,
    pub(crate) work_dir: String,
}

/// One transcript message of `POST /tasks/{id}/messages`.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageInput {
    pub(crate) seq: i64,
    pub(crate) kind: String,
    pub(crate) tool: String,
    pub(crate) content: String,
    pub(crate) input: Option<Map<String, Value>>,
    pub(crate) output: String,
}

/// `RepoData`: unlike `wire::RepoRef`, `description` is always present.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RepoBody {
    pub(crate) url: String,
    pub(crate) description: String,
}

/// `AgentTaskResponse`, field for field and in the seed's order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskBody {
    pub(crate) id: String,
    pub(crate) agent_id: String,
    pub(crate) runtime_id: String,
    pub(crate) issue_id: String,
    pub(crate) workspace_id: String,
    pub(crate) status: TaskStatus,
    pub(crate) priority: i32,
    pub(crate) dispatched_at: Option<String>,
    pub(crate) started_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<wire::TaskAgent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) repos: Vec<RepoBody>,
    pub(crate) created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prior_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prior_work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trigger_comment_id: Option<String>,
    /// Current mode: the task's `mat_` token, on claim responses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_token: Option<String>,
}

impl State {
    fn task_by_text(&self, task_id: &str) -> Option<&Task> {
        go::parse_uuid(task_id).and_then(|id| self.tasks.get(&id))
    }

    /// `ClaimTaskForRuntime`: walks the runtime's queued and dispatched tasks
    /// (priority DESC, created_at ASC) and claims, per distinct agent, that agent's
    /// next task. Returns a task only if it belongs to this runtime; a task of the
    /// same agent on another runtime may be dispatched and not returned (seed quirk).
    pub(crate) fn claim_for_runtime(
        &mut self,
        runtime_id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<Uuid> {
        let mut candidates: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.runtime_id == runtime_id && t.is_pending())
            .collect();
        candidates.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.created_at, t.seq));
        let mut agents: Vec<Uuid> = Vec::new();
        for task in candidates {
            if !agents.contains(&task.agent_id) {
                agents.push(task.agent_id);
            }
        }
        for agent_id in agents {
            if let Some(task_id) = self.claim_for_agent(agent_id, now)
                && self
                    .tasks
                    .get(&task_id)
                    .is_some_and(|t| t.runtime_id == runtime_id)
            {
                return Some(task_id);
            }
        }
        None
    }

    /// `ClaimTask`: respects `max_concurrent_tasks` (dispatched + running) and
    /// serializes per issue (no task is claimed while another task of its issue is
    /// dispatched or running).
    fn claim_for_agent(&mut self, agent_id: Uuid, now: DateTime<Utc>) -> Option<Uuid> {
        let max = i64::from(self.agents.get(&agent_id)?.max_concurrent_tasks);
        let in_flight = i64::try_from(self.count_in_flight(agent_id)).unwrap_or(i64::MAX);
        if in_flight >= max {
            tracing::debug!(%agent_id, in_flight, max, "claim: agent has no capacity");
            return None;
        }
        let busy_issues: Vec<Uuid> = self
            .tasks
            .values()
            .filter(|t| t.is_in_flight())
            .map(|t| t.issue_id)
            .collect();
        let next = self
            .tasks
            .values()
            .filter(|t| {
                t.agent_id == agent_id
                    && t.status == TaskStatus::Queued
                    && !busy_issues.contains(&t.issue_id)
            })
            .min_by_key(|t| (std::cmp::Reverse(t.priority), t.created_at, t.seq))?
            .id;
        if let Some(task) = self.tasks.get_mut(&next) {
            task.status = TaskStatus::Dispatched;
            task.dispatched_at = Some(now);
        }
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            "working".clone_into(&mut agent.status);
            agent.updated_at = now;
        }
        tracing::info!(task_id = %next, %agent_id, "task dispatched");
        Some(next)
    }

    /// `ListPendingTasksByRuntime`.
    pub(crate) fn pending_for_runtime(&self, runtime_id: &str) -> Vec<TaskBody> {
        let Some(runtime_id) = go::parse_uuid(runtime_id) else {
            return Vec::new();
        };
        let mut tasks: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.runtime_id == runtime_id && t.is_pending())
            .collect();
        tasks.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.created_at, t.seq));
        tasks.into_iter().map(task_body).collect()
    }

    /// `StartAgentTask`: dispatched → running.
    pub(crate) fn start_task(
        &mut self,
        task_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TaskBody, NoRows> {
        let task = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.status == TaskStatus::Dispatched)
            .ok_or(NoRows)?;
        task.status = TaskStatus::Running;
        task.started_at = Some(now);
        Ok(task_body(task))
    }

    /// `CompleteAgentTask`: running → completed, then the output is posted as an
    /// agent comment unless a comment triggered the task.
    pub(crate) fn complete_task(
        &mut self,
        task_id: Uuid,
        input: &CompleteInput,
        now: DateTime<Utc>,
    ) -> Result<TaskBody, NoRows> {
        let task = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.status == TaskStatus::Running)
            .ok_or(NoRows)?;
        task.status = TaskStatus::Completed;
        task.completed_at = Some(now);
        task.result = Some(json!({
            "pr_url": input.pr_url,
            "output": input.output,
            "session_id": input.session_id,
            "work_dir": input.work_dir,
        }));
        task.session_id = Some(input.session_id.clone()).filter(|s| !s.is_empty());
        task.work_dir = Some(input.work_dir.clone()).filter(|s| !s.is_empty());
        let body = task_body(task);
        let (issue_id, agent_id, trigger) = (task.issue_id, task.agent_id, task.trigger_comment_id);
        if trigger.is_none() && !input.output.is_empty() {
            self.post_agent_comment(issue_id, agent_id, &input.output, "comment", None, now);
        }
        self.reconcile_agent_status(agent_id, now);
        Ok(body)
    }

    /// `FailAgentTask`: dispatched|running → failed. A non-empty error becomes a
    /// `system` comment by the agent, in reply to the triggering comment. A
    /// current server also keeps the failure's reason, and the session and work
    /// directory (kept when not given, as upstream's COALESCE); with `retry`, a
    /// retryable failure gets a new task instead of the comment.
    pub(crate) fn fail_task(
        &mut self,
        task_id: Uuid,
        error: &str,
        details: &FailureDetails,
        retry: bool,
        now: DateTime<Utc>,
    ) -> Result<TaskBody, NoRows> {
        let task = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.is_in_flight())
            .ok_or(NoRows)?;
        task.status = TaskStatus::Failed;
        task.completed_at = Some(now);
        // The seed stores the text as a valid (possibly empty) string: `""`, not null.
        task.error = Some(error.to_owned());
        task.failure_reason.clone_from(&details.reason);
        if details.session_id.is_some() {
            task.session_id.clone_from(&details.session_id);
        }
        if details.work_dir.is_some() {
            task.work_dir.clone_from(&details.work_dir);
        }
        let body = task_body(task);
        let (issue_id, agent_id, trigger) = (task.issue_id, task.agent_id, task.trigger_comment_id);
        let retried = retry && self.retry_failed(task_id, now).is_some();
        if !error.is_empty() && !retried {
            self.post_agent_comment(issue_id, agent_id, error, "system", trigger, now);
        }
        self.reconcile_agent_status(agent_id, now);
        Ok(body)
    }

    /// `CancelAgentTask` (the user's cancel): queued|dispatched|running → cancelled.
    pub(crate) fn cancel_task(
        &mut self,
        task_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TaskBody, NoRows> {
        let task = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.is_active())
            .ok_or(NoRows)?;
        task.status = TaskStatus::Cancelled;
        task.completed_at = Some(now);
        let body = task_body(task);
        let agent_id = task.agent_id;
        self.reconcile_agent_status(agent_id, now);
        Ok(body)
    }

    pub(crate) fn task_status(&self, task_id: &str) -> Option<TaskStatus> {
        self.task_by_text(task_id).map(|t| t.status)
    }

    /// Stores a batch of transcript messages in arrival order (no dedup, no order
    /// check), redacted. `Err` for an unknown task.
    pub(crate) fn record_messages(
        &mut self,
        task_id: &str,
        messages: &[MessageInput],
        now: DateTime<Utc>,
    ) -> Result<usize, NoRows> {
        let id = self.task_by_text(task_id).ok_or(NoRows)?.id;
        let rules = self.rules.clone();
        let task = self.tasks.get_mut(&id).ok_or(NoRows)?;
        for message in messages {
            let content = rules.redact(&message.content);
            let output = rules.redact(&message.output);
            let arrival = task.messages.len() as u64 + 1;
            task.messages.push(StoredMessage {
                arrival,
                // `int32(msg.Seq)`.
                #[allow(clippy::cast_possible_truncation, reason = "Go truncates the same way")]
                seq: message.seq as i32,
                kind: message.kind.clone(),
                tool: Some(message.tool.clone()).filter(|s| !s.is_empty()),
                content: Some(content).filter(|s| !s.is_empty()),
                input: message.input.as_ref().map(|m| rules.redact_map(m)),
                output: Some(output).filter(|s| !s.is_empty()),
                received_at: now,
            });
        }
        Ok(messages.len())
    }

    /// `ListTaskMessages[Since]`: ordered by seq (arrival order among equal seqs),
    /// only `seq > since` when given. `None` for an unknown task.
    pub(crate) fn list_messages(
        &self,
        task_id: &str,
        since: Option<i32>,
    ) -> Option<Vec<wire::StoredTaskMessage>> {
        let task = self.task_by_text(task_id)?;
        let mut messages: Vec<&StoredMessage> = task
            .messages
            .iter()
            .filter(|m| since.is_none_or(|since| m.seq > since))
            .collect();
        messages.sort_by_key(|m| (m.seq, m.arrival));
        Some(
            messages
                .into_iter()
                .map(|m| wire::StoredTaskMessage {
                    task_id: task_id.to_owned(),
                    issue_id: task.issue_id.to_string(),
                    seq: u64::try_from(m.seq).unwrap_or_default(),
                    kind: m.kind.clone(),
                    tool: m.tool.clone(),
                    content: m.content.clone(),
                    input: m
                        .input
                        .as_ref()
                        .filter(|input| !input.is_empty())
                        .map(|input| go::as_go_any(&Value::Object(input.clone()))),
                    output: m.output.clone(),
                })
                .collect(),
        )
    }

    /// Keeps a progress report (the seed only broadcasts it).
    pub(crate) fn record_progress(
        &mut self,
        task_id: &str,
        summary: &str,
        step: i64,
        total: i64,
        now: DateTime<Utc>,
    ) {
        self.progress.push(Progress {
            task_id: task_id.to_owned(),
            summary: summary.to_owned(),
            step,
            total,
            received_at: now,
        });
    }

    /// `GetLastTaskSession`: the newest completed task of `(agent, issue)` with a
    /// session ID.
    fn last_session(&self, agent_id: Uuid, issue_id: Uuid) -> Option<&Task> {
        self.tasks
            .values()
            .filter(|t| {
                t.agent_id == agent_id
                    && t.issue_id == issue_id
                    && t.status == TaskStatus::Completed
                    && t.session_id.is_some()
            })
            .max_by_key(|t| (t.completed_at, t.seq))
    }

    /// The claim response: the task plus the agent (skills loaded fresh), the
    /// workspace ID and repos from the issue, and the prior session.
    pub(crate) fn claimed_body(&self, task_id: Uuid) -> Option<TaskBody> {
        let task = self.tasks.get(&task_id)?;
        let mut body = task_body(task);
        body.agent = self
            .agents
            .get(&task.agent_id)
            .map(|agent| wire::TaskAgent {
                id: agent.id.to_string(),
                name: agent.name.clone(),
                instructions: agent.instructions.clone(),
                skills: agent
                    .skills
                    .iter()
                    .map(|s| wire::Skill {
                        name: s.name.clone(),
                        content: s.content.clone(),
                        files: s
                            .files
                            .iter()
                            .map(|f| wire::SkillFile {
                                path: f.path.clone(),
                                content: f.content.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            });
        if let Some(issue) = self.issues.get(&task.issue_id) {
            body.workspace_id = issue.workspace_id.to_string();
            if let Some(workspace) = self.workspaces.get(&issue.workspace_id) {
                body.repos = workspace
                    .repos
                    .iter()
                    .map(|r| RepoBody {
                        url: r.url.clone(),
                        description: r.description.clone(),
                    })
                    .collect();
            }
        }
        if let Some(prior) = self.last_session(task.agent_id, task.issue_id) {
            body.prior_session_id.clone_from(&prior.session_id);
            body.prior_work_dir.clone_from(&prior.work_dir);
        }
        Some(body)
    }

    /// One sweep of `runtime_sweeper.go`:
    /// 1. online runtimes not seen for `runtime_stale_after` go offline; if any did,
    ///    every dispatched or running task on an offline runtime fails with
    ///    `runtime went offline`;
    /// 2. tasks dispatched longer than `dispatched_timeout` or running longer than
    ///    `running_timeout` fail with `task timed out`.
    ///
    /// Neither posts a comment; agent statuses are reconciled.
    pub(crate) fn sweep(&mut self, now: DateTime<Utc>) -> SweepReport {
        let mut report = SweepReport::default();
        let stale_before = now - self.rules.runtime_stale_after;
        let mut agents: Vec<Uuid> = Vec::new();
        for runtime in self.runtimes.values_mut() {
            if runtime.online && runtime.last_seen_at.is_some_and(|seen| seen < stale_before) {
                runtime.online = false;
                runtime.updated_at = now;
                report.runtimes_marked_offline.push(runtime.id.to_string());
            }
        }
        // Current servers give a runtime that went offline a 3 h grace to come
        // back (or recover its orphans) before its tasks fail.
        if !report.runtimes_marked_offline.is_empty() && self.rules.offline_fails_tasks {
            let offline: Vec<Uuid> = self
                .runtimes
                .values()
                .filter(|r| !r.online)
                .map(|r| r.id)
                .collect();
            for task in self.tasks.values_mut() {
                if task.is_in_flight() && offline.contains(&task.runtime_id) {
                    task.status = TaskStatus::Failed;
                    task.completed_at = Some(now);
                    task.error = Some("runtime went offline".to_owned());
                    report.tasks_failed_offline.push(task.id.to_string());
                    agents.push(task.agent_id);
                }
            }
        }
        let dispatched_before = now - self.rules.dispatched_timeout;
        let running_before = now - self.rules.running_timeout;
        for task in self.tasks.values_mut() {
            let stale = match task.status {
                TaskStatus::Dispatched => {
                    task.dispatched_at.is_some_and(|at| at < dispatched_before)
                }
                TaskStatus::Running => task.started_at.is_some_and(|at| at < running_before),
                _ => false,
            };
            if stale {
                task.status = TaskStatus::Failed;
                task.completed_at = Some(now);
                task.error = Some("task timed out".to_owned());
                report.tasks_timed_out.push(task.id.to_string());
                agents.push(task.agent_id);
            }
        }
        agents.sort();
        agents.dedup();
        for agent in agents {
            self.reconcile_agent_status(agent, now);
        }
        if !report.is_empty() {
            tracing::info!(?report, "sweeper changed state");
        }
        report
    }

    /// Everything about a task, for the admin API.
    pub(crate) fn task_view(&self, task: &Task) -> TaskView {
        let workspace_id = self
            .issues
            .get(&task.issue_id)
            .map(|i| i.workspace_id.to_string())
            .unwrap_or_default();
        TaskView {
            id: task.id.to_string(),
            agent_id: task.agent_id.to_string(),
            runtime_id: task.runtime_id.to_string(),
            issue_id: task.issue_id.to_string(),
            workspace_id,
            status: task.status,
            priority: task.priority,
            created_at: go::format_time(task.created_at),
            dispatched_at: task.dispatched_at.map(go::format_time),
            started_at: task.started_at.map(go::format_time),
            completed_at: task.completed_at.map(go::format_time),
            result: task.result.as_ref().map(go::as_go_any),
            error: task.error.clone(),
            failure_reason: task.failure_reason.clone(),
            attempt: task.attempt,
            retry_of_task_id: task.retry_of.map(|id| id.to_string()),
            session_id: task.session_id.clone(),
            work_dir: task.work_dir.clone(),
            trigger_comment_id: task.trigger_comment_id.map(|id| id.to_string()),
            messages: task
                .messages
                .iter()
                .map(|m| MessageRecord {
                    arrival: m.arrival,
                    seq: m.seq,
                    kind: m.kind.clone(),
                    tool: m.tool.clone(),
                    content: m.content.clone(),
                    input: m.input.clone().map(Value::Object),
                    output: m.output.clone(),
                    received_at: go::format_time_millis(m.received_at),
                })
                .collect(),
            progress: self
                .progress
                .iter()
                .filter(|p| go::parse_uuid(&p.task_id) == Some(task.id))
                .map(progress_record)
                .collect(),
            runtime_usage: self.usage_records(Some(task.runtime_id)),
            timings: crate::views::TaskTimings {
                created_at: go::format_time_millis(task.created_at),
                dispatched_at: task.dispatched_at.map(go::format_time_millis),
                started_at: task.started_at.map(go::format_time_millis),
                completed_at: task.completed_at.map(go::format_time_millis),
            },
        }
    }

    /// All tasks, oldest first.
    pub(crate) fn tasks_sorted(&self) -> Vec<&Task> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| (t.created_at, t.seq));
        tasks
    }
}

pub(crate) fn progress_record(progress: &Progress) -> ProgressRecord {
    ProgressRecord {
        task_id: progress.task_id.clone(),
        summary: progress.summary.clone(),
        step: progress.step,
        total: progress.total,
        received_at: go::format_time_millis(progress.received_at),
    }
}

/// `taskToResponse`: `workspace_id` stays `""` (a seed quirk).
pub(crate) fn task_body(task: &Task) -> TaskBody {
    TaskBody {
        id: task.id.to_string(),
        agent_id: task.agent_id.to_string(),
        runtime_id: task.runtime_id.to_string(),
        issue_id: task.issue_id.to_string(),
        workspace_id: String::new(),
        status: task.status,
        priority: task.priority,
        dispatched_at: task.dispatched_at.map(go::format_time),
        started_at: task.started_at.map(go::format_time),
        completed_at: task.completed_at.map(go::format_time),
        result: task.result.as_ref().map(go::as_go_any),
        error: task.error.clone(),
        agent: None,
        repos: Vec::new(),
        created_at: go::format_time(task.created_at),
        prior_session_id: None,
        prior_work_dir: None,
        trigger_comment_id: task.trigger_comment_id.map(|id| id.to_string()),
        auth_token: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RuntimeInput;
    use crate::state::fixtures::World;
    use crate::views::{AgentPatch, NewAgent, NewComment};

    fn complete(world: &mut World, task: Uuid, session: &str, work_dir: &str) {
        world
            .state
            .complete_task(
                task,
                &CompleteInput {
                    output: "done".into(),
                    session_id: session.into(),
                    work_dir: work_dir.into(),
                    ..CompleteInput::default()
                },
                world.now,
            )
            .expect("complete");
    }

    #[test]
    fn full_lifecycle() {
        let mut world = World::new();
        let (issue, task) = world.assigned_issue("fix", "none");
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            Some(task)
        );
        assert_eq!(world.state.agents[&world.agent].status, "working");
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            None
        );
        let started = world.state.start_task(task, world.now).expect("start");
        assert_eq!(started.status, TaskStatus::Running);
        assert_eq!(started.workspace_id, "");
        assert_eq!(world.state.start_task(task, world.now).err(), Some(NoRows));
        complete(&mut world, task, "sess-1", "/tmp/w");
        let stored = &world.state.tasks[&task];
        assert_eq!(stored.status, TaskStatus::Completed);
        assert_eq!(stored.session_id.as_deref(), Some("sess-1"));
        assert_eq!(world.state.agents[&world.agent].status, "idle");
        // The output became an agent comment.
        let view = world.state.issue_view(&world.state.issues[&issue]);
        assert_eq!(view.comments.len(), 1);
        assert_eq!(view.comments[0].author_type, "agent");
        assert_eq!(view.comments[0].content, "done");
    }

    #[test]
    fn complete_requires_running_and_fail_requires_in_flight() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("fix", "none");
        assert_eq!(
            world
                .state
                .complete_task(task, &CompleteInput::default(), world.now)
                .err(),
            Some(NoRows)
        );
        assert_eq!(
            world
                .state
                .fail_task(task, "x", &FailureDetails::default(), false, world.now)
                .err(),
            Some(NoRows)
        );
        world.state.claim_for_runtime(world.runtime, world.now);
        let failed = world
            .state
            .fail_task(task, "", &FailureDetails::default(), false, world.now)
            .expect("fail dispatched");
        assert_eq!(failed.error.as_deref(), Some(""));
        assert_eq!(
            world
                .state
                .fail_task(task, "x", &FailureDetails::default(), false, world.now)
                .err(),
            Some(NoRows)
        );
    }

    #[test]
    fn complete_after_cancel_is_refused() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("fix", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world.state.start_task(task, world.now).expect("start");
        world.state.cancel_task(task, world.now).expect("cancel");
        assert!(world.state.tasks[&task].completed_at.is_some());
        assert_eq!(
            world
                .state
                .complete_task(task, &CompleteInput::default(), world.now)
                .err(),
            Some(NoRows)
        );
        assert_eq!(world.state.cancel_task(task, world.now).err(), Some(NoRows));
    }

    #[test]
    fn fail_posts_a_system_comment_in_reply_to_the_trigger() {
        let mut world = World::new();
        let (issue, first) = world.assigned_issue("fix", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world.state.start_task(first, world.now).expect("start");
        let trigger = world
            .state
            .add_comment(
                issue,
                &NewComment {
                    content: "again".into(),
                    ..NewComment::default()
                },
                world.now,
            )
            .expect("comment");
        complete(&mut world, first, "s", "/w");
        let second = world
            .state
            .claim_for_runtime(world.runtime, world.now)
            .expect("claim");
        world
            .state
            .fail_task(
                second,
                "agent crashed",
                &FailureDetails::default(),
                false,
                world.now,
            )
            .expect("fail");
        let view = world.state.issue_view(&world.state.issues[&issue]);
        let system = view
            .comments
            .iter()
            .find(|c| c.kind == "system")
            .expect("system comment");
        assert_eq!(system.content, "agent crashed");
        assert_eq!(system.parent_id, Some(trigger.to_string()));
    }

    #[test]
    fn claim_orders_by_priority_then_age() {
        let mut world = World::new();
        world
            .state
            .update_agent(
                &world.agent.to_string(),
                &AgentPatch {
                    max_concurrent_tasks: Some(5),
                    ..AgentPatch::default()
                },
                world.now,
            )
            .expect("patch");
        let (_, low) = world.assigned_issue("low", "low");
        world.tick(1);
        let (_, urgent) = world.assigned_issue("urgent", "urgent");
        world.tick(1);
        let (_, low_later) = world.assigned_issue("low2", "low");
        let order: Vec<Uuid> = (0..3)
            .filter_map(|_| world.state.claim_for_runtime(world.runtime, world.now))
            .collect();
        assert_eq!(order, vec![urgent, low, low_later]);
    }

    #[test]
    fn max_concurrent_tasks_limits_claims() {
        let mut world = World::new();
        let (_, first) = world.assigned_issue("a", "none");
        let (_, second) = world.assigned_issue("b", "none");
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            Some(first)
        );
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            None
        );
        world.state.start_task(first, world.now).expect("start");
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            None
        );
        complete(&mut world, first, "", "");
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            Some(second)
        );
    }

    #[test]
    fn tasks_of_one_issue_run_one_at_a_time() {
        let mut world = World::new();
        world
            .state
            .update_agent(
                &world.agent.to_string(),
                &AgentPatch {
                    max_concurrent_tasks: Some(5),
                    ..AgentPatch::default()
                },
                world.now,
            )
            .expect("patch");
        let (issue, first) = world.assigned_issue("a", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world.state.start_task(first, world.now).expect("start");
        // While the first runs, a comment queues a second task for the same issue.
        world
            .state
            .add_comment(
                issue,
                &NewComment {
                    content: "more".into(),
                    ..NewComment::default()
                },
                world.now,
            )
            .expect("comment");
        let (_, other_issue_task) = world.assigned_issue("b", "none");
        // Only the other issue's task can be claimed.
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            Some(other_issue_task)
        );
        assert_eq!(
            world.state.claim_for_runtime(world.runtime, world.now),
            None
        );
        complete(&mut world, first, "", "");
        assert!(
            world
                .state
                .claim_for_runtime(world.runtime, world.now)
                .is_some()
        );
    }

    #[test]
    fn claim_may_dispatch_a_task_of_another_runtime_without_returning_it() {
        let mut world = World::new();
        let (_, task_on_a) = world.assigned_issue("a", "urgent");
        // The agent moves to runtime B; a new task is enqueued there.
        let runtime_b = world
            .state
            .upsert_runtime(
                world.workspace,
                &RuntimeInput {
                    daemon_id: Some("other-host".into()),
                    provider: "claude".into(),
                    ..RuntimeInput::default()
                },
                world.now,
            )
            .id;
        world
            .state
            .update_agent(
                &world.agent.to_string(),
                &AgentPatch {
                    runtime_id: Some(runtime_b.to_string()),
                    max_concurrent_tasks: Some(2),
                    ..AgentPatch::default()
                },
                world.now,
            )
            .expect("patch");
        let (_, task_on_b) = world.assigned_issue("b", "none");
        // Runtime B claims: the agent's best task is the urgent one on runtime A.
        assert_eq!(world.state.claim_for_runtime(runtime_b, world.now), None);
        assert_eq!(world.state.tasks[&task_on_a].status, TaskStatus::Dispatched);
        assert_eq!(world.state.tasks[&task_on_b].status, TaskStatus::Queued);
        assert_eq!(
            world.state.claim_for_runtime(runtime_b, world.now),
            Some(task_on_b)
        );
    }

    #[test]
    fn prior_session_comes_from_the_latest_completed_task() {
        let mut world = World::new();
        let (issue, first) = world.assigned_issue("a", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        let body = world.state.claimed_body(first).expect("body");
        assert_eq!(body.prior_session_id, None);
        assert_eq!(body.workspace_id, world.workspace.to_string());
        world.state.start_task(first, world.now).expect("start");
        complete(&mut world, first, "sess-1", "/w/1");
        world.tick(1);
        let second = world
            .state
            .assign_issue(issue, Some(world.agent), world.now)
            .expect("rerun")
            .expect("task");
        world.state.claim_for_runtime(world.runtime, world.now);
        let body = world.state.claimed_body(second).expect("body");
        assert_eq!(body.prior_session_id.as_deref(), Some("sess-1"));
        assert_eq!(body.prior_work_dir.as_deref(), Some("/w/1"));
        // A completed task without a session does not hide the older one.
        world.state.start_task(second, world.now).expect("start");
        complete(&mut world, second, "", "");
        let third = world
            .state
            .assign_issue(issue, Some(world.agent), world.now)
            .expect("rerun")
            .expect("task");
        world.state.claim_for_runtime(world.runtime, world.now);
        let body = world.state.claimed_body(third).expect("body");
        assert_eq!(body.prior_session_id.as_deref(), Some("sess-1"));
    }

    #[test]
    fn claim_body_carries_agent_skills_and_repos() {
        let mut world = World::new();
        let other = world
            .state
            .create_agent(
                &NewAgent {
                    workspace_id: world.workspace.to_string(),
                    runtime_id: world.runtime.to_string(),
                    name: "Skilled".into(),
                    instructions: "be brief".into(),
                    skills: vec![crate::views::SkillSpec {
                        name: "review".into(),
                        content: "# Review".into(),
                        files: vec![crate::views::SkillFileSpec {
                            path: "a.md".into(),
                            content: "x".into(),
                        }],
                    }],
                    ..NewAgent::default()
                },
                world.now,
            )
            .expect("agent")
            .id;
        let issue = world.issue("x", "none");
        let task = world
            .state
            .assign_issue(issue, Some(other), world.now)
            .expect("assign")
            .expect("task");
        let body = world.state.claimed_body(task).expect("body");
        let agent = body.agent.expect("agent");
        assert_eq!(agent.instructions, "be brief");
        assert_eq!(agent.skills[0].files[0].path, "a.md");
        assert!(body.repos.is_empty());
    }

    #[test]
    fn messages_keep_arrival_order_and_list_by_seq() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("a", "none");
        let id = task.to_string();
        let message = |seq: i64, content: &str| MessageInput {
            seq,
            kind: "text".into(),
            content: content.into(),
            ..MessageInput::default()
        };
        world
            .state
            .record_messages(
                &id,
                &[message(2, "b"), message(1, "a"), message(2, "b")],
                world.now,
            )
            .expect("known task");
        let stored = &world.state.tasks[&task].messages;
        assert_eq!(
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![2, 1, 2]
        );
        let listed = world.state.list_messages(&id, None).expect("known");
        assert_eq!(
            listed.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 2]
        );
        let since = world.state.list_messages(&id, Some(1)).expect("known");
        assert_eq!(since.len(), 2);
        assert_eq!(
            world
                .state
                .record_messages("nope", &[message(1, "x")], world.now),
            Err(NoRows)
        );
    }

    #[test]
    fn sweeper_marks_stale_runtimes_offline_and_fails_their_tasks() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("a", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world.tick(40);
        assert!(world.state.sweep(world.now).is_empty());
        world.tick(10);
        let report = world.state.sweep(world.now);
        assert_eq!(
            report.runtimes_marked_offline,
            vec![world.runtime.to_string()]
        );
        assert_eq!(report.tasks_failed_offline, vec![task.to_string()]);
        assert_eq!(
            world.state.tasks[&task].error.as_deref(),
            Some("runtime went offline")
        );
        assert_eq!(world.state.agents[&world.agent].status, "idle");
    }

    #[test]
    fn sweeper_times_out_dispatched_and_running_tasks() {
        let mut world = World::new();
        world
            .state
            .update_agent(
                &world.agent.to_string(),
                &AgentPatch {
                    max_concurrent_tasks: Some(5),
                    ..AgentPatch::default()
                },
                world.now,
            )
            .expect("patch");
        let (_, dispatched) = world.assigned_issue("a", "none");
        let (_, running) = world.assigned_issue("b", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world.state.claim_for_runtime(world.runtime, world.now);
        world.state.start_task(running, world.now).expect("start");
        let runtime = world.runtime.to_string();
        for _ in 0..11 {
            world.tick(30);
            world.state.heartbeat(&runtime, world.now);
        }
        let report = world.state.sweep(world.now);
        assert_eq!(report.tasks_timed_out, vec![dispatched.to_string()]);
        assert_eq!(world.state.tasks[&running].status, TaskStatus::Running);
        for _ in 0..300 {
            world.tick(30);
            world.state.heartbeat(&runtime, world.now);
        }
        let report = world.state.sweep(world.now);
        assert_eq!(report.tasks_timed_out, vec![running.to_string()]);
        assert_eq!(
            world.state.tasks[&running].error.as_deref(),
            Some("task timed out")
        );
    }

    #[test]
    fn deregistered_runtime_tasks_fail_only_when_some_runtime_goes_stale() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("a", "none");
        world.state.claim_for_runtime(world.runtime, world.now);
        world
            .state
            .deregister(&[world.runtime.to_string(), "junk".into()], world.now);
        world.tick(100);
        // The deregistered runtime is already offline: nothing goes stale.
        assert!(world.state.sweep(world.now).tasks_failed_offline.is_empty());
        assert_eq!(world.state.tasks[&task].status, TaskStatus::Dispatched);
        // Another runtime going stale triggers the offline-task cleanup for all.
        world.state.upsert_runtime(
            world.workspace,
            &RuntimeInput {
                daemon_id: Some("second".into()),
                provider: "codex".into(),
                ..RuntimeInput::default()
            },
            world.now,
        );
        world.tick(100);
        let report = world.state.sweep(world.now);
        assert_eq!(report.tasks_failed_offline, vec![task.to_string()]);
    }
}
