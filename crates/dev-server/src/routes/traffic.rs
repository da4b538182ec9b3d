//! What happens to `/api` requests before the handlers see them: a matching
//! injected fault (or delay) is applied, and the request goes into the log
//! ([`Traffic`](crate::traffic::Traffic)).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::go;
use crate::views::{FaultSpec, RequestRecord};
use crate::world::Shared;

/// Request bodies larger than this are logged as a size only.
const MAX_LOGGED_BODY: usize = 64 * 1024;

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn logged_body(bytes: &Bytes) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    if bytes.len() > MAX_LOGGED_BODY {
        return Some(Value::String(format!("<{} bytes>", bytes.len())));
    }
    Some(
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    )
}

fn fault_response(spec: &FaultSpec, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = spec
        .body
        .clone()
        .unwrap_or_else(|| "{\"error\":\"injected fault\"}\n".to_owned());
    let content_type = spec.content_type.clone().unwrap_or_else(|| {
        if serde_json::from_str::<Value>(&body).is_ok() {
            "application/json".to_owned()
        } else {
            "text/plain; charset=utf-8".to_owned()
        }
    });
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The outermost layer for `/api` paths: applies a matching fault, runs the request,
/// and records it.
pub(super) async fn layer(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if !is_api_path(&path) {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_owned);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "could not read the request body").into_response();
    };
    let received_at = shared.now();
    let (seq, fault) = shared.write_quiet(|world| {
        let seq = world.traffic.reserve_seq();
        (seq, world.traffic.take_fault(&method, &path))
    });

    let mut faulted = false;
    if let Some(spec) = &fault
        && spec.delay_ms > 0
    {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(spec.delay_ms)) => {}
            () = shared.shutdown.cancelled() => {}
        }
    }
    let response = match fault
        .as_ref()
        .and_then(|spec| spec.status.map(|s| (spec, s)))
    {
        Some((spec, status)) => {
            faulted = true;
            tracing::debug!(%method, %path, status, "answering with an injected fault");
            fault_response(spec, status)
        }
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes.clone())))
                .await
        }
    };

    let status = response.status().as_u16();
    tracing::debug!(%method, %path, status, "api request");
    shared.write(|world| {
        world.traffic.log(RequestRecord {
            seq,
            method,
            path,
            query,
            status,
            fault: faulted,
            body: logged_body(&bytes),
            received_at: go::format_time_millis(received_at),
        });
    });
    response
}
