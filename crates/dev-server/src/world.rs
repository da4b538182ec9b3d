//! The server's world: its state, request traffic and clock behind one lock
//! ([`Shared`]), the consistent snapshot readers get ([`StateView`]), and waiting
//! for it to change. The HTTP handlers, the sweeper and [`Admin`](crate::Admin) all
//! work through [`Shared`]; nothing here knows about them.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use multica_api::wire::{AgentRuntime, TaskStatus};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Clock, DevServerConfig};
use crate::state::{Rules, State, parse_id};
use crate::traffic::Traffic;
use crate::views::{
    AgentView, IssueView, MemberView, RequestRecord, RuntimeActionView, StateDump, TaskView,
    UserView,
};

/// Everything the server holds, as one consistent snapshot.
/// [`DevServer::wait_until`](crate::DevServer::wait_until) hands it to its condition;
/// [`Admin`](crate::Admin) reads through it too.
#[derive(Debug)]
pub struct StateView {
    pub(crate) state: State,
    pub(crate) traffic: Traffic,
    pub(crate) clock: Clock,
}

impl StateView {
    /// The server's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn task(&self, task_id: &str) -> Option<TaskView> {
        let id = parse_id("task", task_id).ok()?;
        self.state.tasks.get(&id).map(|t| self.state.task_view(t))
    }

    /// A task's status, without building the full view.
    pub fn task_status(&self, task_id: &str) -> Option<TaskStatus> {
        self.state.task_status(task_id)
    }

    /// All tasks, oldest first.
    pub fn tasks(&self) -> Vec<TaskView> {
        self.state
            .tasks_sorted()
            .into_iter()
            .map(|t| self.state.task_view(t))
            .collect()
    }

    /// The tasks of one issue, oldest first.
    pub fn tasks_for_issue(&self, issue_id: &str) -> Vec<TaskView> {
        let Ok(id) = parse_id("issue", issue_id) else {
            return Vec::new();
        };
        self.state
            .tasks_sorted()
            .into_iter()
            .filter(|t| t.issue_id == id)
            .map(|t| self.state.task_view(t))
            .collect()
    }

    /// Runtimes, oldest first, as `AgentRuntimeResponse`.
    pub fn runtimes(&self) -> Vec<AgentRuntime> {
        self.state
            .runtimes_sorted()
            .into_iter()
            .map(State::runtime_view)
            .collect()
    }

    pub fn runtime(&self, runtime_id: &str) -> Option<AgentRuntime> {
        let id = parse_id("runtime", runtime_id).ok()?;
        self.state.runtimes.get(&id).map(State::runtime_view)
    }

    pub fn agents(&self) -> Vec<AgentView> {
        let mut agents: Vec<_> = self.state.agents.values().collect();
        agents.sort_by_key(|a| (a.created_at, a.seq));
        agents.into_iter().map(State::agent_view).collect()
    }

    pub fn agent(&self, agent_id: &str) -> Option<AgentView> {
        let id = parse_id("agent", agent_id).ok()?;
        self.state.agents.get(&id).map(State::agent_view)
    }

    pub fn issue(&self, issue_id: &str) -> Option<IssueView> {
        let id = parse_id("issue", issue_id).ok()?;
        self.state.issues.get(&id).map(|i| self.state.issue_view(i))
    }

    pub fn issues(&self) -> Vec<IssueView> {
        let mut issues: Vec<_> = self.state.issues.values().collect();
        issues.sort_by_key(|i| (i.created_at, i.seq));
        issues
            .into_iter()
            .map(|i| self.state.issue_view(i))
            .collect()
    }

    /// The `/api` request log, in arrival order.
    pub fn requests(&self) -> &[RequestRecord] {
        self.traffic.requests()
    }

    /// The logged requests whose path contains `fragment`.
    pub fn requests_to(&self, fragment: &str) -> Vec<&RequestRecord> {
        self.traffic
            .requests()
            .iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }

    pub fn pings(&self) -> Vec<RuntimeActionView> {
        let now = self.now();
        let mut pings: Vec<_> = self.state.pings.values().collect();
        pings.sort_by_key(|p| (p.created_at, p.seq));
        pings
            .into_iter()
            .map(|p| self.state.ping_view(p, now))
            .collect()
    }

    pub fn updates(&self) -> Vec<RuntimeActionView> {
        let now = self.now();
        let mut updates: Vec<_> = self.state.updates.values().collect();
        updates.sort_by_key(|u| (u.created_at, u.seq));
        updates
            .into_iter()
            .map(|u| self.state.update_view(u, now))
            .collect()
    }

    /// Everything at once.
    pub fn dump(&self) -> StateDump {
        let state = &self.state;
        let mut users: Vec<_> = state.users.values().collect();
        users.sort_by_key(|u| (u.created_at, u.id));
        let mut tokens: Vec<_> = state
            .tokens
            .keys()
            .filter_map(|text| state.token_view(text))
            .collect();
        tokens.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        let mut workspaces: Vec<_> = state.workspaces.values().collect();
        workspaces.sort_by_key(|w| (w.created_at, w.seq));
        StateDump {
            now: crate::go::format_time(self.now()),
            users: users
                .into_iter()
                .map(|u| UserView {
                    id: u.id.to_string(),
                    name: u.name.clone(),
                    email: u.email.clone(),
                    created_at: crate::go::format_time(u.created_at),
                })
                .collect(),
            tokens,
            workspaces: workspaces.into_iter().map(State::workspace_view).collect(),
            members: state
                .members
                .iter()
                .map(|m| MemberView {
                    workspace_id: m.workspace_id.to_string(),
                    user_id: m.user_id.to_string(),
                    role: m.role.clone(),
                })
                .collect(),
            runtimes: self.runtimes(),
            agents: self.agents(),
            issues: self.issues(),
            tasks: self.tasks(),
            progress: state
                .progress
                .iter()
                .map(crate::state::progress_record)
                .collect(),
            usage: state.usage_records(None),
            pings: self.pings(),
            updates: self.updates(),
            faults: self.traffic.faults(),
            request_count: self.traffic.request_count(),
        }
    }

    /// A few lines about tasks, runtimes and recent requests, for timeout messages.
    fn summary(&self) -> String {
        let mut out = String::new();
        for task in self.state.tasks_sorted() {
            let _ = write!(out, "task {} {}; ", task.id, task.status);
        }
        for runtime in self.state.runtimes_sorted() {
            let status = if runtime.online { "online" } else { "offline" };
            let _ = write!(out, "runtime {} {status}; ", runtime.id);
        }
        let requests = self.traffic.requests();
        let recent = &requests[requests.len().saturating_sub(8)..];
        for request in recent {
            let _ = write!(
                out,
                "{} {} -> {}; ",
                request.method, request.path, request.status
            );
        }
        if out.is_empty() {
            out.push_str("no tasks, runtimes or requests");
        }
        out
    }
}

