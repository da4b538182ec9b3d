//! The engine's health: what it derives its state from (its vitals), how it judges
//! them (online, degraded or offline, with the reason), and the `/health` report
//! that tells a tray icon or `multica daemon status` at a glance, and says why.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::events::EngineState;
use crate::sync::lock;
use crate::task_book::ActiveTask;

/// The start of the offline reason when the login token is refused.
pub const TOKEN_REFUSED: &str = "the server refused the login token (revoked or expired)";

/// When something last happened, cheap to update from any task.
#[derive(Debug)]
struct LastSeen {
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
    fn mark(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(millis.max(1), Ordering::Relaxed);
    }

    fn forget(&self) {
        self.millis.store(0, Ordering::Relaxed);
    }

    /// How long ago it happened; `None`: never.
    fn age(&self) -> Option<Duration> {
        let last = self.millis.load(Ordering::Relaxed);
        (last != 0).then(|| {
            self.origin
                .elapsed()
                .saturating_sub(Duration::from_millis(last))
        })
    }
}

/// The signals the state is derived from, written by the loops as they go.
#[derive(Debug)]
pub(crate) struct Vitals {
    last_contact: LastSeen,
    last_failure: Mutex<Option<String>>,
    /// Loops restarted after a failure, for the reason text.
    restarts: AtomicU64,
    /// The server answered 401 to the login token (revoked or expired) and has not
    /// accepted it since.
    token_refused: AtomicBool,
    /// When the daemon socket last acknowledged a heartbeat: the HTTP heartbeat
    /// stands aside while it does.
    socket_ack: LastSeen,
    /// The state last derived (see [`assess`]).
    state: Mutex<EngineState>,
}

impl Default for Vitals {
    fn default() -> Self {
        Self {
            last_contact: LastSeen::default(),
            last_failure: Mutex::new(None),
            restarts: AtomicU64::new(0),
            token_refused: AtomicBool::new(false),
            socket_ack: LastSeen::default(),
            state: Mutex::new(EngineState::Starting),
        }
    }
}

impl Vitals {
    /// The server's socket acknowledged a heartbeat: the server is there, though
    /// its HTTP side may not be (a proxy can fail one and not the other).
    pub(crate) fn socket_acked(&self) {
        self.socket_ack.mark();
        self.last_contact.mark();
    }

    pub(crate) fn socket_lost(&self) {
        self.socket_ack.forget();
    }

    /// A heartbeat was acknowledged over the socket within `window`.
    pub(crate) fn socket_acked_within(&self, window: Duration) -> bool {
        self.socket_ack.age().is_some_and(|age| age <= window)
    }

    /// The server answered an HTTP request (any answer: it is reachable).
    pub(crate) fn contact(&self) {
        self.last_contact.mark();
        *lock(&self.last_failure) = None;
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
        lock(&self.last_failure).is_some()
    }

    /// The server could not be reached, and why.
    pub(crate) fn unreachable(&self, reason: String) {
        *lock(&self.last_failure) = Some(reason);
    }

    /// An engine loop failed and was started again.
    pub(crate) fn loop_restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn state(&self) -> EngineState {
        lock(&self.state).clone()
    }

    /// Records the state; `true` when it differs from the one before.
    pub(crate) fn set_state(&self, state: &EngineState) -> bool {
        let mut current = lock(&self.state);
        let changed = *current != *state;
        current.clone_from(state);
        changed
    }

    /// What the vitals say, for [`assess`]; the rest comes from the caller.
    pub(crate) fn observe(&self, elsewhere: Elsewhere) -> Observations {
        Observations {
            token_refused: self.is_token_refused(),
            last_contact_age: self.last_contact.age(),
            last_failure: lock(&self.last_failure).clone(),
            restarts: self.restarts.load(Ordering::Relaxed),
            elsewhere,
        }
    }
}

/// What the state depends on beyond the vitals.
#[derive(Debug, Clone, Default)]
pub(crate) struct Elsewhere {
    /// The server counts as gone after this much silence (three heartbeats).
    pub(crate) quiet_limit: Duration,
    pub(crate) registered_workspaces: usize,
    pub(crate) stale_workspaces: usize,
    pub(crate) reports_waiting: usize,
}

/// Everything [`assess`] judges.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observations {
    pub(crate) token_refused: bool,
    pub(crate) last_contact_age: Option<Duration>,
    pub(crate) last_failure: Option<String>,
    pub(crate) restarts: u64,
    pub(crate) elsewhere: Elsewhere,
}

/// The state the observations add up to: a refused token or a silent server is
/// offline; anything that needs attention while working is degraded.
pub(crate) fn assess(seen: &Observations) -> EngineState {
    if seen.token_refused {
        return EngineState::Offline(format!("{TOKEN_REFUSED}; log in again"));
    }
    let elsewhere = &seen.elsewhere;
    let failure = seen.last_failure.as_deref().unwrap_or("no answer");
    match seen.last_contact_age {
        None if elsewhere.registered_workspaces == 0 => {
            return EngineState::Offline(format!("cannot reach the server: {failure}"));
        }
        Some(quiet) if quiet > elsewhere.quiet_limit => {
            return EngineState::Offline(format!(
                "no answer from the server for {}s: {failure}",
                quiet.as_secs()
            ));
        }
        _ => {}
    }
    let mut problems = Vec::new();
    if elsewhere.reports_waiting > 0 {
        problems.push(format!(
            "{} report(s) waiting to be delivered",
            elsewhere.reports_waiting
        ));
    }
    if elsewhere.stale_workspaces > 0 {
        problems.push(format!(
            "{} workspace(s) waiting to be registered",
            elsewhere.stale_workspaces
        ));
    }
    if elsewhere.registered_workspaces == 0 {
        problems.push("no workspace registered".to_owned());
    }
    if seen.restarts > 0 {
        problems.push(format!(
            "{} internal restart(s); see the log",
            seen.restarts
        ));
    }
    if problems.is_empty() {
        EngineState::Online
    } else {
        EngineState::Degraded(problems.join("; "))
    }
}

