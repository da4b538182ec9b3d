//! One task, from claim to report: start → progress → prepare → run (watching for
//! cancellation) → status check → complete or fail, in the order the server expects.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multica_agents::{AgentEvent, AgentRun, Protocol, RunOutcome, RunSpec, RunStatus};
use multica_api::ApiError;
use multica_api::wire::{AgentTask, CompleteRequest, TaskMessage, TaskStatus};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::brief::task_prompt;
use crate::engine::{ActiveTask, RuntimeBinding, Shared};
use crate::events::{EngineEvent, TaskOutcome};
use crate::execenv::{self, RepoInfo, SkillFileSpec, SkillSpec, TaskContext, TaskEnvironment};
use crate::gc::{GcMeta, TaskDirHold};
use crate::go_duration::format_duration;
use crate::local_api::TaskGrant;
use crate::outbox::{Delivery, Report};
use crate::transcript::{Redactor, TranscriptBuilder};
use multica_api::wire::TaskUsageEntry;

use crate::usage::{TaskModelUsage, TaskUsage};

/// How often buffered transcript text is sent, as in the Go daemon.
const TRANSCRIPT_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One transcript POST may take this long before it is retried at the next flush.
const TRANSCRIPT_POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages per transcript POST, to keep request bodies bounded.
const TRANSCRIPT_BATCH: usize = 200;

/// After this many failed attempts in a row, unsent transcript messages are given up
/// (the durable outbox of a later stage keeps them across restarts).
const TRANSCRIPT_MAX_ATTEMPTS: u32 = 20;

/// Back-off between attempts to report the result (transport errors, 5xx, 408, 429).
/// Rounds of direct delivery of a task's result before it is left to the outbox
/// loop (with the outbox's back-off: about 2 s, 4 s, 8 s between them).
const REPORT_ATTEMPTS: u32 = 4;

const REPORT_BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// Why the agent was stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    /// The server moved the task to a terminal status (cancelled) or forgot it.
    ServerCancelled,
    /// The daemon is shutting down and the grace period ran out.
    DaemonStopping,
    /// Someone on this machine stopped it (the app's tray or window).
    CancelledHere,
}

pub(crate) async fn run_task(
    shared: &Shared,
    task: AgentTask,
    runtime: RuntimeBinding,
    stop: CancellationToken,
) {
    let span = info_span!("task", task = %execenv::short_id(&task.id));
    run_task_inner(shared, task, runtime, stop)
        .instrument(span)
        .await;
}

async fn run_task_inner(
    shared: &Shared,
    task: AgentTask,
    runtime: RuntimeBinding,
    stop: CancellationToken,
) {
    let task_id = task.id.clone();
    let workspace_id = if task.workspace_id.is_empty() {
        // Seed servers leave it empty when the issue lookup failed; the runtime knows.
        runtime.workspace_id.clone()
    } else {
        task.workspace_id.clone()
    };
    let agent_name = task
        .agent
        .as_ref()
        .map_or_else(|| "agent".to_owned(), |agent| agent.name.clone());
    info!(issue = %task.issue_id, agent = %agent_name, provider = %runtime.provider, "task claimed");
    shared.active().insert(
        task_id.clone(),
        ActiveTask {
            task_id: task_id.clone(),
            issue_id: task.issue_id.clone(),
            workspace_id: workspace_id.clone(),
            provider: runtime.provider.to_string(),
            started_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
        },
    );
    shared.emit(EngineEvent::TaskClaimed {
        task_id: task_id.clone(),
        issue_id: task.issue_id.clone(),
        workspace_id: workspace_id.clone(),
        runtime_id: runtime.id.clone(),
        provider: runtime.provider.to_string(),
    });

    shared.outbox.mark_running(&task_id);
    let cancel_here = shared.local_cancel_for(&task_id);
    let stops = Stops {
        daemon: &stop,
        here: &cancel_here,
    };
    let outcome = execute(shared, &task, &runtime, &workspace_id, &agent_name, stops).await;
    shared.forget_local_cancel(&task_id);
    // Its end is delivered or waiting in the outbox: no orphan if we die now.
    shared.outbox.clear_running(&task_id);
    info!(outcome = ?outcome, "task finished");
    shared.active().remove(&task_id);
    shared.emit(EngineEvent::TaskFinished { task_id, outcome });
}

