//! Fault injection, delays and the request log.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use multica_dev_server::FaultSpec;
use serde_json::json;

#[tokio::test]
async fn a_fault_answers_the_next_matching_requests_then_expires() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    env.admin.inject_fault(FaultSpec {
        path_contains: "/heartbeat".into(),
        status: Some(500),
        times: Some(2),
        ..FaultSpec::default()
    });
    let beat = json!({"runtime_id": runtime.id});
    for _ in 0..2 {
        env.post("/api/daemon/heartbeat", beat.clone())
            .await
            .assert_error(500, "injected fault");
    }
    env.post("/api/daemon/heartbeat", beat).await.assert_ok();
    let faults = env.admin.faults();
    assert_eq!(
        (faults[0].remaining, faults[0].hits),
        (Some(0), 2),
        "used up, still listed"
    );

    let log: Vec<(u16, bool)> = env
        .admin
        .requests()
        .iter()
        .filter(|r| r.path == "/api/daemon/heartbeat")
        .map(|r| (r.status, r.fault))
        .collect();
    assert_eq!(log, vec![(500, true), (500, true), (200, false)]);
}

#[tokio::test]
async fn faults_can_carry_any_status_and_body() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let claim = format!("/api/daemon/runtimes/{}/tasks/claim", runtime.id);

    env.admin.inject_fault(FaultSpec {
        path_contains: "/tasks/claim".into(),
        status: Some(502),
        body: Some("<html>Bad Gateway</html>".into()),
        ..FaultSpec::default()
    });
    let reply = env.post(&claim, json!({})).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    assert_eq!(reply.body, "<html>Bad Gateway</html>");

    env.admin.inject_fault(FaultSpec {
        path_contains: "/tasks/claim".into(),
        status: Some(200),
        body: Some("not json".into()),
        content_type: Some("application/json".into()),
        ..FaultSpec::default()
    });
    let reply = env.post(&claim, json!({})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body, "not json");

    env.admin.inject_fault(FaultSpec {
        path_contains: "/register".into(),
        status: Some(404),
        body: Some("{\"error\":\"workspace not found\"}\n".into()),
        ..FaultSpec::default()
    });
    env.post("/api/daemon/register", json!({}))
        .await
        .assert_error(404, "workspace not found");

    env.admin.inject_fault(FaultSpec {
        path_contains: "/heartbeat".into(),
        status: Some(429),
        ..FaultSpec::default()
    });
    let reply = env
        .post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await;
    assert_eq!(reply.status, 429);

    // Faults come before authentication.
    env.admin.inject_fault(FaultSpec {
        path_contains: "/heartbeat".into(),
        status: Some(503),
        ..FaultSpec::default()
    });
    let reply = env
        .send(
            reqwest::Method::POST,
            "/api/daemon/heartbeat",
            None,
            Some("{}".into()),
        )
        .await;
    assert_eq!(reply.status, 503);
}

#[tokio::test]
async fn method_filter_and_unlimited_faults_and_clearing_over_http() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let agent = env.agent(&runtime.id, 1);
    let (_, task) = env.assigned("a", &agent);
    let created = env
        .send(
            reqwest::Method::POST,
            "/dev/faults",
            None,
            Some(
                json!({"method": "GET", "path_contains": "/status", "status": 500, "times": 0})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.value()["remaining"], serde_json::Value::Null);
    for _ in 0..3 {
        env.get(&format!("/api/daemon/tasks/{task}/status"))
            .await
            .assert_error(500, "injected fault");
    }
    // POSTs are not affected.
    env.post(
        &format!("/api/daemon/tasks/{task}/progress"),
        json!({"summary": "s"}),
    )
    .await
    .assert_ok();
    let listed = env
        .send(reqwest::Method::GET, "/dev/faults", None, None)
        .await;
    assert_eq!(listed.value()[0]["hits"], 3);
    env.send(reqwest::Method::DELETE, "/dev/faults", None, None)
        .await
        .assert_ok();
    assert_eq!(env.status_of(&task).await, "queued");
}

#[tokio::test]
async fn delays_slow_matching_requests_down() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    env.admin.inject_fault(FaultSpec {
        path_contains: "/heartbeat".into(),
        delay_ms: 300,
        ..FaultSpec::default()
    });
    let started = Instant::now();
    env.post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await
        .assert_ok();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let record = env
        .admin
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/heartbeat"))
        .expect("logged");
    assert!(!record.fault, "a pure delay is not an injected answer");

    // Delay plus status: a slow error.
    env.admin.inject_fault(FaultSpec {
        path_contains: "/heartbeat".into(),
        delay_ms: 200,
        status: Some(504),
        ..FaultSpec::default()
    });
    let started = Instant::now();
    let reply = env
        .post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await;
    assert_eq!(reply.status, 504);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn request_log_over_http_and_clearing() {
    let env = Env::new().await;
    env.runtime().await;
    let reply = env
        .send(reqwest::Method::GET, "/dev/requests", None, None)
        .await;
    let log = reply.value();
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/api/daemon/register");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["body"]["daemon_id"], "laptop");
    // /dev and /health requests are not logged.
    env.send(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(env.admin.requests().len(), 1);
    env.get("/api/daemon/tasks/x/messages?since=3").await;
    let last = env.admin.requests().pop().expect("logged");
    assert_eq!(last.query.as_deref(), Some("since=3"));
    assert_eq!(last.status, 404);
    env.send(reqwest::Method::DELETE, "/dev/requests", None, None)
        .await
        .assert_ok();
    assert!(env.admin.requests().is_empty());
}
