//! What the end-to-end tests with the real agent CLIs share: finding the installed
//! CLI, free ports, and a daemon child process that is stopped like a service.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_daemon::cli_config::CliConfig;
use std::process::Stdio;

use multica_api::wire::AgentRuntime;
use multica_dev_server::{
    DevServer, DevServerConfig, NewAgent, NewComment, NewIssue, NewWorkspace, TaskView,
};

pub(crate) const WAIT: Duration = Duration::from_secs(120);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn real_claude() -> PathBuf {
    real_cli("claude", "MULTICA_TEST_CLAUDE")
}

pub(crate) fn real_codex() -> PathBuf {
    real_cli("codex", "MULTICA_TEST_CODEX")
}

pub(crate) fn real_opencode() -> PathBuf {
    real_cli("opencode", "MULTICA_TEST_OPENCODE")
}

/// `$<env_var>`, or the CLI `scripts/install-agent-clis.sh` installs. Missing is a
/// failure, not a skip.
fn real_cli(binary: &str, env_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let path = repo_root()
        .join(".tools/agent-clis/node_modules/.bin")
        .join(binary);
    assert!(
        path.exists(),
        "the real {binary} CLI is not installed at {}: run scripts/install-agent-clis.sh (scripts/test.sh does), or set {env_var}",
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

    /// `multica daemon start --foreground` for this machine, with fast intervals,
    /// nothing but the config file to find the server and token, and output on
    /// the test's; the caller adds the agent CLI's settings and spawns it.
    pub(crate) fn daemon_command(
        &self,
        health_port: u16,
        workspaces_root: &Path,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(multica());
        command
            .args(["daemon", "start", "--foreground"])
            .args(["--health-port", &health_port.to_string()])
            .arg("--workspaces-root")
            .arg(workspaces_root)
            .args(["--poll-interval", "200ms", "--heartbeat-interval", "2s"])
            .env("HOME", self.home.path())
            .env("MULTICA_DAEMON_STATUS_POLL_INTERVAL", "500ms")
            .env("MULTICA_LOG", "info")
            // Only the CLIs a test names: not whatever this machine's login shell
            // or install directories hold.
            .env("MULTICA_LOGIN_SHELL", "off")
            .env_remove("MULTICA_SERVER_URL")
            .env_remove("MULTICA_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    /// Waits for the daemon's runtime to come online.
    pub(crate) async fn online_runtime(&self) -> AgentRuntime {
        self.server
            .wait_until(WAIT, |state| {
                state.runtimes().into_iter().find(|r| r.status == "online")
            })
            .await
            .expect("runtime registered")
    }

    /// An agent on `runtime_id` is assigned a new issue; returns the issue id and
    /// the task once it has ended.
    pub(crate) async fn assign_new_issue(
        &self,
        runtime_id: &str,
        agent_name: &str,
        title: &str,
    ) -> (String, TaskView) {
        let admin = self.server.admin();
        let agent = admin
            .create_agent(NewAgent {
                workspace_id: self.workspace_id.clone(),
                runtime_id: runtime_id.to_owned(),
                name: agent_name.into(),
                instructions: "Follow the brief.".into(),
                ..NewAgent::default()
            })
            .expect("agent");
        let issue = admin
            .create_issue(NewIssue {
                workspace_id: self.workspace_id.clone(),
                title: title.into(),
                ..NewIssue::default()
            })
            .expect("issue");
        let task = admin
            .assign_issue(&issue.id, Some(&agent.id))
            .expect("assign")
            .expect("task enqueued");
        (issue.id, wait_for_end(&self.server, &task.id).await)
    }

    /// A comment on the issue starts its next task; returns it once it has ended.
    pub(crate) async fn comment_and_wait_for_the_next_task(
        &self,
        issue_id: &str,
        previous_task_id: &str,
    ) -> TaskView {
        self.server
            .admin()
            .add_comment(
                issue_id,
                NewComment {
                    content: "Please check once more.".into(),
                    ..NewComment::default()
                },
            )
            .expect("comment");
        let next_id = self
            .server
            .wait_until(WAIT, |state| {
                state
                    .tasks_for_issue(issue_id)
                    .into_iter()
                    .find(|task| task.id != previous_task_id)
                    .map(|task| task.id)
            })
            .await
            .expect("next task");
        wait_for_end(&self.server, &next_id).await
    }
}

/// What the scripted model has every agent run through its shell tool.
pub(crate) const CHECK_MULTICA: &str = "multica --version && echo \"$MULTICA_CLI\"";

/// A model API that has the agent run [`CHECK_MULTICA`], then answer `final_text`.
pub(crate) async fn check_multica_model_api(final_text: &str) -> fake_model_api::FakeModelApi {
    fake_model_api::FakeModelApi::start(fake_model_api::Scenario::ToolThenAnswer {
        command: CHECK_MULTICA.into(),
        final_text: final_text.into(),
    })
    .await
    .expect("fake model API")
}

/// The task's transcript shows a `tool` call whose output came from this crate's
/// `multica` (its version, and its absolute path in `MULTICA_CLI`), and the result
/// is `final_text`.
pub(crate) fn assert_our_multica_answered(task: &TaskView, tool: &str, final_text: &str) {
    let tool_use = task
        .messages
        .iter()
        .find(|m| m.kind == "tool_use")
        .expect("a tool_use message");
    assert_eq!(tool_use.tool.as_deref(), Some(tool));
    let tool_result = task
        .messages
        .iter()
        .find(|m| m.kind == "tool_result" && m.seq > tool_use.seq)
        .expect("a tool_result after the tool_use");
    let output = tool_result.output.clone().unwrap_or_default();
    assert!(
        output.contains(&format!("multica {}", env!("CARGO_PKG_VERSION"))),
        "{output}"
    );
    let our_cli = multica().canonicalize().expect("canonical multica");
    assert!(output.contains(&our_cli.display().to_string()), "{output}");
    let result = task.result.clone().expect("result");
    assert_eq!(result["output"], final_text);
}

/// This crate's `multica` binary.
pub(crate) fn multica() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multica"))
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
