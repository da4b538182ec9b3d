//! How a task ends on the server: the agent's outcome becomes a completion, a
//! failure with the reason, or a cancel acknowledgement; the run's tokens go to
//! the local ledger and, on current servers, with the task. Results go through
//! the outbox, so a server that is away gets them later.

use std::time::Duration;

use multica_agents::{ModelUsage, Provider, RunOutcome, RunStatus};
use multica_api::wire::{AgentTask, CompleteRequest, FailRequest, TaskStatus, TaskUsageEntry};
use multica_usage::PriceTable;
use multica_usage::task_runs::{TaskModelUsage, TaskUsage, TokenCounts};
use tracing::{debug, info, warn};

use super::{StopReason, TaskKit};
use crate::events::{EngineEvent, TaskOutcome};
use crate::failure::{FailureReason, classify, poisoned_answer, poisoned_error};
use crate::go_duration::format_duration;
use crate::outbox::{Delivery, Report};
use crate::registry::RuntimeBinding;
use crate::transcript::Redactor;

/// Rounds of direct delivery of a task's result before it is left to the outbox
/// loop (with the outbox's back-off: about 2 s, 4 s, 8 s between them).
const REPORT_ATTEMPTS: u32 = 4;

/// What a finished run amounts to, before it is reported.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    Complete(CompleteRequest),
    Fail(FailRequest),
    /// The server cancelled the task: nothing but the transcript is reported.
    Cancelled,
}

/// What the task's end is called in the words its user reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Names<'a> {
    pub(super) device: &'a str,
    pub(super) provider: &'a Provider,
    pub(super) agent_timeout: Option<Duration>,
}

/// A failure with its reason and the session it leaves, so that a retry on a
/// current server resumes it.
fn failure(error: String, reason: FailureReason, outcome: &RunOutcome) -> Verdict {
    Verdict::Fail(FailRequest {
        failure_reason: Some(reason.as_str().to_owned()),
        session_id: outcome.session_id.clone().filter(|id| !id.is_empty()),
        ..FailRequest::because(error)
    })
}

/// The verdict on a run: why it was stopped, else how the agent ended. Text that
/// becomes a comment on the issue (the output, the agent's errors) is redacted.
pub(super) fn verdict(
    stopped: Option<StopReason>,
    outcome: &RunOutcome,
    names: Names<'_>,
    redactor: &Redactor,
) -> Verdict {
    let provider = names.provider;
    let working = provider.display_name();
    match stopped {
        Some(StopReason::ServerCancelled) => return Verdict::Cancelled,
        Some(StopReason::CancelledHere) => {
            let error = format!(
                "stopped on {} by its user while {working} was working; assign the issue again to retry",
                names.device,
            );
            return failure(error, FailureReason::Cancelled, outcome);
        }
        Some(StopReason::DaemonStopping) => {
            let error = format!(
                "the Multica daemon on this machine stopped while {working} was working; assign the issue again to retry"
            );
            return failure(error, FailureReason::Cancelled, outcome);
        }
        Some(StopReason::Silent(window)) => {
            let error = format!(
                "agent produced no new messages for {} and message queue was empty; force-stopped by idle watchdog",
                format_duration(window)
            );
            return failure(error, FailureReason::IdleWatchdog, outcome);
        }
        None => {}
    }
    // The error can quote the agent's stderr, and becomes a comment.
    let error = outcome.error.as_deref().map(|error| redactor.redact(error));
    match outcome.status {
        RunStatus::Completed if outcome.output.trim().is_empty() => {
            let error = format!("{provider} returned empty output");
            failure(error, FailureReason::EmptyOrUnparseableOutput, outcome)
        }
        RunStatus::Completed => {
            let output = redactor.redact(&outcome.output);
            // A notice that the session is spent is not a result.
            if let Some(reason) = poisoned_answer(&output) {
                return failure(output, reason, outcome);
            }
            Verdict::Complete(CompleteRequest {
                output,
                session_id: outcome.session_id.clone(),
                ..CompleteRequest::default()
            })
        }
        RunStatus::TimedOut => {
            let error = error.unwrap_or_else(|| match names.agent_timeout {
                Some(limit) => format!("{provider} timed out after {}", format_duration(limit)),
                None => format!("{provider} timed out"),
            });
            failure(error, FailureReason::Timeout, outcome)
        }
        _ => {
            let error = error.unwrap_or_else(|| {
                format!("{provider} execution {:?}", outcome.status).to_lowercase()
            });
            let reason = poisoned_error(&error).unwrap_or_else(|| classify(&error));
            failure(error, reason, outcome)
        }
    }
}

