//! `multica daemon start` (background), `status`, `stop`, and the errors a person
//! sees when something is missing, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use multica_daemon::cli_config::CliConfig;
use multica_dev_server::{DevServer, DevServerConfig, NewWorkspace};

fn multica() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multica"))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A stand-in for `claude` that only needs to answer `--version` here.
fn fake_claude(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("claude");
    std::fs::write(&path, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

async fn run(home: &Path, claude: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(multica())
        .args(args)
        .env("HOME", home)
        .env("MULTICA_CLAUDE_PATH", claude)
        .env_remove("MULTICA_TOKEN")
        .env_remove("MULTICA_SERVER_URL")
        .env_remove("MULTICA_DAEMON_HEALTH_PORT")
        .output()
        .await
        .expect("run multica")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn background_start_status_and_stop() {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let admin = server.admin();
    let user = admin.create_user("Bg", "bg@example.com");
    let workspace = admin
        .create_workspace(NewWorkspace {
            name: "Background".into(),
            member_user_ids: vec![user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let home = tempfile::tempdir().expect("home");
    let mut config = CliConfig {
        server_url: server.base_url(),
        token: user.token.clone(),
        ..CliConfig::default()
    };
    config.watch(&workspace.id, &workspace.name);
    config
        .save(&home.path().join(".multica/config.json"))
        .expect("config");
    let claude = fake_claude(home.path());
    let port = free_port().to_string();
    let root = home.path().join("work");
    let root_arg = root.to_string_lossy().into_owned();

    let started = run(
        home.path(),
        &claude,
        &[
            "daemon",
            "start",
            "--health-port",
            &port,
            "--workspaces-root",
            &root_arg,
        ],
    )
    .await;
    assert!(started.status.success(), "{}", text(&started.stderr));
    assert!(
        text(&started.stderr).contains("Daemon started (pid"),
        "{}",
        text(&started.stderr)
    );

    let status = run(
        home.path(),
        &claude,
        &[
            "daemon",
            "status",
            "--health-port",
            &port,
            "--output",
            "json",
        ],
    )
    .await;
    let health: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(health["status"], "running");
    assert_eq!(health["agents"][0], "claude");
    server
        .wait_until(Duration::from_secs(30), |state| {
            state.runtimes().into_iter().find(|r| r.status == "online")
        })
        .await
        .expect("the background daemon registered");

    let again = run(
        home.path(),
        &claude,
        &["daemon", "start", "--health-port", &port],
    )
    .await;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already running"),
        "{}",
        text(&again.stderr)
    );

    let stopped = run(
        home.path(),
        &claude,
        &["daemon", "stop", "--health-port", &port],
    )
    .await;
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    assert!(
        text(&stopped.stderr).contains("Daemon stopped."),
        "{}",
        text(&stopped.stderr)
    );

    let status = run(
        home.path(),
        &claude,
        &["daemon", "status", "--health-port", &port],
    )
    .await;
    assert_eq!(text(&status.stdout).trim(), "Daemon: stopped");
    let log = std::fs::read_to_string(home.path().join(".multica/daemon.log")).expect("log file");
    assert!(log.contains("daemon starting"), "{log}");
    assert!(!log.contains(&user.token), "the token must never be logged");
    assert!(
        !home.path().join(".multica/daemon.pid").exists(),
        "pid file removed"
    );
    assert!(admin.runtimes().iter().all(|r| r.status == "offline"));
}

#[tokio::test]
async fn missing_login_and_bad_flags_are_explained() {
    let home = tempfile::tempdir().expect("home");
    let claude = fake_claude(home.path());
    let port = free_port().to_string();
    let output = run(
        home.path(),
        &claude,
        &["daemon", "start", "--foreground", "--health-port", &port],
    )
    .await;
    // Exit code 3: not logged in. Without a keychain on this machine the message
    // also says so and how to opt in to a file instead.
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("not logged in")
            && text(&output.stderr).contains("MULTICA_TOKEN"),
        "{}",
        text(&output.stderr)
    );

    let output = run(
        home.path(),
        &claude,
        &["daemon", "start", "--foreground", "--poll-interval", "3"],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("500ms"),
        "{}",
        text(&output.stderr)
    );

    let version = run(home.path(), &claude, &["--version"]).await;
    assert_eq!(
        text(&version.stdout).trim(),
        format!("multica {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn disk_usage_breaks_the_workspaces_root_down() {
    let home = tempfile::tempdir().expect("home");
    let claude = fake_claude(home.path());
    let root = home.path().join("multica_workspaces");
    let blob = |path: PathBuf, bytes: usize| {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, vec![b'x'; bytes]).expect("write");
    };
    blob(root.join("ws-a/task0001/workdir/src/main.rs"), 40_000);
    blob(
        root.join("ws-a/task0001/workdir/node_modules/dep/index.js"),
        200_000,
    );
    blob(root.join("ws-a/task0002/workdir/README.md"), 10_000);
    blob(root.join("ws-b/task0003/workdir/big.bin"), 1_000_000);
    blob(
        root.join(".repos/ws-a/github.com+org+app.git/objects/pack/p.pack"),
        300_000,
    );
    let mut config = CliConfig::default();
    config.watch("ws-a", "Alpha");
    config
        .save(&home.path().join(".multica").join("config.json"))
        .expect("config");

    let out = run(
        home.path(),
        &claude,
        &["daemon", "disk-usage", "--output", "json"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let usage: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(usage["task_dirs"], 3);
    assert_eq!(usage["cached_repos"], 1);
    let at_least = |field: &serde_json::Value, bytes: u64| {
        let value = field.as_u64().expect("a number");
        assert!(value >= bytes, "{value} < {bytes}");
    };
    at_least(&usage["task_bytes"], 1_250_000);
    at_least(&usage["artifact_bytes"], 200_000);
    at_least(&usage["repo_bytes"], 300_000);
    let alpha = &usage["workspaces"][0];
    assert_eq!(alpha["workspace_id"], "ws-a");
    assert_eq!(alpha["name"], "Alpha");
    assert_eq!(alpha["task_dirs"], 2);
    assert_eq!(alpha["cached_repos"], 1);
    assert_eq!(usage["workspaces"][1]["workspace_id"], "ws-b");
    assert!(usage["workspaces"][1].get("name").is_none());

    let out = run(home.path(), &claude, &["daemon", "disk-usage"]).await;
    let table = text(&out.stdout);
    assert!(
        table.contains(&format!("Workspaces root: {}", root.display())),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("task directories") && l.contains(" 3 ")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cached repositories") && l.contains(" 1 ")),
        "{table}"
    );
    assert!(table.contains("MiB"), "{table}");

    let out = run(
        home.path(),
        &claude,
        &["daemon", "disk-usage", "--by-workspace"],
    )
    .await;
    let table = text(&out.stdout);
    assert!(table.contains("BUILD OUTPUT"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("Alpha (ws-a)")),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("ws-b")), "{table}");
}
