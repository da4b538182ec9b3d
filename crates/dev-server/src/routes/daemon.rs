//! `/api/daemon/*` (contract A.2), with the seed's status codes and error texts.
//!
//! Request bodies are decoded leniently, as Go's `encoding/json` decodes them (see
//! [`crate::go::decode`]); that is why these handlers define their own request
//! structs instead of the stricter client-side ones of `multica_api::wire`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use multica_api::wire::{self, AgentRuntime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::AuthUser;
use super::{error, ok_json, status_ok};
use crate::go::{
    self, GoRequest, fold_array_items, fold_keys, null_as_default, null_items_as_default,
};
use crate::state::{
    CompleteInput, MessageInput, RuntimeInput, State as Tables, TaskBody, UsageInput,
};
use crate::world::Shared;

fn invalid_body(err: &go::DecodeError) -> Response {
    tracing::debug!(error = %err, "invalid request body");
    error(StatusCode::BAD_REQUEST, "invalid request body")
}

macro_rules! decode_or_400 {
    ($ty:ty, $body:expr) => {
        match go::decode::<$ty>(&$body) {
            Ok(request) => request,
            Err(err) => return invalid_body(&err),
        }
    };
}

// ---------------------------------------------------------------------------
// register / deregister / heartbeat

#[derive(Debug, Default, Deserialize)]
struct RegisterRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    workspace_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    daemon_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    device_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    cli_version: String,
    #[serde(default, deserialize_with = "null_items_as_default")]
    runtimes: Vec<RegisterRuntime>,
}

#[derive(Debug, Default, Deserialize)]
struct RegisterRuntime {
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    provider: String,
    #[serde(default, deserialize_with = "null_as_default")]
    version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
}

impl GoRequest for RegisterRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(
            value,
            &[
                "workspace_id",
                "daemon_id",
                "device_name",
                "cli_version",
                "runtimes",
            ],
        );
        fold_array_items(value, "runtimes", |item| {
            fold_keys(item, &["name", "type", "version", "status"]);
        });
    }
}

/// `RepoData`: `description` is always present.
#[derive(Debug, Serialize)]
struct RepoBody {
    url: String,
    description: String,
}

/// Go encodes this response from a map, so its keys come out sorted.
#[derive(Debug, Serialize)]
struct RegisterResponse {
    repos: Vec<RepoBody>,
    runtimes: Vec<AgentRuntime>,
}

pub(super) async fn register(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(RegisterRequest, body);
    let workspace_text = request.workspace_id.trim();
    let daemon_id = request.daemon_id.trim();
    let device_name = request.device_name.trim();
    if daemon_id.is_empty() {
        return error(StatusCode::BAD_REQUEST, "daemon_id is required");
    }
    if workspace_text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "workspace_id is required");
    }
    if request.runtimes.is_empty() {
        return error(StatusCode::BAD_REQUEST, "at least one runtime is required");
    }
    let now = shared.now();
    let response = shared.write(|world| {
        let state = &mut world.state;
        // `requireWorkspaceMember`, then `GetWorkspace`: both answer 404.
        let workspace_id = go::parse_uuid(workspace_text)
            .filter(|ws| state.is_member(user.user_id, *ws))
            .filter(|ws| state.workspaces.contains_key(ws))?;
        let runtimes = request
            .runtimes
            .iter()
            .map(|runtime| {
                let input = RuntimeInput {
                    daemon_id: Some(daemon_id.to_owned()),
                    device_name: device_name.to_owned(),
                    cli_version: request.cli_version.clone(),
                    name: runtime.name.clone(),
                    provider: runtime.provider.clone(),
                    version: runtime.version.clone(),
                    status: runtime.status.clone(),
                };
                Tables::runtime_view(&state.upsert_runtime(workspace_id, &input, now))
            })
            .collect();
        let repos = state
            .workspaces
            .get(&workspace_id)
            .map(|w| {
                w.repos
                    .iter()
                    .map(|r| RepoBody {
                        url: r.url.clone(),
                        description: r.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(RegisterResponse { repos, runtimes })
    });
    match response {
        Some(response) => {
            tracing::info!(
                workspace_id = workspace_text,
                daemon_id,
                runtimes = response.runtimes.len(),
                "daemon registered"
            );
            ok_json(&response)
        }
        None => error(StatusCode::NOT_FOUND, "workspace not found"),
    }
}

#[derive(Debug, Default, Deserialize)]
struct DeregisterRequest {
    #[serde(default, deserialize_with = "null_items_as_default")]
    runtime_ids: Vec<String>,
}

impl GoRequest for DeregisterRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["runtime_ids"]);
    }
}

