//! The engine's own health: its loops are restarted when they fail, and its state
//! (online, degraded or offline, with the reason) is derived from what it sees
//! and published on the event bus and `/health`, so that a tray icon or a status
//! command can tell at a glance, and say why.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::engine::Shared;
use crate::events::EngineEvent;
use crate::outbox::Backoff;

/// How often the state is worked out again.
const STATE_CHECK: Duration = Duration::from_secs(2);

/// What the engine is up to, as one word and a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum EngineState {
    Starting,
    /// Registered and in touch with the server.
    Online,
    /// Working, but something needs attention.
    Degraded(String),
    /// Not in touch with the server.
    Offline(String),
}

impl EngineState {
    pub fn word(&self) -> &'static str {
        match self {
            EngineState::Starting => "starting",
            EngineState::Online => "online",
            EngineState::Degraded(_) => "degraded",
            EngineState::Offline(_) => "offline",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            EngineState::Degraded(reason) | EngineState::Offline(reason) => Some(reason),
            _ => None,
        }
    }
}

/// When something last happened, cheap to update from any task.
#[derive(Debug)]
pub(crate) struct LastSeen {
    origin: Instant,
    /// Milliseconds since `origin`; 0: never.
    millis: AtomicU64,
}

impl Default for LastSeen {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }
}

impl LastSeen {
    pub(crate) fn mark(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(millis.max(1), Ordering::Relaxed);
    }

    pub(crate) fn forget(&self) {
        self.millis.store(0, Ordering::Relaxed);
    }

    /// How long ago it happened; `None`: never.
    pub(crate) fn age(&self) -> Option<Duration> {
        let last = self.millis.load(Ordering::Relaxed);
        (last != 0).then(|| {
            self.origin
                .elapsed()
                .saturating_sub(Duration::from_millis(last))
        })
    }
}

/// The signals the state is derived from, written by the loops as they go.
#[derive(Debug, Default)]
pub(crate) struct Vitals {
    last_contact: LastSeen,
    last_failure: std::sync::Mutex<Option<String>>,
    /// Loops restarted after a failure, for the reason text.
    restarts: AtomicU64,
    /// The server answered 401 to the login token (revoked or expired) and has not
    /// accepted it since.
    token_refused: std::sync::atomic::AtomicBool,
}

impl Vitals {
    /// The server's socket is alive: the server is there, though its HTTP side
    /// may not be (a proxy can fail one and not the other).
    pub(crate) fn heard_from_socket(&self) {
        self.last_contact.mark();
    }

    /// The server answered an HTTP request (any answer: it is reachable).
    pub(crate) fn contact(&self) {
        self.last_contact.mark();
        *self
            .last_failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = None;
    }

    /// The server refused the login token (401), or accepted it again.
    pub(crate) fn token_refused(&self, refused: bool) {
        self.token_refused.store(refused, Ordering::Relaxed);
    }

    /// How long ago the server last answered (HTTP or socket); `None`: never.
    pub(crate) fn last_contact_age(&self) -> Option<Duration> {
        self.last_contact.age()
    }

    pub(crate) fn is_token_refused(&self) -> bool {
        self.token_refused.load(Ordering::Relaxed)
    }

    /// The last call before now failed to reach the server.
    pub(crate) fn was_unreachable(&self) -> bool {
        self.last_failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .is_some()
    }

    /// The server could not be reached, and why.
    pub(crate) fn unreachable(&self, reason: String) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(reason);
    }
}

/// The start of the offline reason when the login token is refused.
pub const TOKEN_REFUSED: &str = "the server refused the login token (revoked or expired)";

/// Works out the state from the vitals, the registry and the outbox.
pub(crate) fn assess(shared: &Shared) -> EngineState {
    let vitals = &shared.vitals;
    if vitals.is_token_refused() {
        return EngineState::Offline(format!("{TOKEN_REFUSED}; log in again"));
    }
    let quiet_limit = shared.config.heartbeat_interval * 3;
    let failure = vitals
        .last_failure
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone()
        .unwrap_or_else(|| "no answer".to_owned());
    match vitals.last_contact.age() {
        None if shared.registry().workspaces.is_empty() => {
            return EngineState::Offline(format!("cannot reach the server: {failure}"));
        }
        Some(quiet) if quiet > quiet_limit => {
            return EngineState::Offline(format!(
                "no answer from the server for {}s: {failure}",
                quiet.as_secs()
            ));
        }
        _ => {}
    }
    let mut problems = Vec::new();
    let waiting = shared.outbox.waiting();
    if waiting > 0 {
        problems.push(format!("{waiting} report(s) waiting to be delivered"));
    }
    let stale = shared.registry().stale.len();
    if stale > 0 {
        problems.push(format!("{stale} workspace(s) waiting to be registered"));
    }
    if shared.registry().workspaces.is_empty() {
        problems.push("no workspace registered".to_owned());
    }
    let restarts = vitals.restarts.load(Ordering::Relaxed);
    if restarts > 0 {
        problems.push(format!("{restarts} internal restart(s); see the log"));
    }
    if problems.is_empty() {
        EngineState::Online
    } else {
        EngineState::Degraded(problems.join("; "))
    }
}

/// Publishes the state whenever it changes.
pub(crate) async fn state_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let state = assess(&shared);
        let changed = {
            let mut current = shared
                .state
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let changed = *current != state;
            current.clone_from(&state);
            changed
        };
        if changed {
            match &state {
                EngineState::Online => info!("engine online"),
                EngineState::Degraded(reason) => warn!(%reason, "engine degraded"),
                EngineState::Offline(reason) => warn!(%reason, "engine offline"),
                EngineState::Starting => {}
            }
            shared.emit(EngineEvent::StateChanged { state });
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(STATE_CHECK) => {}
        }
    }
}

/// Runs `make_loop` until `shutdown`; when the loop fails (panics), it is
/// started again after a jittered back-off, and the restart is counted.
pub(crate) async fn supervised<F, Fut>(
    name: &'static str,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    make_loop: F,
) where
    F: Fn(Arc<Shared>, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Backoff::starting_at(Duration::from_secs(1));
    loop {
        let run = tokio::spawn(make_loop(Arc::clone(&shared), shutdown.clone()));
        match run.await {
            Ok(()) => return,
            Err(failure) if failure.is_panic() => {
                shared.vitals.restarts.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                error!(loop_name = name, retry_in = ?delay, "an engine loop failed; restarting it");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(_) => return,
        }
    }
}
