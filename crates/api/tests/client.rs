//! The client against a scripted HTTP server: what it sends, and how it reads every
//! kind of answer the contract allows (and some it does not).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use multica_api::wire::{CompleteRequest, TaskStatus};
use multica_api::{ApiErrorKind, DaemonClient, Secret, ServerUrl};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    authorization: Option<String>,
    content_type: Option<String>,
    /// `X-Client-Platform`, `X-Client-Version`, `X-Client-OS`.
    client: [Option<String>; 3],
    body: String,
}

type Reply = Arc<dyn Fn(&str) -> Response + Send + Sync>;

#[derive(Clone)]
struct Script {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

async fn record(State(script): State<Script>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let header_text = |headers: &HeaderMap, name| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let path = parts.uri.path().to_owned();
    script.seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        authorization: header_text(&parts.headers, header::AUTHORIZATION),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        client: ["x-client-platform", "x-client-version", "x-client-os"].map(|name| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        }),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    (script.reply)(&path)
}

async fn serve(
    reply: impl Fn(&str) -> Response + Send + Sync + 'static,
) -> (DaemonClient, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        seen: Arc::clone(&seen),
        reply: Arc::new(reply),
    };
    let app = Router::new().fallback(record).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    let server = ServerUrl::parse(&format!("ws://{address}/ws")).expect("url");
    let client = DaemonClient::with_timeout(
        server,
        Some(Secret::new("mul_test_token")),
        "multica-test/0",
        Duration::from_secs(2),
    )
    .expect("client");
    (client, seen)
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

#[tokio::test]
async fn sends_bearer_and_json_on_posts_only() {
    let (client, seen) = serve(|path| {
        if path.ends_with("/status") {
            json(StatusCode::OK, r#"{"status":"running"}"#)
        } else {
            json(StatusCode::OK, r#"{"task":null}"#)
        }
    })
    .await;

    assert_eq!(client.claim_task("rt-1").await.expect("claim"), None);
    assert_eq!(
        client.task_status("t-1").await.expect("status"),
        TaskStatus::Running
    );

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].uri, "/api/daemon/runtimes/rt-1/tasks/claim");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer mul_test_token")
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(seen[0].body, "{}");
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].content_type, None);
    assert_eq!(seen[1].body, "");
    // Every request says who is calling, as current servers want.
    for request in &seen {
        let [platform, version, os] = &request.client;
        assert_eq!(platform.as_deref(), Some("daemon"));
        assert_eq!(version.as_deref(), Some("0"));
        assert!(matches!(os.as_deref(), Some("linux" | "macos" | "windows")));
    }
}

#[tokio::test]
async fn ids_cannot_change_the_route() {
    let (client, seen) = serve(|_| json(StatusCode::OK, r#"{"status":"ok"}"#)).await;
    client
        .report_progress("../../x?y", "s", 1, 2)
        .await
        .expect("progress");
    let uri = seen.lock().expect("lock")[0].uri.clone();
    assert!(
        uri.starts_with("/api/daemon/tasks/..%2F..%2Fx%3Fy/progress"),
        "{uri}"
    );
}

#[tokio::test]
async fn auth_errors_sent_as_text_plain_are_read() {
    let (client, _) = serve(|_| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "{\"error\":\"invalid token\"}\n",
        )
            .into_response()
    })
    .await;
    let error = client.heartbeat("rt").await.expect_err("401");
    assert_eq!(error.kind, ApiErrorKind::Unauthorized);
    assert_eq!(error.message, "invalid token");
    assert!(error.to_string().contains("multica login"), "{error}");
}

#[tokio::test]
async fn state_conflicts_and_not_found_are_told_apart() {
    let (client, _) = serve(|path| {
        if path.contains("complete") {
            json(
                StatusCode::BAD_REQUEST,
                r#"{"error":"complete task: no rows in result set"}"#,
            )
        } else if path.ends_with("/register") {
            json(StatusCode::NOT_FOUND, r#"{"error":"workspace not found"}"#)
        } else {
            json(
                StatusCode::BAD_REQUEST,
                r#"{"error":"runtime_ids is required"}"#,
            )
        }
    })
    .await;
    let conflict = client
        .complete_task("t", &CompleteRequest::default())
        .await
        .expect_err("400");
    assert!(conflict.is_conflict(), "{conflict:?}");

    let request = multica_api::wire::RegisterRequest {
        workspace_id: "w".into(),
        daemon_id: "d".into(),
        device_name: "box".into(),
        cli_version: "0".into(),
        runtimes: vec![],
    };
    let missing = client.register(&request).await.expect_err("404");
    assert!(missing.is_workspace_not_found());

    let rejected = client.deregister(&[]).await.expect_err("400");
    assert_eq!(rejected.kind, ApiErrorKind::Rejected);
    assert_eq!(rejected.message, "runtime_ids is required");
}

#[tokio::test]
async fn server_errors_and_throttling_are_retryable() {
    for status in [500u16, 502, 503, 408, 429] {
        let (client, _) = serve(move |_| {
            (
                StatusCode::from_u16(status).expect("status"),
                "<html>proxy error</html>",
            )
                .into_response()
        })
        .await;
        let error = client
            .fail_task("t", &multica_api::wire::FailRequest::because("x"))
            .await
            .expect_err("error status");
        assert!(error.is_retryable(), "{status}: {error:?}");
        assert_eq!(error.message, "<html>proxy error</html>");
    }
}

#[tokio::test]
async fn long_error_bodies_are_cut() {
    let (client, _) =
        serve(|_| (StatusCode::BAD_GATEWAY, "x".repeat(100_000)).into_response()).await;
    let error = client.heartbeat("rt").await.expect_err("502");
    assert_eq!(error.message.len(), 4096);
}

#[tokio::test]
async fn malformed_success_bodies_are_errors_not_panics() {
    for body in ["not json", "", r#"{"task": 42}"#] {
        let (client, _) = serve(move |_| json(StatusCode::OK, body)).await;
        let error = client.claim_task("rt").await.expect_err(body);
        assert_eq!(error.kind, ApiErrorKind::Malformed, "{body}: {error}");
        assert!(error.to_string().contains("unexpected body"), "{error}");
    }
    for body in ["not json", "{}", r#"{"status": 7}"#] {
        let (client, _) = serve(move |_| json(StatusCode::OK, body)).await;
        let error = client.task_status("t").await.expect_err(body);
        assert_eq!(error.kind, ApiErrorKind::Malformed, "{body}: {error}");
    }
}

#[tokio::test]
async fn unreachable_and_slow_servers_are_retryable() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let server = ServerUrl::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let client = DaemonClient::new(server, None, "t").expect("client");
    let error = client.heartbeat("rt").await.expect_err("refused");
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.status, None);

    let (slow, _) = serve(|_| {
        std::thread::sleep(Duration::from_secs(3));
        json(StatusCode::OK, r#"{"status":"ok"}"#)
    })
    .await;
    let error = slow.heartbeat("rt").await.expect_err("timeout");
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.message.contains("in time"), "{error}");
}