/// Reports the verdict. A run that ended by itself is checked against the
/// server first: a task cancelled after the last status poll is not reported.
pub(super) async fn report(
    kit: &TaskKit,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    verdict: Verdict,
    stopped: Option<StopReason>,
    usage: &[ModelUsage],
    work_dir: &std::path::Path,
) -> TaskOutcome {
    if stopped.is_none() {
        progress(kit, &task.id, "Finishing task", 2, 2).await;
        // Reassigned or cancelled since the last poll: a result would be refused.
        if let Ok(TaskStatus::Cancelled) = kit.server.client.task_status(&task.id).await {
            info!("task cancelled during execution; result discarded");
            acknowledge_cancel(kit, &task.id).await;
            return TaskOutcome::Cancelled;
        }
        report_usage(kit, &task.id, &runtime.provider, usage).await;
    }
    match verdict {
        Verdict::Cancelled => {
            info!("task cancelled on the server; result discarded");
            acknowledge_cancel(kit, &task.id).await;
            TaskOutcome::Cancelled
        }
        Verdict::Fail(mut request) => {
            request.work_dir = Some(work_dir.to_string_lossy().into_owned());
            fail(kit, &task.id, request).await
        }
        Verdict::Complete(mut request) => {
            request.work_dir = Some(work_dir.to_string_lossy().into_owned());
            complete(kit, &task.id, &request).await
        }
    }
}

/// How the ledger names a run's end.
pub(super) fn ledger_outcome(stopped: Option<StopReason>, outcome: &RunOutcome) -> &'static str {
    match (stopped, &outcome.status) {
        (Some(StopReason::ServerCancelled | StopReason::CancelledHere), _) => "cancelled",
        (Some(StopReason::DaemonStopping), _) => "stopped",
        (Some(StopReason::Silent(_)), _) => "failed",
        (None, RunStatus::Completed) if !outcome.output.trim().is_empty() => "completed",
        (None, _) => "failed",
    }
}

/// Keeps the run's tokens in the local ledger (for `multica usage --by task` and
/// the window), whatever the server does with them, and asks for a log scan soon.
pub(super) fn keep_usage(
    kit: &TaskKit,
    task: &AgentTask,
    runtime: &RuntimeBinding,
    workspace_id: &str,
    outcome: &RunOutcome,
    stopped: Option<StopReason>,
) {
    kit.usage.want_scan();
    if outcome.usage.is_empty() {
        return;
    }
    let now = chrono::Utc::now();
    let record = TaskUsage {
        task_id: task.id.clone(),
        issue_id: task.issue_id.clone(),
        workspace_id: workspace_id.to_owned(),
        runtime_id: runtime.id.clone(),
        agent: runtime.provider.to_string(),
        finished_at: now,
        date: now.with_timezone(&chrono::Local).date_naive(),
        outcome: ledger_outcome(stopped, outcome).to_owned(),
        models: outcome
            .usage
            .iter()
            .map(|model| model_usage(model, kit.usage.prices()))
            .collect(),
    };
    if let Err(error) = kit.usage.ledger.append(record.clone()) {
        warn!(%error, "the task's usage was not written to the local ledger");
    }
    kit.bus.emit(EngineEvent::TaskUsage { usage: record });
}

/// A model's figures for the ledger; the cost is the agent's own when it told.
fn model_usage(usage: &ModelUsage, prices: &PriceTable) -> TaskModelUsage {
    let tokens = TokenCounts {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cache_read: usage.cache_read_tokens,
        cache_write: usage.cache_write_tokens,
    };
    TaskModelUsage::priced(&usage.model, tokens, usage.cost_usd, prices)
}

pub(super) async fn progress(kit: &TaskKit, task_id: &str, summary: &str, step: u32, total: u32) {
    kit.bus.emit(EngineEvent::TaskProgress {
        task_id: task_id.to_owned(),
        summary: summary.to_owned(),
        step,
        total,
    });
    if let Err(error) = kit
        .server
        .client
        .report_progress(task_id, summary, step, total)
        .await
    {
        debug!(%error, "progress report failed");
    }
}

