//! Picks up workspaces added to (or removed from) the config file and, every sync
//! interval or when the server says so, workspaces the user gained on the server;
//! retries registrations that failed.

use std::path::Path;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::workspaces::Registrar;

#[derive(Debug, Clone)]
pub(crate) struct WorkspaceWatch {
    pub(crate) registrar: Registrar,
}

impl WorkspaceWatch {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let registrar = &self.registrar;
        let config = &registrar.config;
        let mut last_modified = modified_time(&config.config_file);
        let mut reload = tokio::time::interval(config.config_reload_interval);
        let mut sync = tokio::time::interval(config.workspace_sync_interval);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Both fire at once on the first tick; startup already did that work.
        reload.tick().await;
        sync.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = reload.tick() => {
                    let modified = modified_time(&config.config_file);
                    if modified != last_modified || registrar.registry.stale_count() > 0 {
                        last_modified = modified;
                        registrar.reconcile().await;
                    }
                    continue;
                }
                () = registrar.registry.sync_wanted() => {}
                _ = sync.tick() => {}
            }
            if let Err(error) = registrar.sync_from_server().await {
                debug!(%error, "workspace sync failed");
            }
            // Also retries workspaces whose registration failed earlier.
            registrar.reconcile().await;
            last_modified = modified_time(&config.config_file);
        }
    }
}

fn modified_time(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}
