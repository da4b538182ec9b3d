//! The user-API routes the daemon touches: `GET /api/workspaces` and `GET /health`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use multica_api::wire::Workspace;

use super::ok_json;
use crate::auth::AuthUser;
use crate::server::Shared;
use crate::state::State as Tables;

/// The seed writes this body by hand: no trailing newline, unlike the handlers.
pub(super) async fn health() -> Response {
    let mut response = (StatusCode::OK, "{\"status\":\"ok\"}").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `ListWorkspaces`: a bare array of the caller's workspaces, oldest first.
pub(super) async fn list_workspaces(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
) -> Response {
    let workspaces: Vec<Workspace> = shared.read(|world| {
        world
            .state
            .workspaces_of(user.user_id)
            .into_iter()
            .map(Tables::workspace_view)
            .collect()
    });
    ok_json(&workspaces)
}