/// Current servers: the transcript of a cancelled task is flushed (otherwise
/// their sweeper settles the cancel after 60 s).
async fn acknowledge_cancel(kit: &TaskKit, task_id: &str) {
    if !kit.server.features.cancel_ack.worth_trying() {
        return;
    }
    let result = kit.server.client.cancel_ack(task_id).await;
    if !kit.server.features.cancel_ack.learn(&result)
        && let Err(error) = result
    {
        debug!(%error, "cancel-ack failed");
    }
}

/// Current servers: the run's tokens per model, with the task. A server that is
/// away gets them later from the outbox; a seed server has no such route (its
/// usage comes from the machine-wide log scan).
async fn report_usage(
    kit: &TaskKit,
    task_id: &str,
    provider: &multica_agents::Provider,
    usage: &[multica_agents::ModelUsage],
) {
    if usage.is_empty() || !kit.server.features.task_usage.worth_trying() {
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
    let result = kit.server.client.report_task_usage(task_id, &entries).await;
    if kit.server.features.task_usage.learn(&result) {
        return;
    }
    match result {
        Ok(()) => {}
        Err(error) if error.is_retryable() => {
            if let Err(write_error) = kit.outbox.write(task_id, Report::Usage { usage: entries }) {
                warn!(%error, %write_error, "task usage lost");
            }
        }
        Err(error) => debug!(%error, "task usage refused"),
    }
}

async fn complete(kit: &TaskKit, task_id: &str, request: &CompleteRequest) -> TaskOutcome {
    let report = Report::Complete {
        request: request.clone(),
    };
    match kit
        .outbox
        .deliver(&kit.server.client, task_id, report, REPORT_ATTEMPTS)
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
            let error = format!("complete task failed: {reason}");
            let request = FailRequest {
                failure_reason: Some(classify(&error).as_str().to_owned()),
                session_id: request.session_id.clone(),
                work_dir: request.work_dir.clone(),
                ..FailRequest::because(error)
            };
            fail(kit, task_id, request).await
        }
    }
}

