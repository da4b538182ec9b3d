//! The agent at work: its events go into the live transcript until it ends,
//! while the task's status on the server is polled and the daemon's and this
//! machine's stop requests are watched. The agent process itself is driven by
//! the agents crate.

use multica_agents::{AgentEvent, AgentRun, RunOutcome};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::transcript::{FLUSH_INTERVAL, TranscriptSender};
use super::{StopReason, Stops, TaskKit};
use crate::transcript::Redactor;

/// Forwards the agent's events into the transcript until it ends. Returns the
/// outcome and, if the agent was stopped early, why.
pub(super) async fn watch_agent(
    kit: &TaskKit,
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
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    let mut status_poll = tokio::time::interval(kit.config.status_poll_interval);
    status_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    status_poll.tick().await;
    let mut stopped: Option<StopReason> = None;
    let mut tool_calls = 0u32;
    let stop_agent = |reason: StopReason, stopped: &mut Option<StopReason>| {
        *stopped = Some(reason);
        agent_cancel.cancel();
    };

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
            _ = flush.tick() => transcript.flush(kit).await,
            _ = status_poll.tick(), if stopped.is_none() => {
                match kit.server.client.task_status(task_id).await {
                    Ok(status) if status.is_terminal() => {
                        info!(%status, "task ended on the server; stopping the agent");
                        stop_agent(StopReason::ServerCancelled, &mut stopped);
                    }
                    Err(error) if error.is_not_found() => {
                        info!("task no longer exists on the server; stopping the agent");
                        stop_agent(StopReason::ServerCancelled, &mut stopped);
                    }
                    Ok(_) => {}
                    Err(error) => debug!(%error, "status poll failed"),
                }
            }
            () = stops.daemon.cancelled(), if stopped.is_none() => {
                transcript.push_error("The daemon is stopping; the agent was stopped.");
                stop_agent(StopReason::DaemonStopping, &mut stopped);
            }
            () = stops.here.cancelled(), if stopped.is_none() => {
                info!("task cancelled on this machine; stopping the agent");
                transcript.push_error("Stopped on this machine by its user.");
                stop_agent(StopReason::CancelledHere, &mut stopped);
            }
        }
    }
    let outcome = outcome.await;
    transcript.finish(kit).await;
    (outcome, stopped)
}
