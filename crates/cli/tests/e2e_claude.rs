//! End to end: the dev server, `multica daemon start --foreground` (this crate's
//! binary), and the real Claude Code CLI from npm talking to a scripted model API on
//! 127.0.0.1. The model makes Claude run `multica --version && echo $MULTICA_CLI`
//! through its Bash tool, which proves the agent found *our* `multica` although a
//! decoy comes first on the PATH the daemon was started with.

use std::path::PathBuf;
use std::process::Stdio;

use fake_model_api::{FakeModelApi, Scenario};
use multica_api::wire::TaskStatus;
use multica_dev_server::{NewAgent, NewComment, NewIssue};

const FINAL_TEXT: &str = "Checked the CLI: it works.";

mod support;

use support::{
    Daemon, LoggedInMachine, WAIT, free_port, real_claude, running_as_root, wait_for_end,
};

#[tokio::test]
async fn claude_code_runs_a_task_end_to_end_and_resumes_its_session() {
    let claude = real_claude();
    let machine = LoggedInMachine::new("End to end").await;
    let (server, home) = (&machine.server, &machine.home);
    let admin = server.admin();
    let workspace_id = machine.workspace_id.clone();
    let model_api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: "multica --version && echo \"$MULTICA_CLI\"".into(),
        final_text: FINAL_TEXT.into(),
    })
    .await
    .expect("fake model API");

    // A stale `multica` first on the PATH must not be what the agent runs.
    let decoy_dir = home.path().join("decoy-bin");
    std::fs::create_dir_all(&decoy_dir).expect("decoy dir");
    let decoy = decoy_dir.join("multica");
    std::fs::write(&decoy, "#!/bin/sh\necho 'decoy multica 0.0.1'\n").expect("decoy");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        decoy_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let health_port = free_port();
    let workspaces_root = home.path().join("workspaces");
    let multica = PathBuf::from(env!("CARGO_BIN_EXE_multica"));
    let mut command = tokio::process::Command::new(&multica);
    command
        .args(["daemon", "start", "--foreground"])
        .args(["--health-port", &health_port.to_string()])
        .arg("--workspaces-root")
        .arg(&workspaces_root)
        .args(["--poll-interval", "200ms", "--heartbeat-interval", "2s"])
        .env("HOME", home.path())
        .env("PATH", &path)
        .env("MULTICA_CLAUDE_PATH", &claude)
        .env("MULTICA_DAEMON_STATUS_POLL_INTERVAL", "500ms")
        .env("MULTICA_LOG", "info")
        .envs(model_api.claude_env())
        .env_remove("MULTICA_SERVER_URL")
        .env_remove("MULTICA_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if running_as_root() {
        command.env("IS_SANDBOX", "1");
    }
    let daemon = Daemon {
        child: command.spawn().expect("start the daemon"),
    };

    // Registration: one runtime of type claude with the real CLI's version.
    let runtime = server
        .wait_until(WAIT, |state| {
            state.runtimes().into_iter().find(|r| r.status == "online")
        })
        .await
        .expect("runtime registered");
    assert_eq!(runtime.provider, "claude");
    let version = runtime.metadata["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        version.contains("Claude Code"),
        "real version string, got {version:?}"
    );

    // `multica daemon status` reads the running daemon's health endpoint.
    let status = tokio::process::Command::new(&multica)
        .args([
            "daemon",
            "status",
            "--health-port",
            &health_port.to_string(),
        ])
        .env("HOME", home.path())
        .output()
        .await
        .expect("daemon status");
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status_text.contains("running") && status_text.contains("claude"),
        "{status_text}"
    );

    let agent = admin
        .create_agent(NewAgent {
            workspace_id: workspace_id.clone(),
            runtime_id: runtime.id.clone(),
            name: "Claude E2E".into(),
            instructions: "Follow the brief.".into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: workspace_id.clone(),
            title: "Check that the multica CLI is reachable".into(),
            ..NewIssue::default()
        })
        .expect("issue");
    let first = admin
        .assign_issue(&issue.id, Some(&agent.id))
        .expect("assign")
        .expect("task enqueued");
    let first = wait_for_end(server, &first.id).await;
    assert_eq!(
        first.status,
        TaskStatus::Completed,
        "first task: {first:#?}"
    );

    // Progress steps, then the transcript in seq order with the tool call and its output.
    let steps: Vec<(String, i64)> = first
        .progress
        .iter()
        .map(|p| (p.summary.clone(), p.step))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("Launching Claude".to_owned(), 1),
            ("Finishing task".to_owned(), 2)
        ]
    );
    let seqs: Vec<i32> = first.messages.iter().map(|m| m.seq).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seqs, sorted, "messages arrive once each, in seq order");
    assert_eq!(seqs.first(), Some(&1));
    let tool_use = first
        .messages
        .iter()
        .find(|m| m.kind == "tool_use")
        .expect("a tool_use message");
    assert_eq!(tool_use.tool.as_deref(), Some("Bash"));
    let command_text = tool_use
        .input
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(command_text.contains("multica --version"), "{command_text}");
    let tool_result = first
        .messages
        .iter()
        .find(|m| m.kind == "tool_result" && m.seq > tool_use.seq)
        .expect("a tool_result after the tool_use");
    let output = tool_result.output.clone().unwrap_or_default();
    let our_cli = multica.canonicalize().expect("canonical multica");
    assert!(
        output.contains(&format!("multica {}", env!("CARGO_PKG_VERSION"))),
        "{output}"
    );
    assert!(output.contains(&our_cli.display().to_string()), "{output}");
    assert!(!output.contains("decoy"), "the decoy multica ran: {output}");

    // Completion with output, session id and work dir.
    let result = first.result.clone().expect("result");
    assert_eq!(result["output"], FINAL_TEXT);
    let session_id = first.session_id.clone().expect("session id");
    assert!(!session_id.is_empty());
    let work_dir = PathBuf::from(first.work_dir.clone().expect("work dir"));
    assert!(work_dir.join("CLAUDE.md").is_file());
    assert!(work_dir.starts_with(workspaces_root.join(&workspace_id)));

    // A comment on the issue starts a second task: same work dir, same session.
    admin
        .add_comment(
            &issue.id,
            NewComment {
                content: "Please check once more.".into(),
                ..NewComment::default()
            },
        )
        .expect("comment");
    let second_id = server
        .wait_until(WAIT, |state| {
            state
                .tasks_for_issue(&issue.id)
                .into_iter()
                .find(|task| task.id != first.id)
                .map(|task| task.id)
        })
        .await
        .expect("second task");
    let second = wait_for_end(server, &second_id).await;
    assert_eq!(
        second.status,
        TaskStatus::Completed,
        "second task: {second:#?}"
    );
    assert_eq!(second.work_dir, first.work_dir, "the work dir is reused");
    assert_eq!(
        second.session_id.as_deref(),
        Some(session_id.as_str()),
        "the session is resumed"
    );

    // SIGTERM: clean exit, runtimes deregistered.
    let exit = daemon.stop().await;
    assert!(exit.success(), "daemon exit status {exit}");
    assert!(admin.runtimes().iter().all(|r| r.status == "offline"));
    model_api.shutdown().await;
}
