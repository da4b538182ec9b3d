//! The agent's child process, driven the same way for every backend: spawn the CLI
//! in its own process group, feed its stdin, read its stdout (one protocol message
//! per line) and stderr, deliver events with back-pressure, and stop it on cancel,
//! timeout, or when it lingers after its final message.
//!
//! What a line means is the backend's business ([`OutputProtocol`]); everything
//! about processes and pipes lives here, so that Codex, OpenCode and ACP backends
//! get the same guarantees as Claude's.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::lines::{Line, LineSplitter, MAX_LINE_BYTES};
use crate::process::{
    end_stragglers, own_process_group, stop_escalating, track_group, untrack_group,
};
use crate::{
    AgentError, AgentEvent, AgentRun, EVENT_BUFFER, KillGrace, LogLevel, OutcomeReceiver, Provider,
    RunOutcome, RunSpec, RunStatus,
};

/// How much of the end of stderr is kept to explain a failure.
pub(crate) const STDERR_TAIL_BYTES: usize = 4096;

/// Longest stderr line forwarded as one log event; stderr is for people, and a
/// longer line is noise (it still counts towards the tail).
const STDERR_LINE_BYTES: usize = 64 * 1024;

/// How long output may go on after the CLI exited before the rest of its group is
/// ended. A tool's background job can hold the pipe open forever; the CLI's own
/// last lines are already in the pipe when it exits.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a CLI may take to exit after its final message (and after its stdin
/// was closed) before it is stopped. Hooks and MCP servers can keep a CLI alive
/// after it has said everything; the result stands nevertheless.
const EXIT_GRACE_AFTER_FINISH: Duration = Duration::from_secs(5);

const READ_CHUNK: usize = 64 * 1024;

/// What to do about one line of output.
#[derive(Debug, Default)]
pub(crate) struct Reaction {
    pub(crate) events: Vec<AgentEvent>,
    /// Lines to write to the CLI's stdin (answers to its requests).
    pub(crate) replies: Vec<String>,
    /// The CLI has delivered its final message: close its stdin, and expect it to
    /// exit soon.
    pub(crate) finished: bool,
    /// The CLI's start-up handshake is over (see [`Launch::handshake_timeout`]).
    pub(crate) ready: bool,
}

/// How a CLI's stdout is read: one message per line.
pub(crate) trait OutputProtocol: Send + 'static {
    fn on_line(&mut self, line: &[u8]) -> Reaction;

    /// A line longer than [`MAX_LINE_BYTES`] was skipped.
    fn on_overlong_line(&mut self, length: usize) -> Reaction {
        Reaction {
            events: vec![AgentEvent::Error(format!(
                "skipped an output line of {length} bytes: longer than the {} MiB limit",
                MAX_LINE_BYTES / (1024 * 1024)
            ))],
            ..Reaction::default()
        }
    }
}

/// Everything needed to start and drive one run.
#[derive(Debug)]
pub(crate) struct Launch<P> {
    /// Names the CLI in logs and messages, e.g. `claude`.
    pub(crate) agent: Arc<str>,
    pub(crate) executable: PathBuf,
    /// Program, arguments, environment and work directory; pipes and the process
    /// group are set up here.
    pub(crate) command: Command,
    /// Written to stdin first, one per line.
    pub(crate) stdin_lines: Vec<String>,
    /// Close stdin once `stdin_lines` are written: the CLI reads its input to the
    /// end before it starts, and never asks anything back.
    pub(crate) close_stdin: bool,
    pub(crate) protocol: P,
    pub(crate) timeout: Option<Duration>,
    /// See [`RunSpec::idle_timeout`](crate::RunSpec::idle_timeout).
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) kill_grace: KillGrace,
    /// For CLIs with a start-up handshake: stop the run if no reaction reported
    /// `ready` within this long (a CLI that never answers would otherwise be
    /// caught only by the idle watchdog, much later).
    pub(crate) handshake_timeout: Option<Duration>,
}

