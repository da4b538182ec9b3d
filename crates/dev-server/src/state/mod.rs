//! The server's tables, in memory, and the operations on them.
//!
//! Everything here is synchronous and takes the current time as an argument, so the
//! state machine can be tested without a clock or a socket. The HTTP layer locks
//! one [`State`] and calls these operations, one per request, as the seed's SQL
//! statements would run in one transaction.

mod current;
mod directory;
mod issues;
mod retries;
mod runtimes;
mod tasks;
mod user_api;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use multica_api::wire::TaskStatus;
use serde_json::{Map, Value};
use uuid::Uuid;

pub(crate) use directory::parse_id;
pub(crate) use retries::FailureDetails;
pub(crate) use runtimes::{RuntimeInput, UsageInput};
pub(crate) use tasks::{CompleteInput, MessageInput, NoRows, TaskBody, progress_record, task_body};
pub(crate) use user_api::{
    Actor, CommentPage, CommentRequest, IssueFilter, NewAttachment, Refusal,
};

use crate::views::SkillSpec;

/// Timings and switches of the state machine (a copy of the relevant parts of
/// [`DevServerConfig`](crate::DevServerConfig)).
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) runtime_stale_after: chrono::TimeDelta,
    pub(crate) dispatched_timeout: chrono::TimeDelta,
    pub(crate) running_timeout: chrono::TimeDelta,
    pub(crate) ping_timeout: chrono::TimeDelta,
    pub(crate) ping_expiry: chrono::TimeDelta,
    pub(crate) update_timeout: chrono::TimeDelta,
    pub(crate) update_expiry: chrono::TimeDelta,
    pub(crate) redact_secrets: bool,
    /// Seed: a runtime that goes offline fails its running tasks at once.
    pub(crate) offline_fails_tasks: bool,
}

impl Rules {
    pub(crate) fn from_config(config: &crate::DevServerConfig) -> Self {
        use crate::config::delta;
        Self {
            runtime_stale_after: delta(config.runtime_stale_after),
            dispatched_timeout: delta(config.dispatched_timeout),
            running_timeout: delta(config.running_timeout),
            ping_timeout: delta(config.ping_timeout),
            ping_expiry: delta(config.ping_expiry),
            update_timeout: delta(config.update_timeout),
            update_expiry: delta(config.update_expiry),
            redact_secrets: config.redact_secrets,
            offline_fails_tasks: config.mode == crate::ServerMode::Seed,
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        if self.redact_secrets {
            crate::redact::text(text)
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn redact_map(&self, input: &Map<String, Value>) -> Map<String, Value> {
        if self.redact_secrets {
            crate::redact::input_map(input)
        } else {
            input.clone()
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::from_config(&crate::DevServerConfig::default())
    }
}

// ---------------------------------------------------------------------------
// Rows

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) name: String,
    pub(crate) revoked: bool,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) url: String,
    pub(crate) description: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) description: Option<String>,
    pub(crate) context: Option<String>,
    pub(crate) settings: Value,
    pub(crate) repos: Vec<Repo>,
    pub(crate) issue_prefix: String,
    pub(crate) issue_counter: i32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: Uuid,
    pub(crate) workspace_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) role: String,
    pub(crate) created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) workspace_id: Uuid,
    pub(crate) daemon_id: Option<String>,
    pub(crate) name: String,
    pub(crate) runtime_mode: String,
    pub(crate) provider: String,
    pub(crate) online: bool,
    pub(crate) device_info: String,
    pub(crate) metadata: Value,
    pub(crate) last_seen_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub(crate) kind: String,
    pub(crate) enabled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) workspace_id: Uuid,
    pub(crate) runtime_id: Uuid,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) instructions: String,
    /// `idle` or `working`, reconciled after every task transition.
    pub(crate) status: String,
    pub(crate) max_concurrent_tasks: i32,
    pub(crate) skills: Vec<SkillSpec>,
    /// `None` (or empty) means every trigger is enabled, as in the seed.
    pub(crate) triggers: Option<Vec<Trigger>>,
    pub(crate) archived_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl Agent {
    /// `agentHasTriggerEnabled`.
    pub(crate) fn trigger_enabled(&self, kind: &str) -> bool {
        match &self.triggers {
            None => true,
            Some(triggers) => triggers
                .iter()
                .find(|trigger| trigger.kind == kind)
                .is_none_or(|trigger| trigger.enabled),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) workspace_id: Uuid,
    pub(crate) number: i32,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) assignee_type: Option<String>,
    pub(crate) assignee_id: Option<Uuid>,
    pub(crate) creator_type: String,
    pub(crate) creator_id: Uuid,
    pub(crate) due_date: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl Issue {
    /// The agent this issue is assigned to, if it is assigned to an agent.
    pub(crate) fn assignee_agent(&self) -> Option<Uuid> {
        match (self.assignee_type.as_deref(), self.assignee_id) {
            (Some("agent"), Some(id)) => Some(id),
            _ => None,
        }
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.status == "done" || self.status == "cancelled"
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) issue_id: Uuid,
    pub(crate) author_type: String,
    pub(crate) author_id: Uuid,
    pub(crate) content: String,
    pub(crate) kind: String,
    pub(crate) parent_id: Option<Uuid>,
    pub(crate) created_at: DateTime<Utc>,
}

/// An uploaded file. The bytes stay in memory; `GET /dev/files/{id}` serves them.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub(crate) id: Uuid,
    /// `None` for an upload without `X-Workspace-ID` (the seed's `{filename,link}`).
    pub(crate) workspace_id: Option<Uuid>,
    pub(crate) issue_id: Option<Uuid>,
    pub(crate) comment_id: Option<Uuid>,
    pub(crate) uploader_type: String,
    pub(crate) uploader_id: Uuid,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) bytes: std::sync::Arc<[u8]>,
    pub(crate) created_at: DateTime<Utc>,
}

