//! End to end with the real Codex CLI (`codex app-server`) from npm: the dev
//! server, `multica daemon start --foreground`, and a scripted Responses API on
//! 127.0.0.1. Codex runs `multica --version && echo $MULTICA_CLI` through its shell
//! tool in a task with its own CODEX_HOME seeded from the user's, and the next task
//! of the issue resumes the thread.

use std::path::PathBuf;

use multica_api::wire::TaskStatus;

mod support;

use support::{Daemon, LoggedInMachine, free_port, real_codex};

const FINAL_TEXT: &str = "Checked the CLI from Codex: it works.";

#[tokio::test]
async fn codex_runs_a_task_end_to_end_and_resumes_its_thread() {
    let codex = real_codex();
    let machine = LoggedInMachine::new("Codex end to end").await;
    let home = &machine.home;
    let model_api = support::check_multica_model_api(FINAL_TEXT).await;

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
    let mut command = machine.daemon_command(health_port, &workspaces_root);
    command
        .env("MULTICA_CODEX_PATH", &codex)
        // Only Codex on this machine.
        .env("MULTICA_CLAUDE_PATH", home.path().join("no-claude-here"))
        .envs(model_api.codex_env())
        .env_remove("CODEX_HOME");
    let daemon = Daemon {
        child: command.spawn().expect("start the daemon"),
    };

    let runtime = machine.online_runtime().await;
    assert_eq!(runtime.provider, "codex");
    let version = runtime.metadata["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        version.contains("codex-cli"),
        "real version string, got {version:?}"
    );

    let (issue_id, first) = machine
        .assign_new_issue(
            &runtime.id,
            "Codex E2E",
            "Check that the multica CLI is reachable from Codex",
        )
        .await;
    assert_eq!(
        first.status,
        TaskStatus::Completed,
        "first task: {first:#?}"
    );

    support::assert_our_multica_answered(&first, "shell", FINAL_TEXT);
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
        Some(thread.as_str()),
        "the thread is resumed"
    );

    let exit = daemon.stop().await;
    assert!(exit.success(), "daemon exit status {exit}");
    model_api.shutdown().await;
}
