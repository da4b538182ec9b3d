//! Sends what the outbox holds: at start (what a previous process left), then
//! whenever reports are waiting, with jittered exponential back-off.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::outbox::Outbox;
use crate::server::Server;

/// How often an empty outbox is looked at (tasks also write and send directly).
const IDLE_CHECK: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(crate) struct OutboxSender {
    pub(crate) server: Arc<Server>,
    pub(crate) outbox: Arc<Outbox>,
}

impl OutboxSender {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut backoff = self.outbox.backoff();
        loop {
            let waiting = self.outbox.flush(&self.server.client).await;
            let pause = if waiting == 0 {
                backoff.reset();
                IDLE_CHECK
            } else {
                let delay = backoff.next_delay();
                debug!(waiting, retry_in = ?delay, "reports waiting in the outbox");
                delay
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
                () = self.outbox.reports_left_waiting() => backoff.reset(),
                () = self.server.back_online() => backoff.reset(),
            }
        }
    }
}