/// One field of an issue changed through `PUT /api/issues/{id}`, and by whom (the
/// seed's activity log, which is how a test sees that an agent made the change).
#[derive(Debug, Clone)]
pub(crate) struct IssueChange {
    pub(crate) issue_id: Uuid,
    pub(crate) actor_type: String,
    pub(crate) actor_id: Uuid,
    pub(crate) field: String,
    pub(crate) from: Value,
    pub(crate) to: Value,
    pub(crate) at: DateTime<Utc>,
}

/// A transcript message as stored (`task_message`).
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    /// Position among all messages of the task, in arrival order.
    pub(crate) arrival: u64,
    pub(crate) seq: i32,
    pub(crate) kind: String,
    pub(crate) tool: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) input: Option<Map<String, Value>>,
    pub(crate) output: Option<String>,
    pub(crate) received_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) agent_id: Uuid,
    pub(crate) runtime_id: Uuid,
    pub(crate) issue_id: Uuid,
    pub(crate) status: TaskStatus,
    pub(crate) priority: i32,
    pub(crate) dispatched_at: Option<DateTime<Utc>>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<String>,
    /// Current servers: why it failed, in the failure taxonomy.
    pub(crate) failure_reason: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) session_id: Option<String>,
    pub(crate) work_dir: Option<String>,
    pub(crate) trigger_comment_id: Option<Uuid>,
    pub(crate) messages: Vec<StoredMessage>,
    /// 1 for a task's first run; a retry of a failed task counts on.
    pub(crate) attempt: u32,
    /// The failed task this one retries.
    pub(crate) retry_of: Option<Uuid>,
}

impl Task {
    /// Queued or dispatched: what the one-pending-task-per-issue index covers.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.status, TaskStatus::Queued | TaskStatus::Dispatched)
    }

    /// Dispatched or running: what counts against `max_concurrent_tasks`.
    pub(crate) fn is_in_flight(&self) -> bool {
        matches!(self.status, TaskStatus::Dispatched | TaskStatus::Running)
    }

    pub(crate) fn is_active(&self) -> bool {
        self.is_pending() || self.status == TaskStatus::Running
    }
}

