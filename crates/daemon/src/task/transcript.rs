//! The live transcript: the agent's events become numbered messages (secrets
//! redacted), shown to the hosts at once and sent to the server every half
//! second; what the server cannot take yet waits in the outbox.

use std::time::Duration;

use multica_agents::AgentEvent;
use multica_api::wire::TaskMessage;
use tracing::{debug, error, warn};

use super::TaskKit;
use crate::backoff::Backoff;
use crate::events::EngineEvent;
use crate::outbox::Report;
use crate::transcript::{Redactor, TranscriptBuilder};

/// How often buffered transcript text is sent, as in the Go daemon.
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One transcript POST may take this long before it is retried at the next flush.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages per transcript POST, to keep request bodies bounded.
const BATCH: usize = 200;

/// After this many failed flushes in a row, the unsent messages move to the
/// outbox, which keeps them across restarts and sends them before the result.
const MAX_FAILED_FLUSHES: u32 = 20;

/// The last flush, after the agent ended, is tried this often, this far apart.
const FINAL_FLUSH_ATTEMPTS: u32 = 3;
const FINAL_FLUSH_FIRST_RETRY: Duration = Duration::from_millis(500);

/// Sends transcript messages in `seq` order, keeping what failed for the next try.
pub(super) struct TranscriptSender<'a> {
    task_id: &'a str,
    builder: TranscriptBuilder,
    unsent: Vec<TaskMessage>,
    failed_attempts: u32,
}

impl<'a> TranscriptSender<'a> {
    pub(super) fn new(task_id: &'a str, redactor: Redactor) -> Self {
        Self {
            task_id,
            builder: TranscriptBuilder::new(redactor),
            unsent: Vec::new(),
            failed_attempts: 0,
        }
    }

    pub(super) fn push(&mut self, event: AgentEvent) {
        self.builder.push(event);
    }

    pub(super) fn redact(&self, text: &str) -> String {
        self.builder.redactor().redact(text)
    }

    pub(super) fn push_error(&mut self, text: &str) {
        self.builder.push_error(text);
    }

    pub(super) async fn flush(&mut self, kit: &TaskKit) {
        let ready = self.builder.take_ready();
        if !ready.is_empty() {
            kit.bus.emit(EngineEvent::TaskMessages {
                task_id: self.task_id.to_owned(),
                messages: ready.clone(),
            });
            self.unsent.extend(ready);
        }
        while !self.unsent.is_empty() {
            let count = self.unsent.len().min(BATCH);
            let batch = &self.unsent[..count];
            let sent = tokio::time::timeout(
                POST_TIMEOUT,
                kit.server.client.report_messages(self.task_id, batch),
            )
            .await;
            match sent {
                Ok(Ok(())) => {
                    self.unsent.drain(..count);
                    self.failed_attempts = 0;
                }
                Ok(Err(error)) if !error.is_retryable() && !error.is_malformed() => {
                    warn!(%error, dropped = count, "the server refused transcript messages");
                    self.unsent.drain(..count);
                }
                failure => {
                    self.failed_attempts += 1;
                    let reason = match failure {
                        Ok(Err(error)) => error.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    if self.failed_attempts >= MAX_FAILED_FLUSHES {
                        // The server is away for long: the outbox keeps them (each
                        // message carries its seq, so late arrival is in order).
                        warn!(%reason, pending = self.unsent.len(), "transcript messages moved to the outbox");
                        self.park_unsent(kit);
                        self.failed_attempts = 0;
                    } else {
                        debug!(%reason, pending = self.unsent.len(), "transcript send failed; will retry");
                    }
                    return;
                }
            }
        }
    }

    /// The last flush: a few quick retries, since there is no next tick.
    pub(super) async fn finish(&mut self, kit: &TaskKit) {
        let mut backoff = Backoff::starting_at(FINAL_FLUSH_FIRST_RETRY);
        for attempt in 0..FINAL_FLUSH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            self.flush(kit).await;
            if self.unsent.is_empty() {
                return;
            }
        }
        // Kept on disk: sent before the task's result, whenever the server is back.
        warn!(
            pending = self.unsent.len(),
            "transcript messages could not be delivered yet; kept in the outbox"
        );
        self.park_unsent(kit);
    }

    /// Moves the messages not yet sent to the outbox.
    fn park_unsent(&mut self, kit: &TaskKit) {
        let messages = std::mem::take(&mut self.unsent);
        let count = messages.len();
        if let Err(error) = kit
            .outbox
            .write(self.task_id, Report::Messages { messages })
        {
            error!(%error, dropped = count, "transcript messages lost");
        }
    }
}