/// The condition of [`DevServer::wait_until`](crate::DevServer::wait_until) did not
/// hold in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("dev server: condition not met within {timeout:?}; state: {summary}")]
pub struct WaitTimeout {
    pub timeout: Duration,
    /// Tasks, runtimes and the last requests when the wait gave up.
    pub summary: String,
}

/// State shared by the HTTP handlers, the sweeper and [`Admin`](crate::Admin).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: DevServerConfig,
    world: Mutex<StateView>,
    changes: watch::Sender<u64>,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn new(config: DevServerConfig) -> Arc<Self> {
        let world = StateView {
            state: State::new(Rules::from_config(&config)),
            traffic: Traffic::new(config.request_log_limit),
            clock: config.clock.clone(),
        };
        Arc::new(Self {
            config,
            world: Mutex::new(world),
            changes: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        })
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }

    fn lock(&self) -> MutexGuard<'_, StateView> {
        // A panic while holding the lock leaves consistent-enough data for a test
        // server; keep serving.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&StateView) -> R) -> R {
        f(&self.lock())
    }

    /// Mutates and wakes every [`DevServer::wait_until`](crate::DevServer::wait_until).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut StateView) -> R) -> R {
        let result = f(&mut self.lock());
        self.changes.send_modify(|version| *version += 1);
        result
    }

    /// A receiver that changes whenever the state does.
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Mutates without waking waiters (for bookkeeping nobody waits on).
    pub(crate) fn write_quiet<R>(&self, f: impl FnOnce(&mut StateView) -> R) -> R {
        f(&mut self.lock())
    }

    pub(crate) async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&StateView) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        /// Re-check at least this often, for conditions that depend on the clock.
        const RECHECK: Duration = Duration::from_millis(100);
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if let Some(found) = self.read(&mut condition) {
                return Ok(found);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(WaitTimeout {
                    timeout,
                    summary: self.read(StateView::summary),
                });
            }
            let wake = deadline.min(now + RECHECK);
            // A closed channel cannot happen while `self` lives; treat it like a tick.
            let _ = tokio::time::timeout_at(wake, changes.changed()).await;
        }
    }
}
