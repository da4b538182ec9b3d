//! `/dev/…`: the admin API over HTTP, for tests in other processes and demos. No
//! authentication; only loopback peers are served. Bodies are the structs of
//! [`crate::views`]; errors are `{"error": "…"}` with 400, 404 or 409.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{error, ok_json, status_ok};
use crate::admin::Admin;
use crate::views::{
    AdminError, AgentPatch, AssignIssue, FaultSpec, HeartbeatActions, NewAgent, NewComment,
    NewIssue, NewUser, NewWorkspace, RuntimeSpec,
};
use crate::world::Shared;

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{user_id}/tokens", post(create_token))
        .route("/tokens/{token}/revoke", post(revoke_token))
        .route("/workspaces", post(create_workspace))
        .route("/workspaces/{workspace_id}/members", post(add_member))
        .route("/runtimes", get(runtimes).post(register_runtime))
        .route("/agents", get(agents).post(create_agent))
        .route("/agents/{agent_id}", patch(update_agent))
        .route("/issues", get(issues).post(create_issue))
        .route("/issues/{issue_id}", get(issue))
        .route("/issues/{issue_id}/assign", post(assign_issue))
        .route("/issues/{issue_id}/comments", post(add_comment))
        .route("/tasks", get(tasks))
        .route("/tasks/{task_id}", get(task))
        .route("/tasks/{task_id}/cancel", post(cancel_task))
        .route("/heartbeat-actions", post(heartbeat_actions))
        .route("/pings", get(pings))
        .route("/updates", get(updates))
        .route(
            "/faults",
            get(faults).post(inject_fault).delete(clear_faults),
        )
        .route("/requests", get(requests).delete(clear_requests))
        .route("/sweep", post(sweep))
        .route("/clock/advance", post(advance_clock))
        .route("/state", get(state))
        .route("/seed-demo", post(seed_demo))
        .layer(from_fn(loopback_only))
}

async fn loopback_only(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_canonical());
    if peer.is_some_and(|ip| !ip.is_loopback()) {
        return error(
            StatusCode::FORBIDDEN,
            "the admin API answers loopback clients only",
        );
    }
    next.run(request).await
}

fn admin(shared: &Arc<Shared>) -> Admin {
    Admin::new(Arc::clone(shared))
}

/// A JSON body, or the type's default when the body is empty.
fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

fn admin_error(err: &AdminError) -> Response {
    let status = match err {
        AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Conflict(_) => StatusCode::CONFLICT,
    };
    error(status, err.to_string())
}

fn respond<T: serde::Serialize>(result: Result<T, AdminError>) -> Response {
    match result {
        Ok(value) => ok_json(&value),
        Err(err) => admin_error(&err),
    }
}

macro_rules! body_or_400 {
    ($ty:ty, $body:expr) => {
        match parse::<$ty>(&$body) {
            Ok(value) => value,
            Err(message) => return error(StatusCode::BAD_REQUEST, message),
        }
    };
}

async fn create_user(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(NewUser, body);
    ok_json(&admin(&shared).create_user(&input.name, &input.email))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewToken {
    expires_in_secs: Option<u64>,
}

async fn create_token(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    let input = body_or_400!(NewToken, body);
    respond(admin(&shared).create_token(&user_id, input.expires_in_secs.map(Duration::from_secs)))
}

async fn revoke_token(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    match admin(&shared).revoke_token(&token) {
        Ok(()) => status_ok(),
        Err(err) => admin_error(&err),
    }
}

async fn create_workspace(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(NewWorkspace, body);
    respond(admin(&shared).create_workspace(input))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewMember {
    user_id: String,
}

async fn add_member(
    State(shared): State<Arc<Shared>>,
    Path(workspace_id): Path<String>,
    body: Bytes,
) -> Response {
    let input = body_or_400!(NewMember, body);
    match admin(&shared).add_member(&workspace_id, &input.user_id) {
        Ok(()) => status_ok(),
        Err(err) => admin_error(&err),
    }
}

async fn runtimes(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).runtimes())
}

async fn register_runtime(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(RuntimeSpec, body);
    respond(admin(&shared).register_runtime(input))
}

async fn agents(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).agents())
}

async fn create_agent(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(NewAgent, body);
    respond(admin(&shared).create_agent(input))
}

async fn update_agent(
    State(shared): State<Arc<Shared>>,
    Path(agent_id): Path<String>,
    body: Bytes,
) -> Response {
    let input = body_or_400!(AgentPatch, body);
    respond(admin(&shared).update_agent(&agent_id, input))
}

async fn issues(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&shared.read(crate::StateView::issues))
}

async fn create_issue(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(NewIssue, body);
    respond(admin(&shared).create_issue(input))
}

async fn issue(State(shared): State<Arc<Shared>>, Path(issue_id): Path<String>) -> Response {
    respond(
        admin(&shared)
            .issue(&issue_id)
            .ok_or_else(|| AdminError::not_found("issue", &issue_id)),
    )
}

async fn assign_issue(
    State(shared): State<Arc<Shared>>,
    Path(issue_id): Path<String>,
    body: Bytes,
) -> Response {
    let input = body_or_400!(AssignIssue, body);
    respond(admin(&shared).assign_issue(&issue_id, input.agent_id.as_deref()))
}

async fn add_comment(
    State(shared): State<Arc<Shared>>,
    Path(issue_id): Path<String>,
    body: Bytes,
) -> Response {
    let input = body_or_400!(NewComment, body);
    respond(admin(&shared).add_comment(&issue_id, input))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TaskFilter {
    issue_id: Option<String>,
}

async fn tasks(State(shared): State<Arc<Shared>>, Query(filter): Query<TaskFilter>) -> Response {
    let admin = admin(&shared);
    match filter.issue_id {
        Some(issue_id) => ok_json(&admin.tasks_for_issue(&issue_id)),
        None => ok_json(&admin.tasks()),
    }
}

async fn task(State(shared): State<Arc<Shared>>, Path(task_id): Path<String>) -> Response {
    respond(
        admin(&shared)
            .task(&task_id)
            .ok_or_else(|| AdminError::not_found("task", &task_id)),
    )
}

async fn cancel_task(State(shared): State<Arc<Shared>>, Path(task_id): Path<String>) -> Response {
    respond(admin(&shared).cancel_task(&task_id))
}

async fn heartbeat_actions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(HeartbeatActions, body);
    respond(admin(&shared).queue_heartbeat_actions(input))
}

async fn pings(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).pings())
}

async fn updates(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).updates())
}

async fn inject_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(FaultSpec, body);
    ok_json(&admin(&shared).inject_fault(input))
}

async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).faults())
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    admin(&shared).clear_faults();
    status_ok()
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).requests())
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    admin(&shared).clear_requests();
    status_ok()
}

async fn sweep(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).sweep_now())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Advance {
    ms: u64,
    secs: u64,
}

async fn advance_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let input = body_or_400!(Advance, body);
    let by = Duration::from_secs(input.secs) + Duration::from_millis(input.ms);
    admin(&shared).advance_clock(by);
    status_ok()
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).state())
}

async fn seed_demo(State(shared): State<Arc<Shared>>) -> Response {
    ok_json(&admin(&shared).seed_demo())
}
