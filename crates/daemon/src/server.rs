//! The Multica server as the engine sees it: the client with the login token,
//! what of the current protocol the server offers, and what every answer says
//! about reaching it (kept in the [`Vitals`]).

use multica_api::{ApiError, DaemonClient, Secret};
use tokio::sync::Notify;
use tracing::error;

use crate::health::Vitals;
use crate::server_features::ServerFeatures;

#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) client: DaemonClient,
    pub(crate) token: Secret,
    pub(crate) features: ServerFeatures,
    pub(crate) vitals: Vitals,
    /// The server answered again after an outage.
    back: Notify,
}

impl Server {
    pub(crate) fn new(client: DaemonClient, token: Secret) -> Self {
        Self {
            client,
            token,
            features: ServerFeatures::default(),
            vitals: Vitals::default(),
            back: Notify::new(),
        }
    }

    /// Records what a call to the server says about reaching it; an answer after
    /// an outage wakes [`Self::back_online`] (what waits in the outbox goes at once).
    pub(crate) fn note_answer<T>(&self, result: &Result<T, ApiError>) {
        match result {
            // Transport errors, 5xx, 408, 429: the server is not there for us.
            Err(error) if error.is_retryable() => self.vitals.unreachable(error.to_string()),
            Err(error) if error.is_unauthorized() => {
                if !self.vitals.is_token_refused() {
                    error!("the server refused the login token: log in again");
                }
                self.vitals.token_refused(true);
                self.vitals.contact();
            }
            answered => {
                if answered.is_ok() {
                    self.vitals.token_refused(false);
                }
                if self.vitals.was_unreachable() {
                    self.back.notify_one();
                }
                self.vitals.contact();
            }
        }
    }

    pub(crate) async fn back_online(&self) {
        self.back.notified().await;
    }
}
