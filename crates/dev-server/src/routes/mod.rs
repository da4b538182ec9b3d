//! The HTTP surface: the seed's daemon API, the user API the daemon and the
//! `multica` CLI use, the browser sign-in of `multica login`, and the admin API
//! under `/dev`.

mod admin;
mod auth;
mod current;
mod daemon;
mod login;
mod traffic;
mod user;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use multica_api::wire::ErrorBody;
use serde::Serialize;

use crate::world::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let current = shared.config.mode == crate::ServerMode::Current;
    let mut daemon = Router::new()
        .route("/register", post(daemon::register))
        .route("/deregister", post(daemon::deregister))
        .route("/heartbeat", post(daemon::heartbeat))
        .route("/runtimes/{runtime_id}/tasks/claim", post(daemon::claim))
        .route("/runtimes/{runtime_id}/tasks/pending", get(daemon::pending))
        .route(
            "/runtimes/{runtime_id}/ping/{ping_id}/result",
            post(daemon::ping_result),
        )
        .route(
            "/runtimes/{runtime_id}/update/{update_id}/result",
            post(daemon::update_result),
        )
        .route("/tasks/{task_id}/status", get(daemon::status))
        .route("/tasks/{task_id}/start", post(daemon::start))
        .route("/tasks/{task_id}/progress", post(daemon::progress))
        .route("/tasks/{task_id}/complete", post(daemon::complete))
        .route("/tasks/{task_id}/fail", post(daemon::fail))
        .route(
            "/tasks/{task_id}/messages",
            post(daemon::post_messages).get(daemon::list_messages),
        );
    if !current {
        // Current servers count usage per task; the machine-wide upload is gone.
        daemon = daemon.route("/runtimes/{runtime_id}/usage", post(daemon::usage));
    }
    if current {
        daemon = daemon
            .route("/tasks/claim", post(current::batch_claim))
            .route("/claim", post(current::batch_claim))
            .route("/tasks/{task_id}/cancel-ack", post(current::cancel_ack))
            .route("/tasks/{task_id}/session", post(current::pin_session))
            .route("/tasks/{task_id}/usage", post(current::task_usage))
            .route(
                "/runtimes/{runtime_id}/recover-orphans",
                post(current::recover_orphans),
            )
            .route("/workspaces", get(current::daemon_workspaces))
            .route("/ws", get(current::daemon_ws));
    }

    let mut routes = Router::new();
    if current {
        routes = routes.route("/api/tokens/current/renew", post(current::renew_token));
    }
    routes
        .route("/health", get(user::health))
        .route("/api/workspaces", get(user::list_workspaces))
        .route("/api/workspaces/", get(user::list_workspaces))
        .route("/api/workspaces/{workspace_id}", get(user::get_workspace))
        .route(
            "/api/workspaces/{workspace_id}/members",
            get(user::workspace_members),
        )
        .route("/api/me", get(user::me))
        .route("/api/tokens", post(user::create_token))
        .route("/api/agents", get(user::list_agents))
        .route("/api/issues", get(user::list_issues))
        .route(
            "/api/issues/{issue_id}",
            get(user::get_issue).merge(put(user::update_issue)),
        )
        .route(
            "/api/issues/{issue_id}/comments",
            get(user::list_comments).post(user::add_comment),
        )
        .route(
            "/api/issues/{issue_id}/task-runs",
            get(user::issue_task_runs),
        )
        .route(
            "/api/upload-file",
            // Room for the 100 MB file plus the multipart framing; the handler
            // enforces the file's own cap.
            post(user::upload_file)
                .layer(DefaultBodyLimit::max(user::MAX_UPLOAD_BYTES + (1 << 20))),
        )
        .route(
            "/api/attachments/{attachment_id}",
            get(user::get_attachment),
        )
        .route("/dev/files/{file_id}", get(user::download_file))
        .route("/login", get(login::login_page))
        .nest("/api/daemon", daemon)
        .nest("/dev", admin::router())
        .fallback(not_found)
        // Layers run bottom-up: faults and the log wrap authentication.
        .layer(from_fn_with_state(Arc::clone(&shared), auth::layer))
        .layer(from_fn_with_state(Arc::clone(&shared), traffic::layer))
        // The seed has no body size limit on these routes.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// `json.NewEncoder(w).Encode(v)` with `Content-Type: application/json`.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match crate::go::encode(body) {
        Ok(text) => {
            let mut response = (status, text).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "could not encode a response");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed").into_response()
        }
    }
}

pub(crate) fn ok_json<T: Serialize + ?Sized>(body: &T) -> Response {
    json(StatusCode::OK, body)
}

/// `writeError`: `{"error":"…"}` as JSON.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(
        status,
        &ErrorBody {
            error: message.into(),
        },
    )
}

/// `{"status":"ok"}`.
pub(crate) fn status_ok() -> Response {
    ok_json(&multica_api::wire::StatusOk::ok())
}

/// `http.Error`: the message as `text/plain; charset=utf-8` with a newline and
/// `X-Content-Type-Options: nosniff`.
pub(crate) fn plain_error(status: StatusCode, body: &str) -> Response {
    let mut response = (status, format!("{body}\n")).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// chi's default for unknown paths.
async fn not_found() -> Response {
    plain_error(StatusCode::NOT_FOUND, "404 page not found")
}
