//! One task, from claim to report. [`run`] reads top to bottom: book the task,
//! check its token, prepare its directory, start it on the server, run the agent
//! while streaming the transcript, settle the result. Each step is a file of this module:
//! `prepare`, `watch` (with `transcript`), `settle`.

mod error;
mod prepare;
mod settle;
mod transcript;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multica_api::ApiError;
use multica_api::wire::{AgentTask, TaskStatus};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

pub(crate) use error::TaskError;

use crate::agent_set::AgentSet;
use crate::backoff::{Backoff, retry};
use crate::bus::EventBus;
use crate::config::DaemonConfig;
use crate::events::{EngineEvent, TaskOutcome};
use crate::execenv::short_id;
use crate::gc::TaskDirLocks;
use crate::grants::{ControlToken, TaskGrants};
use crate::outbox::Outbox;
use crate::registry::RuntimeBinding;
use crate::server::Server;
use crate::task_book::{ActiveTask, TaskBook};
use crate::transcript::Redactor;
use crate::usage_book::UsageBook;

/// Starting a task is tried this often (transport errors, 5xx, 408, 429, an
/// unreadable answer), from 1 s apart.
const START_ATTEMPTS: u32 = 6;
const START_FIRST_RETRY: Duration = Duration::from_secs(1);

/// How long preparing a task may take before it fails as a timeout (which
/// current servers retry), as upstream's daemon bounds it.
const PREPARE_BUDGET: Duration = Duration::from_secs(5 * 60);

/// The parts of the engine a task works with.
#[derive(Debug, Clone)]
pub(crate) struct TaskKit {
    pub(crate) config: Arc<DaemonConfig>,
    pub(crate) server: Arc<Server>,
    pub(crate) agents: Arc<AgentSet>,
    pub(crate) tasks: Arc<TaskBook>,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) grants: Arc<TaskGrants>,
    pub(crate) task_dirs: Arc<TaskDirLocks>,
    pub(crate) usage: Arc<UsageBook>,
    /// The `multica` binary agents call; its directory goes first on their PATH.
    pub(crate) multica_cli: PathBuf,
    /// The user's control token, redacted from transcripts like every secret.
    pub(crate) control: Option<Arc<ControlToken>>,
}

/// Why the agent was stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The server moved the task to a terminal status (cancelled) or forgot it.
    ServerCancelled,
    /// The daemon is shutting down and the grace period ran out.
    DaemonStopping,
    /// Someone on this machine stopped it (the app's tray or window).
    CancelledHere,
    /// It said nothing for this long (the idle watchdog, or the tool watchdog
    /// while a tool call ran).
    Silent(Duration),
}

/// What can stop a task before its agent ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stops<'a> {
    /// The daemon is stopping.
    pub(crate) daemon: &'a CancellationToken,
    /// Cancelled on this machine (`EngineHandle::cancel_task`).
    pub(crate) here: &'a CancellationToken,
}

/// Runs a claimed task to its end and reports it; never fails (a failure is the
/// task's outcome, reported to the server and the hosts).
pub(crate) async fn run(
    kit: &TaskKit,
    task: AgentTask,
    runtime: RuntimeBinding,
    slot: usize,
    stop: CancellationToken,
) {
    let span = info_span!("task", task = %short_id(&task.id));
    async {
        // Seed servers leave the workspace empty when their issue lookup failed.
        let workspace_id = Some(task.workspace_id.clone())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| runtime.workspace_id.clone());
        let agent_name = task
            .agent
            .as_ref()
            .map_or_else(|| "agent".to_owned(), |agent| agent.name.clone());
        info!(issue = %task.issue_id, agent = %agent_name, provider = %runtime.provider, "task claimed");
        let stop_here = kit.tasks.start(ActiveTask {
            task_id: task.id.clone(),
            issue_id: task.issue_id.clone(),
            workspace_id: workspace_id.clone(),
            provider: runtime.provider.to_string(),
            started_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
        });
        kit.bus.emit(EngineEvent::TaskClaimed {
            task_id: task.id.clone(),
            issue_id: task.issue_id.clone(),
            workspace_id: workspace_id.clone(),
            runtime_id: runtime.id.clone(),
            provider: runtime.provider.to_string(),
        });
        // Marked before anything can go wrong: if this process dies, the next one
        // reports the task failed instead of leaving it running forever.
        kit.outbox.mark_running(&task.id);
        let stops = Stops { daemon: &stop, here: &stop_here };
        let outcome = match execute(kit, &task, &runtime, &workspace_id, &agent_name, slot, stops).await {
            Ok(outcome) => outcome,
            Err(error) => settle::fail(kit, &task.id, error.failure_request()).await,
        };
        // Its end is delivered or waiting in the outbox: no orphan if we die now.
        kit.outbox.clear_running(&task.id);
        kit.tasks.finish(&task.id);
        info!(outcome = ?outcome, "task finished");
        kit.bus.emit(EngineEvent::TaskFinished { task_id: task.id.clone(), outcome });
    }
    .instrument(span)
    .await;
}

