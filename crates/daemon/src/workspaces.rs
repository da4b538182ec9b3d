//! Which workspaces this machine works for: the config file's watch list (grown
//! by the workspaces the user has on the server), registered with the server, one
//! runtime per agent CLI in each, and deregistered when dropped or at shutdown.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use multica_api::ApiError;
use multica_api::wire::{RegisterRequest, RuntimeRegistration};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::agent_set::AgentSet;
use crate::bus::EventBus;
use crate::cli_config::{CliConfig, CliConfigError};
use crate::config::DaemonConfig;
use crate::events::EngineEvent;
use crate::outbox::Outbox;
use crate::registry::{RegisteredWorkspace, Registry, RuntimeBinding};
use crate::repo_cache::RepoRefresh;
use crate::server::Server;
use crate::task_book::TaskBook;

/// The timeout of the deregistration on shutdown, as in the Go daemon.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistrationError {
    #[error("{0} (is this account a member of the workspace?)")]
    NotAMember(ApiError),
    #[error(transparent)]
    Server(ApiError),
    #[error("the server registered no runtime")]
    NoRuntime,
}

#[derive(Debug, thiserror::Error)]
enum WatchListError {
    #[error(transparent)]
    Config(#[from] CliConfigError),
    #[error("the config task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Registers and drops workspaces; shared by the engine's start, the workspace
/// watch loop and shutdown.
#[derive(Debug, Clone)]
pub(crate) struct Registrar {
    pub(crate) config: Arc<DaemonConfig>,
    pub(crate) server: Arc<Server>,
    pub(crate) agents: Arc<AgentSet>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) tasks: Arc<TaskBook>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) repo_refresh: mpsc::UnboundedSender<RepoRefresh>,
}

impl Registrar {
    /// Adds every workspace the user belongs to on the server to the watch list
    /// in the config file, as the Go daemon does.
    pub(crate) async fn sync_from_server(&self) -> Result<(), ApiError> {
        let server = &self.server;
        let workspaces = if server.features.daemon_workspaces.worth_trying() {
            let etag = self.registry.workspaces_etag();
            let result = server.client.list_daemon_workspaces(etag.as_deref()).await;
            if server.features.daemon_workspaces.learn(&result) {
                server.client.list_workspaces().await?
            } else {
                match result? {
                    // Unchanged since the last look.
                    None => return Ok(()),
                    Some((workspaces, etag)) => {
                        self.registry.set_workspaces_etag(etag);
                        workspaces
                    }
                }
            }
        } else {
            server.client.list_workspaces().await?
        };
        let path = self.config.config_file.clone();
        let added = tokio::task::spawn_blocking(move || -> Result<Vec<String>, WatchListError> {
            let mut config = CliConfig::load(&path)?;
            let added: Vec<String> = workspaces
                .iter()
                .filter(|workspace| config.watch(&workspace.id, &workspace.name))
                .map(|workspace| workspace.id.clone())
                .collect();
            if !added.is_empty() {
                config.save(&path)?;
            }
            Ok(added)
        })
        .await
        .map_err(WatchListError::from)
        .and_then(|added| added);
        match added {
            Ok(added) if !added.is_empty() => {
                info!(workspaces = ?added, "discovered new workspaces on the server");
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "could not record discovered workspaces"),
        }
        Ok(())
    }

    /// Brings the registered workspaces in line with the config file's watch list.
    pub(crate) async fn reconcile(&self) {
        let path = self.config.config_file.clone();
        let config = match tokio::task::spawn_blocking(move || CliConfig::load(&path)).await {
            Ok(Ok(config)) => config,
            Ok(Err(error)) => {
                warn!(%error, "cannot read the config file; keeping the current workspaces");
                return;
            }
            Err(error) => {
                warn!(%error, "config read task failed");
                return;
            }
        };
        let wanted: BTreeSet<String> = config
            .watched_workspaces
            .iter()
            .map(|workspace| workspace.id.clone())
            .collect();
        let (to_register, to_drop) = self.registry.plan(&wanted);
        for workspace_id in to_register {
            match self.register(&workspace_id).await {
                Ok(registered) => self.registered(workspace_id, registered).await,
                Err(error) => {
                    error!(%workspace_id, %error, "registering runtimes failed; will retry");
                    self.registry.mark_stale(&workspace_id);
                    self.bus.emit(EngineEvent::WorkspaceRegistrationFailed {
                        workspace_id,
                        error: error.to_string(),
                    });
                }
            }
        }
        for workspace_id in to_drop {
            if let Some(removed) = self.registry.remove(&workspace_id) {
                let ids: Vec<String> = removed.runtimes.into_iter().map(|r| r.id).collect();
                // Going offline now is kinder than waiting for the server's sweeper.
                if let Err(error) = self.server.client.deregister(&ids).await {
                    warn!(%workspace_id, %error, "deregistering a dropped workspace failed");
                }
                info!(%workspace_id, "stopped watching workspace");
                self.bus
                    .emit(EngineEvent::WorkspaceDropped { workspace_id });
            }
        }
    }

