//! The local HTTP API's defences, against a running engine with a task whose
//! (scripted) agent left its local API token and port in its work dir: requests
//! without the task's token, from a foreign Host or Origin, or for a workdir
//! outside the task are refused and change nothing; `/shutdown` needs the control
//! token from the profile directory.
#![cfg(unix)]

mod support;

use std::path::PathBuf;

use multica_api::wire::TaskStatus;
use multica_daemon::ControlToken;
use serde_json::json;
use support::{Harness, Script, entries, wait_for_file};

struct TaskSide {
    token: String,
    port: u16,
    work_dir: PathBuf,
}

async fn running_task(harness: &Harness) -> TaskSide {
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Needs a repo")
        .await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;
    let file = wait_for_file(&harness.config.workspaces_root, "local_api.txt").await;
    // The script writes the file in one go, but give it a moment to be complete.
    let text = loop {
        let text = std::fs::read_to_string(&file).expect("read");
        if text.lines().count() >= 2 {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut lines = text.lines();
    TaskSide {
        token: lines.next().expect("token").to_owned(),
        port: lines.next().expect("port").parse().expect("port number"),
        work_dir: file.parent().expect("work dir").to_path_buf(),
    }
}

#[tokio::test]
async fn checkout_requests_are_refused_without_the_tasks_token_or_outside_its_directory() {
    let mut harness = Harness::new(Script::Hang).await;
    // The hanging agent is stopped at the end; no need to wait for it.
    harness.config.shutdown_grace = std::time::Duration::from_millis(200);
    let engine = harness.start_engine().await;
    let task = running_task(&harness).await;
    assert!(task.token.starts_with("mlt_"), "a per-task token is given");
    assert_ne!(task.token, harness.token, "not the user's token");

    let http = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{}/repo/checkout", task.port);
    let body = json!({
        "url": "https://example.invalid/repo.git",
        "workdir": task.work_dir,
    });
    let before = entries(&task.work_dir);
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    };

    let (status, text) = send(http.post(&endpoint).json(&body)).await;
    assert_eq!(status, 401, "{text}");
    let (status, _) = send(http.post(&endpoint).bearer_auth("mlt_guess").json(&body)).await;
    assert_eq!(status, 401);
    let (status, _) = send(http.post(&endpoint).bearer_auth(&harness.token).json(&body)).await;
    assert_eq!(status, 401, "the user's token is not a task token");

    // DNS rebinding: a page on evil.example resolved to 127.0.0.1.
    let (status, text) = send(
        http.post(&endpoint)
            .header("Host", format!("evil.example:{}", task.port))
            .bearer_auth(&task.token)
            .json(&body),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    // A cross-site request from a browser.
    let (status, text) = send(
        http.post(&endpoint)
            .header("Origin", "https://evil.example")
            .bearer_auth(&task.token)
            .json(&body),
    )
    .await;
    assert_eq!(status, 403, "{text}");

    // Somewhere else on disk, and a way out through `..`.
    let elsewhere = tempfile::tempdir().expect("dir");
    for workdir in [
        elsewhere.path().to_path_buf(),
        task.work_dir.join("..").join("..").join(".."),
    ] {
        let (status, text) = send(
            http.post(&endpoint)
                .bearer_auth(&task.token)
                .json(&json!({"url": "https://example.invalid/r.git", "workdir": workdir})),
        )
        .await;
        assert_eq!(status, 403, "{workdir:?}: {text}");
    }
    // Another task's id in the body.
    let (status, _) = send(
        http.post(&endpoint)
            .bearer_auth(&task.token)
            .json(&json!({"url": "u", "workdir": task.work_dir, "task_id": "someone-else"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, text) = send(
        http.post(&endpoint)
            .bearer_auth(&task.token)
            .json(&json!({"workdir": task.work_dir})),
    )
    .await;
    assert_eq!((status, text.trim()), (400, "url is required"));

    assert_eq!(entries(&task.work_dir), before, "nothing was written");
    assert!(entries(elsewhere.path()).is_empty());

    // `/health` is open to this machine, with the agents and running tasks.
    let health: serde_json::Value = http
        .get(format!("http://127.0.0.1:{}/health", task.port))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["running_tasks"], 1);
    assert_eq!(health["agent_clis"][0]["provider"], "claude");
    assert_eq!(health["agent_clis"][0]["version"], "9.9.9 (Claude Code)");
    let (status, _) = send(
        http.get(format!("http://127.0.0.1:{}/health", task.port))
            .header("Host", "evil.example"),
    )
    .await;
    assert_eq!(status, 403);

    engine.stop().await;
}

#[tokio::test]
async fn shutdown_needs_the_control_token_from_the_profile_directory() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let port = engine.handle.health_port();
    let token_file = ControlToken::file_for(&harness.config.config_file);
    let token = std::fs::read_to_string(&token_file).expect("control token written");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the user can read it");
    }
    let http = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/shutdown");
    let refused = http
        .post(&endpoint)
        .bearer_auth("mdc_wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    let refused = http
        .post(&endpoint)
        .bearer_auth(&harness.token)
        .send()
        .await
        .expect("request");
    assert_eq!(
        refused.status().as_u16(),
        401,
        "the user's token cannot stop it"
    );
    assert!(!engine.shutdown.is_cancelled());

    let accepted = http
        .post(&endpoint)
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("request");
    assert_eq!(accepted.status().as_u16(), 200);
    let result = tokio::time::timeout(std::time::Duration::from_secs(30), engine.run)
        .await
        .expect("the engine stops by itself")
        .expect("join");
    assert!(result.is_ok(), "{result:?}");
    assert!(!token_file.exists(), "the token file is removed on stop");
}

#[tokio::test]
async fn a_task_checks_out_its_workspaces_repository_through_the_local_api() {
    let remote = support::git::Remote::new("app");
    let mut harness = Harness::with_repos(Script::Hang, vec![remote.url()]).await;
    harness.config.shutdown_grace = std::time::Duration::from_millis(200);
    let engine = harness.start_engine().await;

    // Registration clones the workspace's repositories in the background.
    let cached = harness
        .config
        .workspaces_root
        .join(".repos")
        .join(&harness.workspace_id);
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while entries(&cached)
        .iter()
        .all(|name| !name.ends_with("app.git"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no background clone in {}",
            cached.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let task = running_task(&harness).await;
    let http = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{}/repo/checkout", task.port);
    let response = http
        .post(&endpoint)
        .bearer_auth(&task.token)
        .json(&json!({"url": remote.url(), "workdir": task.work_dir, "agent_name": "Claude"}))
        .send()
        .await
        .expect("checkout");
    assert_eq!(response.status().as_u16(), 200);
    let checkout: serde_json::Value = response.json().await.expect("json");
    let path = PathBuf::from(checkout["path"].as_str().expect("path"));
    assert_eq!(
        path,
        task.work_dir.canonicalize().expect("canonical").join("app")
    );
    assert!(path.join("README.md").exists());
    let branch = checkout["branch_name"].as_str().expect("branch");
    assert!(branch.starts_with("agent/claude/"), "{branch}");
    assert!(checkout.get("warning").is_none());

    // Only the workspace's own repositories.
    let response = http
        .post(&endpoint)
        .bearer_auth(&task.token)
        .json(&json!({"url": "https://example.invalid/other.git", "workdir": task.work_dir}))
        .send()
        .await
        .expect("checkout");
    assert_eq!(response.status().as_u16(), 404);
    let text = response.text().await.expect("text");
    assert!(text.contains("not a repository of workspace"), "{text}");

    engine.stop().await;
}

/// What a window shows on its runtimes view: each runtime with its agent and when
/// the server last confirmed it, when the server last answered, and the agents
/// configured but missing with the fix.
#[tokio::test]
async fn health_shows_runtimes_last_contact_and_missing_agents_with_the_fix() {
    let mut harness = Harness::new(Script::Succeed).await;
    harness
        .config
        .agents
        .push(multica_daemon::config::AgentSetting {
            provider: multica_agents::Provider::codex(),
            executable: "multica-test-no-such-codex".into(),
            pinned: false,
            model: None,
            max_concurrent_tasks: None,
        });
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let engine = harness.start_engine().await;
    let runtime_id = harness.runtime_in(&harness.workspace_id).await;

    let mut health = engine.handle.health();
    for _ in 0..100 {
        if health.workspaces.iter().any(|w| {
            w.runtime_details
                .iter()
                .any(|r| r.last_seen_unix_ms.is_some())
        }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        health = engine.handle.health();
    }
    let workspace = health
        .workspaces
        .iter()
        .find(|w| w.id == harness.workspace_id)
        .expect("workspace in health");
    let runtime = workspace
        .runtime_details
        .iter()
        .find(|r| r.id == runtime_id)
        .expect("runtime details");
    assert_eq!(runtime.provider, "claude");
    let seen = runtime.last_seen_unix_ms.expect("confirmed by the server");
    assert!(u128::from(seen) >= before, "{seen} >= {before}");
    let contact = health.last_server_contact_unix_ms.expect("server answered");
    assert!(u128::from(contact) >= before);

    let missing = health
        .agents_missing
        .iter()
        .find(|agent| agent.provider == "codex")
        .expect("codex reported missing");
    assert!(missing.not_installed);
    assert!(
        missing.reason.contains("MULTICA_CODEX_PATH"),
        "the fix is named: {}",
        missing.reason
    );
    assert!(
        health
            .agents_missing
            .iter()
            .all(|agent| agent.provider != "claude")
    );

    // The same over the local API.
    let json: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{}/health",
        engine.handle.health_port()
    ))
    .await
    .expect("health")
    .json()
    .await
    .expect("json");
    assert_eq!(json["agents_missing"][0]["provider"], "codex");
    assert_eq!(
        json["workspaces"][0]["runtime_details"][0]["provider"],
        "claude"
    );

    engine.stop().await;
}

/// The window's files are served read-only at `/ui/` for a browser on a headless
/// machine, with a strict content security policy, and nothing outside the folder.
#[tokio::test]
async fn the_window_is_served_at_ui_with_nothing_outside_its_folder() {
    let mut harness = Harness::new(Script::Succeed).await;
    let ui = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(ui.path().join("assets")).expect("assets");
    std::fs::write(
        ui.path().join("index.html"),
        "<!doctype html><title>Multica</title>",
    )
    .expect("index");
    std::fs::write(ui.path().join("assets/app.js"), "console.log(1)").expect("js");
    std::fs::write(ui.path().join(".secret"), "hidden").expect("hidden");
    harness.config.ui_dir = Some(ui.path().to_path_buf());
    let engine = harness.start_engine().await;
    let base = format!("http://127.0.0.1:{}", engine.handle.health_port());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let page = http
        .get(format!("{base}/ui/"))
        .send()
        .await
        .expect("GET /ui/");
    assert_eq!(page.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header(&page, "content-type").starts_with("text/html"));
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("<title>Multica</title>")
    );

    let script = http
        .get(format!("{base}/ui/assets/app.js"))
        .send()
        .await
        .expect("GET script");
    assert_eq!(script.status(), 200);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    let bare = http
        .get(format!("{base}/ui"))
        .send()
        .await
        .expect("GET /ui");
    assert_eq!(bare.status(), 308);
    assert_eq!(header(&bare, "location"), "/ui/");

    // Nothing outside the folder, nothing hidden, nothing missing.
    for path in [
        "/ui/.secret",
        "/ui/%2e%2e/%2e%2e/etc/passwd",
        "/ui/..%2f..%2fetc%2fpasswd",
        "/ui/assets/../../outside",
        "/ui/missing.js",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.expect("GET");
        assert_eq!(response.status(), 404, "{path}");
    }

    // Without the files, the page says how to get them.
    std::fs::remove_file(ui.path().join("index.html")).expect("remove");
    let missing = http
        .get(format!("{base}/ui/"))
        .send()
        .await
        .expect("GET /ui/");
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .expect("body")
            .contains("MULTICA_UI_DIR")
    );

    engine.stop().await;
}
