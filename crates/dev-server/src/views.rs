//! The plain data of the admin API: what tests send ([`NewUser`], [`NewIssue`], …)
//! and what they read back ([`TaskView`], [`IssueView`], …). The same structs are
//! the JSON bodies of the `/dev/…` HTTP routes.

use std::fmt;

use multica_api::wire::{AgentRuntime, TaskStatus, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why an admin call was refused. Over HTTP: 404, 400 or 409 with `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("{kind} not found: {id}")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

impl AdminError {
    pub(crate) fn not_found(kind: &'static str, id: impl fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// Inputs

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepoSpec {
    pub url: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewWorkspace {
    pub name: String,
    /// Derived from the name when absent.
    pub slug: Option<String>,
    /// Derived from the name like the seed does (`"Demo"` → `DEM`) when absent.
    pub issue_prefix: Option<String>,
    pub description: Option<String>,
    pub context: Option<String>,
    /// Users that become members (role `owner` for the first, `member` after).
    pub member_user_ids: Vec<String>,
    pub repos: Vec<RepoSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkillFileSpec {
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkillSpec {
    pub name: String,
    pub content: String,
    pub files: Vec<SkillFileSpec>,
}

/// One entry of an agent's trigger configuration (`on_assign`, `on_comment`,
/// `on_mention`). A type that is not listed is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TriggerSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewAgent {
    pub workspace_id: String,
    /// The runtime the agent runs on; it must exist (a daemon registered it, or
    /// [`Admin::register_runtime`](crate::Admin::register_runtime) created it).
    pub runtime_id: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub skills: Vec<SkillSpec>,
    /// Default 1.
    pub max_concurrent_tasks: Option<i32>,
    pub triggers: Option<Vec<TriggerSpec>>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentPatch {
    pub runtime_id: Option<String>,
    pub name: Option<String>,
    pub instructions: Option<String>,
    pub skills: Option<Vec<SkillSpec>>,
    pub max_concurrent_tasks: Option<i32>,
    pub triggers: Option<Vec<TriggerSpec>>,
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewIssue {
    pub workspace_id: String,
    pub title: String,
    pub description: Option<String>,
    /// `urgent|high|medium|low|none`; default `none`.
    pub priority: Option<String>,
    /// Default `todo`.
    pub status: Option<String>,
    /// The creating member; default the workspace's first member.
    pub creator_user_id: Option<String>,
    /// Assign at creation (enqueues a task like an assignment does).
    pub assignee_agent_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssignIssue {
    /// `None` unassigns (and cancels the issue's active tasks).
    pub agent_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewComment {
    pub content: String,
    /// The member writing it; default the issue's creator.
    pub author_user_id: Option<String>,
    /// Write it as this agent instead (agent comments never trigger tasks).
    pub author_agent_id: Option<String>,
    pub parent_id: Option<String>,
    /// Default `comment`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A runtime row created the way `POST /api/daemon/register` creates one, for tests
/// that set up agents before the daemon starts. A later registration with the same
/// `(workspace_id, daemon_id, provider)` keeps its ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeSpec {
    pub workspace_id: String,
    pub daemon_id: String,
    pub provider: String,
    pub name: Option<String>,
    pub device_name: String,
    pub version: String,
    pub cli_version: String,
    /// `offline` creates it offline; anything else means online.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeartbeatActions {
    pub runtime_id: String,
    /// Queue a ping (`pending_ping` on the next heartbeat).
    pub ping: bool,
    /// Queue an update to this version (`pending_update`); 409 while one is pending
    /// or running, as the seed answers.
    pub update_target_version: Option<String>,
}

/// Makes matching `/api` requests fail or slow down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSpec {
    /// `GET`, `POST`, …; any method when absent.
    pub method: Option<String>,
    /// Matches when the request path contains this text (`""` matches all).
    pub path_contains: String,
    /// The status to answer with. Absent: the request proceeds normally after the
    /// delay.
    pub status: Option<u16>,
    /// The body to answer with, verbatim; default `{"error":"injected fault"}` and a
    /// newline, like a handler error.
    pub body: Option<String>,
    /// Default `application/json` when the body parses as JSON, else
    /// `text/plain; charset=utf-8`.
    pub content_type: Option<String>,
    /// How many requests this applies to; default 1, `0` means every one.
    pub times: Option<u32>,
    /// Wait this long before answering (or before handling, without `status`).
    pub delay_ms: u64,
}

// ---------------------------------------------------------------------------
// Outputs

/// A user and a fresh personal access token (`mul_…`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWithToken {
    pub id: String,
    pub name: String,
    pub email: String,
    pub token: String,
}

impl fmt::Debug for UserWithToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserWithToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub user_id: String,
    /// What the token was created as (`CLI (host)`); empty for admin-made tokens.
    #[serde(default)]
    pub name: String,
    pub token: String,
    pub revoked: bool,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl fmt::Debug for TokenView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenView")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("revoked", &self.revoked)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub workspace_id: String,
    pub runtime_id: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    /// `idle` or `working`.
    pub status: String,
    pub max_concurrent_tasks: i32,
    pub skills: Vec<SkillSpec>,
    pub triggers: Option<Vec<TriggerSpec>>,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentView {
    pub id: String,
    pub issue_id: String,
    /// `member` or `agent`.
    pub author_type: String,
    pub author_id: String,
    pub content: String,
    /// `comment` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub parent_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueView {
    pub id: String,
    pub workspace_id: String,
    pub number: i32,
    /// `<prefix>-<number>`, e.g. `DEMO-1`.
    pub identifier: String,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub priority: String,
    pub assignee_type: Option<String>,
    pub assignee_id: Option<String>,
    pub creator_type: String,
    pub creator_id: String,
    #[serde(default)]
    pub due_date: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Oldest first.
    pub comments: Vec<CommentView>,
    /// Changes made through `PUT /api/issues/{id}`, oldest first.
    #[serde(default)]
    pub history: Vec<IssueChangeView>,
}

/// One field of an issue changed through the user API, and who changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueChangeView {
    pub field: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    /// `member` or `agent`.
    pub actor_type: String,
    pub actor_id: String,
    pub at: String,
}

/// A transcript message as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// 1-based position among this task's messages, in arrival order.
    pub arrival: u64,
    pub seq: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub tool: Option<String>,
    pub content: Option<String>,
    pub input: Option<Value>,
    pub output: Option<String>,
    /// Millisecond precision.
    pub received_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRecord {
    pub task_id: String,
    pub summary: String,
    pub step: i64,
    pub total: i64,
    /// Millisecond precision.
    pub received_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub runtime_id: String,
    pub date: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Everything the server knows about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub agent_id: String,
    pub runtime_id: String,
    pub issue_id: String,
    pub workspace_id: String,
    pub status: TaskStatus,
    pub priority: i32,
    pub created_at: String,
    pub dispatched_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// What `complete` stored: `{"output","pr_url","session_id","work_dir"}`.
    pub result: Option<Value>,
    pub error: Option<String>,
    /// Current mode: the reason the daemon gave for a failure.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// 1 for a first run; a retry of a failed task counts on.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The failed task this one retries.
    #[serde(default)]
    pub retry_of_task_id: Option<String>,
    pub session_id: Option<String>,
    pub work_dir: Option<String>,
    pub trigger_comment_id: Option<String>,
    /// In arrival order (duplicates kept).
    pub messages: Vec<MessageRecord>,
    /// In arrival order.
    pub progress: Vec<ProgressRecord>,
    /// The usage rows of the task's runtime (the seed records usage per runtime,
    /// day, provider and model, not per task).
    pub runtime_usage: Vec<UsageRecord>,
    /// The lifecycle times with millisecond precision (the API's have seconds),
    /// for measurements.
    #[serde(default)]
    pub timings: TaskTimings,
}

fn first_attempt() -> u32 {
    1
}

/// RFC 3339 with milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskTimings {
    pub created_at: String,
    pub dispatched_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// A ping or update of the runtime action stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeActionView {
    pub id: String,
    pub runtime_id: String,
    /// `pending`, `running`, `completed`, `failed` or `timeout`.
    pub status: String,
    pub target_version: Option<String>,
    pub output: String,
    pub error: String,
    pub duration_ms: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatActionsQueued {
    pub ping: Option<RuntimeActionView>,
    pub update: Option<RuntimeActionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultView {
    pub id: u64,
    pub spec: FaultSpec,
    /// Requests it still applies to (`None`: unlimited; `Some(0)`: used up, kept
    /// in the list so tests can check it was hit).
    pub remaining: Option<u32>,
    /// Requests it has applied to so far.
    pub hits: u64,
}

/// One `/api` request as the server answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// 1-based, in order of arrival.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// Whether an injected fault answered it.
    pub fault: bool,
    /// The request body: parsed JSON, or the text when it is not JSON.
    pub body: Option<Value>,
    /// Millisecond precision.
    pub received_at: String,
}

/// What one sweep changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub runtimes_marked_offline: Vec<String>,
    /// Failed with `runtime went offline`.
    pub tasks_failed_offline: Vec<String>,
    /// Failed with `task timed out`.
    pub tasks_timed_out: Vec<String>,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        self.runtimes_marked_offline.is_empty()
            && self.tasks_failed_offline.is_empty()
            && self.tasks_timed_out.is_empty()
    }
}

/// The demo data of `multica dev-server --demo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoSeed {
    pub user: UserWithToken,
    pub workspace: Workspace,
}

/// A user as listed in the state dump (tokens are listed separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
}

/// Everything, for `GET /dev/state` and debugging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDump {
    pub now: String,
    pub users: Vec<UserView>,
    pub tokens: Vec<TokenView>,
    pub workspaces: Vec<Workspace>,
    pub members: Vec<MemberView>,
    pub runtimes: Vec<AgentRuntime>,
    pub agents: Vec<AgentView>,
    pub issues: Vec<IssueView>,
    pub tasks: Vec<TaskView>,
    /// Every progress report in arrival order, including those for unknown tasks.
    pub progress: Vec<ProgressRecord>,
    pub usage: Vec<UsageRecord>,
    pub pings: Vec<RuntimeActionView>,
    pub updates: Vec<RuntimeActionView>,
    pub faults: Vec<FaultView>,
    pub request_count: u64,
}