pub(super) async fn deregister(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = decode_or_400!(DeregisterRequest, body);
    if request.runtime_ids.is_empty() {
        return error(StatusCode::BAD_REQUEST, "runtime_ids is required");
    }
    let now = shared.now();
    shared.write(|world| world.state.deregister(&request.runtime_ids, now));
    tracing::info!(runtime_ids = ?request.runtime_ids, "daemon deregistered");
    status_ok()
}

#[derive(Debug, Default, Deserialize)]
struct HeartbeatRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    runtime_id: String,
}

impl GoRequest for HeartbeatRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["runtime_id"]);
    }
}

/// Built from a map in the seed: keys sorted.
#[derive(Debug, Serialize)]
struct HeartbeatResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_ping: Option<wire::PendingPing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_update: Option<wire::PendingUpdate>,
    status: &'static str,
}

pub(super) async fn heartbeat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = decode_or_400!(HeartbeatRequest, body);
    if request.runtime_id.is_empty() {
        return error(StatusCode::BAD_REQUEST, "runtime_id is required");
    }
    let now = shared.now();
    match shared.write(|world| world.state.heartbeat(&request.runtime_id, now)) {
        // The seed answers 500 for an unknown runtime (no rows); the current
        // server 404, so that the daemon registers again.
        None if shared.config.mode == crate::ServerMode::Current => {
            error(StatusCode::NOT_FOUND, "runtime not found")
        }
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "heartbeat failed"),
        Some(outcome) => ok_json(&HeartbeatResponse {
            pending_ping: outcome.ping_id.map(|id| wire::PendingPing { id }),
            pending_update: outcome
                .update
                .map(|(id, target_version)| wire::PendingUpdate { id, target_version }),
            status: "ok",
        }),
    }
}

// ---------------------------------------------------------------------------
// claim / pending

#[derive(Debug, Serialize)]
struct ClaimResponse {
    task: Option<TaskBody>,
}

pub(super) async fn claim(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    Path(runtime_id): Path<String>,
) -> Response {
    let now = shared.now();
    let current = shared.config.mode == crate::ServerMode::Current;
    let task = shared.write(|world| {
        let runtime = go::parse_uuid(&runtime_id)?;
        let task = world.state.claim_for_runtime(runtime, now)?;
        if current {
            super::current::claimed_with_token(&mut world.state, task, user)
        } else {
            world.state.claimed_body(task)
        }
    });
    if let Some(task) = &task {
        tracing::info!(task_id = %task.id, %runtime_id, "task claimed by runtime");
    }
    ok_json(&ClaimResponse { task })
}

pub(super) async fn pending(
    State(shared): State<Arc<Shared>>,
    Path(runtime_id): Path<String>,
) -> Response {
    ok_json(&shared.read(|world| world.state.pending_for_runtime(&runtime_id)))
}

// ---------------------------------------------------------------------------
// task lifecycle

pub(super) async fn start(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
) -> Response {
    let now = shared.now();
    let result = shared.write(|world| {
        let id = go::parse_uuid(&task_id).ok_or(crate::state::NoRows)?;
        world.state.start_task(id, now)
    });
    match result {
        Ok(task) => ok_json(&task),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("start task: {e}")),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ProgressRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    summary: String,
    #[serde(default, deserialize_with = "null_as_default")]
    step: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    total: i64,
}

impl GoRequest for ProgressRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["summary", "step", "total"]);
    }
}

/// Always 200 (the seed only broadcasts progress); kept for the admin API anyway.
pub(super) async fn progress(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(ProgressRequest, body);
    let now = shared.now();
    shared.write(|world| {
        world
            .state
            .record_progress(&task_id, &request.summary, request.step, request.total, now);
    });
    status_ok()
}

