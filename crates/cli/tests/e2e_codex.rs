//! End to end with the real Codex CLI (`codex app-server`) from npm: the dev
//! server, `multica daemon start --foreground`, and a scripted Responses API on
//! 127.0.0.1. Codex runs `multica --version && echo $MULTICA_CLI` through its shell
//! tool in a task with its own CODEX_HOME seeded from the user's, and the next task
//! of the issue resumes the thread.

use std::path::PathBuf;
use std::process::Stdio;

use fake_model_api::{FakeModelApi, Scenario};
use multica_api::wire::TaskStatus;
use multica_dev_server::{NewAgent, NewComment, NewIssue};

mod support;

use support::{Daemon, LoggedInMachine, WAIT, free_port, real_codex, wait_for_end};

const FINAL_TEXT: &str = "Checked the CLI from Codex: it works.";

#[tokio::test]
async fn codex_runs_a_task_end_to_end_and_resumes_its_thread() {
    let codex = real_codex();
    let machine = LoggedInMachine::new("Codex end to end").await;
    let (server, home) = (&machine.server, &machine.home);
    let admin = server.admin();
    let workspace_id = machine.workspace_id.clone();
    let model_api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: "multica --version && echo \"$MULTICA_CLI\"".into(),
        final_text: FINAL_TEXT.into(),
    })
    .await
    .expect("fake model API");

    // The user's Codex home: what each task's own home is seeded from.
    let user_codex_home = home.path().join(".codex");
    std::fs::create_dir_all(&user_codex_home).expect("codex home");
    std::fs::write(
        user_codex_home.join("config.toml"),
        model_api.codex_config("gpt-test"),
    )
    .expect("codex config");

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
        .env("MULTICA_CODEX_PATH", &codex)
        // Only Codex on this machine.
        .env("MULTICA_CLAUDE_PATH", home.path().join("no-claude-here"))
        .env("MULTICA_DAEMON_STATUS_POLL_INTERVAL", "500ms")
        .env("MULTICA_LOG", "info")
        .envs(model_api.codex_env())
        .env_remove("CODEX_HOME")
        .env_remove("MULTICA_SERVER_URL")
        .env_remove("MULTICA_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let daemon = Daemon {
        child: command.spawn().expect("start the daemon"),
    };

    let runtime = server
        .wait_until(WAIT, |state| {
            state.runtimes().into_iter().find(|r| r.status == "online")
        })
        .await
        .expect("runtime registered");
    assert_eq!(runtime.provider, "codex");
    let version = runtime.metadata["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        version.contains("codex-cli"),
        "real version string, got {version:?}"
    );

    let agent = admin
        .create_agent(NewAgent {
            workspace_id: workspace_id.clone(),
            runtime_id: runtime.id.clone(),
            name: "Codex E2E".into(),
            instructions: "Follow the brief.".into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: workspace_id.clone(),
            title: "Check that the multica CLI is reachable from Codex".into(),
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

    let tool_use = first
        .messages
        .iter()
        .find(|m| m.kind == "tool_use")
        .expect("a tool_use message");
    assert_eq!(tool_use.tool.as_deref(), Some("shell"));
    let tool_result = first
        .messages
        .iter()
        .find(|m| m.kind == "tool_result" && m.seq > tool_use.seq)
        .expect("a tool_result after the tool_use");
    let output = tool_result.output.clone().unwrap_or_default();
    assert!(
        output.contains(&format!("multica {}", env!("CARGO_PKG_VERSION"))),
        "{output}"
    );
    let our_cli = multica.canonicalize().expect("canonical multica");
    assert!(output.contains(&our_cli.display().to_string()), "{output}");
    let result = first.result.clone().expect("result");
    assert_eq!(result["output"], FINAL_TEXT);
    let thread = first.session_id.clone().expect("the thread is the session");

    // The task ran with AGENTS.md and its own CODEX_HOME, seeded from the user's;
    // Codex kept the thread there, not in the user's home.
    let work_dir = PathBuf::from(first.work_dir.clone().expect("work dir"));
    assert!(work_dir.join("AGENTS.md").is_file());
    let task_codex_home = work_dir.parent().expect("task dir").join("codex-home");
    assert!(task_codex_home.join("config.toml").is_file());
    assert!(
        task_codex_home.join("sessions").is_dir(),
        "sessions in the task's home"
    );
    assert!(!user_codex_home.join("sessions").exists());

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
        Some(thread.as_str()),
        "the thread is resumed"
    );

    let exit = daemon.stop().await;
    assert!(exit.success(), "daemon exit status {exit}");
    model_api.shutdown().await;
}