/// When the CLI last printed anything, on stdout or stderr.
#[derive(Debug)]
struct Activity {
    started: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new(started: Instant) -> Arc<Self> {
        Arc::new(Self {
            started,
            last_millis: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Why the CLI was stopped (rather than ending by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    Cancelled,
    TimedOut,
    /// It printed nothing for this long.
    Idle(Duration),
    /// It had delivered its final message but did not exit.
    LingeredAfterFinish,
    /// Its start-up handshake did not finish within this long.
    Handshake(Duration),
}

/// A run that has ended, with all its output read.
#[derive(Debug)]
pub(crate) struct Ended<P> {
    pub(crate) protocol: P,
    /// `None` when the exit status could not be collected.
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) stopped: Option<StopCause>,
    pub(crate) stderr_tail: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) duration: Duration,
}

#[derive(Debug)]
enum StdinCommand {
    Write(String),
    Close,
}

/// The CLI's command, in the run's work dir with the run's environment; the
/// backend adds its arguments.
/// The provider's own environment comes first, so the run's (the engine's) wins.
pub(crate) fn command_for(provider: &Provider, spec: &RunSpec) -> Result<Command, AgentError> {
    if !spec.cwd.is_dir() {
        return Err(AgentError::MissingWorkDir {
            path: spec.cwd.clone(),
        });
    }
    let profile = provider.profile();
    let mut command = Command::new(&spec.executable);
    command
        .current_dir(&spec.cwd)
        // An inherited PWD names the daemon's directory; CLIs that trust it
        // (OpenCode does, for its project config) would work in the wrong place.
        .env("PWD", &spec.cwd)
        .envs(profile.env.iter().map(|(key, value)| (key, value)))
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .args(&profile.args);
    info!(
        agent = %provider,
        cwd = %spec.cwd.display(),
        model = ?spec.model,
        resume = ?spec.resume_session_id,
        "starting the agent"
    );
    Ok(command)
}

/// How a run that was stopped ended, in words naming `agent`; `None`
/// when the CLI ended by itself (or lingered after its final message), so its
/// own output decides.
pub(crate) fn stopped_outcome(
    agent: &str,
    stopped: Option<StopCause>,
    timeout: Option<Duration>,
    stderr_tail: &str,
) -> Option<(RunStatus, String)> {
    let human = |d: Duration| humantime::format_duration(d).to_string();
    Some(match stopped? {
        StopCause::TimedOut => (
            RunStatus::TimedOut,
            match timeout {
                Some(limit) => format!("{agent} timed out after {}", human(limit)),
                None => format!("{agent} timed out"),
            },
        ),
        StopCause::Idle(quiet) => (
            RunStatus::TimedOut,
            format!(
                "{agent} printed nothing for {} and was stopped as stuck (MULTICA_AGENT_IDLE_TIMEOUT)",
                human(quiet)
            ),
        ),
        StopCause::Handshake(limit) => {
            let message = format!("{agent} did not get ready within {}", human(limit));
            let stderr = stderr_tail.trim();
            (
                RunStatus::Failed,
                if stderr.is_empty() {
                    message
                } else {
                    format!("{message}: {stderr}")
                },
            )
        }
        StopCause::Cancelled => (
            RunStatus::Cancelled,
            format!("the run was cancelled and {agent} was stopped"),
        ),
        StopCause::LingeredAfterFinish => return None,
    })
}

/// Why a CLI that ended before its turn did failed: how it ended, what the
/// protocol last reported (`detail`), and the end of its stderr.
pub(crate) fn ended_before_the_turn(
    agent: &str,
    exit: Option<ExitStatus>,
    detail: Option<&str>,
    stderr_tail: &str,
) -> String {
    let mut message = match exit.and_then(|status| status.code()) {
        Some(code) => format!("{agent} exited with status {code} before the turn ended"),
        None => format!("{agent} ended before the turn ended"),
    };
    if let Some(detail) = detail {
        message.push_str(&format!(" (last error: {detail})"));
    }
    let stderr = stderr_tail.trim();
    if !stderr.is_empty() {
        message.push_str(": ");
        message.push_str(stderr);
    }
    message
}

/// Spawns the CLI and drives it on a task of its own; `finish` turns the ended
/// run into its outcome.
pub(crate) fn start<P, F>(
    launch: Launch<P>,
    cancel: CancellationToken,
    finish: F,
) -> Result<AgentRun, AgentError>
where
    P: OutputProtocol,
    F: FnOnce(Ended<P>) -> RunOutcome + Send + 'static,
{
    let Launch {
        agent,
        executable,
        mut command,
        stdin_lines,
        close_stdin,
        protocol,
        timeout,
        idle_timeout,
        kill_grace,
        handshake_timeout,
    } = launch;
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    own_process_group(&mut command);
    let started = Instant::now();
    let activity = Activity::new(started);
    let mut child = command
        .spawn()
        .map_err(|source| AgentError::from_spawn(executable.clone(), source))?;
    let pid = child.id();
    track_group(pid);
    info!(%agent, pid, executable = %executable.display(), "agent started");

    let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
    for line in stdin_lines {
        // The receiver is alive: it is handed to the writer below.
        let _ = stdin_tx.send(StdinCommand::Write(line));
    }
    if close_stdin {
        let _ = stdin_tx.send(StdinCommand::Close);
    }
    let finished = CancellationToken::new();
    let ready = CancellationToken::new();
    let stop_reading = CancellationToken::new();

    if let Some(stdin) = child.stdin.take() {
        tokio::spawn(feed_stdin(Arc::clone(&agent), stdin, stdin_rx));
    }
    let stdout_reader = tokio::spawn(read_stdout(
        child.stdout.take(),
        protocol,
        EventSink::new(events_tx.clone()),
        stdin_tx,
        ReaderSignals {
            finished: finished.clone(),
            ready: ready.clone(),
            stop: stop_reading.clone(),
        },
        Arc::clone(&activity),
    ));
    let stderr_reader = tokio::spawn(read_stderr(
        child.stderr.take(),
        EventSink::new(events_tx),
        stop_reading.clone(),
        Arc::clone(&activity),
    ));

    tokio::spawn(async move {
        let limits = Limits {
            timeout,
            idle_timeout,
            kill_grace,
            handshake_timeout,
        };
        let signals = Signals {
            cancel: &cancel,
            finished: &finished,
            ready: &ready,
        };
        let (exit, stopped) = wait_for_exit(&mut child, pid, signals, limits, &activity).await;
        if let Some(cause) = stopped {
            info!(%agent, pid, ?cause, "agent stopped");
        }

        let mut stdout_reader = stdout_reader;
        let joined = match tokio::time::timeout(DRAIN_GRACE, &mut stdout_reader).await {
            Ok(joined) => {
                end_stragglers(pid).await;
                stop_reading.cancel();
                joined
            }
            Err(_) => {
                debug!(
                    %agent,
                    pid, "output still open after the agent exited; ending its process group"
                );
                end_stragglers(pid).await;
                stop_reading.cancel();
                stdout_reader.await
            }
        };
        untrack_group(pid);
        let stderr_tail = stderr_reader.await.unwrap_or_default();
        let duration = started.elapsed();
        let outcome = match joined {
            Ok(protocol) => finish(Ended {
                protocol,
                exit,
                stopped,
                stderr_tail,
                timeout,
                duration,
            }),
            Err(error) => {
                warn!(%agent, %error, "the output reader failed");
                RunOutcome::failed(
                    format!("reading {agent}'s output failed: {error}"),
                    duration,
                )
            }
        };
        info!(%agent, pid, status = ?outcome.status, duration = ?outcome.duration, "agent finished");
        // The receiver may be gone (the engine gave up on the run); nothing to do.
        let _ = outcome_tx.send(outcome);
    });

    Ok(AgentRun {
        events: events_rx,
        outcome: OutcomeReceiver::new(outcome_rx),
        pid,
    })
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    kill_grace: KillGrace,
    handshake_timeout: Option<Duration>,
}

/// What the stdout reader signals (`finished`, `ready`) and is told (`stop`:
/// give up waiting for more output).
#[derive(Debug, Default)]
struct ReaderSignals {
    finished: CancellationToken,
    ready: CancellationToken,
    stop: CancellationToken,
}

/// What the readers and the caller tell the waiter.
#[derive(Debug, Clone, Copy)]
struct Signals<'a> {
    cancel: &'a CancellationToken,
    finished: &'a CancellationToken,
    ready: &'a CancellationToken,
}

/// Waits until the CLI exits, stopping it first when the run is cancelled, times
/// out, goes quiet for too long, or lingers after its final message.
async fn wait_for_exit(
    child: &mut tokio::process::Child,
    pgid: Option<u32>,
    signals: Signals<'_>,
    limits: Limits,
    activity: &Activity,
) -> (Option<ExitStatus>, Option<StopCause>) {
    let Signals {
        cancel,
        finished,
        ready,
    } = signals;
    const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
    let deadline = tokio::time::sleep(limits.timeout.unwrap_or(NEVER));
    tokio::pin!(deadline);
    let linger = tokio::time::sleep(NEVER);
    tokio::pin!(linger);
    let idle_check = tokio::time::sleep(limits.idle_timeout.unwrap_or(NEVER));
    tokio::pin!(idle_check);
    let handshake = tokio::time::sleep(limits.handshake_timeout.unwrap_or(NEVER));
    tokio::pin!(handshake);
    let mut finish_seen = false;
    let cause = loop {
        tokio::select! {
            status = child.wait() => return (status.ok(), None),
            () = cancel.cancelled() => break StopCause::Cancelled,
            () = &mut deadline, if limits.timeout.is_some() => break StopCause::TimedOut,
            () = &mut idle_check, if limits.idle_timeout.is_some() => {
                let idle = limits.idle_timeout.unwrap_or(NEVER);
                let quiet = activity.quiet_for();
                if quiet >= idle {
                    break StopCause::Idle(idle);
                }
                // Output came meanwhile: check again when it would be overdue.
                idle_check.as_mut().reset(tokio::time::Instant::now() + (idle - quiet));
            }
            () = finished.cancelled(), if !finish_seen => {
                finish_seen = true;
                linger.as_mut().reset(tokio::time::Instant::now() + EXIT_GRACE_AFTER_FINISH);
            }
            () = &mut linger, if finish_seen => break StopCause::LingeredAfterFinish,
            () = &mut handshake, if limits.handshake_timeout.is_some() && !ready.is_cancelled() && !finish_seen => {
                break StopCause::Handshake(limits.handshake_timeout.unwrap_or(NEVER));
            }
        }
    };
    (
        stop_escalating(child, pgid, limits.kill_grace).await,
        Some(cause),
    )
}

/// Delivers events with back-pressure; once the consumer is gone, discards them
/// (reading goes on, so the CLI never blocks on a full pipe).
#[derive(Debug)]
struct EventSink {
    sender: mpsc::Sender<AgentEvent>,
    open: bool,
}

impl EventSink {
    fn new(sender: mpsc::Sender<AgentEvent>) -> Self {
        Self { sender, open: true }
    }

