//! The browser sign-in of `multica login`: the web app's sign-in page, reduced to
//! what the CLI needs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::world::Shared;

/// `GET /login?cli_callback=<loopback URL>&cli_state=<state>[&email=<user>]`: the
/// web app's sign-in, reduced to what the CLI needs. It signs in the user with that
/// email (default: the oldest user), mints a one-hour session token and sends the
/// browser back to the CLI's loopback callback with `token` and `state`.
pub(super) async fn login_page(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = |status: StatusCode, text: &str| {
        let mut response = (status, format!("{text}\n")).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    let Some(callback) = query.get("cli_callback") else {
        return page(
            StatusCode::OK,
            "Multica dev server: nothing to sign in to here. `multica login` opens this page with ?cli_callback=…",
        );
    };
    let Ok(mut callback) = url::Url::parse(callback) else {
        return page(StatusCode::BAD_REQUEST, "cli_callback is not a URL");
    };
    let loopback = callback.scheme() == "http"
        && matches!(
            callback.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        );
    if !loopback {
        return page(
            StatusCode::BAD_REQUEST,
            "cli_callback must be an http://127.0.0.1 or http://localhost address",
        );
    }
    let email = query.get("email").map(|e| e.trim().to_lowercase());
    let now = shared.now();
    let session = shared.write(|world| {
        let mut users: Vec<_> = world.state.users.values().collect();
        users.sort_by_key(|u| (u.created_at, u.id));
        let user = users
            .into_iter()
            .find(|u| email.as_ref().is_none_or(|e| &u.email.to_lowercase() == e))
            .map(|u| u.id)?;
        let expires = now + chrono::TimeDelta::hours(1);
        Some(
            world
                .state
                .insert_named_token(user, "browser session", Some(expires), now),
        )
    });
    let Some(token) = session else {
        return page(
            StatusCode::NOT_FOUND,
            "no such user: create one with the admin API (/dev/users) or start with --demo",
        );
    };
    callback
        .query_pairs_mut()
        .append_pair("token", &token)
        .append_pair("state", query.get("cli_state").map_or("", String::as_str));
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(callback.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
