//! The daemon's local HTTP API on 127.0.0.1: `GET /health` (read by
//! `multica daemon status` and the desktop app), `POST /repo/checkout` (called by
//! `multica repo checkout` inside an agent task) and `POST /shutdown`.
//!
//! Anything on this machine can reach a loopback port, web pages included, so:
//! - every request must carry a loopback `Host` (a DNS-rebinding page sends its own
//!   host name) and no foreign `Origin` (a page's cross-site request carries one);
//! - `/repo/checkout` needs the bearer token of a running task, given to that task's
//!   agent only, and works only inside that task's directory;
//! - `/shutdown` needs the daemon's control token, which is in a file only the user
//!   can read (see [`ControlToken`]), never in an agent's environment.

mod auth;
mod checkout;
mod error;
mod ui;
mod views;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::bus::EventBus;
use crate::grants::{ControlToken, TaskGrants};
use crate::health::HealthReport;
use crate::registry::Registry;
use crate::repo_cache::RepoCache;
use crate::usage_book::UsageBook;
pub(crate) use error::LocalApiError;

/// Builds `/health` when asked: the report gathers the whole engine, so the
/// engine builds it, not the API.
pub(crate) type HealthSource = Arc<dyn Fn() -> HealthReport + Send + Sync>;

/// What the API reads and acts on.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) port: u16,
    pub(crate) health: HealthSource,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) usage: Arc<UsageBook>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) repo_cache: Arc<RepoCache>,
    pub(crate) grants: Arc<TaskGrants>,
    /// `None` when the token file could not be written: then only the open
    /// routes work.
    pub(crate) control: Option<Arc<ControlToken>>,
    /// The window's built files, served at `/ui/`.
    pub(crate) ui_dir: Option<PathBuf>,
    /// Cancelled by `/shutdown`: the engine's own shutdown token.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the local API stops: ends the event streams, which would
    /// otherwise hold the graceful shutdown open.
    pub(crate) stop: CancellationToken,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn serve(state: ApiState, listener: TcpListener) {
    let stop = state.stop.clone();
    if let Err(error) = axum::serve(listener, router(state))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        warn!(%error, "the local API stopped");
    }
}

fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(views::health))
        .route("/usage", get(views::usage))
        .route("/tasks", get(views::recent_tasks))
        .route("/tasks/{task_id}/transcript", get(views::task_transcript))
        .route("/events", get(views::events))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::permanent("/ui/") }),
        )
        .route("/ui/", get(ui::ui_file))
        .route("/ui/{*path}", get(ui::ui_file))
        .route("/repo/checkout", post(checkout::repo_checkout))
        .route("/shutdown", post(views::shutdown))
        .layer(from_fn_with_state(state.clone(), same_machine_only))
        .with_state(state)
}

/// Refuses requests that a web page could have made: a `Host` that is not this
/// loopback address (DNS rebinding) or any `Origin` but our own (cross-site).
async fn same_machine_only(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let port = state.port;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host, port) {
        warn!(
            host,
            path = request.uri().path(),
            "local API: refused a foreign Host"
        );
        return LocalApiError::Forbidden("forbidden: Host must be 127.0.0.1").into_response();
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let own = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|name| origin == format!("http://{name}:{port}"));
        if !own {
            warn!(
                origin,
                path = request.uri().path(),
                "local API: refused a foreign Origin"
            );
            return LocalApiError::Forbidden("forbidden: cross-origin request").into_response();
        }
    }
    next.run(request).await
}

fn is_loopback_host(host: &str, port: u16) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:port` splits at the last colon; a bare `[::1]` has `]` last.
        Some((name, given)) if !host.ends_with(']') => {
            if given != port.to_string() {
                return false;
            }
            name
        }
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_on_our_port_pass() {
        assert!(is_loopback_host("127.0.0.1:19514", 19514));
        assert!(is_loopback_host("localhost:19514", 19514));
        assert!(is_loopback_host("[::1]:19514", 19514));
        assert!(is_loopback_host("127.0.0.1", 19514));
        assert!(!is_loopback_host("127.0.0.1:80", 19514));
        assert!(!is_loopback_host("evil.example:19514", 19514));
        assert!(!is_loopback_host("127.0.0.1.evil.example:19514", 19514));
        assert!(!is_loopback_host("", 19514));
    }
}
