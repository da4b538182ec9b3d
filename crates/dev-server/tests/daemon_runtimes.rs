//! The runtime endpoints of `/api/daemon` (register, deregister, heartbeat, ping
//! and update results, usage): happy path, and each documented error status and
//! body (contract A.2).

mod common;

use common::Env;
use multica_api::wire;
use multica_dev_server::{HeartbeatActions, NewWorkspace};
use serde_json::json;

// ---------------------------------------------------------------------------
// register

#[tokio::test]
async fn register_returns_runtimes_and_repos_with_stable_ids() {
    let env = Env::new().await;
    let body = json!({
        "workspace_id": env.workspace.id,
        "daemon_id": "host-1",
        "device_name": "laptop",
        "cli_version": "0.1.0",
        "runtimes": [
            {"name": "Claude (laptop)", "type": "claude", "version": "2.0 (Claude Code)", "status": "online"},
            {"name": "", "type": "codex", "version": "0.9", "status": "offline"}
        ]
    });
    let first = env.post("/api/daemon/register", body.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.content_type, "application/json");
    assert!(first.body.ends_with("}\n"));
    // The seed encodes a map: keys sorted, and RepoData always has a description.
    assert!(
        first.body.starts_with(
            r#"{"repos":[{"url":"https://github.com/acme/app.git","description":"the app"}],"runtimes":[{"id":"#
        ),
        "{}",
        first.body
    );
    let parsed: wire::RegisterResponse = first.json();
    assert_eq!(parsed.runtimes.len(), 2);
    let claude = &parsed.runtimes[0];
    assert_eq!(claude.name, "Claude (laptop)");
    assert_eq!(claude.provider, "claude");
    assert_eq!(claude.status, "online");
    assert_eq!(claude.runtime_mode, "local");
    assert_eq!(claude.daemon_id.as_deref(), Some("host-1"));
    assert_eq!(claude.device_info, "laptop · 2.0 (Claude Code)");
    assert_eq!(
        claude.metadata,
        json!({"cli_version": "0.1.0", "version": "2.0 (Claude Code)"})
    );
    assert!(claude.last_seen_at.is_some());
    let codex = &parsed.runtimes[1];
    assert_eq!(codex.name, "codex (laptop)");
    assert_eq!(codex.status, "offline");

    let again: wire::RegisterResponse = env.post("/api/daemon/register", body).await.json();
    assert_eq!(again.runtimes[0].id, claude.id);
    assert_eq!(again.runtimes[1].id, codex.id);
    assert_eq!(env.admin.runtimes().len(), 2);
}

