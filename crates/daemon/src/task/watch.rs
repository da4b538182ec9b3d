//! The agent at work: its events go into the live transcript until it ends,
//! while the task's status on the server is polled, the daemon's and this
//! machine's stop requests are watched, and a watchdog stops an agent that went
//! silent. The agent process itself is driven by the agents crate.

use std::time::Duration;

use multica_agents::{AgentEvent, AgentRun, RunOutcome};
use multica_api::wire::PinSessionRequest;
use tokio::time::Instant;
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
    work_dir: &std::path::Path,
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
    // The first session the agent names is pinned on the server at once, so a
    // crash of this daemon does not lose what the next run resumes.
    let mut pinned = false;
    let mut silence = Silence::new(
        kit.config.idle_watchdog,
        kit.config.tool_watchdog,
        Instant::now(),
    );
    let watchdog = tokio::time::sleep_until(silence.deadline().unwrap_or_else(far_future));
    tokio::pin!(watchdog);
    let stop_agent = |reason: StopReason, stopped: &mut Option<StopReason>| {
        *stopped = Some(reason);
        agent_cancel.cancel();
    };

    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    silence.heard(&event, Instant::now());
                    if let AgentEvent::Session(session_id) = &event
                        && !pinned
                    {
                        pinned = true;
                        pin_session(kit, task_id, session_id, work_dir);
                    }
                    watchdog.as_mut().reset(silence.deadline().unwrap_or_else(far_future));
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
            () = &mut watchdog, if stopped.is_none() && silence.deadline().is_some() => {
                let window = silence.window().unwrap_or_default();
                info!(silent_for = ?window, tools_running = silence.in_flight, "the agent went silent; stopping it");
                transcript.push_error("The agent said nothing for too long; the watchdog stopped it.");
                stop_agent(StopReason::Silent(window), &mut stopped);
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

/// Tells a current server the running task's session and work directory, in
/// the background: a slow answer must not hold the transcript up.
fn pin_session(kit: &TaskKit, task_id: &str, session_id: &str, work_dir: &std::path::Path) {
    let server = std::sync::Arc::clone(&kit.server);
    if !server.features.session_pin.worth_trying() {
        return;
    }
    let task_id = task_id.to_owned();
    let request = PinSessionRequest {
        session_id: Some(session_id.to_owned()),
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
    };
    tokio::spawn(async move {
        let pinned =
            tokio::time::timeout(PIN_TIMEOUT, server.client.pin_session(&task_id, &request)).await;
        match pinned {
            Ok(result) => {
                if !server.features.session_pin.learn(&result)
                    && let Err(error) = result
                {
                    debug!(%error, "pinning the session failed");
                }
            }
            Err(_) => debug!("pinning the session timed out"),
        }
    });
}

const PIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the agent has been silent, against the watchdog's windows: any event
/// counts as a sign of life; while a tool call is in flight (a build, a test
/// run) the longer tool window applies, as upstream's daemon does.
#[derive(Debug, Clone)]
struct Silence {
    /// `None`: the whole watchdog is off.
    idle: Option<Duration>,
    /// `None`: a tool call in flight never trips it.
    tool: Option<Duration>,
    /// Tool calls started and not yet answered.
    in_flight: u32,
    last_heard: Instant,
}

impl Silence {
    fn new(idle: Option<Duration>, tool: Option<Duration>, now: Instant) -> Self {
        Self {
            idle,
            tool,
            in_flight: 0,
            last_heard: now,
        }
    }

    fn heard(&mut self, event: &AgentEvent, now: Instant) {
        self.last_heard = now;
        match event {
            AgentEvent::ToolUse { .. } => self.in_flight += 1,
            AgentEvent::ToolResult { .. } => self.in_flight = self.in_flight.saturating_sub(1),
            _ => {}
        }
    }

    /// The silence allowed now; `None` when nothing can trip the watchdog.
    fn window(&self) -> Option<Duration> {
        let idle = self.idle?;
        if self.in_flight > 0 {
            self.tool
        } else {
            Some(idle)
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.window().map(|window| self.last_heard + window)
    }
}

/// A deadline that never comes, for a watchdog that is off.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_use() -> AgentEvent {
        AgentEvent::ToolUse {
            tool: "Bash".into(),
            call_id: "c1".into(),
            input: serde_json::Value::Null,
        }
    }

    fn tool_result() -> AgentEvent {
        AgentEvent::ToolResult {
            call_id: "c1".into(),
            tool: None,
            output: String::new(),
            is_error: false,
        }
    }

    #[test]
    fn silence_is_measured_from_the_last_event_with_the_tool_window_while_a_tool_runs() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut silence = Silence::new(Some(30 * minute), Some(120 * minute), start);
        assert_eq!(silence.deadline(), Some(start + 30 * minute));
        let later = start + 10 * minute;
        silence.heard(&tool_use(), later);
        assert_eq!(silence.window(), Some(120 * minute));
        assert_eq!(silence.deadline(), Some(later + 120 * minute));
        silence.heard(&tool_result(), later + minute);
        assert_eq!(silence.deadline(), Some(later + minute + 30 * minute));
        silence.heard(&tool_result(), later + minute);
        assert_eq!(
            silence.in_flight, 0,
            "an unmatched result does not go below zero"
        );
    }

    #[test]
    fn zero_windows_turn_the_watchdog_off() {
        let start = Instant::now();
        let off = Silence::new(None, Some(Duration::from_secs(60)), start);
        assert_eq!(
            off.deadline(),
            None,
            "no idle window: the whole watchdog is off"
        );
        let mut no_tool_limit = Silence::new(Some(Duration::from_secs(60)), None, start);
        assert!(no_tool_limit.deadline().is_some());
        no_tool_limit.heard(&tool_use(), start);
        assert_eq!(
            no_tool_limit.deadline(),
            None,
            "a running tool never trips it"
        );
    }
}
