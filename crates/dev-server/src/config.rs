//! Settings of a dev server and the clock it reads.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Which server the dev server plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerMode {
    /// The seed server of Part A of the contract: per-runtime claim, pings,
    /// runtime-level usage, a second complete refused with 400.
    #[default]
    Seed,
    /// Part B on top: task tokens (`mat_`), batch claim, idempotent complete and
    /// fail, cancel-ack, recover-orphans, per-task usage, the daemon workspace
    /// list with ETag, PAT renewal, `runtime not found` on heartbeats.
    Current,
}

/// Timings and behaviour of a [`DevServer`](crate::DevServer). `Default` gives the
/// seed server's values (contract A.2.3, A.4); tests shrink the intervals to
/// milliseconds.
#[derive(Debug, Clone)]
pub struct DevServerConfig {
    /// How often the sweeper runs (seed: 30 s).
    pub sweep_interval: Duration,
    /// Whether the sweeper runs on its own. With `false`, sweeps happen only through
    /// [`Admin::sweep_now`](crate::Admin::sweep_now).
    pub sweeper_enabled: bool,
    /// An online runtime whose last heartbeat is older than this goes offline (45 s).
    pub runtime_stale_after: Duration,
    /// A task `dispatched` for longer than this is failed with `task timed out` (300 s).
    pub dispatched_timeout: Duration,
    /// A task `running` for longer than this is failed with `task timed out` (9000 s).
    pub running_timeout: Duration,
    /// A `pending` ping reads as `timeout` after this long (60 s).
    pub ping_timeout: Duration,
    /// Pings older than this are dropped when the next one is created (2 min).
    pub ping_expiry: Duration,
    /// A `pending` or `running` update reads as `timeout` after this long (120 s).
    pub update_timeout: Duration,
    /// Updates older than this are dropped when the next one is created (5 min).
    pub update_expiry: Duration,
    /// Mask secrets in transcripts and agent comments, as the seed does.
    pub redact_secrets: bool,
    /// How many `/api` requests the request log keeps (oldest dropped first).
    pub request_log_limit: usize,
    /// The clock all timestamps and timeouts are read from.
    pub clock: Clock,
    pub mode: ServerMode,
}

impl Default for DevServerConfig {
    fn default() -> Self {
        Self {
            sweep_interval: Duration::from_secs(30),
            sweeper_enabled: true,
            runtime_stale_after: Duration::from_secs(45),
            dispatched_timeout: Duration::from_secs(300),
            running_timeout: Duration::from_secs(9000),
            ping_timeout: Duration::from_secs(60),
            ping_expiry: Duration::from_secs(120),
            update_timeout: Duration::from_secs(120),
            update_expiry: Duration::from_secs(300),
            redact_secrets: true,
            request_log_limit: 10_000,
            clock: Clock::default(),
            mode: ServerMode::Seed,
        }
    }
}

impl DevServerConfig {
    /// The current server's behaviour (Part B): runtimes go stale after 150 s,
    /// and their tasks get a reconnect grace instead of failing at once.
    pub fn current() -> Self {
        Self {
            mode: ServerMode::Current,
            runtime_stale_after: Duration::from_secs(150),
            ..Self::default()
        }
    }

    /// Intervals scaled for tests: sweep every 20 ms, runtimes stale after 300 ms,
    /// dispatched tasks time out after 2 s and running ones after 10 s.
    pub fn fast() -> Self {
        Self {
            sweep_interval: Duration::from_millis(20),
            runtime_stale_after: Duration::from_millis(300),
            dispatched_timeout: Duration::from_secs(2),
            running_timeout: Duration::from_secs(10),
            ..Self::default()
        }
    }
}

/// Wall-clock time plus an offset that tests can push forward, so that timeouts
/// can be crossed without waiting. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<Mutex<TimeDelta>>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset = offset.checked_add(&delta).unwrap_or(TimeDelta::MAX);
    }

    /// How far this clock is ahead of the wall clock.
    pub fn offset(&self) -> TimeDelta {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `Duration` as a chrono delta, saturating.
pub(crate) fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_values() {
        let config = DevServerConfig::default();
        assert_eq!(config.sweep_interval, Duration::from_secs(30));
        assert_eq!(config.runtime_stale_after, Duration::from_secs(45));
        assert_eq!(config.dispatched_timeout, Duration::from_secs(300));
        assert_eq!(config.running_timeout, Duration::from_secs(9000));
    }

    #[test]
    fn clones_share_the_advanced_offset() {
        let clock = Clock::default();
        let clone = clock.clone();
        let before = clock.now();
        clone.advance(Duration::from_secs(3600));
        assert!(clock.now() - before >= TimeDelta::seconds(3600));
    }
}
