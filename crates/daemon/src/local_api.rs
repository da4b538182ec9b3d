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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use multica_api::Secret;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::{ActiveTask, Shared};
use crate::go_duration::format_duration;
use crate::repo_cache::{CheckoutRequest, RepoCacheError, bare_dir_name};

/// The Go daemon's `/health` body, plus what is being worked on.
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
    /// The agent CLIs found, with their versions and paths.
    #[serde(default)]
    pub agent_clis: Vec<HealthAgent>,
    /// The configured agent CLIs not found or not usable.
    #[serde(default)]
    pub agents_missing: Vec<HealthMissingAgent>,
    /// When the server last answered (HTTP or socket), in Unix milliseconds.
    #[serde(default)]
    pub last_server_contact_unix_ms: Option<u64>,
    #[serde(default)]
    pub running_tasks: usize,
    #[serde(default)]
    pub active_tasks: Vec<ActiveTask>,
    /// `starting`, `online`, `degraded` or `offline`.
    #[serde(default)]
    pub state: String,
    /// Why the engine is degraded or offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// Not taking new tasks (paused from the app).
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWorkspace {
    pub id: String,
    pub runtimes: Vec<String>,
    /// The same runtimes with their agent and when the server last confirmed each.
    #[serde(default)]
    pub runtime_details: Vec<HealthRuntime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRuntime {
    pub id: String,
    pub provider: String,
    /// Registration or heartbeat answered by the server, in Unix milliseconds;
    /// `None` until the server confirmed it in this process.
    pub last_seen_unix_ms: Option<u64>,
}

/// A configured agent CLI that is not used, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMissingAgent {
    pub provider: String,
    pub display_name: String,
    /// Not installed, as opposed to installed but unusable (too old, broken).
    pub not_installed: bool,
    /// Why, with the fix ("install it, or set MULTICA_CLAUDE_PATH …").
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAgent {
    pub provider: String,
    pub version: String,
    pub path: String,
}

/// What a task's bearer token allows: acting inside that task's directory.
#[derive(Debug, Clone)]
pub(crate) struct TaskGrant {
    pub(crate) task_id: String,
    pub(crate) workspace_id: String,
    pub(crate) agent_name: String,
    /// `<root>/<workspace>/<task8>`; checkouts must land below it.
    pub(crate) task_dir: PathBuf,
}

/// The bearer tokens of running tasks. A token lives exactly as long as its task.
#[derive(Debug, Default)]
pub(crate) struct TaskGrants {
    by_token: Mutex<HashMap<String, TaskGrant>>,
}

impl TaskGrants {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, TaskGrant>> {
        self.by_token.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new random token for the task; dropping the [`GrantGuard`] revokes it.
    pub(crate) fn issue(self: &Arc<Self>, grant: TaskGrant) -> GrantGuard {
        let token = random_token("mlt");
        self.lock().insert(token.clone(), grant);
        GrantGuard {
            grants: Arc::clone(self),
            token: Secret::new(token),
        }
    }

    fn find(&self, token: &str) -> Option<TaskGrant> {
        self.lock().get(token).cloned()
    }
}

/// Revokes a task's token when the task ends, however it ends.
#[derive(Debug)]
pub(crate) struct GrantGuard {
    grants: Arc<TaskGrants>,
    token: Secret,
}

impl GrantGuard {
    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }
}

impl Drop for GrantGuard {
    fn drop(&mut self) {
        self.grants.lock().remove(self.token.expose());
    }
}

/// 244 random bits from the OS generator (two v4 UUIDs), with a prefix that tells
/// what the token is for.
fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The token that lets `multica daemon stop` (and the desktop app) ask this daemon
/// to stop over HTTP, which works on every OS. It is written, readable by the user
/// only, next to the pid file, and removed when the daemon stops.
#[derive(Debug)]
pub struct ControlToken {
    token: Secret,
    file: PathBuf,
}

impl ControlToken {
    /// Where the daemon of a config file keeps its control token.
    pub fn file_for(config_file: &Path) -> PathBuf {
        config_file.with_file_name("daemon.control")
    }

    pub(crate) fn create(config_file: &Path) -> std::io::Result<Self> {
        let token = Secret::new(random_token("mdc"));
        let file = Self::file_for(config_file);
        multica_token_store::write_private_file(&file, token.expose().as_bytes())?;
        Ok(Self { token, file })
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.token
    }

    /// Removes the token file: the daemon is stopping and takes no more requests.
    pub(crate) fn retire(&self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Drop for ControlToken {
    fn drop(&mut self) {
        self.retire();
    }
}

#[derive(Clone)]
struct ApiState {
    shared: Arc<Shared>,
    /// Cancelled by `/shutdown`: the engine's own shutdown token.
    shutdown: CancellationToken,
    control: Option<Arc<ControlToken>>,
    /// Cancelled when the local API stops: ends the event streams, which would
    /// otherwise hold the graceful shutdown open.
    stop: CancellationToken,
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    control: Option<Arc<ControlToken>>,
    shutdown: CancellationToken,
    stop: CancellationToken,
) {
    let state = ApiState {
        shared,
        shutdown,
        control,
        stop: stop.clone(),
    };
    let app = router(state);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        warn!(%error, "the local API stopped");
    }
}

fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/usage", get(usage))
        .route("/tasks", get(recent_tasks))
        .route("/tasks/{task_id}/transcript", get(task_transcript))
        .route("/events", get(events))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::permanent("/ui/") }),
        )
        .route("/ui/", get(ui_file))
        .route("/ui/{*path}", get(ui_file))
        .route("/repo/checkout", post(repo_checkout))
        .route("/shutdown", post(shutdown))
        .layer(from_fn_with_state(state.clone(), same_machine_only))
        .with_state(state)
}

