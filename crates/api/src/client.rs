use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, error_message_from_body};
use crate::secret::Secret;
use crate::server_url::ServerUrl;
use crate::wire::{
    AgentTask, BatchClaimRequest, BatchClaimResponse, ClaimResponse, CompleteRequest,
    DeregisterRequest, FailRequest, HeartbeatRequest, HeartbeatResponse, PinSessionRequest,
    PingResultRequest, ProgressRequest, RegisterRequest, RegisterResponse, RenewResponse,
    RuntimeUsageEntry, RuntimeUsageRequest, StatusOk, StoredTaskMessage, TaskMessage,
    TaskMessagesRequest, TaskStatus, TaskStatusResponse, TaskUsageEntry, TaskUsageRequest,
    UpdateResultRequest, Workspace,
};

/// The Go daemon's per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The batch claim's own timeout: a slow claim must not hold the claim loop.
const BATCH_CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

/// Error bodies are read up to this size, as the Go client does; a proxy's HTML page
/// must not end up whole in a log line.
pub(crate) const MAX_ERROR_BODY: usize = 4096;

/// How much of an unparseable success body is quoted in the error.
const MALFORMED_BODY_EXCERPT: usize = 200;

/// An async client for the daemon side of the Multica server API (`/api/daemon/*`
/// plus the workspace list). Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct DaemonClient {
    http: reqwest::Client,
    server: ServerUrl,
    token: Option<Secret>,
}

impl DaemonClient {
    /// `user_agent` names the caller, e.g. `multica-daemon/0.1.0`.
    pub fn new(
        server: ServerUrl,
        token: Option<Secret>,
        user_agent: &str,
    ) -> Result<Self, ApiError> {
        Self::with_timeout(server, token, user_agent, DEFAULT_REQUEST_TIMEOUT)
    }

    pub fn with_timeout(
        server: ServerUrl,
        token: Option<Secret>,
        user_agent: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(user_agent)
            .default_headers(identity_headers(user_agent))
            .build()
            .map_err(|error| ApiError::transport("BUILD", "client", &error))?;
        Ok(Self {
            http,
            server,
            token: token.filter(|token| !token.is_empty()),
        })
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    // -- registration and liveness ------------------------------------------------

    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse, ApiError> {
        self.post("/api/daemon/register", request).await
    }

    pub async fn deregister(&self, runtime_ids: &[String]) -> Result<(), ApiError> {
        let body = DeregisterRequest {
            runtime_ids: runtime_ids.to_vec(),
        };
        self.post::<_, StatusOk>("/api/daemon/deregister", &body)
            .await
            .map(drop)
    }

    pub async fn heartbeat(&self, runtime_id: &str) -> Result<HeartbeatResponse, ApiError> {
        let body = HeartbeatRequest {
            runtime_id: runtime_id.to_owned(),
        };
        self.post("/api/daemon/heartbeat", &body).await
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        self.get("/api/workspaces").await
    }

    /// `GET /api/daemon/workspaces` with `If-None-Match` (current servers):
    /// `Ok(None)` when unchanged since `etag`, else the list and its new ETag.
    /// A seed server answers 404.
    pub async fn list_daemon_workspaces(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<Workspace>, Option<String>)>, ApiError> {
        const PATH: &str = "/api/daemon/workspaces";
        let mut request = self.http.get(self.server.join(PATH));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .map_err(|error| ApiError::transport("GET", PATH, &error))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let new_etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ApiError::transport("GET", PATH, &error))?;
        if !status.is_success() {
            let limited = &bytes[..bytes.len().min(MAX_ERROR_BODY)];
            return Err(ApiError::from_status(
                "GET",
                PATH,
                status.as_u16(),
                error_message_from_body(limited),
            ));
        }
        let workspaces = parse_success("GET", PATH, status, &bytes)?;
        Ok(Some((workspaces, new_etag)))
    }

    /// `POST /api/tokens/current/renew` (current servers, `mul_` tokens).
    pub async fn renew_token(&self) -> Result<RenewResponse, ApiError> {
        self.post("/api/tokens/current/renew", &serde_json::json!({}))
            .await
    }

    // -- tasks --------------------------------------------------------------------

