//! What the end-to-end tests with the real agent CLIs share: finding the installed
//! CLI, free ports, and a daemon child process that is stopped like a service.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_daemon::cli_config::CliConfig;
use multica_dev_server::{DevServer, DevServerConfig, NewWorkspace, TaskView};

pub(crate) const WAIT: Duration = Duration::from_secs(120);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn real_claude() -> PathBuf {
    if let Some(path) = std::env::var_os("MULTICA_TEST_CLAUDE") {
        return PathBuf::from(path);
    }
    let path = repo_root().join(".tools/agent-clis/node_modules/.bin/claude");
    assert!(
        path.exists(),
        "the real Claude Code CLI is not installed at {}: run scripts/install-agent-clis.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

pub(crate) fn real_codex() -> PathBuf {
    if let Some(path) = std::env::var_os("MULTICA_TEST_CODEX") {
        return PathBuf::from(path);
    }
    let path = repo_root().join(".tools/agent-clis/node_modules/.bin/codex");
    assert!(
        path.exists(),
        "the real Codex CLI is not installed at {}: run scripts/install-agent-clis.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A dev server with a user and a workspace, and a HOME whose
/// `~/.multica/config.json` is configured the way the Go CLI leaves it: token,
/// server and watched workspace, nothing on the command line or in the environment.
pub(crate) struct LoggedInMachine {
    pub(crate) server: DevServer,
    pub(crate) workspace_id: String,
    pub(crate) home: tempfile::TempDir,
}

impl LoggedInMachine {
    pub(crate) async fn new(workspace_name: &str) -> Self {
        let server = DevServer::start(DevServerConfig::default())
            .await
            .expect("dev server");
        let admin = server.admin();
        let user = admin.create_user("E2E", "e2e@example.com");
        let workspace = admin
            .create_workspace(NewWorkspace {
                name: workspace_name.into(),
                member_user_ids: vec![user.id.clone()],
                ..NewWorkspace::default()
            })
            .expect("workspace");
        let home = tempfile::tempdir().expect("home");
        let mut config = CliConfig {
            server_url: server.base_url(),
            token: user.token,
            ..CliConfig::default()
        };
        config.watch(&workspace.id, &workspace.name);
        config
            .save(&home.path().join(".multica/config.json"))
            .expect("config");
        Self {
            server,
            workspace_id: workspace.id,
            home,
        }
    }
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

pub(crate) fn running_as_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

pub(crate) struct Daemon {
    pub(crate) child: tokio::process::Child,
}

impl Daemon {
    /// SIGTERM, as `multica daemon stop` and service managers send it.
    pub(crate) async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("daemon pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signal the daemon");
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("daemon exits after SIGTERM")
            .expect("wait for the daemon")
    }
}

pub(crate) async fn wait_for_end(server: &DevServer, task_id: &str) -> TaskView {
    let task_id = task_id.to_owned();
    server
        .wait_until(WAIT, |state| {
            state
                .task(&task_id)
                .filter(|task| task.status.is_terminal())
        })
        .await
        .expect("task ends")
}