/// What can stop a task before its agent ends.
#[derive(Clone, Copy)]
struct Stops<'a> {
    /// The daemon is stopping.
    daemon: &'a CancellationToken,
    /// Cancelled on this machine ([`crate::EngineHandle::cancel_task`]).
    here: &'a CancellationToken,
}

async fn execute(
    shared: &Shared,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    agent_name: &str,
    stops: Stops<'_>,
) -> TaskOutcome {
    let stop = stops.daemon;
    let client = &shared.client;
    let Some(agent) = shared.agent_for(&runtime.provider) else {
        let error = format!(
            "no agent CLI for provider {} on this machine",
            runtime.provider
        );
        return report_failure(shared, &task.id, error).await;
    };

    if let Err(error) = with_retries(|| client.start_task(&task.id)).await {
        // An unreadable answer (or a retry after a lost one) may hide a start
        // that worked: the task's status tells.
        let started = matches!(client.task_status(&task.id).await, Ok(TaskStatus::Running));
        if !started {
            warn!(%error, "starting the task failed");
            return report_failure(shared, &task.id, format!("start task failed: {error}")).await;
        }
        debug!(%error, "the start answer was unclear, but the task runs");
    }
    progress(
        shared,
        &task.id,
        &format!("Launching {}", runtime.provider.display_name()),
        1,
        2,
    )
    .await;

    let context = task_context(task, agent_name);
    let (holds, prior_work_dir) = hold_task_dirs(shared, task, workspace_id, stop).await;
    let environment = match prepare_environment(
        shared,
        task,
        runtime,
        workspace_id,
        &context,
        prior_work_dir,
    )
    .await
    {
        Ok(environment) => environment,
        Err(error) => {
            return report_failure(
                shared,
                &task.id,
                format!("prepare execution environment: {error}"),
            )
            .await;
        }
    };
    info!(work_dir = %environment.work_dir.display(), reused = environment.reused, "environment ready");
    shared.emit(EngineEvent::TaskWorkDir {
        task_id: task.id.clone(),
        work_dir: environment.work_dir.clone(),
    });
    // Whatever way this task ends, its directory is marked for the collector and
    // released when this drops.
    let _in_use = DirInUse {
        root: environment.root.clone(),
        meta: GcMeta::for_issue(workspace_id, &task.issue_id, &task.id, SystemTime::now()),
        _holds: holds,
    };
    if let Some(session) = &task.prior_session_id {
        info!(session_id = %session, "resuming the prior session");
    }

    // The agent's key to the local API, valid in its own task directory while
    // the task runs (revoked when `local_api_grant` drops).
    let local_api_grant = shared.grants.issue(TaskGrant {
        task_id: task.id.clone(),
        workspace_id: workspace_id.to_owned(),
        agent_name: agent_name.to_owned(),
        task_dir: environment
            .work_dir
            .parent()
            .map_or_else(|| environment.root.clone(), Path::to_path_buf),
    });
    let mut env = task_env(shared, task, workspace_id, agent_name);
    if *runtime.provider.protocol() == Protocol::CodexAppServer {
        let work_dir = environment.work_dir.clone();
        let user_home = shared.config.codex_home.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            execenv::prepare_codex_home(&work_dir, user_home.as_deref())
        })
        .await;
        let prepared = match prepared {
            Ok(result) => result.map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match prepared {
            Ok(codex_home) => env.push(("CODEX_HOME".to_owned(), codex_home.display().to_string())),
            Err(error) => {
                return report_failure(shared, &task.id, format!("prepare CODEX_HOME: {error}"))
                    .await;
            }
        }
    }
    env.push((
        "MULTICA_LOCAL_API_TOKEN".to_owned(),
        local_api_grant.token().expose().to_owned(),
    ));
    let spec = RunSpec {
        executable: agent.executable.clone(),
        cwd: environment.work_dir.clone(),
        prompt: task_prompt(&context),
        model: agent.model.clone(),
        resume_session_id: task.prior_session_id.clone().filter(|id| !id.is_empty()),
        env,
        timeout: shared.config.agent_timeout,
        idle_timeout: shared.config.agent_idle_timeout,
        kill_grace: multica_agents::KillGrace::default(),
    };
    let agent_cancel = CancellationToken::new();
    let run = match multica_agents::backend(&runtime.provider).spawn(spec, agent_cancel.clone()) {
        Ok(run) => run,
        Err(error) => {
            return report_failure(
                shared,
                &task.id,
                format!("cannot start {}: {error}", runtime.provider),
            )
            .await;
        }
    };

    let redactor = Redactor::new([
        shared.token.expose(),
        local_api_grant.token().expose(),
        shared.control_token_text(),
        task.task_token().unwrap_or_default(),
    ]);
    let (outcome, stopped) =
        supervise(shared, &task.id, run, agent_cancel, stops, redactor.clone()).await;
    keep_usage(
        shared,
        task,
        runtime,
        workspace_id,
        &outcome,
        stopped.as_ref(),
    );

    match stopped {
        Some(StopReason::ServerCancelled) => {
            info!("task cancelled on the server; result discarded");
            acknowledge_cancel(shared, &task.id).await;
            return TaskOutcome::Cancelled;
        }
        Some(StopReason::CancelledHere) => {
            return report_failure(
                shared,
                &task.id,
                format!(
                    "stopped on {} by its user while {} was working; assign the issue again to retry",
                    shared.config.device_name,
                    runtime.provider.display_name()
                ),
            )
            .await;
        }
        Some(StopReason::DaemonStopping) => {
            return report_failure(
                shared,
                &task.id,
                format!(
                    "the Multica daemon on this machine stopped while {} was working; assign the issue again to retry",
                    runtime.provider.display_name()
                ),
            )
            .await;
        }
        None => {}
    }

    progress(shared, &task.id, "Finishing task", 2, 2).await;
    // The task may have been cancelled (e.g. reassigned) after the last status poll;
    // reporting now would only be refused.
    if let Ok(status) = client.task_status(&task.id).await
        && status == TaskStatus::Cancelled
    {
        info!("task cancelled during execution; result discarded");
        acknowledge_cancel(shared, &task.id).await;
        return TaskOutcome::Cancelled;
    }

    report_usage(shared, &task.id, &runtime.provider, &outcome.usage).await;
    let provider = runtime.provider.clone();
    match outcome.status {
        RunStatus::Completed if outcome.output.trim().is_empty() => {
            report_failure(
                shared,
                &task.id,
                format!("{provider} returned empty output"),
            )
            .await
        }
        RunStatus::Completed => {
            // The output becomes a comment on the issue: no secret may reach it.
            let request = CompleteRequest {
                output: redactor.redact(&outcome.output),
                session_id: outcome.session_id.clone(),
                work_dir: Some(environment.work_dir.to_string_lossy().into_owned()),
                ..CompleteRequest::default()
            };
            report_completion(shared, &task.id, &request).await
        }
        RunStatus::TimedOut => {
            // The backend tells a wall-clock timeout from an idle one.
            let error = outcome.error.as_deref().map_or_else(
                || {
                    format!(
                        "{provider} timed out after {}",
                        format_duration(shared.config.agent_timeout)
                    )
                },
                |error| redactor.redact(error),
            );
            report_failure(shared, &task.id, error).await
        }
        _ => {
            // The error can quote the agent's stderr, and becomes a comment.
            let error = outcome.error.as_deref().map_or_else(
                || format!("{provider} execution {:?}", outcome.status).to_lowercase(),
                |error| redactor.redact(error),
            );
            report_failure(shared, &task.id, error).await
        }
    }
}

