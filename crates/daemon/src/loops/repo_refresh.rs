//! Clones or fetches registered workspaces' repositories, one at a time, away
//! from the heartbeat and claim loops so a slow remote never delays them.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::repo_cache::{RepoCache, RepoRefresh};

#[derive(Debug, Clone)]
pub(crate) struct RepoRefresher {
    pub(crate) repo_cache: Arc<RepoCache>,
    /// Shared so that a restarted loop takes up the same queue.
    pub(crate) requests: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<RepoRefresh>>>,
}

impl RepoRefresher {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut requests = self.requests.lock().await;
        loop {
            let request = tokio::select! {
                () = stop.cancelled() => return,
                request = requests.recv() => match request {
                    Some(request) => request,
                    None => return,
                },
            };
            for url in request.urls {
                let refreshed = tokio::select! {
                    () = stop.cancelled() => return,
                    refreshed = self.repo_cache.refresh(&request.workspace_id, &url) => refreshed,
                };
                match refreshed {
                    Ok(()) => {
                        debug!(workspace_id = %request.workspace_id, %url, "repository cache up to date");
                    }
                    Err(error) => {
                        warn!(workspace_id = %request.workspace_id, %url, %error, "could not refresh the cached repository; checkouts will retry");
                    }
                }
            }
        }
    }
}
