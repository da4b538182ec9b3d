//! JSON shapes of the Multica server's daemon API (contract Part A, seed `9495179923`).
//!
//! These types are the boundary: the engine converts them into its own types and the
//! dev server produces them. Every response type is lenient (`#[serde(default)]`,
//! unknown fields ignored) because newer servers add fields and older ones omit them.
//! Requests skip empty optional fields, as the Go daemon does, so that strict servers
//! see exactly the bodies they were written for.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The issue statuses the server accepts in `PUT /api/issues/{id}` (contract A.6).
pub const ISSUE_STATUSES: [&str; 7] = [
    "backlog",
    "todo",
    "in_progress",
    "in_review",
    "done",
    "blocked",
    "cancelled",
];

/// Task statuses of the server's state machine (contract A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Dispatched,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// A status this client does not know (a newer server's), kept so that parsing
    /// never fails on it. `WaitingLocalDirectory` of Part B lands here too.
    #[serde(other)]
    Unknown,
}

impl TaskStatus {
    /// Whether the task can no longer change (the agent must stop if it still runs).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Dispatched => "dispatched",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Register / deregister / heartbeat (A.2.1 – A.2.3)

/// One agent CLI offered to a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeRegistration {
    pub name: String,
    /// Provider key: `claude`, `codex`, `opencode`, …
    #[serde(rename = "type")]
    pub provider: String,
    pub version: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub workspace_id: String,
    pub daemon_id: String,
    pub device_name: String,
    pub cli_version: String,
    pub runtimes: Vec<RuntimeRegistration>,
}

/// A runtime row as the server returns it (`AgentRuntimeResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentRuntime {
    pub id: String,
    pub workspace_id: String,
    pub daemon_id: Option<String>,
    pub name: String,
    pub runtime_mode: String,
    pub provider: String,
    pub status: String,
    pub device_info: String,
    pub metadata: Value,
    pub last_seen_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepoRef {
    pub url: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterResponse {
    pub runtimes: Vec<AgentRuntime>,
    pub repos: Vec<RepoRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeregisterRequest {
    pub runtime_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub runtime_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingPing {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingUpdate {
    pub id: String,
    pub target_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeartbeatResponse {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_ping: Option<PendingPing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_update: Option<PendingUpdate>,
}

/// `{"status":"ok"}`, the answer of most write endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusOk {
    pub status: String,
}

impl StatusOk {
    pub fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------
// Claim and the task payload (A.2.4, A.3)

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkillFile {
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Skill {
    pub name: String,
    pub content: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SkillFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskAgent {
    pub id: String,
    pub name: String,
    pub instructions: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<Skill>,
}

/// `AgentTaskResponse`: what claim, start, complete, fail and `issue runs` return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentTask {
    pub id: String,
    pub agent_id: String,
    pub runtime_id: String,
    pub issue_id: String,
    /// Filled on claim; `""` everywhere else (a seed quirk), never omitted.
    pub workspace_id: String,
    pub status: TaskStatus,
    pub priority: i32,
    pub dispatched_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<TaskAgent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<RepoRef>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior_work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_comment_id: Option<String>,
    /// Current servers: the task's own token (`mat_…`), for the agent's
    /// `MULTICA_TOKEN` instead of the user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
}

impl AgentTask {
    /// The task's `mat_` token, when the server gave one.
    pub fn task_token(&self) -> Option<&str> {
        self.auth_token
            .as_deref()
            .filter(|token| token.starts_with("mat_"))
    }
}

impl Default for AgentTask {
    fn default() -> Self {
        Self {
            id: String::new(),
            agent_id: String::new(),
            runtime_id: String::new(),
            issue_id: String::new(),
            workspace_id: String::new(),
            status: TaskStatus::Queued,
            priority: 0,
            dispatched_at: None,
            started_at: None,
            completed_at: None,
            result: None,
            error: None,
            agent: None,
            repos: Vec::new(),
            created_at: String::new(),
            prior_session_id: None,
            prior_work_dir: None,
            trigger_comment_id: None,
            auth_token: None,
        }
    }
}

/// `POST /api/daemon/tasks/claim` (current servers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchClaimRequest {
    pub daemon_id: String,
    pub runtime_ids: Vec<String>,
    pub max_tasks: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchClaimResponse {
    #[serde(default)]
    pub tasks: Vec<AgentTask>,
}

/// One model's tokens in `POST /api/daemon/tasks/{id}/usage` (current servers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUsageEntry {
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUsageRequest {
    pub usage: Vec<TaskUsageEntry>,
}

/// `POST /api/tokens/current/renew`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenewResponse {
    pub expires_at: Option<String>,
    pub renewed: bool,
}

/// `{"task": null}` when there is nothing to do, `{"task": {...}}` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimResponse {
    pub task: Option<AgentTask>,
}

// ---------------------------------------------------------------------------
// Task lifecycle (A.2.6 – A.2.12)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRequest {
    pub summary: String,
    pub step: u32,
    pub total: u32,
}

/// Kinds of transcript messages the server stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskMessageKind {
    Text,
    Thinking,
    ToolUse,
    ToolResult,
    Error,
    #[serde(other)]
    Unknown,
}

/// One transcript entry as the daemon sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: TaskMessageKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tool: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMessagesRequest {
    pub messages: Vec<TaskMessage>,
}

/// A stored transcript entry as `GET …/messages` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredTaskMessage {
    pub task_id: String,
    pub issue_id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What the daemon sends on completion. Seed servers read only `output`,
/// `pr_url`, `session_id` and `work_dir`; the rest is ignored there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompleteRequest {
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable_work_dir: Option<String>,
    /// The agent's session cannot be resumed (Codex wrote no rollout): the
    /// server forgets it instead of handing it to the next run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub session_rollout_missing: bool,
    /// A session this run abandoned (its resume was refused): never resumed again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_session_id: Option<String>,
}