#[derive(Debug, Default, Deserialize)]
struct CompleteRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pr_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    output: String,
    #[serde(default, deserialize_with = "null_as_default")]
    session_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    work_dir: String,
}

impl GoRequest for CompleteRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["pr_url", "output", "session_id", "work_dir"]);
    }
}

pub(super) async fn complete(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(CompleteRequest, body);
    let input = CompleteInput {
        pr_url: request.pr_url,
        output: request.output,
        session_id: request.session_id,
        work_dir: request.work_dir,
    };
    let now = shared.now();
    let current_mode = shared.config.mode == crate::ServerMode::Current;
    let result = shared.write(|world| {
        let id = go::parse_uuid(&task_id).ok_or(crate::state::NoRows)?;
        let mut outcome = world.state.complete_task(id, &input, now);
        if current_mode {
            // Idempotent: a terminal task answers 200 with its row.
            outcome = outcome.or_else(|_| world.state.terminal_task_body(id));
            world.state.revoke_task_tokens(id);
        }
        if outcome.is_err() {
            let current = world.state.task_status(&task_id);
            tracing::warn!(%task_id, ?current, "complete task failed: task not running");
        }
        outcome
    });
    match result {
        Ok(task) => ok_json(&task),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("complete task: {e}")),
    }
}

/// `TaskFailRequest`: the seed reads `error`; current servers also the reason and
/// the session the failed run leaves.
#[derive(Debug, Default, Deserialize)]
struct FailRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    error: String,
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    work_dir: Option<String>,
}

impl GoRequest for FailRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(
            value,
            &["error", "failure_reason", "session_id", "work_dir"],
        );
    }
}

pub(super) async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(FailRequest, body);
    let now = shared.now();
    let current_mode = shared.config.mode == crate::ServerMode::Current;
    let result = shared.write(|world| {
        let id = go::parse_uuid(&task_id).ok_or(crate::state::NoRows)?;
        // A seed server reads only the error; a current one keeps the reason and
        // the session, and retries what its taxonomy calls retryable.
        let details = if current_mode {
            crate::state::FailureDetails {
                reason: request.failure_reason.clone().filter(|r| !r.is_empty()),
                session_id: request.session_id.clone().filter(|s| !s.is_empty()),
                work_dir: request.work_dir.clone().filter(|w| !w.is_empty()),
            }
        } else {
            crate::state::FailureDetails::default()
        };
        let mut outcome = world
            .state
            .fail_task(id, &request.error, &details, current_mode, now);
        if current_mode {
            outcome = outcome.or_else(|_| world.state.terminal_task_body(id));
            world.state.revoke_task_tokens(id);
        }
        if outcome.is_err() {
            let current = world.state.task_status(&task_id);
            tracing::warn!(%task_id, ?current, "fail task failed: task not dispatched or running");
        }
        outcome
    });
    match result {
        Ok(task) => ok_json(&task),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("fail task: {e}")),
    }
}

pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
) -> Response {
    match shared.read(|world| world.state.task_status(&task_id)) {
        Some(status) => ok_json(&wire::TaskStatusResponse { status }),
        None => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

// ---------------------------------------------------------------------------
// messages

#[derive(Debug, Default, Deserialize)]
struct MessagesRequest {
    #[serde(default, deserialize_with = "null_items_as_default")]
    messages: Vec<MessageRequest>,
}

#[derive(Debug, Default, Deserialize)]
struct MessageRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    seq: i64,
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    tool: String,
    #[serde(default, deserialize_with = "null_as_default")]
    content: String,
    /// `map[string]any`: `null` is nil; anything but an object is a decode error.
    #[serde(default)]
    input: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    output: String,
}

impl GoRequest for MessagesRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["messages"]);
        fold_array_items(value, "messages", |item| {
            fold_keys(item, &["seq", "type", "tool", "content", "input", "output"]);
        });
    }
}