#[tokio::test]
async fn register_without_repos_returns_an_empty_array() {
    let env = Env::new().await;
    let bare = env
        .admin
        .create_workspace(NewWorkspace {
            name: "Bare".into(),
            member_user_ids: vec![env.user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let reply = env
        .post(
            "/api/daemon/register",
            json!({"workspace_id": bare.id, "daemon_id": "d", "runtimes": [{"type": "claude"}]}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.value()["repos"], json!([]));
    assert_eq!(reply.value()["runtimes"][0]["name"], "claude");
}

#[tokio::test]
async fn register_validates_in_the_seed_order() {
    let env = Env::new().await;
    let ws = env.workspace.id.clone();
    for body in ["", "not json", "[]", "\"text\"", "{\"daemon_id\": 5}"] {
        env.post_raw("/api/daemon/register", body)
            .await
            .assert_error(400, "invalid request body");
    }
    env.post("/api/daemon/register", json!({"workspace_id": ws}))
        .await
        .assert_error(400, "daemon_id is required");
    env.post(
        "/api/daemon/register",
        json!({"daemon_id": "  ", "workspace_id": ws}),
    )
    .await
    .assert_error(400, "daemon_id is required");
    env.post("/api/daemon/register", json!({"daemon_id": "d"}))
        .await
        .assert_error(400, "workspace_id is required");
    env.post(
        "/api/daemon/register",
        json!({"daemon_id": "d", "workspace_id": ws, "runtimes": []}),
    )
    .await
    .assert_error(400, "at least one runtime is required");
    env.post_raw("/api/daemon/register", "null")
        .await
        .assert_error(400, "daemon_id is required");
}

#[tokio::test]
async fn register_outside_membership_is_workspace_not_found() {
    let env = Env::new().await;
    let stranger = env.admin.create_user("Eve", "eve@example.com");
    let theirs = env
        .admin
        .create_workspace(NewWorkspace {
            name: "Theirs".into(),
            member_user_ids: vec![stranger.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    for workspace_id in [
        theirs.id.as_str(),
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
    ] {
        env.post(
            "/api/daemon/register",
            json!({"daemon_id": "d", "workspace_id": workspace_id, "runtimes": [{"type": "claude"}]}),
        )
        .await
        .assert_error(404, "workspace not found");
    }
}

#[tokio::test]
async fn register_decodes_leniently_like_go() {
    let env = Env::new().await;
    // Unknown fields, nulls, case-insensitive keys and trailing bytes are all fine.
    let body = format!(
        r#"{{"Workspace_ID":"{}","daemon_id":"d","device_name":null,"extra":{{"x":1}},
            "runtimes":[{{"TYPE":"claude","version":null,"status":"online","profile_id":"p"}}, null]}} trailing"#,
        env.workspace.id.to_uppercase()
    );
    let reply = env.post_raw("/api/daemon/register", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let parsed: wire::RegisterResponse = reply.json();
    assert_eq!(parsed.runtimes.len(), 2);
    assert_eq!(parsed.runtimes[0].provider, "claude");
    assert_eq!(parsed.runtimes[1].provider, "unknown");
    assert_eq!(parsed.runtimes[0].workspace_id, env.workspace.id);
}

// ---------------------------------------------------------------------------
// deregister, heartbeat, ping and update results

#[tokio::test]
async fn deregister_marks_known_runtimes_offline_and_skips_unknown_ones() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    env.post("/api/daemon/deregister", json!({"runtime_ids": []}))
        .await
        .assert_error(400, "runtime_ids is required");
    env.post("/api/daemon/deregister", json!({}))
        .await
        .assert_error(400, "runtime_ids is required");
    env.post_raw("/api/daemon/deregister", "{\"runtime_ids\": [1]}")
        .await
        .assert_error(400, "invalid request body");
    env.post(
        "/api/daemon/deregister",
        json!({"runtime_ids": ["junk", "00000000-0000-4000-8000-000000000000", runtime.id]}),
    )
    .await
    .assert_ok();
    assert_eq!(
        env.admin.runtime(&runtime.id).expect("runtime").status,
        "offline"
    );
}

#[tokio::test]
async fn heartbeat_of_unknown_runtime_is_a_500() {
    let env = Env::new().await;
    env.post("/api/daemon/heartbeat", json!({}))
        .await
        .assert_error(400, "runtime_id is required");
    env.post_raw("/api/daemon/heartbeat", "")
        .await
        .assert_error(400, "invalid request body");
    env.post(
        "/api/daemon/heartbeat",
        json!({"runtime_id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await
    .assert_error(500, "heartbeat failed");
    env.post("/api/daemon/heartbeat", json!({"runtime_id": "nope"}))
        .await
        .assert_error(500, "heartbeat failed");
}

#[tokio::test]
async fn heartbeat_brings_a_runtime_online_and_pops_pending_actions_once() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    env.post(
        "/api/daemon/deregister",
        json!({"runtime_ids": [runtime.id]}),
    )
    .await
    .assert_ok();
    env.post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await
        .assert_ok();
    assert_eq!(
        env.admin.runtime(&runtime.id).expect("runtime").status,
        "online"
    );

    let queued = env
        .admin
        .queue_heartbeat_actions(HeartbeatActions {
            runtime_id: runtime.id.clone(),
            ping: true,
            update_target_version: Some("v0.2.0".into()),
        })
        .expect("queued");
    let ping = queued.ping.expect("ping");
    let update = queued.update.expect("update");
    assert_eq!(ping.id.len(), 32);

    let reply = env
        .post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        format!(
            "{{\"pending_ping\":{{\"id\":\"{}\"}},\"pending_update\":{{\"id\":\"{}\",\"target_version\":\"v0.2.0\"}},\"status\":\"ok\"}}\n",
            ping.id, update.id
        )
    );
    let parsed: wire::HeartbeatResponse = reply.json();
    assert_eq!(
        parsed.pending_update.expect("update").target_version,
        "v0.2.0"
    );
    env.post("/api/daemon/heartbeat", json!({"runtime_id": runtime.id}))
        .await
        .assert_ok();

    // A second update while this one runs: 409, as the seed's UI route answers.
    let conflict = env
        .send(
            reqwest::Method::POST,
            "/dev/heartbeat-actions",
            None,
            Some(json!({"runtime_id": runtime.id, "update_target_version": "v0.3.0"}).to_string()),
        )
        .await;
    conflict.assert_error(
        409,
        "conflict: an update is already in progress for this runtime",
    );

    // Results.
    env.post(
        &format!(
            "/api/daemon/runtimes/{}/ping/{}/result",
            runtime.id, ping.id
        ),
        json!({"status": "completed", "output": "pong", "duration_ms": 1200}),
    )
    .await
    .assert_ok();
    env.post(
        &format!("/api/daemon/runtimes/{}/ping/unknown/result", runtime.id),
        json!({"status": "failed"}),
    )
    .await
    .assert_ok();
    let pings = env.admin.pings();
    assert_eq!(pings[0].status, "completed");
    assert_eq!(pings[0].output, "pong");
    assert_eq!(pings[0].duration_ms, 1200);

    let update_path = format!(
        "/api/daemon/runtimes/{}/update/{}/result",
        runtime.id, update.id
    );
    env.post(&update_path, json!({"status": "bogus"}))
        .await
        .assert_error(400, "invalid status: bogus");
    env.post(&update_path, json!({}))
        .await
        .assert_error(400, "invalid status: ");
    env.post(&update_path, json!({"status": "running"}))
        .await
        .assert_ok();
    assert_eq!(env.admin.updates()[0].status, "running");
    env.post(
        &update_path,
        json!({"status": "failed", "error": "brew failed"}),
    )
    .await
    .assert_ok();
    let updates = env.admin.updates();
    assert_eq!(updates[0].status, "failed");
    assert_eq!(updates[0].error, "brew failed");
}

// ---------------------------------------------------------------------------
// usage

#[tokio::test]
async fn usage_replaces_counters_per_day_provider_and_model() {
    let env = Env::new().await;
    let runtime = env.runtime().await;
    let path = format!("/api/daemon/runtimes/{}/usage", runtime.id);
    let entry = |date: &str, input: i64| {
        json!({"date": date, "provider": "claude", "model": "claude-sonnet-4",
               "input_tokens": input, "output_tokens": 2, "cache_read_tokens": 3, "cache_write_tokens": 4})
    };
    env.post(
        &path,
        json!({"entries": [entry("2026-04-07", 100), entry("07/04/2026", 5)]}),
    )
    .await
    .assert_ok();
    env.post(&path, json!({"entries": [entry("2026-04-07", 40)]}))
        .await
        .assert_ok();
    env.post(
        "/api/daemon/runtimes/junk/usage",
        json!({"entries": [entry("2026-04-07", 1)]}),
    )
    .await
    .assert_ok();
    env.post_raw(&path, "{\"entries\": {}}")
        .await
        .assert_error(400, "invalid request body");
    let usage = env.admin.state().usage;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].date, "2026-04-07");
    assert_eq!(usage[0].input_tokens, 40, "replaced, not added");
    assert_eq!(usage[0].cache_write_tokens, 4);
}
