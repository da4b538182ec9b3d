//! The daemon's local HTTP endpoint on 127.0.0.1: `GET /health`, which
//! `multica daemon status` and the desktop app read.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::engine::{ActiveTask, Shared};
use crate::go_duration::format_duration;

/// The Go daemon's `/health` body, plus the tasks being worked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: String,
    pub pid: u32,
    pub uptime: String,
    pub daemon_id: String,
    pub device_name: String,
    pub server_url: String,
    pub cli_version: String,
    pub agents: Vec<String>,
    pub workspaces: Vec<HealthWorkspace>,
    #[serde(default)]
    pub active_tasks: Vec<ActiveTask>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWorkspace {
    pub id: String,
    pub runtimes: Vec<String>,
}

pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, stop: CancellationToken) {
    let app = Router::new()
        .route("/health", get(health))
        .with_state(shared);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        warn!(%error, "the local health endpoint stopped");
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Json<HealthReport> {
    let workspaces = shared
        .registry()
        .workspaces
        .iter()
        .map(|(id, workspace)| HealthWorkspace {
            id: id.clone(),
            runtimes: workspace.runtimes.iter().map(|r| r.id.clone()).collect(),
        })
        .collect();
    Json(HealthReport {
        status: "running".to_owned(),
        pid: std::process::id(),
        uptime: format_duration(shared.started_at.elapsed()),
        daemon_id: shared.config.daemon_id.clone(),
        device_name: shared.config.device_name.clone(),
        server_url: shared.config.server_url.to_string(),
        cli_version: shared.config.cli_version.clone(),
        agents: shared
            .agents
            .iter()
            .map(|a| a.provider.to_string())
            .collect(),
        workspaces,
        active_tasks: shared.active().values().cloned().collect(),
    })
}
