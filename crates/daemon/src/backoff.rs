//! The one retry policy of the engine: jittered exponential back-off. Every loop
//! that waits after a failure (the outbox, the daemon socket, a restarted loop)
//! and every call retried in place (starting a task, the last transcript flush)
//! uses it, so the whole engine backs off the same way.

use std::future::Future;
use std::time::Duration;

/// The longest pause unless a caller caps it lower.
const DEFAULT_MAX: Duration = Duration::from_secs(5 * 60);

/// Pauses that double from `first` up to a cap, each ±25 % so that many daemons
/// coming back after a server outage do not knock at the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn starting_at(first: Duration) -> Self {
        Self {
            first,
            next: first,
            max: DEFAULT_MAX.max(first),
        }
    }

    /// The same, with pauses never longer than `max`.
    pub fn capped_at(mut self, max: Duration) -> Self {
        self.max = max;
        self.next = self.next.min(max);
        self
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        jitter(base).min(self.max)
    }

    pub fn reset(&mut self) {
        self.next = self.first.min(self.max);
    }
}

/// Calls `call` up to `attempts` times while it fails in a way `worth_retrying`
/// accepts, pausing as `backoff` says between tries. The last answer is returned.
pub(crate) async fn retry<T, E, F, Fut>(
    attempts: u32,
    mut backoff: Backoff,
    worth_retrying: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < attempts && worth_retrying(&error) => {
                attempt += 1;
                tokio::time::sleep(backoff.next_delay()).await;
            }
            result => return result,
        }
    }
}

/// `base` ± 25 %, from a cheap per-call random source.
fn jitter(base: Duration) -> Duration {
    let random = uuid::Uuid::new_v4().as_u128();
    let fraction = (random % 1000) as f64 / 1000.0; // 0.0 ..< 1.0
    base.mul_f64(0.75 + fraction * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(delay: Duration, base: Duration) -> bool {
        delay >= base.mul_f64(0.75) && delay <= base.mul_f64(1.25)
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_cap_and_reset() {
        let mut backoff =
            Backoff::starting_at(Duration::from_secs(1)).capped_at(Duration::from_secs(5));
        let delays: Vec<Duration> = (0..5).map(|_| backoff.next_delay()).collect();
        assert!(within(delays[0], Duration::from_secs(1)), "{delays:?}");
        assert!(within(delays[1], Duration::from_secs(2)), "{delays:?}");
        assert!(within(delays[2], Duration::from_secs(4)), "{delays:?}");
        assert!(delays[3] <= Duration::from_secs(5), "capped: {delays:?}");
        assert!(delays[4] <= Duration::from_secs(5), "capped: {delays:?}");
        backoff.reset();
        assert!(within(backoff.next_delay(), Duration::from_secs(1)));
    }

    #[test]
    fn the_default_cap_is_five_minutes() {
        let mut backoff = Backoff::starting_at(Duration::from_secs(60));
        for _ in 0..10 {
            assert!(backoff.next_delay() <= DEFAULT_MAX);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_success_at_a_final_error_or_after_the_attempts() {
        let backoff = Backoff::starting_at(Duration::from_millis(10));
        let mut calls = 0;
        let result: Result<u32, &str> = retry(
            5,
            backoff.clone(),
            |_| true,
            || {
                calls += 1;
                let answer = if calls < 3 { Err("busy") } else { Ok(calls) };
                async move { answer }
            },
        )
        .await;
        assert_eq!(result, Ok(3));

        let mut calls = 0;
        let result: Result<(), &str> = retry(
            5,
            backoff.clone(),
            |e| *e == "busy",
            || {
                calls += 1;
                async { Err("refused") }
            },
        )
        .await;
        assert_eq!(
            (result, calls),
            (Err("refused"), 1),
            "a final error is not retried"
        );

        let mut calls = 0;
        let result: Result<(), &str> = retry(
            4,
            backoff,
            |_| true,
            || {
                calls += 1;
                async { Err("busy") }
            },
        )
        .await;
        assert_eq!((result, calls), (Err("busy"), 4));
    }
}