    /// Claims up to `max_tasks` tasks over `runtime_ids` in one request (current
    /// servers; a seed server answers 404).
    pub async fn claim_tasks(
        &self,
        daemon_id: &str,
        runtime_ids: &[String],
        max_tasks: usize,
    ) -> Result<Vec<AgentTask>, ApiError> {
        let body = BatchClaimRequest {
            daemon_id: daemon_id.to_owned(),
            runtime_ids: runtime_ids.to_vec(),
            max_tasks,
        };
        let claim = self.post::<_, BatchClaimResponse>("/api/daemon/tasks/claim", &body);
        match tokio::time::timeout(BATCH_CLAIM_TIMEOUT, claim).await {
            Ok(result) => result.map(|response| response.tasks),
            Err(_) => Err(ApiError::timeout("POST", "/api/daemon/tasks/claim")),
        }
    }

    /// `POST /api/daemon/tasks/{id}/cancel-ack` (current servers): the transcript
    /// of a cancelled task is flushed.
    pub async fn cancel_ack(&self, task_id: &str) -> Result<(), ApiError> {
        let path = format!("/api/daemon/tasks/{}/cancel-ack", segment(task_id));
        self.post::<_, serde_json::Value>(&path, &serde_json::json!({}))
            .await
            .map(drop)
    }

    /// `POST /api/daemon/runtimes/{id}/recover-orphans` (current servers).
    pub async fn recover_orphans(&self, runtime_id: &str) -> Result<(), ApiError> {
        let path = format!(
            "/api/daemon/runtimes/{}/recover-orphans",
            segment(runtime_id)
        );
        self.post::<_, serde_json::Value>(&path, &serde_json::json!({}))
            .await
            .map(drop)
    }

    /// `POST /api/daemon/tasks/{id}/usage` (current servers).
    pub async fn report_task_usage(
        &self,
        task_id: &str,
        usage: &[TaskUsageEntry],
    ) -> Result<(), ApiError> {
        let path = format!("/api/daemon/tasks/{}/usage", segment(task_id));
        let body = TaskUsageRequest {
            usage: usage.to_vec(),
        };
        self.post::<_, serde_json::Value>(&path, &body)
            .await
            .map(drop)
    }

    /// The next task for this runtime, or `None` when the server has nothing.
    pub async fn claim_task(&self, runtime_id: &str) -> Result<Option<AgentTask>, ApiError> {
        let path = format!("/api/daemon/runtimes/{}/tasks/claim", segment(runtime_id));
        let response: ClaimResponse = self.post(&path, &serde_json::json!({})).await?;
        Ok(response.task)
    }

    pub async fn pending_tasks(&self, runtime_id: &str) -> Result<Vec<AgentTask>, ApiError> {
        let path = format!("/api/daemon/runtimes/{}/tasks/pending", segment(runtime_id));
        self.get(&path).await
    }

    pub async fn start_task(&self, task_id: &str) -> Result<AgentTask, ApiError> {
        let path = format!("/api/daemon/tasks/{}/start", segment(task_id));
        self.post(&path, &serde_json::json!({})).await
    }

    pub async fn report_progress(
        &self,
        task_id: &str,
        summary: &str,
        step: u32,
        total: u32,
    ) -> Result<(), ApiError> {
        let path = format!("/api/daemon/tasks/{}/progress", segment(task_id));
        let body = ProgressRequest {
            summary: summary.to_owned(),
            step,
            total,
        };
        self.post::<_, StatusOk>(&path, &body).await.map(drop)
    }

    pub async fn report_messages(
        &self,
        task_id: &str,
        messages: &[TaskMessage],
    ) -> Result<(), ApiError> {
        let path = format!("/api/daemon/tasks/{}/messages", segment(task_id));
        let body = TaskMessagesRequest {
            messages: messages.to_vec(),
        };
        self.post::<_, StatusOk>(&path, &body).await.map(drop)
    }

    pub async fn list_task_messages(
        &self,
        task_id: &str,
        since: Option<u64>,
    ) -> Result<Vec<StoredTaskMessage>, ApiError> {
        let mut path = format!("/api/daemon/tasks/{}/messages", segment(task_id));
        if let Some(since) = since {
            path.push_str(&format!("?since={since}"));
        }
        self.get(&path).await
    }

    pub async fn complete_task(
        &self,
        task_id: &str,
        request: &CompleteRequest,
    ) -> Result<AgentTask, ApiError> {
        let path = format!("/api/daemon/tasks/{}/complete", segment(task_id));
        self.post(&path, request).await
    }

