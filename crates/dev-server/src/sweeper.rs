//! The periodic sweep of `runtime_sweeper.go` (contract A.4).

use std::sync::Arc;

use tokio::time::{Instant, MissedTickBehavior};

use crate::world::Shared;

/// Sweeps every `sweep_interval` (the first sweep one interval after start, like
/// Go's ticker) until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let period = shared
        .config
        .sweep_interval
        .max(std::time::Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shared.shutdown.cancelled() => return,
        }
        sweep_once(&shared);
    }
}

/// One sweep; waiters are woken only when something changed.
pub(crate) fn sweep_once(shared: &Shared) -> crate::views::SweepReport {
    let now = shared.now();
    let report = shared.write_quiet(|world| world.state.sweep(now));
    if !report.is_empty() {
        shared.write(|_| ());
    }
    report
}