/// The Go daemon's `/health` body, plus what is being worked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: String,
    pub pid: u32,
    pub uptime: String,
    pub daemon_id: String,
    pub device_name: String,
    pub server_url: String,
    pub cli_version: String,
    pub agents: Vec<String>,
    pub workspaces: Vec<HealthWorkspace>,
    /// The agent CLIs found, with their versions and paths.
    #[serde(default)]
    pub agent_clis: Vec<HealthAgent>,
    /// The configured agent CLIs not found or not usable.
    #[serde(default)]
    pub agents_missing: Vec<HealthMissingAgent>,
    /// When the server last answered (HTTP or socket), in Unix milliseconds.
    #[serde(default)]
    pub last_server_contact_unix_ms: Option<u64>,
    #[serde(default)]
    pub running_tasks: usize,
    #[serde(default)]
    pub active_tasks: Vec<ActiveTask>,
    /// `starting`, `online`, `degraded` or `offline`.
    #[serde(default)]
    pub state: String,
    /// Why the engine is degraded or offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// Not taking new tasks (paused from the app).
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWorkspace {
    pub id: String,
    pub runtimes: Vec<String>,
    /// The same runtimes with their agent and when the server last confirmed each.
    #[serde(default)]
    pub runtime_details: Vec<HealthRuntime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRuntime {
    pub id: String,
    pub provider: String,
    /// Registration or heartbeat answered by the server, in Unix milliseconds;
    /// `None` until the server confirmed it in this process.
    pub last_seen_unix_ms: Option<u64>,
}

/// A configured agent CLI that is not used, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMissingAgent {
    pub provider: String,
    pub display_name: String,
    /// Not installed, as opposed to installed but unusable (too old, broken).
    pub not_installed: bool,
    /// Why, with the fix ("install it, or set MULTICA_CLAUDE_PATH …").
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAgent {
    pub provider: String,
    pub version: String,
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Observations {
        Observations {
            last_contact_age: Some(Duration::from_secs(1)),
            elsewhere: Elsewhere {
                quiet_limit: Duration::from_secs(45),
                registered_workspaces: 1,
                ..Elsewhere::default()
            },
            ..Observations::default()
        }
    }

    #[test]
    fn in_touch_and_registered_is_online() {
        assert_eq!(assess(&healthy()), EngineState::Online);
    }

    #[test]
    fn a_refused_token_is_offline_whatever_else_holds() {
        let seen = Observations {
            token_refused: true,
            ..healthy()
        };
        let state = assess(&seen);
        assert_eq!(state.word(), "offline");
        assert!(
            state.reason().is_some_and(|r| r.starts_with(TOKEN_REFUSED)),
            "{state:?}"
        );
    }

    #[test]
    fn silence_past_the_limit_is_offline_with_the_last_failure() {
        let seen = Observations {
            last_contact_age: Some(Duration::from_secs(50)),
            last_failure: Some("connection refused".into()),
            ..healthy()
        };
        assert_eq!(
            assess(&seen),
            EngineState::Offline("no answer from the server for 50s: connection refused".into())
        );
        let never = Observations {
            last_contact_age: None,
            elsewhere: Elsewhere::default(),
            ..healthy()
        };
        assert_eq!(
            assess(&never),
            EngineState::Offline("cannot reach the server: no answer".into())
        );
    }

    #[test]
    fn what_needs_attention_is_degraded_with_every_reason() {
        let mut seen = healthy();
        seen.elsewhere.reports_waiting = 2;
        seen.elsewhere.stale_workspaces = 1;
        seen.restarts = 3;
        assert_eq!(
            assess(&seen),
            EngineState::Degraded(
                "2 report(s) waiting to be delivered; 1 workspace(s) waiting to be registered; \
                 3 internal restart(s); see the log"
                    .into()
            )
        );
        let mut unregistered = healthy();
        unregistered.elsewhere.registered_workspaces = 0;
        assert_eq!(
            assess(&unregistered),
            EngineState::Degraded("no workspace registered".into())
        );
    }

    #[test]
    fn socket_acks_are_fresh_for_a_window_and_count_as_contact() {
        let vitals = Vitals::default();
        assert!(!vitals.socket_acked_within(Duration::from_secs(60)));
        assert!(vitals.last_contact_age().is_none());
        vitals.socket_acked();
        assert!(vitals.socket_acked_within(Duration::from_secs(60)));
        assert!(vitals.last_contact_age().is_some());
        vitals.socket_lost();
        assert!(!vitals.socket_acked_within(Duration::from_secs(60)));
    }

    #[test]
    fn the_state_records_only_changes() {
        let vitals = Vitals::default();
        assert_eq!(vitals.state(), EngineState::Starting);
        assert!(vitals.set_state(&EngineState::Online));
        assert!(!vitals.set_state(&EngineState::Online));
    }
}