/// A progress report. The seed only broadcasts these; they are kept here for tests,
/// including those for tasks that do not exist.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// The task ID exactly as it appeared in the URL.
    pub(crate) task_id: String,
    pub(crate) summary: String,
    pub(crate) step: i64,
    pub(crate) total: i64,
    pub(crate) received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UsageKey {
    pub(crate) runtime_id: Uuid,
    pub(crate) date: NaiveDate,
    pub(crate) provider: String,
    pub(crate) model: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Usage {
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cache_read_tokens: i64,
    pub(crate) cache_write_tokens: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// A ping or update request of the in-memory stores (`PingStore`, `UpdateStore`).
#[derive(Debug, Clone)]
pub(crate) struct RuntimeAction {
    pub(crate) id: String,
    /// The runtime ID as the store got it (compared as a string, like the seed).
    pub(crate) runtime_id: String,
    /// `pending`, `running`, `completed`, `failed` (reads as `timeout` when late).
    pub(crate) status: String,
    pub(crate) target_version: Option<String>,
    pub(crate) output: String,
    pub(crate) error: String,
    pub(crate) duration_ms: i64,
    pub(crate) seq: u64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------

/// All tables.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) rules: Rules,
    next_seq: u64,
    pub(crate) users: HashMap<Uuid, User>,
    /// Keyed by the token text (the seed keys by its hash; nothing here is persisted).
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) workspaces: HashMap<Uuid, Workspace>,
    pub(crate) members: Vec<Member>,
    pub(crate) runtimes: HashMap<Uuid, Runtime>,
    pub(crate) agents: HashMap<Uuid, Agent>,
    pub(crate) issues: HashMap<Uuid, Issue>,
    pub(crate) comments: HashMap<Uuid, Comment>,
    pub(crate) attachments: HashMap<Uuid, Attachment>,
    pub(crate) issue_changes: Vec<IssueChange>,
    pub(crate) tasks: HashMap<Uuid, Task>,
    pub(crate) progress: Vec<Progress>,
    pub(crate) usage: HashMap<UsageKey, Usage>,
    pub(crate) pings: HashMap<String, RuntimeAction>,
    pub(crate) updates: HashMap<String, RuntimeAction>,
    /// Current mode: `mat_` tokens minted per claim, by token text.
    pub(crate) task_tokens: HashMap<String, TaskToken>,
    /// Current mode: `POST /tasks/{id}/usage`, in arrival order.
    pub(crate) task_usage: Vec<TaskUsageRecord>,
    /// Current mode: tasks whose cancel the daemon acknowledged.
    pub(crate) cancel_acks: Vec<Uuid>,
}

/// A task-scoped agent token (`mat_…`): acts as the user who claimed the task,
/// until the task completes or fails.
#[derive(Debug, Clone)]
pub(crate) struct TaskToken {
    pub(crate) task_id: Uuid,
    pub(crate) user_id: Uuid,
}

/// One row of per-task usage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskUsageRecord {
    pub task_id: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
}