    async fn registered(&self, workspace_id: String, registered: RegisteredWorkspace) {
        let runtime_ids: Vec<String> = registered.runtimes.iter().map(|r| r.id.clone()).collect();
        info!(%workspace_id, runtimes = ?runtime_ids, repos = registered.repos.len(), "watching workspace");
        if !registered.repos.is_empty() {
            // Nobody listening only means the engine is stopping.
            let _ = self.repo_refresh.send(RepoRefresh {
                workspace_id: workspace_id.clone(),
                urls: registered
                    .repos
                    .iter()
                    .map(|repo| repo.url.clone())
                    .collect(),
            });
        }
        self.registry
            .runtimes_seen(runtime_ids.iter().map(String::as_str));
        self.recover_orphans_once(&runtime_ids).await;
        self.registry.insert(&workspace_id, registered);
        self.bus.emit(EngineEvent::WorkspaceRegistered {
            workspace_id,
            runtime_ids,
        });
        self.tasks.want_claims();
    }

    async fn register(&self, workspace_id: &str) -> Result<RegisteredWorkspace, RegistrationError> {
        let agents = self.agents.found();
        let device = &self.config.device_name;
        let runtimes: Vec<RuntimeRegistration> = agents
            .iter()
            .map(|agent| RuntimeRegistration {
                name: format!("{} ({device})", agent.provider.display_name()),
                provider: agent.provider.as_str().to_owned(),
                version: agent.version.clone(),
                status: "online".to_owned(),
            })
            .collect();
        let request = RegisterRequest {
            workspace_id: workspace_id.to_owned(),
            daemon_id: self.config.daemon_id.clone(),
            device_name: device.clone(),
            cli_version: self.config.cli_version.clone(),
            runtimes,
        };
        let response = self.server.client.register(&request).await;
        self.server.note_answer(&response);
        let response = response.map_err(|error| {
            if error.is_workspace_not_found() {
                RegistrationError::NotAMember(error)
            } else {
                RegistrationError::Server(error)
            }
        })?;
        if response.runtimes.is_empty() {
            return Err(RegistrationError::NoRuntime);
        }
        let runtimes = response
            .runtimes
            .into_iter()
            .filter_map(|runtime| {
                let Some(agent) = agents
                    .iter()
                    .find(|agent| agent.provider.as_str() == runtime.provider)
                else {
                    warn!(provider = %runtime.provider, "server returned a runtime for an unknown provider");
                    return None;
                };
                Some(RuntimeBinding {
                    id: runtime.id,
                    workspace_id: workspace_id.to_owned(),
                    provider: agent.provider.clone(),
                })
            })
            .collect();
        Ok(RegisteredWorkspace {
            runtimes,
            repos: response.repos,
        })
    }

    /// Current servers: asks them to settle what a previous process of this
    /// daemon left dispatched or running on these runtimes, once per runtime and
    /// process. Skipped while results wait in the outbox (they would be failed
    /// first) or tasks run (they are ours).
    async fn recover_orphans_once(&self, runtime_ids: &[String]) {
        let features = &self.server.features;
        if !features.recover_orphans.worth_trying()
            || self.outbox.waiting() > 0
            || self.tasks.count() > 0
        {
            return;
        }
        for runtime_id in runtime_ids {
            if !self.registry.first_recovery_of(runtime_id) {
                continue;
            }
            let result = self.server.client.recover_orphans(runtime_id).await;
            if features.recover_orphans.learn(&result) {
                return;
            }
            if let Err(error) = result {
                tracing::debug!(%runtime_id, %error, "recover-orphans failed");
            }
        }
    }

    pub(crate) async fn deregister_all(&self) {
        let ids = self.registry.runtime_ids();
        if ids.is_empty() {
            return;
        }
        match tokio::time::timeout(DEREGISTER_TIMEOUT, self.server.client.deregister(&ids)).await {
            Ok(Ok(())) => info!(count = ids.len(), "deregistered runtimes"),
            Ok(Err(error)) => warn!(%error, "deregistering runtimes failed"),
            Err(_) => warn!("deregistering runtimes timed out"),
        }
    }
}
