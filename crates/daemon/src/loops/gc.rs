//! Cleans the workspaces root now and then (see [`crate::gc`]): old task
//! directories, build artifacts and cached clones nobody uses any more.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use multica_api::ApiError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::DaemonConfig;
use crate::gc::{Collector, IssueState, IssueStates, TaskDirLocks};
use crate::registry::Registry;
use crate::repo_cache::RepoCache;
use crate::server::Server;

/// Not at once: startup is busy enough, and a restart loop must not turn into a
/// clean-up loop.
const FIRST_RUN_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(crate) struct GarbageCollector {
    pub(crate) config: Arc<DaemonConfig>,
    pub(crate) server: Arc<Server>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) task_dirs: Arc<TaskDirLocks>,
    pub(crate) repo_cache: Arc<RepoCache>,
}

impl GarbageCollector {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let settings = &self.config.gc;
        if !settings.enabled {
            info!("gc: disabled (MULTICA_GC_ENABLED)");
            return;
        }
        let issues = match ServerIssueStates::new(&self.config, &self.server) {
            Ok(issues) => issues,
            Err(error) => {
                warn!(%error, "gc: cannot build a client for issue lookups; clean-up is off");
                return;
            }
        };
        let mut next = tokio::time::Instant::now() + settings.interval.min(FIRST_RUN_DELAY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + settings.interval;
            let listed_repos = self.registry.repo_urls();
            let collector = Collector {
                root: &self.config.workspaces_root,
                settings,
                locks: &self.task_dirs,
                repos: &self.repo_cache,
                listed_repos: &listed_repos,
                issues: &issues,
            };
            let report = tokio::select! {
                () = stop.cancelled() => return,
                report = collector.collect(SystemTime::now()) => report,
            };
            if report.did_anything() {
                info!(?report, "gc: cycle complete");
            } else {
                debug!(in_use = report.in_use, "gc: nothing to clean");
            }
        }
    }
}

/// Issue states from the server's user API (`GET /api/issues/{id}`), which old
/// and new servers both have.
struct ServerIssueStates {
    client: multica_api::UserClient,
}

impl ServerIssueStates {
    fn new(config: &DaemonConfig, server: &Server) -> Result<Self, ApiError> {
        let client = multica_api::UserClient::new(
            config.server_url.clone(),
            Some(server.token.clone()),
            &format!("multica-daemon/{}", config.cli_version),
        )?;
        Ok(Self { client })
    }
}

impl IssueStates for ServerIssueStates {
    async fn state(&self, workspace_id: &str, issue_id: &str) -> IssueState {
        let client = self.client.clone().with_workspace(workspace_id);
        match client.get_issue(issue_id).await {
            Ok(issue) => {
                let status = issue["status"].as_str().unwrap_or_default();
                if !matches!(status, "done" | "cancelled") {
                    return IssueState::Open;
                }
                let updated_at = issue["updated_at"]
                    .as_str()
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                    .map(SystemTime::from);
                match updated_at {
                    Some(updated_at) => IssueState::Closed { updated_at },
                    None => IssueState::Unknown,
                }
            }
            Err(error) if error.is_not_found() => IssueState::Missing,
            Err(error) => {
                debug!(%issue_id, %error, "gc: issue lookup failed");
                IssueState::Unknown
            }
        }
    }
}