/// Counts only: the tables hold tokens, which must not reach logs.
impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .field("workspaces", &self.workspaces.len())
            .field("runtimes", &self.runtimes.len())
            .field("agents", &self.agents.len())
            .field("issues", &self.issues.len())
            .field("comments", &self.comments.len())
            .field("tasks", &self.tasks.len())
            .field("task_tokens", &self.task_tokens.len())
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn new(rules: Rules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// A strictly increasing number: the tie-breaker wherever the seed orders by a
    /// timestamp (Postgres keeps microseconds; equal ones keep insertion order here).
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn is_member(&self, user_id: Uuid, workspace_id: Uuid) -> bool {
        self.members
            .iter()
            .any(|m| m.user_id == user_id && m.workspace_id == workspace_id)
    }

    /// `ReconcileAgentStatus`: `working` while the agent has dispatched or running
    /// tasks, `idle` otherwise.
    pub(crate) fn reconcile_agent_status(&mut self, agent_id: Uuid, now: DateTime<Utc>) {
        let in_flight = self.count_in_flight(agent_id);
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.status = if in_flight > 0 { "working" } else { "idle" }.to_owned();
            agent.updated_at = now;
        }
    }

    pub(crate) fn count_in_flight(&self, agent_id: Uuid) -> usize {
        self.tasks
            .values()
            .filter(|t| t.agent_id == agent_id && t.is_in_flight())
            .count()
    }

    /// `createAgentComment` of the task service: an agent-authored comment, skipped
    /// when the (redacted) content is empty or the issue is gone.
    pub(crate) fn post_agent_comment(
        &mut self,
        issue_id: Uuid,
        agent_id: Uuid,
        content: &str,
        kind: &str,
        parent_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Option<Uuid> {
        let content = self.rules.redact(content);
        if content.is_empty() || !self.issues.contains_key(&issue_id) {
            return None;
        }
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        self.comments.insert(
            id,
            Comment {
                id,
                seq,
                issue_id,
                author_type: "agent".to_owned(),
                author_id: agent_id,
                content,
                kind: kind.to_owned(),
                parent_id,
                created_at: now,
            },
        );
        Some(id)
    }
}

/// `priorityToInt`.
pub(crate) fn priority_to_int(priority: &str) -> i32 {
    match priority {
        "urgent" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small world for the unit tests of the state machine.

    use super::*;
    use crate::views::{NewAgent, NewIssue, NewUser, NewWorkspace};

    pub(crate) struct World {
        pub(crate) state: State,
        pub(crate) now: DateTime<Utc>,
        pub(crate) workspace: Uuid,
        pub(crate) runtime: Uuid,
        pub(crate) agent: Uuid,
    }

    impl World {
        pub(crate) fn new() -> Self {
            let mut state = State::new(Rules::default());
            let now = Utc::now();
            let user = state
                .create_user(
                    &NewUser {
                        name: "Ada".into(),
                        email: "ada@example.com".into(),
                    },
                    now,
                )
                .0;
            let workspace = state
                .create_workspace(
                    &NewWorkspace {
                        name: "Test".into(),
                        member_user_ids: vec![user.to_string()],
                        ..NewWorkspace::default()
                    },
                    now,
                )
                .expect("workspace")
                .id;
            let runtime = state
                .upsert_runtime(
                    workspace,
                    &RuntimeInput {
                        daemon_id: Some("host".into()),
                        provider: "claude".into(),
                        ..RuntimeInput::default()
                    },
                    now,
                )
                .id;
            let agent = state
                .create_agent(
                    &NewAgent {
                        workspace_id: workspace.to_string(),
                        runtime_id: runtime.to_string(),
                        name: "Claude".into(),
                        ..NewAgent::default()
                    },
                    now,
                )
                .expect("agent")
                .id;
            Self {
                state,
                now,
                workspace,
                runtime,
                agent,
            }
        }

        pub(crate) fn issue(&mut self, title: &str, priority: &str) -> Uuid {
            self.state
                .create_issue(
                    &NewIssue {
                        workspace_id: self.workspace.to_string(),
                        title: title.into(),
                        priority: Some(priority.into()),
                        ..NewIssue::default()
                    },
                    self.now,
                )
                .expect("issue")
                .id
        }

        /// Creates an issue assigned to the default agent; returns it and its task.
        pub(crate) fn assigned_issue(&mut self, title: &str, priority: &str) -> (Uuid, Uuid) {
            let issue = self.issue(title, priority);
            let task = self
                .state
                .assign_issue(issue, Some(self.agent), self.now)
                .expect("assign")
                .expect("a task is enqueued");
            (issue, task)
        }

        pub(crate) fn tick(&mut self, seconds: i64) {
            self.now += chrono::TimeDelta::seconds(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::World;

    #[test]
    fn debug_output_hides_tokens() {
        let mut world = World::new();
        let (_, token) = world
            .state
            .create_user(&crate::views::NewUser::default(), world.now);
        let text = format!("{:?}", world.state);
        assert!(!text.contains(&token), "{text}");
        assert!(text.contains("tokens: 2"), "{text}");
    }
}
