//! The app's core against the dev server, without a window: token login (refused
//! and accepted), the engine hosted and supervised, the Go CLI's token imported and
//! removed from the plain file, workspaces watched live, stopping with or without
//! the running tasks, and log-out. The keychain is a memory store here; the real
//! one is exercised by the end-to-end test.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use multica_api::Secret;
use multica_app::core::{AppCore, Paths};
use multica_app::error::ErrorCode;
use multica_app::host::{HostStatus, StopMode};
use multica_daemon::cli_config::CliConfig;
use multica_dev_server::{DevServer, DevServerConfig, NewAgent, NewIssue};
use multica_token_store::{MemoryStore, TokenAccount, TokenStore};

const WAIT: Duration = Duration::from_secs(30);

/// The stand-in `claude` of this test process: the engine finds agents through the
/// process environment, which all tests share, so there is one for all of them.
fn shared_fake_claude() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        fake_claude(dir.path(), 3);
        dir
    })
    .path()
}

/// A stand-in `claude` that answers after `sleep` seconds.
fn fake_claude(dir: &Path, sleep: u32) -> std::path::PathBuf {
    let path = dir.join("claude");
    let body = format!(
        "#!/usr/bin/env bash\nif [ \"${{1:-}}\" = \"--version\" ]; then echo '9.9.9 (Claude Code)'; exit 0; fi\n\
         sleep {sleep}\n\
         printf '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"fake\"}}\\n'\n\
         printf '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"Done.\",\"session_id\":\"s\"}}\\n'\n"
    );
    std::fs::write(&path, body).expect("write claude");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

struct World {
    server: DevServer,
    home: tempfile::TempDir,
    core: Arc<AppCore>,
    store: SharedStore,
}

/// A memory store the test can look into while the core owns it.
#[derive(Debug, Default, Clone)]
struct SharedStore(Arc<MemoryStore>);

impl TokenStore for SharedStore {
    fn kind(&self) -> multica_token_store::StoreKind {
        self.0.kind()
    }
    fn location(&self) -> String {
        self.0.location()
    }
    fn load(
        &self,
        account: &TokenAccount,
    ) -> Result<Option<Secret>, multica_token_store::TokenStoreError> {
        self.0.load(account)
    }
    fn save(
        &self,
        account: &TokenAccount,
        token: &Secret,
    ) -> Result<(), multica_token_store::TokenStoreError> {
        self.0.save(account, token)
    }
    fn delete(&self, account: &TokenAccount) -> Result<bool, multica_token_store::TokenStoreError> {
        self.0.delete(account)
    }
}

async fn world() -> World {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let home = tempfile::tempdir().expect("home");
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let claude = shared_fake_claude().join("claude");
    let multica = bin.join("multica");
    std::fs::write(&multica, "#!/bin/sh\necho multica\n").expect("multica");
    std::fs::set_permissions(&multica, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The engine reads these from the environment, as the app does; every test sets
    // the same values.
    set_env(&[
        ("MULTICA_CLAUDE_PATH", claude.to_string_lossy().as_ref()),
        ("MULTICA_LOGIN_SHELL", "off"),
        ("MULTICA_DAEMON_POLL_INTERVAL", "200ms"),
        ("MULTICA_DAEMON_HEARTBEAT_INTERVAL", "1s"),
        ("MULTICA_DAEMON_HEALTH_PORT", "0"),
        ("MULTICA_USAGE_SCAN_INTERVAL", "0"),
        ("MULTICA_AGENT_REDISCOVERY_INTERVAL", "0"),
    ]);
    let paths = Paths {
        profile: None,
        profile_dir: home.path().join(".multica"),
        multica_cli: multica,
    };
    let file = CliConfig {
        server_url: server.base_url(),
        ..CliConfig::default()
    };
    file.save(&paths.config_file()).expect("config");
    let store = SharedStore::default();
    let core = AppCore::new(
        paths,
        Box::new(store.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("core");
    World {
        server,
        home,
        core,
        store,
    }
}

fn set_env(vars: &[(&str, &str)]) {
    for (key, value) in vars {
        // Only this test process reads them, and every test sets the same values.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(key, value);
        }
    }
}

async fn wait_for_status(core: &AppCore, wanted: impl Fn(&HostStatus) -> bool) -> HostStatus {
    let mut status = core.host().watch_status();
    tokio::time::timeout(WAIT, async {
        loop {
            let now = status.borrow_and_update().clone();
            if wanted(&now) {
                return now;
            }
            if status.changed().await.is_err() {
                return now;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("status never came; it is {:?}", core.host().status()))
}

async fn log_in(world: &World, seed: &multica_dev_server::DemoSeed) -> String {
    world
        .core
        .login_with_token(
            &world.server.base_url(),
            Secret::new(seed.user.token.clone()),
        )
        .await
        .expect("logged in")
}

fn account(world: &World) -> TokenAccount {
    TokenAccount::new(&world.core.server_url(), None)
}

#[tokio::test]
async fn a_token_login_runs_the_engine_and_a_logout_stops_it() {
    let world = world().await;
    let seed = world.server.seed_demo();
    world.core.start_engine();
    assert!(matches!(
        world.core.host().status(),
        HostStatus::NeedsLogin { reason: None }
    ));

    let refused = world
        .core
        .login_with_token(&world.server.base_url(), Secret::new("mul_wrong"))
        .await
        .expect_err("refused");
    assert!(
        refused.to_string().contains("refused the token"),
        "{refused}"
    );
    assert!(world.store.load(&account(&world)).expect("store").is_none());
    // What the window receives: the kind to act on, a sentence, never the token.
    let shown = serde_json::to_value(&refused).expect("json");
    assert_eq!(shown["code"], "token_refused", "{shown}");
    assert_eq!(shown["message"], refused.to_string());
    assert!(!shown.to_string().contains("mul_wrong"), "{shown}");
    let unreachable = world
        .core
        .login_with_token("http://127.0.0.1:9", Secret::new("mul_wrong"))
        .await
        .expect_err("nothing listens there");
    assert_eq!(
        unreachable.code(),
        ErrorCode::ServerUnreachable,
        "{unreachable}"
    );
    let not_yet = world.core.workspaces().await.expect_err("no token yet");
    assert_eq!(not_yet.code(), ErrorCode::NotLoggedIn, "{not_yet}");

    let name = log_in(&world, &seed).await;
    assert_eq!(name, seed.user.name);
    wait_for_status(&world.core, |s| *s == HostStatus::Running).await;
    let stored = world.store.load(&account(&world)).expect("store");
    assert_eq!(
        stored.map(|t| t.expose().to_owned()),
        Some(seed.user.token.clone())
    );

    // A workspace switched on is registered without a restart.
    let rows = world.core.workspaces().await.expect("workspaces");
    assert!(
        rows.iter()
            .any(|row| row.id == seed.workspace.id && !row.watched)
    );
    world
        .core
        .set_watched(&seed.workspace.id, &seed.workspace.name, true)
        .expect("watch");
    let workspace_id = seed.workspace.id.clone();
    world
        .server
        .wait_until(WAIT, |state| {
            state
                .runtimes()
                .into_iter()
                .find(|runtime| runtime.workspace_id == workspace_id && runtime.status == "online")
        })
        .await
        .expect("a runtime registered");

    // A token revoked while the engine runs shows as "needs login".
    world
        .server
        .admin()
        .revoke_token(&seed.user.token)
        .expect("revoke");
    let status = wait_for_status(&world.core, |s| {
        matches!(s, HostStatus::NeedsLogin { reason: Some(_) })
    })
    .await;
    assert!(
        format!("{status:?}").contains("refused the login token"),
        "{status:?}"
    );

    world
        .core
        .logout(StopMode::WaitForTasks)
        .await
        .expect("log out");
    assert!(matches!(
        world.core.host().status(),
        HostStatus::NeedsLogin { .. }
    ));
    assert!(world.store.load(&account(&world)).expect("store").is_none());
    drop(world.home);
}

#[tokio::test]
async fn the_go_clis_token_is_imported_and_removed_from_the_file() {
    let world = world().await;
    let seed = world.server.seed_demo();
    let path = world.core.paths().config_file();
    let mut file = CliConfig::load(&path).expect("config");
    file.token = seed.user.token.clone();
    file.save(&path).expect("save");
    assert!(world.core.status().importable_token);

    world.core.import_config_token().await.expect("imported");
    // The app starts its engine from its main thread, outside the async runtime.
    world.core.host().stop(StopMode::WaitForTasks, WAIT).await;
    let core = Arc::clone(&world.core);
    std::thread::spawn(move || core.start_engine())
        .join()
        .expect("started from a plain thread");
    assert!(CliConfig::load(&path).expect("config").token.is_empty());
    assert!(!world.core.status().importable_token);
    let stored = world.store.load(&account(&world)).expect("store");
    assert_eq!(stored.map(|t| t.expose().to_owned()), Some(seed.user.token));
    wait_for_status(&world.core, |s| *s == HostStatus::Running).await;
    world.core.host().stop(StopMode::WaitForTasks, WAIT).await;
    assert_eq!(world.core.host().status(), HostStatus::Stopped);
}

#[tokio::test]
async fn a_refused_token_at_start_shows_needs_login_and_a_failure_is_retried() {
    let world = world().await;
    // A token that the server does not know, stored earlier.
    world
        .store
        .save(&account(&world), &Secret::new("mul_revoked"))
        .expect("store");
    world.core.start_engine();
    let status = wait_for_status(&world.core, |s| {
        matches!(s, HostStatus::NeedsLogin { reason: Some(_) })
    })
    .await;
    assert!(
        matches!(&status, HostStatus::NeedsLogin { reason: Some(reason) } if reason.contains("refused")),
        "{status:?}"
    );

    // An engine that cannot start is retried, with the reason shown.
    let seed = world.server.seed_demo();
    let source: multica_app::host::ConfigSource =
        Arc::new(|| Err(multica_daemon::ConfigError::NoHome));
    world
        .core
        .host()
        .start(source, Secret::new(seed.user.token.clone()));
    let retrying = wait_for_status(&world.core, |s| matches!(s, HostStatus::Retrying { .. })).await;
    assert!(
        matches!(&retrying, HostStatus::Retrying { reason, retry_in_secs } if *reason == multica_daemon::ConfigError::NoHome.to_string() && *retry_in_secs >= 2),
        "{retrying:?}"
    );
    world.core.host().stop(StopMode::StopTasks, WAIT).await;
    assert_eq!(world.core.host().status(), HostStatus::Stopped);
}

async fn wait_until_running(world: &World, task_id: &str) {
    world
        .server
        .wait_until(WAIT, |state| {
            state
                .task(task_id)
                .filter(|t| t.status == multica_api::wire::TaskStatus::Running)
        })
        .await
        .expect("running");
}

#[tokio::test]
async fn quitting_waits_for_a_running_task_or_stops_it() {
    let world = world().await;
    let seed = world.server.seed_demo();
    world
        .core
        .set_watched(&seed.workspace.id, &seed.workspace.name, true)
        .expect("watch");
    log_in(&world, &seed).await;
    let admin = world.server.admin();
    let workspace_id = seed.workspace.id.clone();
    let runtime_id = world
        .server
        .wait_until(WAIT, |state| {
            state
                .runtimes()
                .into_iter()
                .find(|runtime| runtime.workspace_id == workspace_id && runtime.status == "online")
                .map(|runtime| runtime.id)
        })
        .await
        .expect("runtime");
    let agent = admin
        .create_agent(NewAgent {
            workspace_id: seed.workspace.id.clone(),
            runtime_id,
            name: "Ada".into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let assign = |title: &str| {
        let issue = admin
            .create_issue(NewIssue {
                workspace_id: seed.workspace.id.clone(),
                title: title.to_owned(),
                ..NewIssue::default()
            })
            .expect("issue");
        admin
            .assign_issue(&issue.id, Some(&agent.id))
            .expect("assign")
            .expect("a task")
    };

    // Waiting: the running task completes before the engine stops.
    let task = assign("Finish first");
    wait_until_running(&world, &task.id).await;
    world.core.host().stop(StopMode::WaitForTasks, WAIT).await;
    let done = admin.task(&task.id).expect("task");
    assert_eq!(done.status, multica_api::wire::TaskStatus::Completed);

    // Stopping: the running task is reported failed, stopped here.
    world.core.start_engine();
    wait_for_status(&world.core, |s| *s == HostStatus::Running).await;
    let task = assign("Stop me");
    wait_until_running(&world, &task.id).await;
    // The window opens only folders the engine reported for its recent tasks.
    let folder = tokio::time::timeout(WAIT, async {
        loop {
            match world.core.task_folder(&task.id) {
                Ok(folder) => return folder,
                Err(error) => assert_eq!(error.code(), ErrorCode::NotFound, "{error}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the task's folder is reported");
    assert!(folder.is_dir(), "{}", folder.display());
    let unknown = world.core.task_folder("no-such-task").expect_err("unknown");
    assert_eq!(unknown.code(), ErrorCode::NotFound, "{unknown}");
    world.core.host().stop(StopMode::StopTasks, WAIT).await;
    let stopped_engine = world.core.task_folder(&task.id).expect_err("stopped");
    assert_eq!(
        stopped_engine.code(),
        ErrorCode::EngineNotRunning,
        "{stopped_engine}"
    );
    let stopped = admin.task(&task.id).expect("task");
    assert_eq!(stopped.status, multica_api::wire::TaskStatus::Failed);
    assert!(
        stopped.error.unwrap_or_default().contains("by its user"),
        "reported as stopped here"
    );
}
