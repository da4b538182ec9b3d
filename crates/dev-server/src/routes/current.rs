//! Routes only the current server has (contract Part B), served in
//! [`ServerMode::Current`](crate::ServerMode::Current). A seed-mode server answers
//! them with chi's `404 page not found`, which is how daemons detect it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use multica_api::wire::Workspace;
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{error, ok_json, status_ok};
use crate::go;
use crate::state::{State as Tables, TaskBody, TaskUsageRecord};
use crate::world::Shared;

/// Batch claim's cap on `max_tasks`.
const MAX_BATCH: i64 = 32;

#[derive(Debug, Deserialize)]
struct BatchClaimRequest {
    #[serde(default)]
    daemon_id: String,
    #[serde(default)]
    runtime_ids: Vec<String>,
    #[serde(default)]
    max_tasks: i64,
}

#[derive(Debug, Serialize)]
struct BatchClaimResponse {
    tasks: Vec<TaskBody>,
}

/// `POST /api/daemon/tasks/claim` (and `/api/daemon/claim`).
pub(super) async fn batch_claim(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<BatchClaimRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid request body");
    };
    if request.max_tasks < 0 {
        return error(StatusCode::BAD_REQUEST, "max_tasks must not be negative");
    }
    let max = usize::try_from(request.max_tasks.min(MAX_BATCH)).unwrap_or(0);
    let now = shared.now();
    let tasks = shared.write(|world| {
        let state = &mut world.state;
        state
            .claim_batch(&request.daemon_id, &request.runtime_ids, max, now)
            .into_iter()
            .filter_map(|task_id| claimed_with_token(state, task_id, user))
            .collect::<Vec<_>>()
    });
    for task in &tasks {
        tracing::info!(task_id = %task.id, "task claimed in a batch");
    }
    ok_json(&BatchClaimResponse { tasks })
}

/// The claim response of the current server: the seed's, plus a fresh `mat_`.
pub(super) fn claimed_with_token(
    state: &mut Tables,
    task_id: uuid::Uuid,
    user: AuthUser,
) -> Option<TaskBody> {
    let mut body = state.claimed_body(task_id)?;
    // The prior run is the last one with a session that is safe to resume, failed
    // runs included; the session only when it ran on this runtime (h/daemon.go).
    let task = state.tasks.get(&task_id)?;
    let prior = state.last_resumable_session(task.agent_id, task.issue_id);
    body.prior_work_dir = prior.and_then(|prior| prior.work_dir.clone());
    body.prior_session_id = prior
        .filter(|prior| prior.runtime_id == task.runtime_id)
        .and_then(|prior| prior.session_id.clone());
    body.auth_token = Some(state.mint_task_token(task_id, user.user_id));
    Some(body)
}