fn task_context(task: &AgentTask, agent_name: &str) -> TaskContext {
    let (instructions, skills) = task.agent.as_ref().map_or_else(
        || (String::new(), Vec::new()),
        |agent| {
            let skills = agent
                .skills
                .iter()
                .map(|skill| SkillSpec {
                    name: skill.name.clone(),
                    content: skill.content.clone(),
                    files: skill
                        .files
                        .iter()
                        .map(|file| SkillFileSpec {
                            path: file.path.clone(),
                            content: file.content.clone(),
                        })
                        .collect(),
                })
                .collect();
            (agent.instructions.clone(), skills)
        },
    );
    TaskContext {
        issue_id: task.issue_id.clone(),
        trigger_comment_id: task.trigger_comment_id.clone().filter(|id| !id.is_empty()),
        agent_name: agent_name.to_owned(),
        agent_instructions: instructions,
        skills,
        repos: task
            .repos
            .iter()
            .map(|repo| RepoInfo {
                url: repo.url.clone(),
                description: repo.description.clone(),
            })
            .collect(),
    }
}

/// Holds this task's directory, and the prior run's if it is to be reused, so
/// the collector leaves them alone. A prior directory the collector is deleting
/// right now is not reused. Returns the holds and the prior work dir to reuse.
async fn hold_task_dirs(
    shared: &Shared,
    task: &AgentTask,
    workspace_id: &str,
    stop: &CancellationToken,
) -> (Vec<TaskDirHold>, Option<PathBuf>) {
    let workspace_dir = shared.config.workspaces_root.join(workspace_id);
    let mut holds = Vec::new();
    let prior = task
        .prior_work_dir
        .as_deref()
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    // Held under the name the collector uses: <root>/<workspace>/<task dir>.
    let prior = prior.and_then(|work_dir| {
        let task_dir_name = work_dir.parent()?.file_name()?.to_owned();
        let hold = shared
            .task_dirs
            .try_hold(&workspace_dir.join(task_dir_name))?;
        holds.push(hold);
        Some(work_dir)
    });
    let own = workspace_dir.join(execenv::short_id(&task.id));
    if !holds.iter().any(|hold| hold.dir() == own) {
        // Only the collector holds a fresh task's directory, and only briefly.
        loop {
            if let Some(hold) = shared.task_dirs.try_hold(&own) {
                holds.push(hold);
                break;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    (holds, prior)
}

/// Marks a task directory as finished (for the collector) and releases it.
struct DirInUse {
    root: PathBuf,
    meta: GcMeta,
    _holds: Vec<TaskDirHold>,
}

impl Drop for DirInUse {
    fn drop(&mut self) {
        self.meta.completed_at = chrono::Utc::now();
        if let Err(error) = self.meta.write(&self.root) {
            warn!(dir = %self.root.display(), %error, "could not record the task's end for clean-up");
        }
    }
}

async fn prepare_environment(
    shared: &Shared,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    context: &TaskContext,
    prior: Option<PathBuf>,
) -> Result<TaskEnvironment, String> {
    let root = shared.config.workspaces_root.clone();
    let workspace_id = workspace_id.to_owned();
    let task_id = task.id.clone();
    let provider = runtime.provider.clone();
    let context = context.clone();
    tokio::task::spawn_blocking(move || {
        execenv::prepare(
            &root,
            &workspace_id,
            &task_id,
            &provider,
            &context,
            prior.as_deref(),
        )
    })
    .await
    .map_err(|error| format!("preparation task failed: {error}"))?
    .map_err(|error| error.to_string())
}

/// The environment every agent gets, so that `multica` works inside it and acts as
/// this agent on this task.
fn task_env(
    shared: &Shared,
    task: &AgentTask,
    workspace_id: &str,
    agent_name: &str,
) -> Vec<(String, String)> {
    let cli = &shared.multica_cli;
    let cli_dir = cli.parent().map(PathBuf::from).unwrap_or_default();
    let discovery = shared.discovery();
    // Our directory goes first so a stale `multica` elsewhere on PATH cannot win;
    // then where the agent CLIs were found (the login shell's PATH, install dirs).
    let mut path_entries = vec![cli_dir];
    if discovery.search_path.is_empty() {
        if let Some(path) = std::env::var_os("PATH") {
            path_entries.extend(std::env::split_paths(&path));
        }
    } else {
        path_entries.extend(discovery.search_path.iter().cloned());
    }
    let path = std::env::join_paths(path_entries)
        .map(|joined| joined.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The login shell's variables the process lacks (proxies, tool homes) come
    // first: everything below is ours and wins over them.
    let mut env = discovery.shell_env.clone();
    env.extend([
        // Current servers mint a token for the task alone (`mat_…`, revoked when
        // the task ends, bound to its agent and workspace); the user's own token
        // goes to agents only when the server has none.
        (
            "MULTICA_TOKEN".to_owned(),
            task.task_token()
                .unwrap_or_else(|| shared.token.expose())
                .to_owned(),
        ),
        (
            "MULTICA_SERVER_URL".to_owned(),
            shared.config.server_url.to_string(),
        ),
        (
            "MULTICA_DAEMON_PORT".to_owned(),
            shared.config.health_port.to_string(),
        ),
        ("MULTICA_WORKSPACE_ID".to_owned(), workspace_id.to_owned()),
        ("MULTICA_AGENT_NAME".to_owned(), agent_name.to_owned()),
        ("MULTICA_AGENT_ID".to_owned(), task.agent_id.clone()),
        ("MULTICA_TASK_ID".to_owned(), task.id.clone()),
        ("MULTICA_CLI".to_owned(), cli.to_string_lossy().into_owned()),
        ("PATH".to_owned(), path),
    ]);
    env
}

/// Forwards the agent's events into the transcript until it ends, while polling the
/// task's status and watching for shutdown. Returns the outcome and, if the agent
/// was stopped early, why.
async fn supervise(
    shared: &Shared,
    task_id: &str,
    run: AgentRun,
    agent_cancel: CancellationToken,
    stops: Stops<'_>,
    redactor: Redactor,
) -> (RunOutcome, Option<StopReason>) {
    let AgentRun {
        mut events,
        outcome,
        ..
    } = run;
    let mut transcript = TranscriptSender::new(task_id, redactor);
    let mut flush = tokio::time::interval(TRANSCRIPT_FLUSH_INTERVAL);
    let mut status_poll = tokio::time::interval(shared.config.status_poll_interval);
    status_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    status_poll.tick().await;
    let mut stopped: Option<StopReason> = None;
    let mut tool_calls = 0u32;

    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let AgentEvent::ToolUse { tool, .. } = &event {
                        tool_calls += 1;
                        info!(%tool, number = tool_calls, "tool call");
                    } else if let AgentEvent::Log { message, .. } = &event {
                        debug!(agent_log = %transcript.redact(message));
                    }
                    transcript.push(event);
                }
                None => break,
            },
            _ = flush.tick() => transcript.flush(shared).await,
            _ = status_poll.tick(), if stopped.is_none() => {
                match shared.client.task_status(task_id).await {
                    Ok(status) if status.is_terminal() => {
                        info!(%status, "task ended on the server; stopping the agent");
                        stopped = Some(StopReason::ServerCancelled);
                        agent_cancel.cancel();
                    }
                    Err(error) if error.is_not_found() => {
                        info!("task no longer exists on the server; stopping the agent");
                        stopped = Some(StopReason::ServerCancelled);
                        agent_cancel.cancel();
                    }
                    Ok(_) => {}
                    Err(error) => debug!(%error, "status poll failed"),
                }
            }
            () = stops.daemon.cancelled(), if stopped.is_none() => {
                stopped = Some(StopReason::DaemonStopping);
                transcript.push_error("The daemon is stopping; the agent was stopped.");
                agent_cancel.cancel();
            }
            () = stops.here.cancelled(), if stopped.is_none() => {
                info!("task cancelled on this machine; stopping the agent");
                stopped = Some(StopReason::CancelledHere);
                transcript.push_error("Stopped on this machine by its user.");
                agent_cancel.cancel();
            }
        }
    }
    let outcome = outcome.await;
    transcript.finish(shared).await;
    (outcome, stopped)
}

