//! The admin API over HTTP (`/dev/…`), and the `multica-dev-server` binary.

mod common;

use std::process::Stdio;
use std::time::Duration;

use multica_api::wire::{self, TaskStatus};
use multica_dev_server::{
    DevServer, DevServerConfig, IssueView, StateDump, TaskView, UserWithToken,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Dev {
    server: DevServer,
    http: reqwest::Client,
}

impl Dev {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }
}

#[tokio::test]
async fn a_whole_scenario_through_the_admin_http_api() {
    let dev = Dev {
        server: DevServer::start(DevServerConfig::default())
            .await
            .expect("server"),
        http: reqwest::Client::new(),
    };
    let user: UserWithToken = serde_json::from_value(
        dev.ok(
            Method::POST,
            "/dev/users",
            Some(json!({"name": "Ada", "email": "a@x.io"})),
        )
        .await,
    )
    .expect("user");
    assert!(user.token.starts_with("mul_"));
    assert!(
        !format!("{user:?}").contains(&user.token),
        "Debug hides the token"
    );

    let workspace: wire::Workspace = serde_json::from_value(
        dev.ok(
            Method::POST,
            "/dev/workspaces",
            Some(json!({
                "name": "Team Space",
                "member_user_ids": [user.id],
                "repos": [{"url": "https://example.com/r.git"}]
            })),
        )
        .await,
    )
    .expect("workspace");
    assert_eq!(workspace.issue_prefix, "TEA");
    assert_eq!(workspace.slug, "team-space");

    // A runtime as a daemon would register it, then an agent on it.
    let runtime: wire::AgentRuntime = serde_json::from_value(
        dev.ok(
            Method::POST,
            "/dev/runtimes",
            Some(json!({"workspace_id": workspace.id, "daemon_id": "host", "provider": "claude", "device_name": "box"})),
        )
        .await,
    )
    .expect("runtime");
    assert_eq!(runtime.name, "claude (box)");
    let agent = dev
        .ok(
            Method::POST,
            "/dev/agents",
            Some(json!({
                "workspace_id": workspace.id, "runtime_id": runtime.id, "name": "Claude",
                "skills": [{"name": "s", "content": "c", "files": [{"path": "f.md", "content": "x"}]}]
            })),
        )
        .await;
    assert_eq!(agent["max_concurrent_tasks"], 1);
    let agent_id = agent["id"].as_str().expect("id").to_owned();
    let patched = dev
        .ok(
            Method::PATCH,
            &format!("/dev/agents/{agent_id}"),
            Some(json!({"max_concurrent_tasks": 3, "instructions": "Be brief."})),
        )
        .await;
    assert_eq!(patched["max_concurrent_tasks"], 3);

    let issue: IssueView = serde_json::from_value(
        dev.ok(
            Method::POST,
            "/dev/issues",
            Some(json!({"workspace_id": workspace.id, "title": "Do it", "priority": "urgent"})),
        )
        .await,
    )
    .expect("issue");
    assert_eq!(issue.identifier, "TEA-1");
    let (status, error) = dev
        .call(
            Method::POST,
            "/dev/issues",
            Some(json!({"workspace_id": workspace.id, "title": "x", "priority": "critical"})),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("invalid request: invalid priority: critical"))
    );

    let task: TaskView = serde_json::from_value(
        dev.ok(
            Method::POST,
            &format!("/dev/issues/{}/assign", issue.id),
            Some(json!({"agent_id": agent_id})),
        )
        .await,
    )
    .expect("task");
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.priority, 4);

    // The daemon's view of it.
    let claim = dev
        .http
        .post(format!(
            "{}/api/daemon/runtimes/{}/tasks/claim",
            dev.server.base_url(),
            runtime.id
        ))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("claim")
        .json::<wire::ClaimResponse>()
        .await
        .expect("json");
    let claimed = claim.task.expect("task");
    assert_eq!(claimed.id, task.id);
    assert_eq!(claimed.agent.expect("agent").instructions, "Be brief.");
    assert_eq!(claimed.repos[0].url, "https://example.com/r.git");

    let comment = dev
        .ok(
            Method::POST,
            &format!("/dev/issues/{}/comments", issue.id),
            Some(json!({"content": "thanks", "author_user_id": user.id})),
        )
        .await;
    assert_eq!(comment["type"], "comment");
    let issue_now: IssueView = serde_json::from_value(
        dev.ok(Method::GET, &format!("/dev/issues/{}", issue.id), None)
            .await,
    )
    .expect("issue");
    assert_eq!(issue_now.comments.len(), 1);
    assert_eq!(issue_now.assignee_id.as_deref(), Some(agent_id.as_str()));

    let listed: Vec<TaskView> = serde_json::from_value(
        dev.ok(
            Method::GET,
            &format!("/dev/tasks?issue_id={}", issue.id),
            None,
        )
        .await,
    )
    .expect("tasks");
    assert_eq!(
        listed.len(),
        1,
        "the dispatched task absorbs the comment (dedup)"
    );
    let one: TaskView = serde_json::from_value(
        dev.ok(Method::GET, &format!("/dev/tasks/{}", task.id), None)
            .await,
    )
    .expect("task");
    assert_eq!(one.status, TaskStatus::Dispatched);

    let queued = dev
        .ok(
            Method::POST,
            "/dev/heartbeat-actions",
            Some(json!({"runtime_id": runtime.id, "ping": true})),
        )
        .await;
    assert_eq!(queued["ping"]["status"], "pending");
    assert_eq!(queued["update"], Value::Null);

    dev.ok(
        Method::POST,
        "/dev/clock/advance",
        Some(json!({"secs": 400})),
    )
    .await;
    let report = dev.ok(Method::POST, "/dev/sweep", None).await;
    assert_eq!(report["runtimes_marked_offline"][0], runtime.id);
    assert_eq!(report["tasks_failed_offline"][0], task.id);
    let pings = dev.ok(Method::GET, "/dev/pings", None).await;
    assert_eq!(pings[0]["status"], "timeout");

    let dump: StateDump =
        serde_json::from_value(dev.ok(Method::GET, "/dev/state", None).await).expect("dump");
    assert_eq!(dump.users.len(), 1);
    assert_eq!(dump.tasks[0].error.as_deref(), Some("runtime went offline"));
    assert_eq!(dump.runtimes[0].status, "offline");
    assert_eq!(dump.request_count, 1);

    let (status, body) = dev.call(Method::GET, "/dev/tasks/nope", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("task not found: nope"))
    );
    let (status, _) = dev
        .call(Method::POST, "/dev/users", Some(Value::String("x".into())))
        .await;
    assert_eq!(status, 400);

    let seed = dev.ok(Method::POST, "/dev/seed-demo", None).await;
    assert_eq!(seed["workspace"]["name"], "Demo");
    assert_eq!(seed["workspace"]["issue_prefix"], "DEMO");
    dev.server.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_and_prints_the_demo_credentials() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_multica-dev-server"))
        .args(["--port", "0", "--demo"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            let done = line.starts_with("Try:");
            banner.push(line);
            if done {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "banner: {banner:?}");
    let url = banner[0].rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let token = banner
        .iter()
        .find_map(|l| l.strip_prefix("Demo token:"))
        .expect("token line")
        .trim()
        .to_owned();
    let workspace_id = banner
        .iter()
        .find_map(|l| l.strip_prefix("Workspace ID:"))
        .and_then(|rest| rest.trim().split(' ').next())
        .expect("workspace line")
        .to_owned();
    let client = reqwest::Client::new();
    let workspaces: Vec<wire::Workspace> = client
        .get(format!("{url}/api/workspaces"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(workspaces.len(), 1);
    assert_eq!(workspaces[0].id, workspace_id);
    assert_eq!(workspaces[0].name, "Demo");

    #[cfg(unix)]
    {
        let pid = child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("stops on SIGTERM")
            .expect("exit status");
        assert!(exit.success(), "{exit:?}");
    }
}