    pub async fn fail_task(
        &self,
        task_id: &str,
        request: &FailRequest,
    ) -> Result<AgentTask, ApiError> {
        let path = format!("/api/daemon/tasks/{}/fail", segment(task_id));
        self.post(&path, request).await
    }

    /// Current servers answer 204 with no body; older ones 404.
    pub async fn pin_session(
        &self,
        task_id: &str,
        request: &PinSessionRequest,
    ) -> Result<(), ApiError> {
        let path = format!("/api/daemon/tasks/{}/session", segment(task_id));
        self.post(&path, request).await
    }

    pub async fn task_status(&self, task_id: &str) -> Result<TaskStatus, ApiError> {
        let path = format!("/api/daemon/tasks/{}/status", segment(task_id));
        let response: TaskStatusResponse = self.get(&path).await?;
        Ok(response.status)
    }

    // -- runtime reports ----------------------------------------------------------

    pub async fn report_runtime_usage(
        &self,
        runtime_id: &str,
        entries: &[RuntimeUsageEntry],
    ) -> Result<(), ApiError> {
        let path = format!("/api/daemon/runtimes/{}/usage", segment(runtime_id));
        let body = RuntimeUsageRequest {
            entries: entries.to_vec(),
        };
        self.post::<_, StatusOk>(&path, &body).await.map(drop)
    }

    pub async fn report_ping_result(
        &self,
        runtime_id: &str,
        ping_id: &str,
        result: &PingResultRequest,
    ) -> Result<(), ApiError> {
        let path = format!(
            "/api/daemon/runtimes/{}/ping/{}/result",
            segment(runtime_id),
            segment(ping_id)
        );
        self.post::<_, StatusOk>(&path, result).await.map(drop)
    }

    pub async fn report_update_result(
        &self,
        runtime_id: &str,
        update_id: &str,
        result: &UpdateResultRequest,
    ) -> Result<(), ApiError> {
        let path = format!(
            "/api/daemon/runtimes/{}/update/{}/result",
            segment(runtime_id),
            segment(update_id)
        );
        self.post::<_, StatusOk>(&path, result).await.map(drop)
    }

    // -- plumbing -----------------------------------------------------------------

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiError> {
        self.send::<(), R>(Method::GET, "GET", path, None).await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ApiError> {
        self.send(Method::POST, "POST", path, Some(body)).await
    }

    async fn send<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        method_name: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ApiError> {
        let display_path = path.split('?').next().unwrap_or(path);
        let mut request = self.http.request(method, self.server.join(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            // `.json()` sets Content-Type: application/json, which the Go daemon sends
            // on POSTs only; GETs carry no body and no content type.
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| ApiError::transport(method_name, display_path, &error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ApiError::transport(method_name, display_path, &error))?;

        if !status.is_success() {
            let limited = &bytes[..bytes.len().min(MAX_ERROR_BODY)];
            return Err(ApiError::from_status(
                method_name,
                display_path,
                status.as_u16(),
                error_message_from_body(limited),
            ));
        }
        parse_success(method_name, display_path, status, &bytes)
    }
}

/// Who is calling, as current servers want it on every daemon request
/// (`X-Client-Platform`, `X-Client-Version`, `X-Client-OS`). Capabilities are
/// not claimed: claim payloads are gated on them and we ask for none.
fn identity_headers(user_agent: &str) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let version = user_agent.rsplit('/').next().unwrap_or_default();
    let os = match std::env::consts::OS {
        "macos" => "macos",
        "windows" => "windows",
        _ => "linux",
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-client-platform", "daemon"),
        ("x-client-version", version),
        ("x-client-os", os),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

pub(crate) fn parse_success<R: DeserializeOwned>(
    method: &'static str,
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<R, ApiError> {
    // "No content" reads as JSON null: fine for answers we ignore, and still an
    // error for an answer that should have had a body.
    let body = if status == StatusCode::NO_CONTENT && body.trim_ascii().is_empty() {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|error| {
        let text = String::from_utf8_lossy(body);
        let excerpt: String = text.chars().take(MALFORMED_BODY_EXCERPT).collect();
        let ellipsis = if text.chars().count() > MALFORMED_BODY_EXCERPT {
            "…"
        } else {
            ""
        };
        ApiError::malformed(
            method,
            path,
            status.as_u16(),
            format!("{error} (body: {excerpt:?}{ellipsis})"),
        )
    })
}

/// Ids come from the server, but a stray `/` or `?` must not change which route a
/// request hits.
pub(crate) fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
