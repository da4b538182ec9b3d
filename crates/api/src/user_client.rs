//! The user side of the Multica API, as the `multica` CLI uses it (contract A.6):
//! issues, comments, workspaces, agents, attachments, the account and its tokens.
//!
//! Answers are returned as the server's JSON (`serde_json::Value`), untouched: the
//! CLI prints them as they came with `--output json`, and fields a newer server adds
//! must survive. Only the account and token answers are typed, because the CLI acts
//! on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::client::{MAX_ERROR_BODY, parse_success, segment};
use crate::error::{ApiError, error_message_from_body};
use crate::secret::Secret;
use crate::server_url::ServerUrl;

/// The Go CLI's client timeout.
pub const DEFAULT_USER_TIMEOUT: Duration = Duration::from_secs(15);
/// The server's upload limit, and so the largest attachment there can be.
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// Uploads and downloads may take longer than a plain call.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Who is logged in (`GET /api/me`). `raw` is the whole answer.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    pub raw: Value,
}

/// A personal access token the server just created (`POST /api/tokens`).
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub token: Secret,
    pub raw_without_token: Value,
}

/// Filters of `GET /api/issues`.
#[derive(Debug, Clone, Default)]
pub struct IssueFilter<'a> {
    pub status: Option<&'a str>,
    pub priority: Option<&'a str>,
    pub assignee_id: Option<&'a str>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Paging of `GET /api/issues/{id}/comments`.
#[derive(Debug, Clone, Default)]
pub struct CommentPage<'a> {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// RFC 3339: only comments created after this time.
    pub since: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the attachment is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("the attachment has no download URL")]
    NoUrl,
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{path} is {size} bytes, over the server's {limit}-byte upload limit")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An async client for the user API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserClient {
    http: reqwest::Client,
    server: ServerUrl,
    token: Option<Secret>,
    workspace_id: Option<String>,
    agent_id: Option<String>,
    task_id: Option<String>,
}

impl UserClient {
    pub fn new(
        server: ServerUrl,
        token: Option<Secret>,
        user_agent: &str,
    ) -> Result<Self, ApiError> {
        Self::with_timeout(server, token, user_agent, DEFAULT_USER_TIMEOUT)
    }

    /// `timeout` bounds plain calls; uploads and downloads get longer.
    pub fn with_timeout(
        server: ServerUrl,
        token: Option<Secret>,
        user_agent: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .read_timeout(timeout)
            .user_agent(user_agent)
            .build()
            .map_err(|error| ApiError::transport("BUILD", "client", &error))?;
        Ok(Self {
            http,
            server,
            token: token.filter(|token| !token.is_empty()),
            workspace_id: None,
            agent_id: None,
            task_id: None,
        })
    }

    /// Sent as `X-Workspace-ID`, and as `?workspace_id=` on lists.
    #[must_use]
    pub fn with_workspace(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// Inside an agent task: `X-Agent-ID` and `X-Task-ID`, so the server records
    /// what is done as the agent's.
    #[must_use]
    pub fn with_agent(mut self, agent_id: impl Into<String>, task_id: Option<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self.task_id = task_id;
        self
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    // -- account ------------------------------------------------------------------

    pub async fn me(&self) -> Result<Account, ApiError> {
        let raw = self.get("/api/me", &[]).await?;
        let field = |name: &str| {
            raw.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Account {
            id: field("id"),
            name: field("name"),
            email: field("email"),
            raw,
        })
    }

    pub async fn create_personal_access_token(
        &self,
        name: &str,
        expires_in_days: u32,
    ) -> Result<CreatedToken, ApiError> {
        let path = "/api/tokens";
        let mut raw = self
            .send(
                self.request(Method::POST, path, &[])
                    .json(&json!({ "name": name, "expires_in_days": expires_in_days })),
                "POST",
                path,
            )
            .await?;
        let token = raw
            .as_object_mut()
            .and_then(|object| object.remove("token"))
            .and_then(|token| token.as_str().map(str::to_owned))
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::malformed("POST", path, 200, "the answer carries no token".to_owned())
            })?;
        Ok(CreatedToken {
            token: Secret::new(token),
            raw_without_token: raw,
        })
    }

    // -- workspaces and agents ----------------------------------------------------

    pub async fn list_workspaces(&self) -> Result<Value, ApiError> {
        self.get("/api/workspaces", &[]).await
    }

    pub async fn get_workspace(&self, workspace_id: &str) -> Result<Value, ApiError> {
        self.get(&format!("/api/workspaces/{}", segment(workspace_id)), &[])
            .await
    }

    pub async fn workspace_members(&self, workspace_id: &str) -> Result<Value, ApiError> {
        self.get(
            &format!("/api/workspaces/{}/members", segment(workspace_id)),
            &[],
        )
        .await
    }