pub(super) async fn fail(kit: &TaskKit, task_id: &str, request: FailRequest) -> TaskOutcome {
    let error = request.error.clone();
    warn!(%error, reason = ?request.failure_reason, "task failed");
    let report = Report::Fail { request };
    match kit
        .outbox
        .deliver(&kit.server.client, task_id, report, REPORT_ATTEMPTS)
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

#[cfg(test)]
mod tests {

    use multica_usage::task_runs::CostSource;

    use super::*;

    fn outcome(status: RunStatus, output: &str, error: Option<&str>) -> RunOutcome {
        RunOutcome {
            status,
            output: output.into(),
            error: error.map(str::to_owned),
            session_id: Some("s1".into()),
            exit_code: None,
            duration: Duration::from_secs(1),
            usage: Vec::new(),
        }
    }

    fn judge(stopped: Option<StopReason>, run: &RunOutcome) -> Verdict {
        let names = Names {
            device: "laptop",
            provider: &Provider::claude(),
            agent_timeout: Some(Duration::from_secs(7200)),
        };
        verdict(stopped, run, names, &Redactor::new(["mul_sekrit_token"]))
    }

    #[test]
    fn a_completed_run_is_completed_with_its_output_redacted() {
        let run = outcome(RunStatus::Completed, "done; token mul_sekrit_token", None);
        let Verdict::Complete(request) = judge(None, &run) else {
            panic!("not completed");
        };
        assert!(
            !request.output.contains("mul_sekrit_token"),
            "{}",
            request.output
        );
        assert_eq!(request.session_id.as_deref(), Some("s1"));
        assert_eq!(ledger_outcome(None, &run), "completed");
    }

    /// The words and reason of a failed verdict.
    fn failed(verdict: Verdict) -> (String, String) {
        let Verdict::Fail(request) = verdict else {
            panic!("not failed: {verdict:?}");
        };
        (request.error, request.failure_reason.unwrap_or_default())
    }

    #[test]
    fn an_empty_answer_fails_the_task() {
        let run = outcome(RunStatus::Completed, "  \n", None);
        assert_eq!(
            failed(judge(None, &run)),
            (
                "claude returned empty output".into(),
                "agent_error.empty_or_unparseable_output".into()
            )
        );
        assert_eq!(ledger_outcome(None, &run), "failed");
    }

    #[test]
    fn timeouts_and_failures_say_why_with_secrets_redacted_and_the_servers_reason() {
        let timed_out = outcome(RunStatus::TimedOut, "", None);
        assert_eq!(
            failed(judge(None, &timed_out)),
            ("claude timed out after 2h".into(), "timeout".into()),
            "a wall-clock timeout is retried by current servers"
        );
        let failed_run = outcome(
            RunStatus::Failed,
            "",
            Some("exit 1: bad key mul_sekrit_token"),
        );
        let (error, reason) = failed(judge(None, &failed_run));
        assert!(
            error.starts_with("exit 1: bad key") && !error.contains("mul_sekrit_token"),
            "{error}"
        );
        assert_eq!(reason, "agent_error.unknown");
        let network = outcome(
            RunStatus::Failed,
            "",
            Some("API Error: stream disconnected"),
        );
        assert_eq!(
            failed(judge(None, &network)).1,
            "agent_error.provider_network"
        );
        let refused = outcome(
            RunStatus::Failed,
            "",
            Some(r#"API Error: 400 {"error":{"type":"invalid_request_error"}}"#),
        );
        assert_eq!(failed(judge(None, &refused)).1, "api_invalid_request");
        let silent = outcome(RunStatus::Failed, "", None);
        assert_eq!(failed(judge(None, &silent)).0, "claude execution failed");
    }

    #[test]
    fn a_failure_keeps_the_session_for_the_retry() {
        let run = outcome(RunStatus::Failed, "", Some("stream disconnected"));
        let Verdict::Fail(request) = judge(None, &run) else {
            panic!("not failed");
        };
        assert_eq!(request.session_id.as_deref(), Some("s1"));
    }

    #[test]
    fn a_notice_instead_of_an_answer_fails_with_its_reason() {
        let run = outcome(RunStatus::Completed, "I reached the iteration limit.", None);
        assert_eq!(
            failed(judge(None, &run)),
            (
                "I reached the iteration limit.".into(),
                "iteration_limit".into()
            )
        );
    }

    #[test]
    fn a_stopped_run_is_judged_by_who_stopped_it_whatever_the_agent_said() {
        let run = outcome(RunStatus::Completed, "half done", None);
        assert_eq!(
            judge(Some(StopReason::ServerCancelled), &run),
            Verdict::Cancelled
        );
        assert_eq!(
            ledger_outcome(Some(StopReason::ServerCancelled), &run),
            "cancelled"
        );
        let (here, reason) = failed(judge(Some(StopReason::CancelledHere), &run));
        assert!(
            here.starts_with("stopped on laptop by its user while Claude was working"),
            "{here}"
        );
        assert_eq!(reason, "cancelled");
        assert_eq!(
            ledger_outcome(Some(StopReason::CancelledHere), &run),
            "cancelled"
        );
        let (stopping, reason) = failed(judge(Some(StopReason::DaemonStopping), &run));
        assert!(
            stopping.starts_with("the Multica daemon on this machine stopped"),
            "{stopping}"
        );
        assert_eq!(reason, "cancelled");
        assert_eq!(
            ledger_outcome(Some(StopReason::DaemonStopping), &run),
            "stopped"
        );
        let silent = judge(Some(StopReason::Silent(Duration::from_secs(1800))), &run);
        assert_eq!(
            failed(silent),
            (
                "agent produced no new messages for 30m and message queue was empty; force-stopped by idle watchdog".into(),
                "idle_watchdog".into()
            )
        );
    }

    #[test]
    fn a_run_is_priced_by_its_agent_first_then_by_the_table() {
        let prices = PriceTable::built_in();
        let usage = multica_agents::ModelUsage {
            model: "claude-sonnet-4-20250514".into(),
            input_tokens: 1_000_000,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: None,
        };
        let priced = model_usage(&usage, &prices);
        assert_eq!(priced.cost_from, CostSource::Prices);
        assert!(priced.cost_usd.is_some_and(|cost| cost > 0.0));

        let told = model_usage(
            &multica_agents::ModelUsage {
                cost_usd: Some(0.25),
                ..usage.clone()
            },
            &prices,
        );
        assert_eq!(
            (told.cost_usd, told.cost_from),
            (Some(0.25), CostSource::Agent)
        );

        let unknown = model_usage(
            &multica_agents::ModelUsage {
                model: "mystery".into(),
                ..usage
            },
            &prices,
        );
        assert_eq!(
            (unknown.cost_usd, unknown.cost_from),
            (None, CostSource::Unknown)
        );
    }
}
