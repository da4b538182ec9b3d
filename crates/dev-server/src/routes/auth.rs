//! `middleware.Auth` of the seed server, for `/api/daemon/*` and the user API.
//!
//! Accepted: `Authorization: Bearer mul_…` with a personal access token that exists,
//! is not revoked and has not expired. The seed also accepts JWTs signed with its
//! `JWT_SECRET`; the dev server has no such secret, so every other token is
//! `invalid token`, as an unverifiable JWT is there. Rejections are 401 with the
//! JSON-looking body sent as `text/plain; charset=utf-8` plus a newline
//! (`http.Error`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use super::plain_error;
use crate::world::Shared;

/// The authenticated user (the seed's `X-User-ID`).
#[derive(Debug, Clone, Copy)]
pub(super) struct AuthUser {
    pub(super) user_id: Uuid,
}

/// Paths guarded by `Auth` in the seed's router: everything mounted under
/// `/api/daemon` (so unknown paths there answer 401 before 404), and the user
/// routes the dev server serves. Other unknown `/api` paths answer 404, as chi's
/// inline groups do.
fn is_protected(path: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "/api/daemon",
        "/api/workspaces",
        "/api/issues",
        "/api/agents",
        "/api/attachments",
        "/api/tokens",
    ];
    PREFIXES
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
        || path == "/api/me"
        || path == "/api/upload-file"
}

/// Why a request was rejected: the `error` text of the 401 body.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Uuid, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if value.is_empty() {
        return Err("missing authorization header");
    }
    let Some(token) = value.strip_prefix("Bearer ") else {
        return Err("invalid authorization format");
    };
    if token.starts_with("mat_") && shared.config.mode == crate::ServerMode::Current {
        return shared
            .read(|world| world.state.authenticate_task_token(token))
            .ok_or("invalid token");
    }
    if !token.starts_with("mul_") {
        return Err("invalid token");
    }
    let now = shared.now();
    shared
        .write_quiet(|world| world.state.authenticate_pat(token, now))
        .ok_or("invalid token")
}

pub(super) async fn layer(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !is_protected(request.uri().path()) {
        return next.run(request).await;
    }
    match authenticate(&shared, request.headers()) {
        Ok(user_id) => {
            request.extensions_mut().insert(AuthUser { user_id });
            next.run(request).await
        }
        Err(message) => {
            tracing::debug!(path = request.uri().path(), message, "auth rejected");
            plain_error(
                StatusCode::UNAUTHORIZED,
                &format!("{{\"error\":\"{message}\"}}"),
            )
        }
    }
}
