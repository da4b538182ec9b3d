//! A dev server, an engine wired to it, and scripted stand-ins for the agent CLI
//! whose behaviour each test picks (the real CLI is exercised by the end-to-end
//! tests of `crates/cli`).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_agents::Provider;
use multica_api::Secret;
use multica_daemon::cli_config::CliConfig;
use multica_daemon::{AgentSetting, DaemonConfig, Engine, EngineHandle};
use multica_dev_server::{
    Admin, DevServer, DevServerConfig, NewAgent, NewIssue, NewWorkspace, RepoSpec, TaskView,
};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) mod git;

/// The names in `dir`, sorted (none when it does not exist).
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// How the scripted agent behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// Text, a Bash tool call whose output shows the task environment, a result.
    Succeed,
    /// Like `Succeed`, after sleeping this many seconds.
    SucceedAfter(u32),
    /// Prints a line of text, starts a background child, then never ends. Both pids
    /// are written to `pids` in the work dir.
    Hang,
    /// Writes to stderr and exits with status 3.
    ExitWithError,
    /// One assistant line of 20 MB, then a result.
    HugeLine,
    /// The first run starts a session, then loses the model's stream (a
    /// provider network error); every later run succeeds like `Succeed`.
    NetworkErrorOnce,
}

fn script_body(script: Script) -> String {
    let succeed = r#"
{ printf '%s' "$*" | tr '\n' ' '; echo; } >> args.txt
env | grep -E '^(TMPDIR|TMP|TEMP|MULTICA_TASK_[A-Z_]*)=' | sort > task_env.txt
[ -d "$TMPDIR" ] && stat -c '%a' "$TMPDIR" > tmpdir_mode.txt
printf '{"type":"system","subtype":"init","session_id":"sess-fake","model":"fake"}\n'
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Looking at the issue."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"multica --version"}}]}}\n'
printf '%s' "$MULTICA_TOKEN" > multica_token.txt
printf '{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"cli=%s task=%s token=%s path0=%s"}]}}\n' "$MULTICA_CLI" "$MULTICA_TASK_ID" "$MULTICA_TOKEN" "${PATH%%:*}"
printf '{"type":"result","subtype":"success","is_error":false,"result":"All done.","session_id":"sess-fake","modelUsage":{"fake":{"inputTokens":10,"outputTokens":5,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.001}}}\n'
"#;
    match script {
        Script::Succeed => succeed.to_owned(),
        Script::SucceedAfter(seconds) => format!("sleep {seconds}\n{succeed}"),
        Script::Hang => r#"
printf '{"type":"system","subtype":"init","session_id":"sess-hang","model":"fake"}\n'
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Working on it."}]}}\n'
printf '%s\n%s\n' "$MULTICA_LOCAL_API_TOKEN" "$MULTICA_DAEMON_PORT" > local_api.txt
sleep 300 &
echo "$$ $!" > pids
wait
"#
        .to_owned(),
        Script::ExitWithError => r#"
echo "fatal: the model refused the request (fake); token was $MULTICA_TOKEN" >&2
exit 3
"#
        .to_owned(),
        Script::NetworkErrorOnce => format!(
            r#"
runs="$(dirname "$0")/runs"
count=$(( $(cat "$runs" 2>/dev/null || echo 0) + 1 ))
echo "$count" > "$runs"
if [ "$count" = 1 ]; then
  printf '{{"type":"system","subtype":"init","session_id":"sess-net","model":"fake"}}\n'
  echo "API Error: stream disconnected before completion" >&2
  exit 1
fi
{succeed}"#
        ),
        Script::HugeLine => r#"
printf '{"type":"system","subtype":"init","session_id":"sess-huge","model":"fake"}\n'
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"'
head -c 20000000 /dev/zero | tr '\0' 'a'
printf '"}]}}\n'
printf '{"type":"result","subtype":"success","is_error":false,"result":"huge done","session_id":"sess-huge"}\n'
"#
        .to_owned(),
    }
}

