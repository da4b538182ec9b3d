//! Helpers shared by the integration tests: a started server with a user and a
//! workspace, and a small HTTP client that keeps status, content type and raw body.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset")]

use std::time::Duration;

use multica_api::wire::{AgentRuntime, Workspace};
use multica_dev_server::{
    Admin, AgentView, DevServer, DevServerConfig, IssueView, NewAgent, NewIssue, NewWorkspace,
    RepoSpec, UserWithToken,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(5);

/// A response with everything the contract pins down.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {}", self.body))
    }

    pub fn value(&self) -> Value {
        self.json()
    }

    /// A handler error: JSON `{"error": message}` plus Go's trailing newline.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type, "application/json", "body: {}", self.body);
        assert_eq!(
            self.body,
            format!("{}\n", json!({ "error": message })),
            "error body"
        );
    }

    /// An auth middleware error: the same JSON text, but `text/plain`.
    #[track_caller]
    pub fn assert_auth_error(&self, message: &str) {
        assert_eq!(self.status, 401, "body: {}", self.body);
        assert_eq!(self.content_type, "text/plain; charset=utf-8");
        assert_eq!(self.body, format!("{{\"error\":\"{message}\"}}\n"));
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert_eq!(self.content_type, "application/json");
        assert_eq!(self.body, "{\"status\":\"ok\"}\n");
    }
}

pub struct Env {
    pub server: DevServer,
    pub admin: Admin,
    pub user: UserWithToken,
    pub workspace: Workspace,
    pub http: reqwest::Client,
}

impl Env {
    /// A server with the sweeper off (tests that need it sweep by hand or use
    /// [`Env::with_config`]).
    pub async fn new() -> Self {
        Self::with_config(DevServerConfig {
            sweeper_enabled: false,
            ..DevServerConfig::default()
        })
        .await
    }

    pub async fn with_config(config: DevServerConfig) -> Self {
        let server = DevServer::start(config).await.expect("server starts");
        let admin = server.admin();
        let user = admin.create_user("Ada", "ada@example.com");
        let workspace = admin
            .create_workspace(NewWorkspace {
                name: "Acme".into(),
                issue_prefix: Some("MUL".into()),
                member_user_ids: vec![user.id.clone()],
                repos: vec![RepoSpec {
                    url: "https://github.com/acme/app.git".into(),
                    description: "the app".into(),
                }],
                ..NewWorkspace::default()
            })
            .expect("workspace");
        Self {
            server,
            admin,
            user,
            workspace,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.expect("body");
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&self.user.token),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&self.user.token),
            Some(body.to_owned()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(&self.user.token), None)
            .await
    }

    /// Registers `providers` for `daemon_id` in the test workspace.
    pub async fn register(&self, daemon_id: &str, providers: &[&str]) -> Vec<AgentRuntime> {
        let runtimes: Vec<Value> = providers
            .iter()
            .map(|p| json!({"name": format!("{p} (laptop)"), "type": p, "version": "1.0", "status": "online"}))
            .collect();
        let reply = self
            .post(
                "/api/daemon/register",
                json!({
                    "workspace_id": self.workspace.id,
                    "daemon_id": daemon_id,
                    "device_name": "laptop",
                    "cli_version": "0.1.0",
                    "runtimes": runtimes,
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "register: {}", reply.body);
        reply.json::<multica_api::wire::RegisterResponse>().runtimes
    }

    /// One registered claude runtime.
    pub async fn runtime(&self) -> AgentRuntime {
        self.register("laptop", &["claude"]).await.remove(0)
    }

    pub fn agent(&self, runtime_id: &str, max_concurrent_tasks: i32) -> AgentView {
        self.admin
            .create_agent(NewAgent {
                workspace_id: self.workspace.id.clone(),
                runtime_id: runtime_id.to_owned(),
                name: "Claude".into(),
                instructions: "Be careful.".into(),
                max_concurrent_tasks: Some(max_concurrent_tasks),
                ..NewAgent::default()
            })
            .expect("agent")
    }

    pub fn issue(&self, title: &str) -> IssueView {
        self.admin
            .create_issue(NewIssue {
                workspace_id: self.workspace.id.clone(),
                title: title.into(),
                ..NewIssue::default()
            })
            .expect("issue")
    }

    /// An issue assigned to `agent`; returns the issue ID and the queued task's ID.
    pub fn assigned(&self, title: &str, agent: &AgentView) -> (String, String) {
        let issue = self.issue(title);
        let task = self
            .admin
            .assign_issue(&issue.id, Some(&agent.id))
            .expect("assign")
            .expect("a task is enqueued");
        (issue.id, task.id)
    }

    pub async fn claim(&self, runtime_id: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/daemon/runtimes/{runtime_id}/tasks/claim"),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, 200, "claim: {}", reply.body);
        reply.value()["task"].clone()
    }

    pub async fn start(&self, task_id: &str) -> Reply {
        self.post(&format!("/api/daemon/tasks/{task_id}/start"), json!({}))
            .await
    }

    pub async fn complete(&self, task_id: &str, body: Value) -> Reply {
        self.post(&format!("/api/daemon/tasks/{task_id}/complete"), body)
            .await
    }

    pub async fn fail(&self, task_id: &str, error: &str) -> Reply {
        self.post(
            &format!("/api/daemon/tasks/{task_id}/fail"),
            json!({ "error": error }),
        )
        .await
    }

    pub async fn status_of(&self, task_id: &str) -> String {
        let reply = self
            .get(&format!("/api/daemon/tasks/{task_id}/status"))
            .await;
        assert_eq!(reply.status, 200, "status: {}", reply.body);
        reply.value()["status"]
            .as_str()
            .expect("status is a string")
            .to_owned()
    }
}
