//! [`Admin`]: typed, in-process access to everything the `/dev/…` HTTP routes offer.

use std::sync::Arc;
use std::time::Duration;

use multica_api::wire::{AgentRuntime, Workspace};

use crate::state::{RuntimeInput, State, parse_id};
use crate::views::{
    AdminError, AgentPatch, AgentView, CommentView, DemoSeed, FaultSpec, FaultView,
    HeartbeatActions, HeartbeatActionsQueued, IssueView, NewAgent, NewComment, NewIssue, NewUser,
    NewWorkspace, RequestRecord, RuntimeActionView, RuntimeSpec, StateDump, SweepReport, TaskView,
    TokenView, UserWithToken,
};
use crate::world::{Shared, StateView, WaitTimeout};

/// A handle on a dev server's state for tests and demos. Cheap to clone; every
/// call takes effect at once and wakes [`DevServer::wait_until`](crate::DevServer::wait_until).
#[derive(Debug, Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

impl Admin {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn write<R>(&self, f: impl FnOnce(&mut State, chrono::DateTime<chrono::Utc>) -> R) -> R {
        let now = self.shared.now();
        self.shared.write(|world| f(&mut world.state, now))
    }

    /// Reads a consistent snapshot.
    pub fn read<R>(&self, f: impl FnOnce(&StateView) -> R) -> R {
        self.shared.read(f)
    }

