//! Current servers let personal access tokens be renewed before they expire: at
//! start, then every 3 days, as the Go daemon does.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use crate::server::Server;

const EVERY: Duration = Duration::from_secs(3 * 24 * 60 * 60);

#[derive(Debug, Clone)]
pub(crate) struct TokenRenewal {
    pub(crate) server: Arc<Server>,
}

impl TokenRenewal {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let server = &self.server;
        // Only personal access tokens expire; a session token is not ours to renew.
        if !server.token.expose().starts_with("mul_") {
            return;
        }
        loop {
            if !server.features.token_renewal.worth_trying() {
                return;
            }
            let result = server.client.renew_token().await;
            if server.features.token_renewal.learn(&result) {
                return;
            }
            match result {
                Ok(renewal) if renewal.renewed => {
                    info!(expires_at = ?renewal.expires_at, "token renewed");
                }
                Ok(_) => debug!("token does not expire; nothing to renew"),
                Err(error) if error.is_unauthorized() => {
                    error!("the server refused the token: log in again (multica login)");
                }
                Err(error) => debug!(%error, "token renewal failed; trying again later"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    }
}