/// Sends transcript messages in `seq` order, keeping what failed for the next try.
struct TranscriptSender<'a> {
    task_id: &'a str,
    builder: TranscriptBuilder,
    unsent: Vec<TaskMessage>,
    failed_attempts: u32,
}

impl<'a> TranscriptSender<'a> {
    fn new(task_id: &'a str, redactor: Redactor) -> Self {
        Self {
            task_id,
            builder: TranscriptBuilder::new(redactor),
            unsent: Vec::new(),
            failed_attempts: 0,
        }
    }

    fn push(&mut self, event: AgentEvent) {
        self.builder.push(event);
    }

    fn redact(&self, text: &str) -> String {
        self.builder.redactor().redact(text)
    }

    fn push_error(&mut self, text: &str) {
        self.builder.push_error(text);
    }

    async fn flush(&mut self, shared: &Shared) {
        let ready = self.builder.take_ready();
        if !ready.is_empty() {
            shared.emit(EngineEvent::TaskMessages {
                task_id: self.task_id.to_owned(),
                messages: ready.clone(),
            });
            self.unsent.extend(ready);
        }
        while !self.unsent.is_empty() {
            let count = self.unsent.len().min(TRANSCRIPT_BATCH);
            let batch = &self.unsent[..count];
            let sent = tokio::time::timeout(
                TRANSCRIPT_POST_TIMEOUT,
                shared.client.report_messages(self.task_id, batch),
            )
            .await;
            match sent {
                Ok(Ok(())) => {
                    self.unsent.drain(..count);
                    self.failed_attempts = 0;
                }
                Ok(Err(error)) if !error.is_retryable() && !error.is_malformed() => {
                    warn!(%error, dropped = count, "the server refused transcript messages");
                    self.unsent.drain(..count);
                }
                failure => {
                    self.failed_attempts += 1;
                    let reason = match failure {
                        Ok(Err(error)) => error.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    if self.failed_attempts >= TRANSCRIPT_MAX_ATTEMPTS {
                        // The server is away for long: the outbox keeps them (each
                        // message carries its seq, so late arrival is in order).
                        warn!(%reason, pending = self.unsent.len(), "transcript messages moved to the outbox");
                        self.park_unsent(shared);
                        self.failed_attempts = 0;
                    } else {
                        debug!(%reason, pending = self.unsent.len(), "transcript send failed; will retry");
                    }
                    return;
                }
            }
        }
    }

    /// The last flush: a few quick retries, since there is no next tick.
    async fn finish(&mut self, shared: &Shared) {
        for delay in [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_secs(2),
        ] {
            tokio::time::sleep(delay).await;
            self.flush(shared).await;
            if self.unsent.is_empty() {
                return;
            }
        }
        if !self.unsent.is_empty() {
            // Kept on disk: sent before the task's result, whenever the server is back.
            warn!(
                pending = self.unsent.len(),
                "transcript messages could not be delivered yet; kept in the outbox"
            );
            self.park_unsent(shared);
        }
    }

    /// Moves the messages not yet sent to the outbox.
    fn park_unsent(&mut self, shared: &Shared) {
        let messages = std::mem::take(&mut self.unsent);
        let count = messages.len();
        if let Err(error) = shared
            .outbox
            .write(self.task_id, Report::Messages { messages })
        {
            error!(%error, dropped = count, "transcript messages lost");
        }
    }
}

async fn progress(shared: &Shared, task_id: &str, summary: &str, step: u32, total: u32) {
    shared.emit(EngineEvent::TaskProgress {
        task_id: task_id.to_owned(),
        summary: summary.to_owned(),
        step,
        total,
    });
    if let Err(error) = shared
        .client
        .report_progress(task_id, summary, step, total)
        .await
    {
        debug!(%error, "progress report failed");
    }
}

/// Current servers: the transcript of a cancelled task is flushed (otherwise
/// their sweeper settles the cancel after 60 s).
async fn acknowledge_cancel(shared: &Shared, task_id: &str) {
    if !shared.features.cancel_ack.worth_trying() {
        return;
    }
    let result = shared.client.cancel_ack(task_id).await;
    if !shared.features.cancel_ack.learn(&result)
        && let Err(error) = result
    {
        debug!(%error, "cancel-ack failed");
    }
}

/// Keeps the run's tokens in the local ledger (for `multica usage --by task` and the
/// UI), whatever the server does with them, and asks for a log scan soon.
fn keep_usage(
    shared: &Shared,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    outcome: &multica_agents::RunOutcome,
    stopped: Option<&StopReason>,
) {
    shared.usage.wake.notify_one();
    if outcome.usage.is_empty() {
        return;
    }
    let result = match (stopped, &outcome.status) {
        (Some(StopReason::ServerCancelled | StopReason::CancelledHere), _) => "cancelled",
        (Some(StopReason::DaemonStopping), _) => "stopped",
        (None, RunStatus::Completed) if !outcome.output.trim().is_empty() => "completed",
        (None, _) => "failed",
    };
    let now = chrono::Utc::now();
    let record = TaskUsage {
        task_id: task.id.clone(),
        issue_id: task.issue_id.clone(),
        workspace_id: workspace_id.to_owned(),
        runtime_id: runtime.id.clone(),
        agent: runtime.provider.to_string(),
        finished_at: now,
        date: now.with_timezone(&chrono::Local).date_naive(),
        outcome: result.to_owned(),
        models: outcome
            .usage
            .iter()
            .map(|model| TaskModelUsage::from_run(model, shared.usage.prices()))
            .collect(),
    };
    if let Err(error) = shared.usage.ledger.append(record.clone()) {
        warn!(%error, "the task's usage was not written to the local ledger");
    }
    shared.emit(EngineEvent::TaskUsage { usage: record });
}

/// Current servers: the run's tokens per model, with the task. A server that is
/// away gets them later from the outbox; a seed server has no such route (its
/// usage comes from the machine-wide log scan).
async fn report_usage(
    shared: &Shared,
    task_id: &str,
    provider: &multica_agents::Provider,
    usage: &[multica_agents::ModelUsage],
) {
    if usage.is_empty() || !shared.features.task_usage.worth_trying() {
        return;
    }
    let entries: Vec<TaskUsageEntry> = usage
        .iter()
        .map(|model| TaskUsageEntry {
            provider: provider.to_string(),
            model: model.model.clone(),
            input_tokens: model.input_tokens,
            output_tokens: model.output_tokens,
            cache_read_tokens: model.cache_read_tokens,
            cache_write_tokens: model.cache_write_tokens,
        })
        .collect();
    let result = shared.client.report_task_usage(task_id, &entries).await;
    if shared.features.task_usage.learn(&result) {
        return;
    }
    match result {
        Ok(()) => {}
        Err(error) if error.is_retryable() => {
            if let Err(write_error) = shared
                .outbox
                .write(task_id, Report::Usage { usage: entries })
            {
                warn!(%error, %write_error, "task usage lost");
            }
        }
        Err(error) => debug!(%error, "task usage refused"),
    }
}

async fn report_completion(
    shared: &Shared,
    task_id: &str,
    request: &CompleteRequest,
) -> TaskOutcome {
    let report = Report::Complete {
        request: request.clone(),
    };
    match shared
        .outbox
        .deliver(&shared.client, task_id, report, REPORT_ATTEMPTS)
        .await
    {
        Delivery::Delivered => TaskOutcome::Completed {
            session_id: request.session_id.clone(),
        },
        Delivery::Retry(reason) => {
            warn!(%reason, "the server is unreachable; the result waits in the outbox");
            TaskOutcome::Completed {
                session_id: request.session_id.clone(),
            }
        }
        Delivery::Settled(reason) => {
            // The task moved on (cancelled, or failed by the server's sweeper); a
            // fail would be refused the same way.
            warn!(%reason, "the server no longer accepts a result for this task");
            TaskOutcome::Failed { error: reason }
        }
        Delivery::Refused(reason) => {
            warn!(%reason, "completing the task was refused; reporting a failure instead");
            report_failure(shared, task_id, format!("complete task failed: {reason}")).await
        }
    }
}

async fn report_failure(shared: &Shared, task_id: &str, error: String) -> TaskOutcome {
    warn!(%error, "task failed");
    let report = Report::Fail {
        error: error.clone(),
    };
    match shared
        .outbox
        .deliver(&shared.client, task_id, report, REPORT_ATTEMPTS)
        .await
    {
        Delivery::Delivered | Delivery::Settled(_) => {}
        Delivery::Retry(reason) => {
            warn!(%reason, "the server is unreachable; the failure waits in the outbox");
        }
        Delivery::Refused(reason) => warn!(%reason, "reporting the failure was refused"),
    }
    TaskOutcome::Failed { error }
}

async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut delays = REPORT_BACKOFF.iter();
    loop {
        match call().await {
            Err(error) if error.is_retryable() || error.is_malformed() => match delays.next() {
                Some(delay) => {
                    debug!(%error, retry_in = ?delay, "report failed; retrying");
                    tokio::time::sleep(*delay).await;
                }
                None => return Err(error),
            },
            result => return result,
        }
    }
}