    async fn send(&mut self, event: AgentEvent) {
        if self.open && self.sender.send(event).await.is_err() {
            debug!("event consumer gone; reading on without delivering");
            self.open = false;
        }
    }
}

async fn feed_stdin(
    agent: Arc<str>,
    mut stdin: impl AsyncWrite + Unpin,
    mut commands: mpsc::UnboundedReceiver<StdinCommand>,
) {
    while let Some(command) = commands.recv().await {
        let StdinCommand::Write(mut line) = command else {
            break;
        };
        line.push('\n');
        let written = match stdin.write_all(line.as_bytes()).await {
            Ok(()) => stdin.flush().await,
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            // Usually the CLI exited early (bad flags, refused to run); its exit
            // status and stderr explain that better than this broken pipe.
            debug!(%agent, %error, "cannot write to the agent's stdin");
            return;
        }
    }
    // Dropping stdin closes it: the CLI reads EOF.
}

/// Reads stdout to its end (or until told to stop waiting for more), turning lines
/// into events and answers. Returns the protocol with everything it learned.
async fn read_stdout<P: OutputProtocol>(
    stdout: Option<impl AsyncRead + Unpin>,
    mut protocol: P,
    mut events: EventSink,
    stdin: mpsc::UnboundedSender<StdinCommand>,
    signals: ReaderSignals,
    activity: Arc<Activity>,
) -> P {
    let ReaderSignals {
        finished,
        ready,
        stop,
    } = signals;
    let Some(mut stdout) = stdout else {
        return protocol;
    };
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut lines = Vec::new();
    loop {
        let read = tokio::select! {
            // Output that is there is always read; `stop` only ends a wait for
            // output that may never come.
            biased;
            read = stdout.read(&mut buffer) => read,
            () = stop.cancelled() => Ok(0),
        };
        let at_end = match read {
            Ok(0) => true,
            Ok(count) => {
                activity.touch();
                splitter.push(&buffer[..count], &mut lines);
                false
            }
            Err(error) => {
                warn!(%error, "reading the agent's output failed");
                true
            }
        };
        if at_end {
            splitter.finish(&mut lines);
        }
        for line in lines.drain(..) {
            let reaction = match line {
                Line::Complete(bytes) => protocol.on_line(&bytes),
                Line::TooLong(length) => protocol.on_overlong_line(length),
            };
            for reply in reaction.replies {
                let _ = stdin.send(StdinCommand::Write(reply));
            }
            if reaction.ready {
                ready.cancel();
            }
            if reaction.finished {
                let _ = stdin.send(StdinCommand::Close);
                finished.cancel();
            }
            for event in reaction.events {
                events.send(event).await;
            }
        }
        if at_end {
            return protocol;
        }
    }
}

/// Forwards stderr as log events and returns its tail, to explain failures.
async fn read_stderr(
    stderr: Option<impl AsyncRead + Unpin>,
    mut events: EventSink,
    stop: CancellationToken,
    activity: Arc<Activity>,
) -> String {
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut splitter = LineSplitter::new(STDERR_LINE_BYTES);
    let mut buffer = vec![0u8; 16 * 1024];
    let mut lines = Vec::new();
    loop {
        let read = tokio::select! {
            biased;
            read = stderr.read(&mut buffer) => read.unwrap_or(0),
            () = stop.cancelled() => 0,
        };
        if read == 0 {
            splitter.finish(&mut lines);
        } else {
            activity.touch();
            tail.extend_from_slice(&buffer[..read]);
            if tail.len() > 2 * STDERR_TAIL_BYTES {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
            splitter.push(&buffer[..read], &mut lines);
        }
        for line in lines.drain(..) {
            let message = match line {
                Line::Complete(bytes) => String::from_utf8_lossy(&bytes).trim_end().to_owned(),
                Line::TooLong(length) => format!("(a stderr line of {length} bytes, not shown)"),
            };
            if message.trim().is_empty() {
                continue;
            }
            debug!(target: "agent_stderr", "{message}");
            events
                .send(AgentEvent::Log {
                    level: LogLevel::Warn,
                    message,
                })
                .await;
        }
        if read == 0 {
            let text = String::from_utf8_lossy(&tail);
            return tail_of(text.trim(), STDERR_TAIL_BYTES).to_owned();
        }
    }
}

/// The last `max_bytes` (or fewer, to stay on a character boundary) of `text`.
pub(crate) fn tail_of(text: &str, max_bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Echo {
        lines: Vec<String>,
    }

    impl OutputProtocol for Echo {
        fn on_line(&mut self, line: &[u8]) -> Reaction {
            let text = String::from_utf8_lossy(line).into_owned();
            self.lines.push(text.clone());
            Reaction {
                events: vec![AgentEvent::Text(text)],
                ..Reaction::default()
            }
        }
    }

    #[test]
    fn tails_stay_on_character_boundaries() {
        assert_eq!(tail_of("héllo", 4), "llo");
        assert_eq!(tail_of("héllo", 5), "éllo");
        assert_eq!(tail_of("héllo", 6), "héllo");
        assert_eq!(tail_of("abc", 10), "abc");
    }

    #[tokio::test]
    async fn a_slow_consumer_loses_nothing() {
        let count = EVENT_BUFFER * 8;
        let input: String = (0..count).map(|n| format!("line {n}\n")).collect();
        let (sender, mut receiver) = mpsc::channel(EVENT_BUFFER);
        let (stdin, _stdin_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stdout(
            Some(std::io::Cursor::new(input.into_bytes())),
            Echo::default(),
            EventSink::new(sender),
            stdin,
            ReaderSignals::default(),
            Activity::new(Instant::now()),
        ));
        let mut received = 0;
        while let Some(event) = receiver.recv().await {
            assert_eq!(event, AgentEvent::Text(format!("line {received}")));
            received += 1;
            if received % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(received, count);
        let echo = reader.await.expect("reader");
        assert_eq!(echo.lines.len(), count);
    }

    #[tokio::test]
    async fn a_gone_consumer_does_not_stop_reading() {
        let input: String = (0..EVENT_BUFFER * 4).map(|n| format!("{n}\n")).collect();
        let (sender, receiver) = mpsc::channel(EVENT_BUFFER);
        drop(receiver);
        let (stdin, _stdin_rx) = mpsc::unbounded_channel();
        let echo = read_stdout(
            Some(std::io::Cursor::new(input.into_bytes())),
            Echo::default(),
            EventSink::new(sender),
            stdin,
            ReaderSignals::default(),
            Activity::new(Instant::now()),
        )
        .await;
        assert_eq!(echo.lines.len(), EVENT_BUFFER * 4);
    }

    #[tokio::test]
    async fn stderr_tail_keeps_the_end() {
        let input: String = (0..2000).map(|n| format!("warning {n}\n")).collect();
        let (sender, mut receiver) = mpsc::channel(EVENT_BUFFER);
        let drain = tokio::spawn(async move {
            let mut count = 0;
            while receiver.recv().await.is_some() {
                count += 1;
            }
            count
        });
        let tail = read_stderr(
            Some(std::io::Cursor::new(input.into_bytes())),
            EventSink::new(sender),
            CancellationToken::new(),
            Activity::new(Instant::now()),
        )
        .await;
        assert_eq!(drain.await.expect("drain"), 2000);
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("warning 1999"));
    }
}
