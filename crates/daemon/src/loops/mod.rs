//! The engine's background loops, one file each. A loop gets the parts of the
//! engine it needs, never the whole engine, and runs until its stop token fires;
//! [`supervise`] starts it again when it fails.

pub(crate) mod claim;
pub(crate) mod daemon_socket;
pub(crate) mod gc;
pub(crate) mod health_watch;
pub(crate) mod heartbeat;
pub(crate) mod outbox;
pub(crate) mod rediscovery;
pub(crate) mod repo_refresh;
pub(crate) mod token_renewal;
pub(crate) mod usage_scan;
pub(crate) mod workspace_watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::backoff::Backoff;
use crate::server::Server;

/// Runs `make_loop` until `stop`; when the loop fails (panics), it is started
/// again after a jittered back-off, and the restart is counted in the vitals
/// (the engine shows as degraded, with the reason).
pub(crate) async fn supervise<F, Fut>(
    name: &'static str,
    server: Arc<Server>,
    stop: CancellationToken,
    make_loop: F,
) where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Backoff::starting_at(Duration::from_secs(1));
    loop {
        let run = tokio::spawn(make_loop(stop.clone()));
        match run.await {
            Ok(()) => return,
            Err(failure) if failure.is_panic() => {
                server.vitals.loop_restarted();
                let delay = backoff.next_delay();
                error!(loop_name = name, retry_in = ?delay, "an engine loop failed; restarting it");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(_) => return,
        }
    }
}