/// The task after its booking: an error of any step before the agent ends fails
/// the task with the step's reason.
async fn execute(
    kit: &TaskKit,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    agent_name: &str,
    slot: usize,
    stops: Stops<'_>,
) -> Result<TaskOutcome, TaskError> {
    let provider = &runtime.provider;
    check_task_token(kit, task)?;
    let agent = kit
        .agents
        .agent_for(provider)
        .ok_or_else(|| TaskError::NoAgent(provider.to_string()))?;
    // Held until the task is settled: the directory, and the agent's API key.
    let preparing = prepare::prepare(
        kit,
        task,
        runtime,
        workspace_id,
        agent_name,
        slot,
        stops.daemon,
    );
    let prepared = tokio::time::timeout(PREPARE_BUDGET, preparing)
        .await
        .map_err(|_| TaskError::PrepareTimeout(PREPARE_BUDGET))??;
    kit.bus.emit(EngineEvent::TaskWorkDir {
        task_id: task.id.clone(),
        work_dir: prepared.environment.work_dir.clone(),
    });
    // Started only now that its directory exists: whoever sees the task running
    // (the web app, a script) may look into it at once.
    start_on_server(kit, &task.id).await?;
    let launching = format!("Launching {}", provider.display_name());
    settle::progress(kit, &task.id, &launching, 1, 2).await;
    let agent_cancel = CancellationToken::new();
    let spec = prepared.run_spec(kit, task, &agent);
    let run = multica_agents::backend(provider)
        .spawn(spec, agent_cancel.clone())
        .map_err(|source| TaskError::Spawn {
            provider: provider.to_string(),
            source,
        })?;
    // Every secret the agent could echo stays out of the transcript and the result.
    let redactor = Redactor::new([
        kit.server.token.expose(),
        prepared.local_api_grant.token().expose(),
        kit.control
            .as_ref()
            .map_or("", |control| control.secret().expose()),
        task.task_token().unwrap_or_default(),
    ]);
    let work_dir = &prepared.environment.work_dir;
    let (outcome, stopped) = watch::watch_agent(
        kit,
        &task.id,
        work_dir,
        run,
        agent_cancel,
        stops,
        redactor.clone(),
    )
    .await;

    settle::keep_usage(kit, task, runtime, workspace_id, &outcome, stopped);
    let names = settle::Names {
        device: &kit.config.device_name,
        provider,
        agent_timeout: kit.config.agent_timeout,
    };
    let verdict = settle::verdict(stopped, &outcome, names, &redactor);
    Ok(settle::report(
        kit,
        task,
        runtime,
        verdict,
        stopped,
        &outcome.usage,
        work_dir,
    )
    .await)
}

/// An agent acts with the task's own token (`mat_…`). Only a server that has
/// never shown it mints them (a seed server) gets the user's token passed on;
/// once it has, a task without one fails before its agent starts, as upstream.
fn check_task_token(kit: &TaskKit, task: &AgentTask) -> Result<(), TaskError> {
    let features = &kit.server.features;
    match agent_token(task.auth_token.as_deref(), features.issues_task_tokens())? {
        AgentToken::Task => features.task_tokens.seen(),
        AgentToken::Users => {
            debug!(
                "the server gives no task tokens (a seed server): the agent acts with the user's token"
            );
        }
    }
    Ok(())
}

/// Whose token the agent gets.
#[derive(Debug, PartialEq, Eq)]
enum AgentToken {
    Task,
    Users,
}

fn agent_token(given: Option<&str>, server_issues_them: bool) -> Result<AgentToken, TaskError> {
    match given.map(str::trim).filter(|token| !token.is_empty()) {
        Some(token) if token.starts_with("mat_") => Ok(AgentToken::Task),
        Some(_) => Err(TaskError::NotTaskScopedToken),
        None if server_issues_them => Err(TaskError::NoTaskToken),
        None => Ok(AgentToken::Users),
    }
}

/// Moves the task to running on the server. An unreadable answer (or a retry
/// after a lost one) may hide a start that worked: the task's status tells.
async fn start_on_server(kit: &TaskKit, task_id: &str) -> Result<(), TaskError> {
    let client = &kit.server.client;
    let worth_retrying = |error: &ApiError| error.is_retryable() || error.is_malformed();
    let backoff = Backoff::starting_at(START_FIRST_RETRY);
    let Err(error) = retry(START_ATTEMPTS, backoff, worth_retrying, || {
        client.start_task(task_id)
    })
    .await
    else {
        return Ok(());
    };
    if matches!(client.task_status(task_id).await, Ok(TaskStatus::Running)) {
        debug!(%error, "the start answer was unclear, but the task runs");
        return Ok(());
    }
    warn!(%error, "starting the task failed");
    Err(TaskError::Start(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_never_gets_the_users_token_from_a_server_that_mints_task_tokens() {
        assert_eq!(
            agent_token(Some("mat_abc"), true).ok(),
            Some(AgentToken::Task)
        );
        assert_eq!(
            agent_token(Some("mat_abc"), false).ok(),
            Some(AgentToken::Task)
        );
        assert!(matches!(
            agent_token(None, true),
            Err(TaskError::NoTaskToken)
        ));
        assert!(matches!(
            agent_token(Some("  "), true),
            Err(TaskError::NoTaskToken)
        ));
        assert!(matches!(
            agent_token(Some("mul_personal"), false),
            Err(TaskError::NotTaskScopedToken)
        ));
        assert_eq!(
            agent_token(None, false).ok(),
            Some(AgentToken::Users),
            "a seed server has no task tokens"
        );
        assert_eq!(
            TaskError::NoTaskToken.to_string(),
            "server did not provide task-scoped auth token"
        );
    }
}