/// `POST /api/daemon/tasks/{id}/cancel-ack`.
pub(super) async fn cancel_ack(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
) -> Response {
    let known = shared.write(|world| {
        let id = go::parse_uuid(&task_id)?;
        world.state.tasks.contains_key(&id).then(|| {
            world.state.cancel_acks.push(id);
        })
    });
    match known {
        Some(()) => status_ok(),
        None => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

#[derive(Debug, Default, Deserialize)]
struct PinSessionBody {
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    work_dir: Option<String>,
}

/// `POST /api/daemon/tasks/{id}/session` (upstream `task_lifecycle.go`): keeps a
/// dispatched or running task's session and work dir; 204 with no body, also
/// when the task has ended (then nothing changes).
pub(super) async fn pin_session(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(pin) = serde_json::from_slice::<PinSessionBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid request body");
    };
    let given = |value: Option<String>| value.filter(|value| !value.is_empty());
    let (session_id, work_dir) = (given(pin.session_id), given(pin.work_dir));
    if session_id.is_none() && work_dir.is_none() {
        return error(StatusCode::BAD_REQUEST, "session_id or work_dir required");
    }
    let found = shared.write(|world| {
        let id = go::parse_uuid(&task_id)?;
        let task = world.state.tasks.get_mut(&id)?;
        if task.is_in_flight() {
            if session_id.is_some() {
                task.session_id.clone_from(&session_id);
            }
            if work_dir.is_some() {
                task.work_dir.clone_from(&work_dir);
            }
        }
        Some(())
    });
    match found {
        Some(()) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

#[derive(Debug, Serialize)]
struct RecoverOrphansResponse {
    recovered: Vec<String>,
}

/// `POST /api/daemon/runtimes/{id}/recover-orphans`.
pub(super) async fn recover_orphans(
    State(shared): State<Arc<Shared>>,
    Path(runtime_id): Path<String>,
) -> Response {
    let now = shared.now();
    let recovered = shared.write(|world| {
        let id = go::parse_uuid(&runtime_id)?;
        world
            .state
            .runtimes
            .contains_key(&id)
            .then(|| world.state.recover_orphans(id, now))
    });
    match recovered {
        Some(ids) => ok_json(&RecoverOrphansResponse {
            recovered: ids.iter().map(ToString::to_string).collect(),
        }),
        None => error(StatusCode::NOT_FOUND, "runtime not found"),
    }
}

#[derive(Debug, Deserialize)]
struct TaskUsageRequest {
    #[serde(default)]
    usage: Vec<TaskUsageEntry>,
}

#[derive(Debug, Deserialize)]
struct TaskUsageEntry {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    cache_read_tokens: i64,
    #[serde(default)]
    cache_write_tokens: i64,
}

/// `POST /api/daemon/tasks/{id}/usage`.
pub(super) async fn task_usage(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<TaskUsageRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid request body");
    };
    let rows: Vec<TaskUsageRecord> = request
        .usage
        .into_iter()
        .map(|entry| TaskUsageRecord {
            task_id: task_id.clone(),
            provider: entry.provider,
            model: entry.model,
            input_tokens: entry.input_tokens,
            output_tokens: entry.output_tokens,
            cache_read_tokens: entry.cache_read_tokens,
            cache_write_tokens: entry.cache_write_tokens,
        })
        .collect();
    let known = shared.write(|world| {
        let id = go::parse_uuid(&task_id)?;
        world.state.tasks.contains_key(&id).then(|| {
            world.state.record_task_usage(rows);
        })
    });
    match known {
        Some(()) => status_ok(),
        None => error(StatusCode::NOT_FOUND, "task not found"),
    }
}

/// `GET /api/daemon/workspaces`: the user's workspaces, with an ETag; a matching
/// `If-None-Match` gets 304 and no body.
pub(super) async fn daemon_workspaces(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    headers: HeaderMap,
) -> Response {
    let workspaces: Vec<Workspace> = shared.read(|world| {
        world
            .state
            .workspaces_of(user.user_id)
            .into_iter()
            .map(Tables::workspace_view)
            .collect()
    });
    let text = serde_json::to_string(&workspaces).unwrap_or_default();
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ok_json(&workspaces)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[derive(Debug, Serialize)]
struct RenewResponse {
    expires_at: Option<String>,
    renewed: bool,
}

/// `POST /api/tokens/current/renew`: `mul_` tokens only; extends an expiring PAT
/// by 90 days from now.
pub(super) async fn renew_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !token.starts_with("mul_") {
        return error(
            StatusCode::BAD_REQUEST,
            "only personal access tokens can be renewed",
        );
    }
    let now = shared.now();
    let renewed = shared.write(|world| {
        let row = world.state.tokens.get_mut(&token)?;
        let renewed = row.expires_at.is_some();
        if renewed {
            row.expires_at = Some(now + chrono::TimeDelta::days(90));
        }
        Some((row.expires_at, renewed))
    });
    match renewed {
        Some((expires_at, renewed)) => ok_json(&RenewResponse {
            expires_at: expires_at.map(go::format_time),
            renewed,
        }),
        None => error(StatusCode::UNAUTHORIZED, "invalid token"),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct WsQuery {
    #[serde(default)]
    runtime_ids: String,
}

/// `GET /api/daemon/ws?runtime_ids=a,b`: wake-ups (`daemon:task_available` when a
/// task is queued for one of the runtimes) and heartbeats over one socket.
pub(super) async fn daemon_ws(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let runtimes: Vec<uuid::Uuid> = query
        .runtime_ids
        .split(',')
        .filter_map(|id| go::parse_uuid(id.trim()))
        .collect();
    upgrade.on_upgrade(move |socket| serve_socket(shared, runtimes, socket))
}

fn envelope(kind: &str, payload: &serde_json::Value) -> Message {
    Message::Text(
        serde_json::json!({"type": kind, "payload": payload})
            .to_string()
            .into(),
    )
}

async fn serve_socket(shared: Arc<Shared>, runtimes: Vec<uuid::Uuid>, mut socket: WebSocket) {
    let mut changes = shared.subscribe_changes();
    let mut announced: Vec<(uuid::Uuid, uuid::Uuid)> = Vec::new();
    loop {
        // Announce queued tasks not announced yet (the daemon still claims).
        let queued = shared.read(|world| world.state.queued_per_runtime(&runtimes));
        for (runtime, task) in &queued {
            if !announced.contains(&(*runtime, *task)) {
                let payload = serde_json::json!({"runtime_id": runtime.to_string(), "task_id": task.to_string()});
                if socket
                    .send(envelope("daemon:task_available", &payload))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        announced = queued;
        tokio::select! {
            () = shared.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = answer(&shared, &text) {
                        if socket.send(reply).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A heartbeat gets its ack (with `runtime_gone` for a runtime the server does
/// not have); other messages are ignored.
fn answer(shared: &Shared, text: &str) -> Option<Message> {
    let message: serde_json::Value = serde_json::from_str(text).ok()?;
    if message.get("type").and_then(serde_json::Value::as_str) != Some("daemon:heartbeat") {
        return None;
    }
    let runtime_id = message
        .pointer("/payload/runtime_id")
        .and_then(serde_json::Value::as_str)?
        .to_owned();
    let now = shared.now();
    let known = shared.write_quiet(|world| world.state.heartbeat(&runtime_id, now).is_some());
    let payload = if known {
        serde_json::json!({"runtime_id": runtime_id, "status": "ok"})
    } else {
        serde_json::json!({"runtime_id": runtime_id, "status": "ok", "runtime_gone": true})
    };
    Some(envelope("daemon:heartbeat_ack", &payload))
}