    pub async fn list_agents(&self, include_archived: bool) -> Result<Value, ApiError> {
        let mut query = self.workspace_query();
        if include_archived {
            query.push(("include_archived", "true".to_owned()));
        }
        self.get("/api/agents", &query).await
    }

    // -- issues -------------------------------------------------------------------

    /// `id` is a UUID or an identifier such as `MUL-42`.
    pub async fn get_issue(&self, id: &str) -> Result<Value, ApiError> {
        self.get(&format!("/api/issues/{}", segment(id)), &[]).await
    }

    pub async fn list_issues(&self, filter: &IssueFilter<'_>) -> Result<Value, ApiError> {
        let mut query = self.workspace_query();
        let mut add = |name: &'static str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                query.push((name, value));
            }
        };
        add("status", filter.status.map(str::to_owned));
        add("priority", filter.priority.map(str::to_owned));
        add("assignee_id", filter.assignee_id.map(str::to_owned));
        add("limit", filter.limit.map(|n| n.to_string()));
        add("offset", filter.offset.map(|n| n.to_string()));
        self.get("/api/issues", &query).await
    }

    /// A partial update: only the fields in `patch`; an explicit `null` clears.
    pub async fn update_issue(&self, id: &str, patch: &Value) -> Result<Value, ApiError> {
        let path = format!("/api/issues/{}", segment(id));
        self.send(
            self.request(Method::PUT, &path, &[]).json(patch),
            "PUT",
            &path,
        )
        .await
    }

    pub async fn list_comments(
        &self,
        issue_id: &str,
        page: &CommentPage<'_>,
    ) -> Result<Value, ApiError> {
        let mut query = Vec::new();
        if let Some(limit) = page.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(offset) = page.offset {
            query.push(("offset", offset.to_string()));
        }
        if let Some(since) = page.since {
            query.push(("since", since.to_owned()));
        }
        self.get(
            &format!("/api/issues/{}/comments", segment(issue_id)),
            &query,
        )
        .await
    }

    /// `body`: `{"content", "parent_id"?, "attachment_ids"?, "type"?}`.
    pub async fn add_comment(&self, issue_id: &str, body: &Value) -> Result<Value, ApiError> {
        let path = format!("/api/issues/{}/comments", segment(issue_id));
        self.send(
            self.request(Method::POST, &path, &[]).json(body),
            "POST",
            &path,
        )
        .await
    }

    pub async fn issue_task_runs(&self, issue_id: &str) -> Result<Value, ApiError> {
        self.get(&format!("/api/issues/{}/task-runs", segment(issue_id)), &[])
            .await
    }

    pub async fn task_messages(
        &self,
        task_id: &str,
        since: Option<u64>,
    ) -> Result<Value, ApiError> {
        let query: Vec<(&str, String)> = since
            .filter(|since| *since > 0)
            .map(|since| ("since", since.to_string()))
            .into_iter()
            .collect();
        self.get(
            &format!("/api/daemon/tasks/{}/messages", segment(task_id)),
            &query,
        )
        .await
    }

    // -- attachments --------------------------------------------------------------

    /// Uploads a file as an attachment of the workspace (and of `issue_id`, if given).
    pub async fn upload_file(
        &self,
        file: &Path,
        issue_id: Option<&str>,
    ) -> Result<Value, UploadError> {
        let io_error = |source| UploadError::Io {
            path: file.to_owned(),
            source,
        };
        let size = tokio::fs::metadata(file).await.map_err(io_error)?.len();
        if size > MAX_UPLOAD_BYTES {
            return Err(UploadError::TooLarge {
                path: file.to_owned(),
                size,
                limit: MAX_UPLOAD_BYTES,
            });
        }
        let bytes = tokio::fs::read(file).await.map_err(io_error)?;
        let filename = file.file_name().map_or_else(
            || "upload".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename),
        );
        if let Some(issue_id) = issue_id {
            form = form.text("issue_id", issue_id.to_owned());
        }
        let path = "/api/upload-file";
        let request = self
            .request(Method::POST, path, &[])
            .timeout(TRANSFER_TIMEOUT)
            .multipart(form);
        Ok(self.send(request, "POST", path).await?)
    }

    pub async fn get_attachment(&self, id: &str) -> Result<Value, ApiError> {
        self.get(&format!("/api/attachments/{}", segment(id)), &[])
            .await
    }

    /// Streams an attachment's bytes into `dir` under its own file name (made safe:
    /// no directories, never overwriting an existing file) and returns the path.
    /// The `download_url` is fetched without the bearer token: it is pre-signed and
    /// may point at another host. Nothing over `limit` bytes is kept.
    pub async fn download_attachment(
        &self,
        attachment: &Value,
        dir: &Path,
        limit: u64,
    ) -> Result<PathBuf, DownloadError> {
        let url = attachment
            .get("download_url")
            .and_then(Value::as_str)
            .filter(|url| !url.is_empty())
            .or_else(|| {
                attachment
                    .get("url")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty())
            })
            .ok_or(DownloadError::NoUrl)?;
        if let Some(size) = attachment.get("size_bytes").and_then(Value::as_u64) {
            if size > limit {
                return Err(DownloadError::TooLarge { size, limit });
            }
        }
        let path_for_errors = "attachment download";
        let response = self
            .http
            .get(url)
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .await
            .map_err(|error| ApiError::transport("GET", path_for_errors, &error))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            let limited = &body[..body.len().min(MAX_ERROR_BODY)];
            return Err(ApiError::from_status(
                "GET",
                path_for_errors,
                status.as_u16(),
                error_message_from_body(limited),
            )
            .into());
        }
        if let Some(size) = response.content_length() {
            if size > limit {
                return Err(DownloadError::TooLarge { size, limit });
            }
        }
        let id = attachment
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("attachment");
        let name = safe_file_name(
            attachment
                .get("filename")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            id,
        );
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| DownloadError::Io { path, source }
        };
        let partial = dir.join(format!(".{name}.{}.part", std::process::id()));
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(io_error(&partial))?;
        let mut written: u64 = 0;
        let mut stream = response.bytes_stream();
        let outcome: Result<(), DownloadError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|error| ApiError::transport("GET", path_for_errors, &error))?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(DownloadError::TooLarge {
                        size: written,
                        limit,
                    });
                }
                file.write_all(&chunk).await.map_err(io_error(&partial))?;
            }
            file.flush().await.map_err(io_error(&partial))?;
            file.sync_all().await.map_err(io_error(&partial))?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(error) = outcome {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
        let target = free_path(dir, &name);
        tokio::fs::rename(&partial, &target)
            .await
            .map_err(io_error(&target))?;
        Ok(target)
    }

    // -- plumbing -----------------------------------------------------------------

    fn workspace_query(&self) -> Vec<(&'static str, String)> {
        self.workspace_id
            .iter()
            .map(|id| ("workspace_id", id.clone()))
            .collect()
    }

    fn request(&self, method: Method, path: &str, query: &[(&str, String)]) -> RequestBuilder {
        let mut request = self.http.request(method, self.server.join(path));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(workspace) = &self.workspace_id {
            request = request.header("X-Workspace-ID", workspace);
        }
        if let Some(agent) = &self.agent_id {
            request = request.header("X-Agent-ID", agent);
        }
        if let Some(task) = &self.task_id {
            request = request.header("X-Task-ID", task);
        }
        request
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.send(self.request(Method::GET, path, query), "GET", path)
            .await
    }

    async fn send(
        &self,
        request: RequestBuilder,
        method: &'static str,
        path: &str,
    ) -> Result<Value, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|error| ApiError::transport(method, path, &error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ApiError::transport(method, path, &error))?;
        if !status.is_success() {
            let limited = &bytes[..bytes.len().min(MAX_ERROR_BODY)];
            return Err(ApiError::from_status(
                method,
                path,
                status.as_u16(),
                error_message_from_body(limited),
            ));
        }
        parse_success(method, path, status, &bytes)
    }
}

/// The last component of a server-given file name, without anything that could
/// leave the directory or hide the file; `attachment-<id>` when nothing is left.
fn safe_file_name(raw: &str, id: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '\0')
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(200)
        .collect();
    if cleaned.is_empty() {
        let id: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        format!("attachment-{id}")
    } else {
        cleaned
    }
}

/// `dir/name`, or `dir/stem (2).ext` and so on when that exists already.
fn free_path(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){extension}")))
        .find(|path| !path.exists())
        .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_file_names_cannot_escape_or_hide() {
        assert_eq!(safe_file_name("report.pdf", "a1"), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd", "a1"), "passwd");
        assert_eq!(safe_file_name("C:\\x\\evil.exe", "a1"), "evil.exe");
        assert_eq!(safe_file_name("..", "a1"), "attachment-a1");
        assert_eq!(safe_file_name(".bashrc", "a1"), "bashrc");
        assert_eq!(safe_file_name("", "../a1"), "attachment-a1");
    }

    #[test]
    fn existing_files_are_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "x").expect("write");
        assert_eq!(free_path(dir.path(), "a.txt"), dir.path().join("a (2).txt"));
        assert_eq!(free_path(dir.path(), "b.txt"), dir.path().join("b.txt"));
    }
}
