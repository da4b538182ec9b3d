//! Who is asking, as extractors: the user (the control token, from a file only
//! the user can read) or a running task's agent (its own bearer token, valid in
//! its own directory while the task runs). Handlers that take one only run for
//! that caller.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::{ApiState, LocalApiError};
use crate::grants::TaskGrant;

/// The caller showed the control token: it may read the user's transcripts and
/// stop the daemon.
#[derive(Debug)]
pub(crate) struct TheUser;

impl FromRequestParts<ApiState> for TheUser {
    type Rejection = LocalApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        match (&state.control, bearer(&parts.headers)) {
            (Some(control), Some(given)) if control.secret().matches(given) => Ok(TheUser),
            _ => Err(LocalApiError::Unauthorized("unauthorized")),
        }
    }
}

/// The caller is a running task's agent; what its token allows.
#[derive(Debug)]
pub(crate) struct TaskBearer(pub(crate) TaskGrant);

impl FromRequestParts<ApiState> for TaskBearer {
    type Rejection = LocalApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        bearer(&parts.headers)
            .and_then(|token| state.grants.find(token))
            .map(TaskBearer)
            .ok_or(LocalApiError::Unauthorized(
                "unauthorized: use the MULTICA_LOCAL_API_TOKEN of a running task",
            ))
    }
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
