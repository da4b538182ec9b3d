//! End to end, the way a person sets it up and an agent works: `multica login
//! --token` (into the OS keychain when the test keychain runs, else the opted-in
//! file), `multica workspace watch`, `multica daemon start --foreground`; then the
//! real Claude Code CLI, driven by a scripted model API on 127.0.0.1, runs
//! `multica issue get`, `multica issue comment add` and `multica issue status …
//! in_review` through its Bash tool, and the dev server records the comment and the
//! status change as made by the agent in that task.

use std::path::PathBuf;
use std::process::Stdio;

use fake_model_api::{FakeModelApi, Scenario};
use multica_api::wire::TaskStatus;
use multica_dev_server::{DevServer, DevServerConfig, NewAgent, NewIssue, NewWorkspace};

mod support;

use support::{Daemon, WAIT, free_port, real_claude, running_as_root, wait_for_end};

const COMMENT: &str = "Reviewed by the agent: ready for review.";

#[tokio::test]
async fn an_agent_reads_comments_and_moves_its_issue_through_our_cli() {
    let claude = real_claude();
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let admin = server.admin();
    let user = admin.create_user("Agent Owner", "owner@example.com");
    let workspace = admin
        .create_workspace(NewWorkspace {
            name: "Agent CLI".into(),
            issue_prefix: Some("AGT".into()),
            member_user_ids: vec![user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: workspace.id.clone(),
            title: "Review the parser".into(),
            ..NewIssue::default()
        })
        .expect("issue");
    let key = issue.identifier.clone();
    let model_api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: format!(
            "multica issue get {key} --output json > /dev/null && \
             multica issue comment add {key} --content \"{COMMENT}\" && \
             multica issue status {key} in_review"
        ),
        final_text: "Moved to review.".into(),
    })
    .await
    .expect("fake model API");

    let home = tempfile::tempdir().expect("home");
    let multica = PathBuf::from(env!("CARGO_BIN_EXE_multica"));
    let use_keychain = std::env::var("MULTICA_REQUIRE_KEYCHAIN").is_ok_and(|v| v == "1");
    let storage = if use_keychain { "keychain" } else { "file" };
    let person = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&multica);
        command
            .args(["--server-url", &server.base_url()])
            .args(args)
            .env("HOME", home.path())
            .env("MULTICA_TOKEN_STORAGE", storage)
            .env_remove("MULTICA_TOKEN")
            .env_remove("MULTICA_SERVER_URL")
            .env_remove("MULTICA_WORKSPACE_ID")
            .stdin(Stdio::null());
        command
    };
    let login = person(&["login", "--token", &user.token])
        .output()
        .await
        .expect("login");
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let watch = person(&["workspace", "watch", &workspace.id])
        .output()
        .await
        .expect("watch");
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let config = std::fs::read_to_string(home.path().join(".multica/config.json")).expect("config");
    assert_eq!(
        config.contains(&user.token),
        !use_keychain,
        "the token is in the config file only when file storage was chosen"
    );

    let health_port = free_port();
    let mut daemon = person(&["daemon", "start", "--foreground"]);
    daemon
        .args(["--health-port", &health_port.to_string()])
        .arg("--workspaces-root")
        .arg(home.path().join("workspaces"))
        .args(["--poll-interval", "200ms", "--heartbeat-interval", "2s"])
        .env("MULTICA_CLAUDE_PATH", &claude)
        .env("MULTICA_DAEMON_STATUS_POLL_INTERVAL", "500ms")
        .envs(model_api.claude_env())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if running_as_root() {
        daemon.env("IS_SANDBOX", "1");
    }
    let daemon = Daemon {
        child: daemon.spawn().expect("start the daemon"),
    };

    let runtime = server
        .wait_until(WAIT, |state| {
            state.runtimes().into_iter().find(|r| r.status == "online")
        })
        .await
        .expect("runtime registered with the stored token");
    let agent = admin
        .create_agent(NewAgent {
            workspace_id: workspace.id.clone(),
            runtime_id: runtime.id.clone(),
            name: "Reviewer".into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let task = admin
        .assign_issue(&issue.id, Some(&agent.id))
        .expect("assign")
        .expect("task");
    let task = wait_for_end(&server, &task.id).await;
    assert_eq!(task.status, TaskStatus::Completed, "{task:#?}");

    // The tool's output shows our CLI answered (the status line of `issue status`).
    let tool_output: String = task
        .messages
        .iter()
        .filter(|m| m.kind == "tool_result")
        .filter_map(|m| m.output.clone())
        .collect();
    assert!(
        tool_output.contains(&format!("{key} is now in_review")),
        "{tool_output}"
    );
    assert!(
        !tool_output.contains(&user.token),
        "token leaked into the transcript"
    );

    // What the server recorded, asked through its own API.
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}{path}", server.base_url()))
            .bearer_auth(&user.token)
            .header("X-Workspace-ID", &workspace.id)
            .send()
    };
    let issue_now: serde_json::Value = get(format!("/api/issues/{}", issue.id))
        .await
        .expect("issue")
        .json()
        .await
        .expect("json");
    assert_eq!(issue_now["status"], "in_review");
    let comments: serde_json::Value = get(format!("/api/issues/{}/comments", issue.id))
        .await
        .expect("comments")
        .json()
        .await
        .expect("json");
    let comment = comments
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["content"] == COMMENT)
        .unwrap_or_else(|| panic!("the agent's comment is missing: {comments}"));
    assert_eq!(comment["author_type"], "agent");
    assert_eq!(comment["author_id"], agent.id.as_str());
    // The status change is recorded as the agent's too.
    let history = admin.issue(&issue.id).expect("issue").history;
    let change = history
        .iter()
        .find(|c| c.field == "status")
        .unwrap_or_else(|| panic!("no status change in {history:#?}"));
    assert_eq!(change.to, "in_review");
    assert_eq!(
        (change.actor_type.as_str(), change.actor_id.as_str()),
        ("agent", agent.id.as_str())
    );

    let exit = daemon.stop().await;
    assert!(exit.success(), "daemon exit status {exit}");
    model_api.shutdown().await;
}