    /// See [`DevServer::wait_until`](crate::DevServer::wait_until).
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        condition: impl FnMut(&StateView) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        self.shared.wait_until(timeout, condition).await
    }

    // -- users and tokens ----------------------------------------------------

    /// A user with a fresh `mul_` personal access token.
    pub fn create_user(&self, name: &str, email: &str) -> UserWithToken {
        let input = NewUser {
            name: name.to_owned(),
            email: email.to_owned(),
        };
        let (id, token) = self.write(|state, now| state.create_user(&input, now));
        UserWithToken {
            id: id.to_string(),
            name: input.name,
            email: input.email,
            token,
        }
    }

    /// Another token for a user, optionally expiring after `expires_in`.
    pub fn create_token(
        &self,
        user_id: &str,
        expires_in: Option<Duration>,
    ) -> Result<TokenView, AdminError> {
        self.write(|state, now| {
            let expires_at = expires_in.map(|d| now + crate::config::delta(d));
            state.create_token(user_id, expires_at, now)
        })
    }

    /// Revokes a token: requests carrying it get 401 `invalid token`.
    pub fn revoke_token(&self, token: &str) -> Result<(), AdminError> {
        self.write(|state, _| state.revoke_token(token))
    }

    // -- workspaces and runtimes ---------------------------------------------

    pub fn create_workspace(&self, spec: NewWorkspace) -> Result<Workspace, AdminError> {
        self.write(move |state, now| state.create_workspace(&spec, now))
            .map(|w| State::workspace_view(&w))
    }

    pub fn add_member(&self, workspace_id: &str, user_id: &str) -> Result<(), AdminError> {
        self.write(|state, now| state.add_member(workspace_id, user_id, None, now))
    }

    /// Creates (or refreshes) a runtime exactly as a daemon registration would.
    pub fn register_runtime(&self, spec: RuntimeSpec) -> Result<AgentRuntime, AdminError> {
        let workspace_id = parse_id("workspace", &spec.workspace_id)?;
        self.write(move |state, now| {
            if !state.workspaces.contains_key(&workspace_id) {
                return Err(AdminError::not_found("workspace", &spec.workspace_id));
            }
            let input = RuntimeInput {
                daemon_id: Some(spec.daemon_id.clone()),
                device_name: spec.device_name.clone(),
                cli_version: spec.cli_version.clone(),
                name: spec.name.clone().unwrap_or_default(),
                provider: spec.provider.clone(),
                version: spec.version.clone(),
                status: spec.status.clone().unwrap_or_default(),
            };
            Ok(State::runtime_view(&state.upsert_runtime(
                workspace_id,
                &input,
                now,
            )))
        })
    }

    pub fn runtimes(&self) -> Vec<AgentRuntime> {
        self.read(StateView::runtimes)
    }

    pub fn runtime(&self, runtime_id: &str) -> Option<AgentRuntime> {
        self.read(|view| view.runtime(runtime_id))
    }

    /// Queues a ping and/or an update for the runtime's next heartbeat.
    pub fn queue_heartbeat_actions(
        &self,
        actions: HeartbeatActions,
    ) -> Result<HeartbeatActionsQueued, AdminError> {
        self.write(move |state, now| {
            parse_id("runtime", &actions.runtime_id)?;
            let update = match &actions.update_target_version {
                Some(target) => Some(state.create_update(&actions.runtime_id, target, now)?),
                None => None,
            };
            let ping = if actions.ping {
                Some(state.create_ping(&actions.runtime_id, now)?)
            } else {
                None
            };
            Ok(HeartbeatActionsQueued { ping, update })
        })
    }

    pub fn pings(&self) -> Vec<RuntimeActionView> {
        self.read(StateView::pings)
    }

    pub fn updates(&self) -> Vec<RuntimeActionView> {
        self.read(StateView::updates)
    }

    // -- agents, issues, comments --------------------------------------------

    pub fn create_agent(&self, spec: NewAgent) -> Result<AgentView, AdminError> {
        self.write(move |state, now| state.create_agent(&spec, now))
            .map(|a| State::agent_view(&a))
    }

    pub fn update_agent(&self, agent_id: &str, patch: AgentPatch) -> Result<AgentView, AdminError> {
        self.write(move |state, now| state.update_agent(agent_id, &patch, now))
            .map(|a| State::agent_view(&a))
    }

    pub fn agents(&self) -> Vec<AgentView> {
        self.read(StateView::agents)
    }

    /// Creates an issue (and enqueues a task if it is created assigned).
    pub fn create_issue(&self, spec: NewIssue) -> Result<IssueView, AdminError> {
        self.write(move |state, now| {
            let issue = state.create_issue(&spec, now)?;
            Ok(state.issue_view(&issue))
        })
    }

    pub fn issue(&self, issue_id: &str) -> Option<IssueView> {
        self.read(|view| view.issue(issue_id))
    }

    /// Assigns the issue to an agent (`None` unassigns). A change cancels the issue's
    /// active tasks and enqueues a task for the new agent; assigning the current
    /// agent returns its pending task or enqueues a new one. Returns the task, if any.
    pub fn assign_issue(
        &self,
        issue_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Option<TaskView>, AdminError> {
        let issue = parse_id("issue", issue_id)?;
        let agent = agent_id.map(|a| parse_id("agent", a)).transpose()?;
        self.write(|state, now| {
            let task = state.assign_issue(issue, agent, now)?;
            Ok(task
                .and_then(|id| state.tasks.get(&id))
                .map(|t| state.task_view(t)))
        })
    }

    /// Adds a comment. A member's comment on an agent-assigned issue enqueues a task
    /// with `trigger_comment_id` (unless one is already queued or dispatched).
    pub fn add_comment(
        &self,
        issue_id: &str,
        comment: NewComment,
    ) -> Result<CommentView, AdminError> {
        let issue = parse_id("issue", issue_id)?;
        self.write(move |state, now| {
            let id = state.add_comment(issue, &comment, now)?;
            state
                .comments
                .get(&id)
                .map(State::comment_view)
                .ok_or_else(|| AdminError::not_found("comment", id))
        })
    }

    // -- tasks ---------------------------------------------------------------

    /// The user's cancel: queued, dispatched or running → cancelled.
    pub fn cancel_task(&self, task_id: &str) -> Result<TaskView, AdminError> {
        let id = parse_id("task", task_id)?;
        self.write(|state, now| {
            if !state.tasks.contains_key(&id) {
                return Err(AdminError::not_found("task", task_id));
            }
            state
                .cancel_task(id, now)
                .map_err(|e| AdminError::Invalid(format!("cancel task: {e}")))?;
            state
                .tasks
                .get(&id)
                .map(|t| state.task_view(t))
                .ok_or_else(|| AdminError::not_found("task", task_id))
        })
    }

    pub fn task(&self, task_id: &str) -> Option<TaskView> {
        self.read(|view| view.task(task_id))
    }

    pub fn tasks(&self) -> Vec<TaskView> {
        self.read(StateView::tasks)
    }

    /// Per-task usage the daemon reported (current mode).
    pub fn task_usage(&self) -> Vec<crate::TaskUsageRecord> {
        self.read(|view| view.state.task_usage.clone())
    }

    /// Tasks whose cancel the daemon acknowledged (current mode).
    pub fn cancel_acks(&self) -> Vec<String> {
        self.read(|view| {
            view.state
                .cancel_acks
                .iter()
                .map(ToString::to_string)
                .collect()
        })
    }

    pub fn tasks_for_issue(&self, issue_id: &str) -> Vec<TaskView> {
        self.read(|view| view.tasks_for_issue(issue_id))
    }

    // -- faults, requests, time ----------------------------------------------

    /// Makes matching `/api` requests fail (or wait) as described.
    pub fn inject_fault(&self, spec: FaultSpec) -> FaultView {
        self.shared.write(|world| world.traffic.add_fault(spec))
    }

    pub fn faults(&self) -> Vec<FaultView> {
        self.read(|view| view.traffic.faults())
    }

    pub fn clear_faults(&self) {
        self.shared.write(|world| world.traffic.clear_faults());
    }

    /// The `/api` request log, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.read(|view| view.requests().to_vec())
    }

    pub fn clear_requests(&self) {
        self.shared.write(|world| world.traffic.clear_requests());
    }

    /// Runs the sweeper once, now.
    pub fn sweep_now(&self) -> SweepReport {
        crate::sweeper::sweep_once(&self.shared)
    }

    /// Moves the server's clock forward (timeouts and staleness are measured on it).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.config.clock.advance(by);
        self.shared.write(|_| ());
    }

    pub fn state(&self) -> StateDump {
        self.read(StateView::dump)
    }

    /// A user "Demo User" with a token, and a workspace "Demo" with prefix `DEMO`
    /// that the user is the owner of.
    pub fn seed_demo(&self) -> DemoSeed {
        let user = self.create_user("Demo User", "demo@multica.local");
        let spec = NewWorkspace {
            name: "Demo".to_owned(),
            slug: Some(format!("demo-{}", &user.id[..8])),
            issue_prefix: Some("DEMO".to_owned()),
            description: Some("Created by multica dev-server --demo".to_owned()),
            member_user_ids: vec![user.id.clone()],
            ..NewWorkspace::default()
        };
        let workspace = self
            .create_workspace(spec)
            .expect("a fresh user and a unique slug make a valid workspace");
        DemoSeed { user, workspace }
    }
}
