//! End to end: the dev server, `multica daemon start --foreground` (this crate's
//! binary), and the real Claude Code CLI from npm talking to a scripted model API on
//! 127.0.0.1. The model makes Claude run `multica --version && echo $MULTICA_CLI`
//! through its Bash tool, which proves the agent found *our* `multica` although a
//! decoy comes first on the PATH the daemon was started with.

use std::path::PathBuf;

use fake_model_api::{FakeModelApi, Scenario};
use multica_api::wire::TaskStatus;

const FINAL_TEXT: &str = "Checked the CLI: it works.";

mod support;

use support::{Daemon, LoggedInMachine, free_port, real_claude, running_as_root};

#[tokio::test]
async fn claude_code_runs_a_task_end_to_end_and_resumes_its_session() {
    let claude = real_claude();
    let machine = LoggedInMachine::new("End to end").await;
    let home = &machine.home;
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
    let multica = support::multica();
    let mut command = machine.daemon_command(health_port, &workspaces_root);
    command
        .env("PATH", &path)
        .env("MULTICA_CLAUDE_PATH", &claude)
        .envs(model_api.claude_env());
    if running_as_root() {
        command.env("IS_SANDBOX", "1");
    }
    let daemon = Daemon {
        child: command.spawn().expect("start the daemon"),
    };

    // Registration: one runtime of type claude with the real CLI's version.
    let runtime = machine.online_runtime().await;
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

    let (issue_id, first) = machine
        .assign_new_issue(
            &runtime.id,
            "Claude E2E",
            "Check that the multica CLI is reachable",
        )
        .await;
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
    assert!(work_dir.starts_with(workspaces_root.join(&machine.workspace_id)));

    // A comment on the issue starts a second task: same work dir, same session.
    let second = machine
        .comment_and_wait_for_the_next_task(&issue_id, &first.id)
        .await;
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
    assert!(
        machine
            .server
            .admin()
            .runtimes()
            .iter()
            .all(|r| r.status == "offline")
    );
    model_api.shutdown().await;
}
