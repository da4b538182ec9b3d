//! What happens to `/api` requests before the handlers see them: injected faults
//! and delays, and the request log.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::go;
use crate::server::Shared;
use crate::views::{FaultSpec, FaultView, RequestRecord};

/// Request bodies larger than this are logged as a size only.
const MAX_LOGGED_BODY: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Fault {
    id: u64,
    spec: FaultSpec,
    remaining: Option<u32>,
    hits: u64,
}

/// Faults and the request log.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    faults: Vec<Fault>,
    next_fault_id: u64,
    requests: Vec<RequestRecord>,
    next_request_seq: u64,
    request_limit: usize,
}

impl Traffic {
    pub(crate) fn new(request_limit: usize) -> Self {
        Self {
            request_limit,
            ..Self::default()
        }
    }

    pub(crate) fn add_fault(&mut self, spec: FaultSpec) -> FaultView {
        self.next_fault_id += 1;
        let remaining = match spec.times {
            None => Some(1),
            Some(0) => None,
            Some(times) => Some(times),
        };
        let fault = Fault {
            id: self.next_fault_id,
            spec,
            remaining,
            hits: 0,
        };
        let view = fault_view(&fault);
        self.faults.push(fault);
        view
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn faults(&self) -> Vec<FaultView> {
        self.faults.iter().map(fault_view).collect()
    }

    /// The first matching fault that is not used up; one use is taken. Used-up
    /// faults stay listed (with `remaining: Some(0)`) until cleared.
    fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultSpec> {
        let fault = self.faults.iter_mut().find(|f| {
            f.remaining != Some(0)
                && f.spec
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.spec.path_contains)
        })?;
        fault.hits += 1;
        if let Some(remaining) = &mut fault.remaining {
            *remaining -= 1;
        }
        Some(fault.spec.clone())
    }

    fn reserve_seq(&mut self) -> u64 {
        self.next_request_seq += 1;
        self.next_request_seq
    }

    fn log(&mut self, record: RequestRecord) {
        // Keep the log in arrival order even when a slow request finishes late.
        let at = self.requests.partition_point(|r| r.seq < record.seq);
        self.requests.insert(at, record);
        if self.requests.len() > self.request_limit {
            let excess = self.requests.len() - self.request_limit;
            self.requests.drain(..excess);
        }
    }

    pub(crate) fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    pub(crate) fn request_count(&self) -> u64 {
        self.next_request_seq
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }
}

fn fault_view(fault: &Fault) -> FaultView {
    FaultView {
        id: fault.id,
        spec: fault.spec.clone(),
        remaining: fault.remaining,
        hits: fault.hits,
    }
}

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
pub(crate) async fn layer(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, times: Option<u32>) -> FaultSpec {
        FaultSpec {
            path_contains: path.into(),
            status: Some(500),
            times,
            ..FaultSpec::default()
        }
    }

    #[test]
    fn faults_apply_the_given_number_of_times() {
        let mut traffic = Traffic::new(10);
        traffic.add_fault(spec("/heartbeat", Some(2)));
        assert!(traffic.take_fault("POST", "/api/daemon/register").is_none());
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_some()
        );
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_some()
        );
        assert!(
            traffic
                .take_fault("POST", "/api/daemon/heartbeat")
                .is_none()
        );

        traffic.add_fault(spec("", Some(0)));
        for _ in 0..5 {
            assert!(traffic.take_fault("GET", "/api/anything").is_some());
        }
        assert_eq!(traffic.faults()[1].hits, 5);
        traffic.clear_faults();
        assert!(traffic.take_fault("GET", "/api/anything").is_none());
    }

    #[test]
    fn method_filter_is_case_insensitive() {
        let mut traffic = Traffic::new(10);
        traffic.add_fault(FaultSpec {
            method: Some("post".into()),
            ..spec("/claim", None)
        });
        assert!(traffic.take_fault("GET", "/api/x/claim").is_none());
        assert!(traffic.take_fault("POST", "/api/x/claim").is_some());
    }

    #[test]
    fn log_keeps_arrival_order_and_limit() {
        let mut traffic = Traffic::new(2);
        let record = |seq| RequestRecord {
            seq,
            method: "GET".into(),
            path: "/api".into(),
            query: None,
            status: 200,
            fault: false,
            body: None,
            received_at: String::new(),
        };
        traffic.log(record(2));
        traffic.log(record(1));
        traffic.log(record(3));
        let seqs: Vec<u64> = traffic.requests().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
    }
}
