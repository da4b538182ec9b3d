//! `middleware.Auth` (contract A.1) and the two public/user routes.

mod common;

use std::time::Duration;

use common::Env;
use multica_api::wire::Workspace;
use multica_dev_server::NewWorkspace;
use reqwest::Method;

async fn with_header(env: &Env, path: &str, header: Option<&str>) -> common::Reply {
    let mut request = env.http.post(env.url(path)).body("{}");
    if let Some(header) = header {
        request = request.header("Authorization", header);
    }
    let response = request.send().await.expect("request");
    let nosniff = response
        .headers()
        .get("x-content-type-options")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    if status == 401 {
        assert_eq!(nosniff.as_deref(), Some("nosniff"));
    }
    common::Reply {
        status,
        content_type,
        body,
    }
}

#[tokio::test]
async fn missing_header_is_rejected_as_plain_text() {
    let env = Env::new().await;
    with_header(&env, "/api/daemon/heartbeat", None)
        .await
        .assert_auth_error("missing authorization header");
    with_header(&env, "/api/daemon/heartbeat", Some(""))
        .await
        .assert_auth_error("missing authorization header");
}

#[tokio::test]
async fn header_without_bearer_prefix_is_invalid_format() {
    let env = Env::new().await;
    let token = env.user.token.clone();
    for header in [
        token.clone(),
        format!("Token {token}"),
        format!("bearer {token}"),
        "Bearer".to_owned(),
        // Header values lose surrounding whitespace on the wire, as in Go.
        "Bearer ".to_owned(),
    ] {
        with_header(&env, "/api/daemon/heartbeat", Some(&header))
            .await
            .assert_auth_error("invalid authorization format");
    }
}

#[tokio::test]
async fn unknown_and_non_pat_tokens_are_invalid() {
    let env = Env::new().await;
    for header in [
        "Bearer mul_doesnotexist",
        "Bearer mdt_daemontoken",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ] {
        with_header(&env, "/api/daemon/heartbeat", Some(header))
            .await
            .assert_auth_error("invalid token");
    }
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_invalid() {
    let env = Env::new().await;
    let extra = env
        .admin
        .create_token(&env.user.id, Some(Duration::from_secs(60)))
        .expect("token");
    let header = format!("Bearer {}", extra.token);
    let before = with_header(&env, "/api/daemon/heartbeat", Some(&header)).await;
    // Authenticated: the handler answers (runtime_id is missing).
    before.assert_error(400, "runtime_id is required");

    env.admin.advance_clock(Duration::from_secs(61));
    with_header(&env, "/api/daemon/heartbeat", Some(&header))
        .await
        .assert_auth_error("invalid token");

    // Revocation over the admin HTTP API.
    let main = format!("Bearer {}", env.user.token);
    let revoke = env
        .send(
            Method::POST,
            &format!("/dev/tokens/{}/revoke", env.user.token),
            None,
            None,
        )
        .await;
    revoke.assert_ok();
    with_header(&env, "/api/daemon/heartbeat", Some(&main))
        .await
        .assert_auth_error("invalid token");
}

#[tokio::test]
async fn unknown_daemon_paths_need_auth_before_the_404() {
    let env = Env::new().await;
    with_header(&env, "/api/daemon/nope", None)
        .await
        .assert_auth_error("missing authorization header");
    let reply = env.post("/api/daemon/nope", serde_json::json!({})).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    assert_eq!(reply.body, "404 page not found\n");
    let outside = env.send(Method::GET, "/nothing/here", None, None).await;
    assert_eq!(outside.status, 404);
    assert_eq!(outside.body, "404 page not found\n");
}

#[tokio::test]
async fn wrong_method_is_405() {
    let env = Env::new().await;
    let reply = env.get("/api/daemon/register").await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn health_is_public_and_has_no_newline() {
    let env = Env::new().await;
    let reply = env.send(Method::GET, "/health", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body, "{\"status\":\"ok\"}");
}

#[tokio::test]
async fn workspaces_lists_only_memberships() {
    let env = Env::new().await;
    let other = env.admin.create_user("Bob", "bob@example.com");
    env.admin
        .create_workspace(NewWorkspace {
            name: "Bob's".into(),
            member_user_ids: vec![other.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let second = env
        .admin
        .create_workspace(NewWorkspace {
            name: "Second".into(),
            member_user_ids: vec![other.id.clone(), env.user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");

    let unauthenticated = env.send(Method::GET, "/api/workspaces", None, None).await;
    unauthenticated.assert_auth_error("missing authorization header");

    let reply = env.get("/api/workspaces").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert!(reply.body.ends_with("]\n"), "{}", reply.body);
    let listed: Vec<Workspace> = reply.json();
    let ids: Vec<&str> = listed.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, vec![env.workspace.id.as_str(), second.id.as_str()]);
    assert_eq!(listed[0].issue_prefix, "MUL");
    assert_eq!(listed[1].issue_prefix, "SEC");
    // `repos` is JSONB decoded into `any`: keys sorted.
    let raw = reply.value();
    assert_eq!(
        raw[0]["repos"].to_string(),
        r#"[{"description":"the app","url":"https://github.com/acme/app.git"}]"#
    );
    assert_eq!(raw[0]["settings"], serde_json::json!({}));
    assert_eq!(raw[1]["description"], serde_json::Value::Null);
}
