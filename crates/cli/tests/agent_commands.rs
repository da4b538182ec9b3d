//! The commands agents call (`issue`, `workspace`, `agent`, `attachment`) through the
//! real binary against the dev server, in both output formats, with their error
//! paths and exit codes.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use multica_dev_server::{
    DevServer, DevServerConfig, NewAgent, NewIssue, NewWorkspace, RuntimeSpec, UserWithToken,
};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

fn multica() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multica"))
}

struct World {
    server: DevServer,
    user: UserWithToken,
    outsider: UserWithToken,
    workspace_id: String,
    agent_id: String,
    issue_id: String,
    issue_key: String,
    home: tempfile::TempDir,
}

async fn world() -> World {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let admin = server.admin();
    let user = admin.create_user("Ada", "ada@example.com");
    let outsider = admin.create_user("Out", "out@example.com");
    let workspace = admin
        .create_workspace(NewWorkspace {
            name: "Cli Tests".into(),
            issue_prefix: Some("CLI".into()),
            member_user_ids: vec![user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let runtime = admin
        .register_runtime(RuntimeSpec {
            workspace_id: workspace.id.clone(),
            daemon_id: "test-daemon".into(),
            provider: "claude".into(),
            device_name: "test".into(),
            version: "1.0.0".into(),
            cli_version: "0.1.0".into(),
            ..RuntimeSpec::default()
        })
        .expect("runtime");
    let agent = admin
        .create_agent(NewAgent {
            workspace_id: workspace.id.clone(),
            runtime_id: runtime.id,
            name: "Coder".into(),
            ..NewAgent::default()
        })
        .expect("agent");
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: workspace.id.clone(),
            title: "Fix the flaky build".into(),
            description: Some("It fails on Tuesdays.".into()),
            priority: Some("high".into()),
            ..NewIssue::default()
        })
        .expect("issue");
    World {
        server,
        user,
        outsider,
        workspace_id: workspace.id,
        agent_id: agent.id,
        issue_id: issue.id,
        issue_key: issue.identifier,
        home: tempfile::tempdir().expect("home"),
    }
}

impl World {
    fn command(&self, token: &str, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(multica());
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("MULTICA_SERVER_URL", self.server.base_url())
            .env("MULTICA_TOKEN", token)
            .env("MULTICA_WORKSPACE_ID", &self.workspace_id)
            .env("MULTICA_TOKEN_STORAGE", "file")
            .env_remove("MULTICA_AGENT_ID")
            .env_remove("MULTICA_TASK_ID")
            .env_remove("MULTICA_PROFILE")
            .stdin(Stdio::null());
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(&self.user.token, args)
            .output()
            .await
            .expect("run multica")
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.run(&all).await;
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{args:?}: not JSON ({error}): {}", stdout(&output)))
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The server's own answer, for comparing with what `--output json` printed.
async fn raw_get(world: &World, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", world.server.base_url()))
        .bearer_auth(&world.user.token)
        .header("X-Workspace-ID", &world.workspace_id)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn issues_are_read_in_both_formats_and_json_is_the_server_object() {
    let world = world().await;
    let by_key = world.json(&["issue", "get", &world.issue_key]).await;
    let by_id = world.json(&["issue", "get", &world.issue_id]).await;
    assert_eq!(by_key, by_id);
    assert_eq!(
        by_key,
        raw_get(&world, &format!("/api/issues/{}", world.issue_id)).await
    );
    assert_eq!(by_key["title"], "Fix the flaky build");

    let table = world.run(&["issue", "get", &world.issue_key]).await;
    let table = stdout(&table);
    assert!(table.contains("Fix the flaky build"), "{table}");
    assert!(table.contains("It fails on Tuesdays."), "{table}");

    let list = world.json(&["issue", "list", "--status", "todo"]).await;
    assert_eq!(list["issues"].as_array().map(Vec::len), Some(1));
    let none = world.json(&["issue", "list", "--status", "done"]).await;
    assert_eq!(none["issues"].as_array().map(Vec::len), Some(0));
    let table = stdout(&world.run(&["issue", "list"]).await);
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    let row = lines.next().expect("row");
    assert!(header.starts_with("ID "), "{table}");
    assert_eq!(header.find("STATUS"), row.find("todo"), "aligned:\n{table}");
}

#[tokio::test]
async fn status_and_update_change_the_issue_and_empty_values_clear() {
    let world = world().await;
    let changed = world
        .json(&["issue", "status", &world.issue_key, "in_progress"])
        .await;
    assert_eq!(changed["status"], "in_progress");

    let bad = world
        .run(&["issue", "status", &world.issue_key, "finished"])
        .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("in_review"), "{}", stderr(&bad));

    let updated = world
        .json(&[
            "issue",
            "update",
            &world.issue_key,
            "--title",
            "Fix the build",
            "--priority",
            "urgent",
            "--due-date",
            "2026-12-01",
        ])
        .await;
    assert_eq!(updated["title"], "Fix the build");
    assert_eq!(updated["priority"], "urgent");
    assert!(
        updated["due_date"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-12-01")),
        "{updated}"
    );
    let cleared = world
        .json(&[
            "issue",
            "update",
            &world.issue_key,
            "--description",
            "",
            "--due-date",
            "",
        ])
        .await;
    assert!(cleared["description"].is_null(), "{cleared}");
    assert!(cleared["due_date"].is_null(), "{cleared}");

    let nothing = world.run(&["issue", "update", &world.issue_key]).await;
    assert_eq!(nothing.status.code(), Some(2));
}

#[tokio::test]
async fn assign_by_name_enqueues_a_task_and_unassign_clears() {
    let world = world().await;
    let assigned = world
        .json(&["issue", "assign", &world.issue_key, "--to", "coder"])
        .await;
    assert_eq!(assigned["assignee_type"], "agent");
    assert_eq!(assigned["assignee_id"], world.agent_id.as_str());
    assert_eq!(
        world.server.admin().tasks_for_issue(&world.issue_id).len(),
        1
    );

    let runs = world.json(&["issue", "runs", &world.issue_key]).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    let runs_table = stdout(&world.run(&["issue", "runs", &world.issue_key]).await);
    assert!(runs_table.contains("queued"), "{runs_table}");

    let unassigned = world
        .json(&["issue", "assign", &world.issue_key, "--unassign"])
        .await;
    assert!(unassigned["assignee_id"].is_null(), "{unassigned}");

    let nobody = world
        .run(&["issue", "assign", &world.issue_key, "--to", "Nobody"])
        .await;
    assert_eq!(nobody.status.code(), Some(4), "{}", stderr(&nobody));
}

#[tokio::test]
async fn comments_of_any_length_from_flag_file_and_stdin_arrive_whole() {
    let world = world().await;
    let from_flag = world
        .json(&[
            "issue",
            "comment",
            "add",
            &world.issue_key,
            "--content",
            "line one\\nline two",
        ])
        .await;
    assert_eq!(from_flag["content"], "line one\nline two");

    // 2 MB with every kind of character: nothing is cut or re-encoded.
    let long: String = (0..40_000)
        .map(|n| format!("row {n}: ünïcødé \\n and \"quotes\"\n"))
        .collect();
    let file = world.home.path().join("comment.md");
    std::fs::write(&file, &long).expect("write");
    let file_arg = file.to_string_lossy().into_owned();
    let from_file = world
        .json(&[
            "issue",
            "comment",
            "add",
            &world.issue_key,
            "--content-file",
            &file_arg,
        ])
        .await;
    assert_eq!(from_file["content"].as_str(), Some(long.as_str()));

    let mut child = world
        .command(
            &world.user.token,
            &[
                "issue",
                "comment",
                "add",
                &world.issue_key,
                "--parent",
                from_flag["id"].as_str().expect("id"),
                "--output",
                "json",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"piped reply\n")
        .await
        .expect("write stdin");
    drop(stdin);
    let piped = child.wait_with_output().await.expect("wait");
    assert!(piped.status.success(), "{}", stderr(&piped));
    let piped: Value = serde_json::from_slice(&piped.stdout).expect("json");
    assert_eq!(piped["content"], "piped reply\n");
    assert_eq!(piped["parent_id"], from_flag["id"]);

    let listed = world
        .json(&["issue", "comment", "list", &world.issue_key])
        .await;
    let contents: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["content"].as_str())
        .collect();
    assert!(
        contents.contains(&long.as_str()),
        "the long comment came back whole"
    );
    let limited = world
        .json(&["issue", "comment", "list", &world.issue_key, "--limit", "1"])
        .await;
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    let table = stdout(
        &world
            .run(&["issue", "comment", "list", &world.issue_key])
            .await,
    );
    assert!(table.contains("line one\nline two"), "{table}");
    assert!(table.contains("reply to"), "{table}");

    let bad_parent = world
        .run(&[
            "issue",
            "comment",
            "add",
            &world.issue_key,
            "--content",
            "x",
            "--parent",
            "00000000-0000-0000-0000-000000000000",
        ])
        .await;
    assert_eq!(bad_parent.status.code(), Some(5), "{}", stderr(&bad_parent));
    assert!(stderr(&bad_parent).contains("invalid parent comment"));
}

#[tokio::test]
async fn an_agent_inside_a_task_is_recorded_as_the_author() {
    let world = world().await;
    let task = world
        .server
        .admin()
        .assign_issue(&world.issue_id, Some(&world.agent_id))
        .expect("assign")
        .expect("a task");
    let output = world
        .command(
            &world.user.token,
            &[
                "issue",
                "comment",
                "add",
                &world.issue_key,
                "--content",
                "agent here",
                "--output",
                "json",
            ],
        )
        .env("MULTICA_AGENT_ID", &world.agent_id)
        .env("MULTICA_TASK_ID", &task.id)
        .output()
        .await
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    let comment: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(comment["author_type"], "agent");
    assert_eq!(comment["author_id"], world.agent_id.as_str());

    // Inside a task without a token the CLI refuses to act as the logged-in user.
    let output = world
        .command("", &["issue", "get", &world.issue_key])
        .env_remove("MULTICA_TOKEN")
        .env("MULTICA_TASK_ID", &task.id)
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
}

#[tokio::test]
async fn errors_have_one_line_and_documented_exit_codes() {
    let world = world().await;
    let check = |output: &Output, code: i32, hint: &str| {
        assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
        let error = stderr(output);
        assert!(error.starts_with("Error: "), "{error}");
        assert!(error.contains(hint), "{hint:?} not in {error}");
        assert_eq!(error.trim_end().lines().count(), 1, "one line: {error}");
        assert!(!error.contains(&world.user.token), "token leaked");
    };
    let refused = world
        .command("mul_wrong", &["issue", "get", &world.issue_key])
        .output()
        .await
        .expect("run");
    check(&refused, 3, "multica login");

    check(
        &world.run(&["issue", "get", "CLI-999"]).await,
        4,
        "not found",
    );

    let outsider = world
        .command(&world.outsider.token, &["issue", "get", &world.issue_key])
        .output()
        .await
        .expect("run");
    check(&outsider, 4, "workspace");

    let no_workspace = world
        .command(&world.user.token, &["issue", "list"])
        .env_remove("MULTICA_WORKSPACE_ID")
        .output()
        .await
        .expect("run");
    check(&no_workspace, 2, "--workspace-id");

    let empty = world
        .run(&[
            "issue",
            "comment",
            "add",
            &world.issue_key,
            "--content",
            "  ",
        ])
        .await;
    check(&empty, 2, "empty");

    let mut after_shutdown = world.command(&world.user.token, &["issue", "get", "CLI-1"]);
    let World { server, user, .. } = world;
    server.shutdown().await;
    let down = after_shutdown.output().await.expect("run");
    assert_eq!(down.status.code(), Some(6), "{}", stderr(&down));
    let error = stderr(&down);
    assert!(error.contains("--server-url"), "{error}");
    assert!(!error.contains(&user.token));
}

#[tokio::test]
async fn workspaces_members_agents_and_watching() {
    let world = world().await;
    let workspaces = world.json(&["workspace", "list"]).await;
    assert_eq!(workspaces.as_array().map(Vec::len), Some(1));
    let workspace = world.json(&["workspace", "get"]).await;
    assert_eq!(workspace["id"], world.workspace_id.as_str());
    let members = world.json(&["workspace", "members"]).await;
    assert_eq!(members[0]["email"], "ada@example.com");
    let table = stdout(&world.run(&["workspace", "members"]).await);
    assert!(
        table.contains("ada@example.com") && table.contains("USER ID"),
        "{table}"
    );
    let agents = world.json(&["agent", "list"]).await;
    assert_eq!(agents[0]["name"], "Coder");

    let watch = world
        .run(&["workspace", "watch", &world.workspace_id])
        .await;
    assert!(watch.status.success(), "{}", stderr(&watch));
    let config =
        std::fs::read_to_string(world.home.path().join(".multica/config.json")).expect("config");
    assert!(config.contains(&world.workspace_id), "{config}");
    let list = stdout(&world.run(&["workspace", "list"]).await);
    assert!(list.contains("yes"), "{list}");
    let unwatch = world
        .run(&["workspace", "unwatch", &world.workspace_id])
        .await;
    assert!(unwatch.status.success());
    let config =
        std::fs::read_to_string(world.home.path().join(".multica/config.json")).expect("config");
    assert!(!config.contains(&world.workspace_id), "{config}");

    let missing = world
        .run(&["workspace", "get", "00000000-0000-0000-0000-000000000000"])
        .await;
    assert_eq!(missing.status.code(), Some(4));
}

#[tokio::test]
async fn attachments_go_up_with_a_comment_and_come_back_byte_for_byte() {
    let world = world().await;
    let upload = world.home.path().join("trace.log");
    let bytes: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    std::fs::write(&upload, &bytes).expect("write");
    let upload_arg = upload.to_string_lossy().into_owned();
    let comment = world
        .json(&[
            "issue",
            "comment",
            "add",
            &world.issue_key,
            "--content",
            "see attached",
            "--attach",
            &upload_arg,
        ])
        .await;
    let attachment_id = comment["attachments"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no attachment in {comment}"))
        .to_owned();

    let out_dir = world.home.path().join("downloads");
    let out_arg = out_dir.to_string_lossy().into_owned();
    let first = world
        .run(&["attachment", "download", &attachment_id, "-o", &out_arg])
        .await;
    assert!(first.status.success(), "{}", stderr(&first));
    let path = PathBuf::from(stdout(&first).trim());
    assert_eq!(path, out_dir.join("trace.log"));
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
    // A second download never overwrites the first.
    let second = world
        .run(&["attachment", "download", &attachment_id, "-o", &out_arg])
        .await;
    assert_eq!(
        Path::new(stdout(&second).trim()),
        out_dir.join("trace (2).log")
    );

    let missing = world
        .run(&[
            "attachment",
            "download",
            "00000000-0000-0000-0000-000000000000",
        ])
        .await;
    assert_eq!(missing.status.code(), Some(4));
}