/// Writes an executable stand-in for `claude` into `dir`.
pub(crate) fn write_fake_claude(dir: &Path, script: Script) -> PathBuf {
    let path = dir.join("claude");
    let body = format!(
        "#!/usr/bin/env bash\nif [ \"${{1:-}}\" = \"--version\" ]; then echo '9.9.9 (Claude Code)'; exit 0; fi\n{}",
        script_body(script)
    );
    write_executable(&path, &body);
    path
}

pub(crate) fn write_executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A dev server with a user and a workspace, and what an engine needs to run.
pub(crate) struct Harness {
    pub(crate) server: DevServer,
    pub(crate) token: String,
    pub(crate) user_id: String,
    pub(crate) workspace_id: String,
    pub(crate) home: TempDir,
    pub(crate) config: DaemonConfig,
}

impl Harness {
    pub(crate) async fn new(script: Script) -> Self {
        Self::with_repos(script, Vec::new()).await
    }

    /// A harness whose workspace lists these repository URLs.
    pub(crate) async fn with_repos(script: Script, repo_urls: Vec<String>) -> Self {
        Self::build(script, repo_urls, DevServerConfig::default()).await
    }

    /// A harness against a dev server playing the current server (Part B).
    pub(crate) async fn current(script: Script) -> Self {
        Self::build(script, Vec::new(), DevServerConfig::current()).await
    }

    async fn build(script: Script, repo_urls: Vec<String>, server_config: DevServerConfig) -> Self {
        let server = DevServer::start(server_config).await.expect("dev server");
        let admin = server.admin();
        let user = admin.create_user("Test User", "test@example.com");
        let workspace = admin
            .create_workspace(NewWorkspace {
                name: "Test".into(),
                member_user_ids: vec![user.id.clone()],
                repos: repo_urls
                    .into_iter()
                    .map(|url| RepoSpec {
                        url,
                        description: "test repository".into(),
                    })
                    .collect(),
                ..NewWorkspace::default()
            })
            .expect("workspace");

        let home = tempfile::tempdir().expect("home");
        let bin = home.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let claude = write_fake_claude(&bin, script);
        let multica = bin.join("multica");
        write_executable(&multica, "#!/bin/sh\necho 'multica (test stand-in)'\n");

        let config_file = home.path().join(".multica").join("config.json");
        let mut file = CliConfig::default();
        file.watch(&workspace.id, &workspace.name);
        file.save(&config_file).expect("config file");

        let config = DaemonConfig {
            server_url: multica_api::ServerUrl::parse(&server.base_url()).expect("url"),
            profile: None,
            daemon_id: format!("test-daemon-{}", &workspace.id[..8]),
            device_name: "test-box".into(),
            runtime_name: "Local Agent".into(),
            cli_version: "0.0.0-test".into(),
            workspaces_root: home.path().join("workspaces"),
            health_port: 0,
            max_concurrent_tasks: 4,
            poll_interval: Duration::from_millis(100),
            heartbeat_interval: Duration::from_millis(500),
            agent_timeout: Some(Duration::from_secs(60)),
            task_temp_base: None,
            idle_watchdog: None,
            tool_watchdog: None,
            status_poll_interval: Duration::from_millis(200),
            config_reload_interval: Duration::from_millis(100),
            workspace_sync_interval: Duration::from_millis(300),
            shutdown_grace: Duration::from_secs(10),
            agents: vec![AgentSetting {
                provider: Provider::claude(),
                executable: claude,
                pinned: true,
                model: None,
                max_concurrent_tasks: None,
            }],
            multica_cli: multica,
            config_file,
            gc: multica_daemon::gc::GcSettings::default(),
            discovery: multica_daemon::discovery::DiscoveryInputs::default(),
            agent_rediscovery_interval: None,
            report_retry: Duration::from_millis(200),
            codex_home: None,
            usage: multica_daemon::config::UsageSettings::default(),
            ui_dir: None,
        };
        Self {
            server,
            token: user.token,
            user_id: user.id,
            workspace_id: workspace.id,
            home,
            config,
        }
    }

    pub(crate) fn admin(&self) -> Admin {
        self.server.admin()
    }

