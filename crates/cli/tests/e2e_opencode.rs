//! End to end with the real OpenCode CLI (`opencode run --format json`) from npm:
//! the dev server, `multica daemon start --foreground`, and a scripted
//! chat-completions API on 127.0.0.1 configured as the user's OpenCode provider.
//! OpenCode runs `multica --version && echo $MULTICA_CLI` through its `bash` tool,
//! and the next task of the issue continues the same OpenCode session.

use std::path::PathBuf;

use multica_api::wire::TaskStatus;

mod support;

use support::{Daemon, LoggedInMachine, free_port, real_opencode};

const FINAL_TEXT: &str = "Checked the CLI from OpenCode: it works.";

#[tokio::test]
async fn opencode_runs_a_task_end_to_end_and_resumes_its_session() {
    let opencode = real_opencode();
    let machine = LoggedInMachine::new("OpenCode end to end").await;
    let home = &machine.home;
    let model_api = support::check_multica_model_api(FINAL_TEXT).await;

    // The user's global OpenCode config names the provider and model.
    let config_dir = home.path().join(".config/opencode");
    std::fs::create_dir_all(&config_dir).expect("opencode config dir");
    std::fs::write(
        config_dir.join("opencode.json"),
        model_api.opencode_config("gpt-test"),
    )
    .expect("opencode config");

    let health_port = free_port();
    let workspaces_root = home.path().join("workspaces");
    let mut command = machine.daemon_command(health_port, &workspaces_root);
    command
        .env("MULTICA_OPENCODE_PATH", &opencode)
        // Only OpenCode on this machine.
        .env("MULTICA_CLAUDE_PATH", home.path().join("no-claude-here"))
        .env("MULTICA_CODEX_PATH", home.path().join("no-codex-here"))
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("OPENCODE_CONFIG");
    let daemon = Daemon {
        child: command.spawn().expect("start the daemon"),
    };

    let runtime = machine.online_runtime().await;
    assert_eq!(runtime.provider, "opencode");
    assert_eq!(runtime.metadata["version"], "1.18.33");

    let (issue_id, first) = machine
        .assign_new_issue(
            &runtime.id,
            "OpenCode E2E",
            "Check that the multica CLI is reachable from OpenCode",
        )
        .await;
    assert_eq!(
        first.status,
        TaskStatus::Completed,
        "first task: {first:#?}"
    );
    support::assert_our_multica_answered(&first, "bash", FINAL_TEXT);
    let session = first.session_id.clone().expect("a session");
    assert!(session.starts_with("ses_"), "{session}");
    let work_dir = PathBuf::from(first.work_dir.clone().expect("work dir"));
    assert!(work_dir.join("AGENTS.md").is_file());

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
        Some(session.as_str()),
        "the session is continued"
    );

    let exit = daemon.stop().await;
    assert!(exit.success(), "daemon exit status {exit}");
    model_api.shutdown().await;
}