pub(super) async fn post_messages(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(MessagesRequest, body);
    if request.messages.is_empty() {
        return status_ok();
    }
    let messages: Vec<MessageInput> = request
        .messages
        .into_iter()
        .map(|m| MessageInput {
            seq: m.seq,
            kind: m.kind,
            tool: m.tool,
            content: m.content,
            input: m.input,
            output: m.output,
        })
        .collect();
    let now = shared.now();
    match shared.write(|world| world.state.record_messages(&task_id, &messages, now)) {
        Ok(_) => status_ok(),
        Err(_) => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

/// `r.URL.Query().Get(name)`: the first value, percent-decoded.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

pub(super) async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if shared
        .read(|world| world.state.task_status(&task_id))
        .is_none()
    {
        return error(StatusCode::NOT_FOUND, "task not found");
    }
    let since = match query_value(query.as_deref(), "since").filter(|s| !s.is_empty()) {
        None => None,
        // `strconv.Atoi`, then `int32(sinceSeq)`.
        #[allow(clippy::cast_possible_truncation, reason = "Go truncates the same way")]
        Some(text) => match text.parse::<i64>() {
            Ok(since) => Some(since as i32),
            Err(_) => return error(StatusCode::BAD_REQUEST, "invalid since parameter"),
        },
    };
    match shared.read(|world| world.state.list_messages(&task_id, since)) {
        Some(messages) => ok_json(&messages),
        None => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

// ---------------------------------------------------------------------------
// usage, ping, update

#[derive(Debug, Default, Deserialize)]
struct UsageRequest {
    #[serde(default, deserialize_with = "null_items_as_default")]
    entries: Vec<UsageEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct UsageEntry {
    #[serde(default, deserialize_with = "null_as_default")]
    date: String,
    #[serde(default, deserialize_with = "null_as_default")]
    provider: String,
    #[serde(default, deserialize_with = "null_as_default")]
    model: String,
    #[serde(default, deserialize_with = "null_as_default")]
    input_tokens: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    output_tokens: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    cache_read_tokens: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    cache_write_tokens: i64,
}

impl GoRequest for UsageRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["entries"]);
        fold_array_items(value, "entries", |item| {
            fold_keys(
                item,
                &[
                    "date",
                    "provider",
                    "model",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_write_tokens",
                ],
            );
        });
    }
}

pub(super) async fn usage(
    State(shared): State<Arc<Shared>>,
    Path(runtime_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(UsageRequest, body);
    let entries: Vec<UsageInput> = request
        .entries
        .into_iter()
        .map(|e| UsageInput {
            date: e.date,
            provider: e.provider,
            model: e.model,
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cache_read_tokens: e.cache_read_tokens,
            cache_write_tokens: e.cache_write_tokens,
        })
        .collect();
    let now = shared.now();
    shared.write(|world| world.state.record_usage(&runtime_id, &entries, now));
    status_ok()
}

#[derive(Debug, Default, Deserialize)]
struct PingResultRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    output: String,
    #[serde(default, deserialize_with = "null_as_default")]
    error: String,
    #[serde(default, deserialize_with = "null_as_default")]
    duration_ms: i64,
}

impl GoRequest for PingResultRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["status", "output", "error", "duration_ms"]);
    }
}

pub(super) async fn ping_result(
    State(shared): State<Arc<Shared>>,
    Path((_runtime_id, ping_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(PingResultRequest, body);
    let now = shared.now();
    shared.write(|world| {
        world.state.ping_result(
            &ping_id,
            &request.status,
            &request.output,
            &request.error,
            request.duration_ms,
            now,
        );
    });
    status_ok()
}

#[derive(Debug, Default, Deserialize)]
struct UpdateResultRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    output: String,
    #[serde(default, deserialize_with = "null_as_default")]
    error: String,
}

impl GoRequest for UpdateResultRequest {
    fn fold_keys(value: &mut Map<String, Value>) {
        fold_keys(value, &["status", "output", "error"]);
    }
}

pub(super) async fn update_result(
    State(shared): State<Arc<Shared>>,
    Path((_runtime_id, update_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request = decode_or_400!(UpdateResultRequest, body);
    let now = shared.now();
    let outcome = shared.write(|world| {
        world.state.update_result(
            &update_id,
            &request.status,
            &request.output,
            &request.error,
            now,
        )
    });
    match outcome {
        Ok(()) => status_ok(),
        Err(()) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid status: {}", request.status),
        ),
    }
}