    pub(crate) async fn start_engine(&self) -> RunningEngine {
        let engine = Engine::start(self.config.clone(), Some(Secret::new(self.token.clone())))
            .await
            .expect("engine starts");
        let handle = engine.handle();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(engine.run(shutdown.clone()));
        RunningEngine {
            handle,
            shutdown,
            run,
        }
    }

    /// Waits until the daemon registered a runtime in `workspace_id`.
    pub(crate) async fn runtime_in(&self, workspace_id: &str) -> String {
        let workspace_id = workspace_id.to_owned();
        self.server
            .wait_until(WAIT, |state| {
                state
                    .runtimes()
                    .into_iter()
                    .find(|runtime| {
                        runtime.workspace_id == workspace_id && runtime.status == "online"
                    })
                    .map(|runtime| runtime.id)
            })
            .await
            .expect("runtime registered")
    }

    /// Creates an agent on the workspace's runtime and an issue assigned to it;
    /// returns the enqueued task.
    pub(crate) async fn assign_new_issue(&self, workspace_id: &str, title: &str) -> TaskView {
        let runtime_id = self.runtime_in(workspace_id).await;
        let admin = self.admin();
        let agent = admin
            .create_agent(NewAgent {
                workspace_id: workspace_id.to_owned(),
                runtime_id,
                name: "Ada".into(),
                instructions: "Be brief.".into(),
                ..NewAgent::default()
            })
            .expect("agent");
        let issue = admin
            .create_issue(NewIssue {
                workspace_id: workspace_id.to_owned(),
                title: title.to_owned(),
                ..NewIssue::default()
            })
            .expect("issue");
        admin
            .assign_issue(&issue.id, Some(&agent.id))
            .expect("assign")
            .expect("a task is enqueued")
    }

    pub(crate) async fn wait_for_status(
        &self,
        task_id: &str,
        wanted: multica_api::wire::TaskStatus,
    ) -> TaskView {
        let task_id = task_id.to_owned();
        self.server
            .wait_until(WAIT, |state| {
                state.task(&task_id).filter(|task| task.status == wanted)
            })
            .await
            .unwrap_or_else(|timeout| panic!("task never became {wanted}: {timeout}"))
    }

    /// Paths of `/api` requests that concern this task, in arrival order.
    pub(crate) fn task_requests(&self, task_id: &str) -> Vec<String> {
        self.admin()
            .requests()
            .into_iter()
            .filter(|request| request.path.contains(task_id))
            .map(|request| {
                let action = request
                    .path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                format!("{} {action}", request.method)
            })
            .collect()
    }
}

pub(crate) struct RunningEngine {
    pub(crate) handle: EngineHandle,
    pub(crate) shutdown: CancellationToken,
    pub(crate) run: JoinHandle<Result<(), multica_daemon::EngineError>>,
}

impl RunningEngine {
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.run)
            .await
            .expect("engine stops in time")
            .expect("engine task")
            .expect("engine run");
    }
}

/// Whether a process is still alive (zombies of our own children count as gone).
pub(crate) fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits for a file called `name` anywhere below `root`; returns its path.
pub(crate) async fn wait_for_file(root: &Path, name: &str) -> PathBuf {
    fn find(dir: &Path, name: &str) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if let Some(found) = find(&path, name) {
                    return Some(found);
                }
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
        None
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = find(root, name) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never appeared below {}",
            root.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the `pids` file a hanging script writes into its work dir.
pub(crate) async fn wait_for_pids(work_root: &Path) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(pids) = find_pids(work_root) {
            return pids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never wrote its pids"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn find_pids(dir: &Path) -> Option<Vec<i32>> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_pids(&path) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|name| name == "pids") {
            let text = std::fs::read_to_string(&path).ok()?;
            let pids: Vec<i32> = text
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.len() == 2 {
                return Some(pids);
            }
        }
    }
    None
}

pub(crate) async fn wait_until_dead(pids: &[i32], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while pids.iter().any(|pid| process_alive(*pid)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes {pids:?} still alive after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