/// What the daemon sends when a task fails. Seed servers read only `error`;
/// current servers retry some `failure_reason`s (`timeout`, `runtime_offline`,
/// `runtime_recovery`, a provider's network error, …) in a new task that resumes
/// `session_id` in `work_dir`, and classify the `error` text when no reason is given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailRequest {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable_work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub session_rollout_missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_session_id: Option<String>,
}

/// `POST /api/daemon/tasks/{id}/session` (current servers): the session and work
/// directory of a running task, kept so a crash or a retry can resume them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PinSessionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
}

impl FailRequest {
    /// A failure with only its words (what a seed server reads).
    pub fn because(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusResponse {
    pub status: TaskStatus,
}

// ---------------------------------------------------------------------------
// Usage, ping, update (A.2.13 – A.2.15)

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeUsageEntry {
    /// `YYYY-MM-DD`
    pub date: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeUsageRequest {
    pub entries: Vec<RuntimeUsageEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PingResultRequest {
    /// `completed` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateResultRequest {
    /// `running`, `completed` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

// ---------------------------------------------------------------------------
// Workspaces (A.2.16)

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub context: Option<String>,
    pub settings: Value,
    pub repos: Value,
    pub issue_prefix: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The body every handler error carries: `{"error": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_response_null_task_parses() {
        let parsed: ClaimResponse =
            serde_json::from_str("{\"task\":null}\n").expect("null task must parse");
        assert_eq!(parsed.task, None);
    }

    #[test]
    fn claimed_task_with_seed_shape_parses() {
        let body = r##"{"task":{"id":"t1","agent_id":"a1","runtime_id":"r1","issue_id":"i1",
            "workspace_id":"w1","status":"dispatched","priority":3,"dispatched_at":"2026-04-07T10:00:00Z",
            "started_at":null,"completed_at":null,"result":null,"error":null,
            "agent":{"id":"a1","name":"Ada","instructions":"be brief",
                     "skills":[{"name":"review","content":"# Review","files":[{"path":"a/b.md","content":"x"}]}]},
            "repos":[{"url":"https://example.com/r.git","description":"main repo"}],
            "created_at":"2026-04-07T09:59:00Z","prior_session_id":"s1","prior_work_dir":"/w/x",
            "trigger_comment_id":"c1","some_future_field":{"x":1}}}"##;
        let parsed: ClaimResponse = serde_json::from_str(body).expect("seed task must parse");
        let task = parsed.task.expect("task present");
        assert_eq!(task.status, TaskStatus::Dispatched);
        assert_eq!(task.priority, 3);
        let agent = task.agent.expect("agent present");
        assert_eq!(agent.skills[0].files[0].path, "a/b.md");
        assert_eq!(task.prior_session_id.as_deref(), Some("s1"));
        assert_eq!(task.trigger_comment_id.as_deref(), Some("c1"));
    }

    #[test]
    fn unknown_status_does_not_fail_parsing() {
        let parsed: TaskStatusResponse =
            serde_json::from_str(r#"{"status":"waiting_local_directory"}"#).expect("parse");
        assert_eq!(parsed.status, TaskStatus::Unknown);
        assert!(!parsed.status.is_terminal());
    }

    #[test]
    fn task_message_omits_empty_fields() {
        let message = TaskMessage {
            seq: 1,
            kind: TaskMessageKind::Text,
            tool: String::new(),
            content: "hello".into(),
            input: None,
            output: String::new(),
        };
        let json = serde_json::to_string(&message).expect("serialize");
        assert_eq!(json, r#"{"seq":1,"type":"text","content":"hello"}"#);
    }

    #[test]
    fn complete_request_skips_absent_optionals() {
        let request = CompleteRequest {
            output: "done".into(),
            session_id: Some("s".into()),
            ..CompleteRequest::default()
        };
        let json = serde_json::to_string(&request).expect("serialize");
        assert_eq!(json, r#"{"output":"done","session_id":"s"}"#);
    }
}