/// A refusal in the seed's style: plain text with a newline.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// Refuses requests that a web page could have made: a `Host` that is not this
/// loopback address (DNS rebinding) or any `Origin` but our own (cross-site).
async fn same_machine_only(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let port = state.shared.config.health_port;
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
        return refuse(StatusCode::FORBIDDEN, "forbidden: Host must be 127.0.0.1");
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
            return refuse(StatusCode::FORBIDDEN, "forbidden: cross-origin request");
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

async fn health(State(state): State<ApiState>) -> Json<HealthReport> {
    Json(health_report(&state.shared))
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

pub(crate) fn health_report(shared: &Shared) -> HealthReport {
    let seen = shared.runtimes_last_seen();
    let workspaces = shared
        .registry()
        .workspaces
        .iter()
        .map(|(id, workspace)| HealthWorkspace {
            id: id.clone(),
            runtimes: workspace.runtimes.iter().map(|r| r.id.clone()).collect(),
            runtime_details: workspace
                .runtimes
                .iter()
                .map(|runtime| HealthRuntime {
                    id: runtime.id.clone(),
                    provider: runtime.provider.to_string(),
                    last_seen_unix_ms: seen.get(&runtime.id).copied().map(unix_ms),
                })
                .collect(),
        })
        .collect();
    let active_tasks: Vec<ActiveTask> = shared.active().values().cloned().collect();
    let state = shared
        .state
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    HealthReport {
        status: "running".to_owned(),
        pid: std::process::id(),
        uptime: format_duration(shared.started_at.elapsed()),
        daemon_id: shared.config.daemon_id.clone(),
        device_name: shared.config.device_name.clone(),
        server_url: shared.config.server_url.to_string(),
        cli_version: shared.config.cli_version.clone(),
        agents: shared
            .agents()
            .iter()
            .map(|a| a.provider.to_string())
            .collect(),
        workspaces,
        agent_clis: shared
            .agents()
            .iter()
            .map(|a| HealthAgent {
                provider: a.provider.to_string(),
                version: a.version.clone(),
                path: a.executable.to_string_lossy().into_owned(),
            })
            .collect(),
        agents_missing: shared
            .skipped_agents()
            .iter()
            .map(|skipped| HealthMissingAgent {
                provider: skipped.provider.to_string(),
                display_name: skipped.provider.display_name().to_owned(),
                not_installed: skipped.not_installed,
                reason: skipped.reason.clone(),
            })
            .collect(),
        last_server_contact_unix_ms: shared
            .vitals
            .last_contact_age()
            .and_then(|age| SystemTime::now().checked_sub(age))
            .map(unix_ms),
        running_tasks: active_tasks.len(),
        active_tasks,
        state: state.word().to_owned(),
        state_reason: state.reason().map(str::to_owned),
        paused: shared.paused.load(std::sync::atomic::Ordering::Relaxed),
    }
}

#[derive(Debug, serde::Deserialize)]
struct UsageQuery {
    /// `YYYY-MM-DD`, or a number of days such as `7d`.
    since: Option<String>,
}

/// `GET /usage[?since=YYYY-MM-DD|Nd]`: what the UI shows of token usage.
async fn usage(State(state): State<ApiState>, Query(query): Query<UsageQuery>) -> Response {
    let since = match query.since.as_deref().map(crate::usage::parse_since) {
        None => None,
        Some(Ok(date)) => Some(date),
        Some(Err(message)) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    Json(state.shared.usage.report(since)).into_response()
}

/// `GET /tasks`: the recent tasks, newest first.
async fn recent_tasks(State(state): State<ApiState>) -> Json<Vec<crate::history::TaskSummary>> {
    Json(state.shared.history.recent())
}

/// `GET /events`: the engine's events as they happen, as server-sent events (one
/// JSON object per event, the shape hosts get from [`crate::EngineHandle::subscribe`]),
/// so a window served to a browser needs no polling. Transcripts ride on it: only
/// the user (the control token) may listen. A listener too slow to keep up gets
/// `{"type":"lagged","missed":n}` and should reload what it shows.
async fn events(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;

    if !is_the_user(&state, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let receiver = state.shared.events.subscribe();
    let stream =
        futures::stream::unfold((receiver, state.stop), |(mut receiver, stop)| async move {
            let data = tokio::select! {
                () = stop.cancelled() => return None,
                received = receiver.recv() => match received {
                    Ok(event) => serde_json::to_string(&event).unwrap_or_else(|error| {
                        serde_json::json!({"type": "unreadable", "error": error.to_string()})
                            .to_string()
                    }),
                    Err(RecvError::Lagged(missed)) => {
                        serde_json::json!({"type": "lagged", "missed": missed}).to_string()
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((
                Ok::<_, std::convert::Infallible>(Event::default().data(data)),
                (receiver, stop),
            ))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What the window served at `/ui/` may do: only our own script, no remote content,
/// talk to this API only.
const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /ui/…`: the window's built files, for a browser on a headless machine. The
/// page reads the open routes; transcripts and live events need the control token,
/// which the user pastes into it once; nothing there changes anything.
async fn ui_file(State(state): State<ApiState>, path: Option<UrlPath<String>>) -> Response {
    let Some(dir) = state.shared.config.ui_dir.as_deref() else {
        return refuse(StatusCode::NOT_FOUND, "the window is not served here");
    };
    let wanted = path.map_or_else(String::new, |UrlPath(path)| path);
    let relative = if wanted.is_empty() {
        "index.html"
    } else {
        wanted.as_str()
    };
    // Only plain names below the folder: no `..`, no absolute paths, no hidden files.
    let safe = Path::new(relative).components().all(|component| {
        matches!(component, std::path::Component::Normal(name)
            if !name.to_string_lossy().starts_with('.'))
    });
    if !safe {
        return refuse(StatusCode::NOT_FOUND, "not found");
    }
    let file = dir.join(relative);
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(_) if relative == "index.html" => {
            return refuse(
                StatusCode::NOT_FOUND,
                &format!(
                    "the window's files are not at {}: build them (scripts/build-ui.sh) and set MULTICA_UI_DIR to ui/dist",
                    dir.display()
                ),
            );
        }
        Err(_) => return refuse(StatusCode::NOT_FOUND, "not found"),
    };
    let content_type = match file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, UI_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Debug, serde::Deserialize)]
struct TranscriptQuery {
    after: Option<u64>,
}

/// `GET /tasks/{id}/transcript[?after=<seq>]`: what the engine keeps of it. A
/// transcript can quote the user's code, so only the user (the control token) may
/// read it, not any other account on the machine.
async fn task_transcript(
    State(state): State<ApiState>,
    headers: HeaderMap,
    UrlPath(task_id): UrlPath<String>,
    Query(query): Query<TranscriptQuery>,
) -> Response {
    if !is_the_user(&state, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    match state.shared.history.transcript(&task_id, query.after) {
        Some(messages) => Json(messages).into_response(),
        None => refuse(
            StatusCode::NOT_FOUND,
            "task not found among the recent ones",
        ),
    }
}

/// The caller showed the control token: it can read the user's files.
fn is_the_user(state: &ApiState, headers: &HeaderMap) -> bool {
    match (&state.control, bearer(headers)) {
        (Some(control), Some(given)) => control.secret().matches(given),
        _ => false,
    }
}

async fn shutdown(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if !is_the_user(&state, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    info!("shutdown requested over the local API");
    state.shutdown.cancel();
    (
        StatusCode::OK,
        Json(serde_json::json!({"status": "stopping"})),
    )
        .into_response()
}

/// `multica repo checkout`'s request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckoutBody {
    url: String,
    workspace_id: String,
    workdir: String,
    #[serde(rename = "ref")]
    git_ref: String,
    agent_name: String,
    task_id: String,
    /// Clients that understand 503 + `Retry-After` set this; the others wait for
    /// the repository lock as long as it takes.
    retry_busy: bool,
}

/// How long a `retry_busy` checkout waits for another one of the same repository.
const BUSY_LOCK_WAIT: Duration = Duration::from_secs(10);

async fn repo_checkout(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(grant) = bearer(&headers).and_then(|token| state.shared.grants.find(token)) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized: use the MULTICA_LOCAL_API_TOKEN of a running task",
        );
    };
    let Ok(request) = serde_json::from_slice::<CheckoutBody>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid JSON body");
    };
    if request.url.trim().is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "url is required");
    }
    if request.workdir.trim().is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "workdir is required");
    }
    // The token decides the task; the body may only repeat it.
    let foreign = |given: &str, own: &str| !given.is_empty() && given != own;
    if foreign(&request.task_id, &grant.task_id)
        || foreign(&request.workspace_id, &grant.workspace_id)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden: the token belongs to another task",
        );
    }
    let Some(work_dir) = inside(&grant.task_dir, Path::new(&request.workdir)) else {
        warn!(task_id = %grant.task_id, workdir = %request.workdir, "local API: checkout outside the task directory refused");
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden: workdir is outside this task's directory",
        );
    };
    let configured = {
        let registry = state.shared.registry();
        registry
            .workspaces
            .get(&grant.workspace_id)
            .map(|workspace| {
                workspace
                    .repos
                    .iter()
                    .map(|repo| repo.url.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let wanted = bare_dir_name(&request.url);
    if !configured.iter().any(|url| bare_dir_name(url) == wanted) {
        let known = if configured.is_empty() {
            "it has none".to_owned()
        } else {
            configured.join(", ")
        };
        return refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "{} is not a repository of workspace {} ({known})",
                request.url.trim(),
                grant.workspace_id
            ),
        );
    }
    let git_ref = Some(request.git_ref.as_str()).filter(|r| !r.trim().is_empty());
    let agent_name = if request.agent_name.trim().is_empty() {
        grant.agent_name.as_str()
    } else {
        request.agent_name.as_str()
    };
    let checkout = state
        .shared
        .repo_cache
        .checkout(&CheckoutRequest {
            workspace_id: &grant.workspace_id,
            url: request.url.trim(),
            work_dir: &work_dir,
            agent_name,
            task_id: &grant.task_id,
            git_ref,
            lock_wait: request.retry_busy.then_some(BUSY_LOCK_WAIT),
        })
        .await;
    match checkout {
        Ok(checkout) => {
            let mut body = serde_json::json!({
                "path": checkout.path,
                "branch_name": checkout.branch_name,
            });
            if let Some(reason) = checkout.stale_because {
                body["warning"] = serde_json::Value::String(format!(
                    "the repository could not be fetched, so the checkout starts from the copy fetched earlier: {reason}"
                ));
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(RepoCacheError::Busy { .. }) => {
            let mut response = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the repository is busy with another checkout; retry shortly",
            );
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            headers.insert(
                "X-Multica-Retryable",
                header::HeaderValue::from_static("repo-busy"),
            );
            response
        }
        Err(error @ (RepoCacheError::UnknownRef { .. } | RepoCacheError::PathTaken { .. })) => {
            refuse(StatusCode::BAD_REQUEST, &error.to_string())
        }
        Err(error) => {
            warn!(task_id = %grant.task_id, url = %request.url, %error, "repo checkout failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
        }
    }
}

/// `candidate`, resolved, if it is `dir` or below it. Symlinks are resolved, so a
/// link inside the task directory cannot point the checkout elsewhere.
fn inside(dir: &Path, candidate: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    let candidate = candidate.canonicalize().ok()?;
    candidate.starts_with(&dir).then_some(candidate)
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

    #[test]
    fn paths_must_stay_inside_the_task_directory() {
        let root = tempfile::tempdir().expect("dir");
        let task = root.path().join("ws").join("task1");
        let work = task.join("workdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        let other = root.path().join("ws").join("task2");
        std::fs::create_dir_all(&other).expect("mkdir");
        assert!(inside(&task, &work).is_some());
        assert!(inside(&task, &work.join("..").join("..").join("task2")).is_none());
        assert!(inside(&task, &other).is_none());
        assert!(inside(&task, Path::new("/")).is_none());
        assert!(inside(&task, &task.join("missing")).is_none());
        #[cfg(unix)]
        {
            let link = work.join("escape");
            std::os::unix::fs::symlink(&other, &link).expect("symlink");
            assert!(inside(&task, &link).is_none(), "a symlink out is refused");
        }
    }

    #[test]
    fn grants_end_with_their_guard() {
        let grants = Arc::new(TaskGrants::default());
        let guard = grants.issue(TaskGrant {
            task_id: "t".into(),
            workspace_id: "w".into(),
            agent_name: "a".into(),
            task_dir: PathBuf::from("/tmp"),
        });
        let token = guard.token().expose().to_owned();
        assert!(token.starts_with("mlt_") && token.len() > 60);
        assert!(grants.find(&token).is_some());
        drop(guard);
        assert!(grants.find(&token).is_none());
    }
}
