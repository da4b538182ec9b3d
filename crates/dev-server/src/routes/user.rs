//! The user API: `GET /health`, the workspace list the daemon syncs (A.2.16), and
//! the routes the `multica` CLI calls inside agent tasks (A.6), with the seed's
//! membership rules (`RequireWorkspaceMember`), actor attribution (`X-Agent-ID`,
//! `X-Task-ID`) and error texts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use multica_api::wire::Workspace;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AuthUser;
use super::{error, json as json_response, ok_json};
use crate::go;
use crate::state::{
    Actor, CommentPage, CommentRequest, IssueFilter, NewAttachment, Refusal, State as Tables,
    task_body,
};
use crate::world::Shared;

/// The seed's upload cap (`http.MaxBytesReader` in `UploadFile`).
pub(super) const MAX_UPLOAD_BYTES: usize = 100 << 20;

/// The seed writes this body by hand: no trailing newline, unlike the handlers.
pub(super) async fn health() -> Response {
    let mut response = (StatusCode::OK, "{\"status\":\"ok\"}").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `ListWorkspaces`: a bare array of the caller's workspaces, oldest first.
pub(super) async fn list_workspaces(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
) -> Response {
    let workspaces: Vec<Workspace> = shared.read(|world| {
        world
            .state
            .workspaces_of(user.user_id)
            .into_iter()
            .map(Tables::workspace_view)
            .collect()
    });
    ok_json(&workspaces)
}

type QueryMap = Query<HashMap<String, String>>;

/// The handlers answer a [`Refusal`] with its status and `{"error": …}`.
type Answer = Result<Response, Refusal>;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(message) => error(StatusCode::BAD_REQUEST, message),
            Self::NotFound(message) => error(StatusCode::NOT_FOUND, message),
        }
    }
}

/// A JSON object body, or 400 `invalid request body`.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Refusal::BadRequest("invalid request body".into())),
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The request's workspace and actor, after `RequireWorkspaceMember`.
#[derive(Debug, Clone, Copy)]
struct Caller {
    workspace_id: Uuid,
    actor: Actor,
}

/// An extractor for the routes under `RequireWorkspaceMember`: the caller, and the
/// request's origin for the links in the answer.
#[derive(Debug, Clone)]
pub(super) struct Member {
    caller: Caller,
    origin: String,
}

impl FromRequestParts<Arc<Shared>> for Member {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        // The auth layer runs first on every route that uses this extractor.
        let user = parts
            .extensions
            .get::<AuthUser>()
            .copied()
            .ok_or_else(|| Refusal::NotFound("workspace not found".into()))?;
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        Ok(Self {
            caller: caller(shared, user, &parts.headers, &query)?,
            origin: origin(&parts.headers),
        })
    }
}

/// `RequireWorkspaceMember`: the workspace from `?workspace_id`, else
/// `X-Workspace-ID`; 400 without one, 404 `workspace not found` for a workspace the
/// user is not a member of (or that does not exist).
fn caller(
    shared: &Shared,
    user: AuthUser,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Caller, Refusal> {
    let workspace = query
        .get("workspace_id")
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .or_else(|| header_text(headers, "X-Workspace-ID"))
        .ok_or_else(|| Refusal::BadRequest("workspace_id is required".into()))?;
    shared.read(|world| {
        let workspace = world
            .state
            .member_workspace(user.user_id, workspace)
            .ok_or_else(|| Refusal::NotFound("workspace not found".into()))?;
        let actor = world.state.resolve_actor(
            user.user_id,
            workspace.id,
            header_text(headers, "X-Agent-ID"),
            header_text(headers, "X-Task-ID"),
        );
        Ok(Caller {
            workspace_id: workspace.id,
            actor,
        })
    })
}

/// The issue `{id}` of the caller's workspace, or 404 `issue not found`.
fn issue_of(shared: &Shared, caller: Caller, reference: &str) -> Result<Uuid, Refusal> {
    shared
        .read(|world| world.state.find_issue(caller.workspace_id, reference))
        .ok_or_else(|| Refusal::NotFound("issue not found".into()))
}

/// `http://host` of the request, for links the client follows back to us.
fn origin(headers: &HeaderMap) -> String {
    let host = header_text(headers, "host").unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn absolute_links(mut attachment: Value, origin: &str) -> Value {
    for key in ["url", "download_url"] {
        if let Some(Value::String(link)) = attachment.get_mut(key)
            && link.starts_with('/')
        {
            *link = format!("{origin}{link}");
        }
    }
    attachment
}

/// Makes every attachment link in a comment or issue absolute.
fn with_absolute_attachments(mut body: Value, origin: &str) -> Value {
    if let Some(Value::Array(attachments)) = body.get_mut("attachments") {
        for attachment in attachments.iter_mut() {
            *attachment = absolute_links(attachment.take(), origin);
        }
    }
    body
}

// ---------------------------------------------------------------------------
// account

/// `GET /api/me`.
pub(super) async fn me(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
) -> Answer {
    shared
        .read(|world| world.state.me_response(user.user_id))
        .map(|body| ok_json(&body))
        .ok_or_else(|| Refusal::NotFound("user not found".into()))
}

/// `POST /api/tokens {"name","expires_in_days"}`: 201 with the token text, shown
/// once.
pub(super) async fn create_token(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    body: Bytes,
) -> Answer {
    let request = json_object(&body)?;
    let name = request
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if name.is_empty() {
        return Err(Refusal::BadRequest("name is required".into()));
    }
    let days = request
        .get("expires_in_days")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if days < 0 {
        return Err(Refusal::BadRequest(
            "expires_in_days must not be negative".into(),
        ));
    }
    let now = shared.now();
    let expires_at = (days > 0).then(|| now + chrono::TimeDelta::days(days));
    let created = shared.write(|world| {
        let text = world
            .state
            .insert_named_token(user.user_id, &name, expires_at, now);
        world.state.token_view(&text)
    });
    let Some(token) = created else {
        return Ok(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to create token",
        ));
    };
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "id": token.id,
            "name": name,
            "token_prefix": token.token.chars().take(12).collect::<String>(),
            "expires_at": token.expires_at,
            "last_used_at": null,
            "created_at": token.created_at,
            "token": token.token,
        }),
    ))
}

// ---------------------------------------------------------------------------
// workspaces and agents

fn member_workspace_from_path(
    shared: &Shared,
    user: AuthUser,
    workspace_id: &str,
) -> Result<Uuid, Refusal> {
    shared
        .read(|world| {
            world
                .state
                .member_workspace(user.user_id, workspace_id)
                .map(|w| w.id)
        })
        .ok_or_else(|| Refusal::NotFound("workspace not found".into()))
}

/// `GET /api/workspaces/{id}`.
pub(super) async fn get_workspace(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    Path(workspace_id): Path<String>,
) -> Answer {
    let id = member_workspace_from_path(&shared, user, &workspace_id)?;
    shared
        .read(|world| world.state.workspaces.get(&id).map(Tables::workspace_view))
        .map(|workspace| ok_json(&workspace))
        .ok_or_else(|| Refusal::NotFound("workspace not found".into()))
}

/// `GET /api/workspaces/{id}/members`.
pub(super) async fn workspace_members(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    Path(workspace_id): Path<String>,
) -> Answer {
    let id = member_workspace_from_path(&shared, user, &workspace_id)?;
    Ok(ok_json(
        &shared.read(|world| world.state.member_responses(id)),
    ))
}

/// `GET /api/agents?workspace_id[&include_archived=true]`.
pub(super) async fn list_agents(
    State(shared): State<Arc<Shared>>,
    Member { caller, .. }: Member,
    Query(query): QueryMap,
) -> Answer {
    let include_archived = query.get("include_archived").is_some_and(|v| v == "true");
    Ok(ok_json(&shared.read(|world| {
        world
            .state
            .agent_responses(caller.workspace_id, include_archived)
    })))
}

// ---------------------------------------------------------------------------
// issues

fn parse_count(query: &HashMap<String, String>, name: &str) -> Result<Option<usize>, Refusal> {
    match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<usize>()
            .map(Some)
            .map_err(|_| Refusal::BadRequest(format!("invalid {name}"))),
    }
}

/// `GET /api/issues?workspace_id&status&priority&assignee_id&limit&offset`.
pub(super) async fn list_issues(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Query(query): QueryMap,
) -> Answer {
    let limit = parse_count(&query, "limit")?.unwrap_or(100);
    let offset = parse_count(&query, "offset")?.unwrap_or(0);
    let text = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let filter = IssueFilter {
        status: text("status"),
        priority: text("priority"),
        assignee_id: text("assignee_id").and_then(|id| go::parse_uuid(&id)),
        limit,
        offset,
    };
    let issues = shared.read(|world| world.state.list_issues(caller.workspace_id, &filter));
    let issues: Vec<Value> = issues
        .into_iter()
        .map(|issue| with_absolute_attachments(issue, &origin))
        .collect();
    // `total` is the length of the page, as in the seed.
    Ok(ok_json(&json!({ "total": issues.len(), "issues": issues })))
}

fn issue_body(shared: &Shared, issue_id: Uuid, origin: &str) -> Answer {
    let body = shared.read(|world| {
        world
            .state
            .issues
            .get(&issue_id)
            .map(|issue| world.state.issue_response(issue))
    });
    body.map(|body| ok_json(&with_absolute_attachments(body, origin)))
        .ok_or_else(|| Refusal::NotFound("issue not found".into()))
}

/// `GET /api/issues/{id}` (UUID or `KEY-N`).
pub(super) async fn get_issue(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Path(reference): Path<String>,
) -> Answer {
    let issue_id = issue_of(&shared, caller, &reference)?;
    issue_body(&shared, issue_id, &origin)
}

/// `PUT /api/issues/{id}`.
pub(super) async fn update_issue(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Path(reference): Path<String>,
    body: Bytes,
) -> Answer {
    let issue_id = issue_of(&shared, caller, &reference)?;
    let patch = json_object(&body)?;
    let now = shared.now();
    shared.write(|world| {
        world
            .state
            .update_issue(issue_id, &patch, caller.actor, now)
    })?;
    issue_body(&shared, issue_id, &origin)
}

/// `GET /api/issues/{id}/task-runs`: every task of the issue, newest first, with
/// `workspace_id` empty as `taskToResponse` leaves it.
pub(super) async fn issue_task_runs(
    State(shared): State<Arc<Shared>>,
    Member { caller, .. }: Member,
    Path(reference): Path<String>,
) -> Answer {
    let issue_id = issue_of(&shared, caller, &reference)?;
    let runs: Vec<_> = shared.read(|world| {
        let mut tasks: Vec<_> = world
            .state
            .tasks
            .values()
            .filter(|t| t.issue_id == issue_id)
            .collect();
        tasks.sort_by_key(|task| std::cmp::Reverse((task.created_at, task.seq)));
        tasks.into_iter().map(task_body).collect()
    });
    Ok(ok_json(&runs))
}

// ---------------------------------------------------------------------------
// comments

/// `GET /api/issues/{id}/comments[?limit&offset&since]`.
pub(super) async fn list_comments(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Query(query): QueryMap,
    Path(reference): Path<String>,
) -> Answer {
    let issue_id = issue_of(&shared, caller, &reference)?;
    let page = comment_page(&query)?;
    let (comments, total) = shared.read(|world| world.state.list_comments(issue_id, &page));
    let comments: Vec<Value> = comments
        .into_iter()
        .map(|c| with_absolute_attachments(c, &origin))
        .collect();
    let mut response = ok_json(&comments);
    if page.is_paginated()
        && let Ok(value) = HeaderValue::from_str(&total.to_string())
    {
        response.headers_mut().insert("X-Total-Count", value);
    }
    Ok(response)
}

fn comment_page(query: &HashMap<String, String>) -> Result<CommentPage, Refusal> {
    let limit = parse_count(query, "limit")?;
    if limit == Some(0) {
        return Err(Refusal::BadRequest("invalid limit".into()));
    }
    let offset = parse_count(query, "offset")?;
    let since = match query
        .get("since")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| Refusal::BadRequest("invalid since".into()))?
                .with_timezone(&chrono::Utc),
        ),
    };
    Ok(CommentPage {
        limit,
        offset,
        since,
    })
}

/// `POST /api/issues/{id}/comments {"content","type"?,"parent_id"?,"attachment_ids"?}`.
pub(super) async fn add_comment(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Path(reference): Path<String>,
    body: Bytes,
) -> Answer {
    let issue_id = issue_of(&shared, caller, &reference)?;
    let request = json_object(&body)?;
    let text = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
    let attachment_ids: Vec<String> = request
        .get("attachment_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let comment = CommentRequest {
        content: text("content").unwrap_or_default(),
        kind: text("type"),
        parent_id: text("parent_id").filter(|p| !p.is_empty()),
        attachment_ids,
    };
    let now = shared.now();
    let added = shared.write(|world| {
        let id = world
            .state
            .add_api_comment(issue_id, caller.actor, comment, now)?;
        Ok::<_, Refusal>(
            world
                .state
                .comments
                .get(&id)
                .map(|c| world.state.comment_response(c)),
        )
    });
    Ok(match added? {
        Some(comment) => json_response(
            StatusCode::CREATED,
            &with_absolute_attachments(comment, &origin),
        ),
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to create comment",
        ),
    })
}

// ---------------------------------------------------------------------------
// attachments

/// `POST /api/upload-file` (multipart `file`, optional `issue_id`). With
/// `X-Workspace-ID` (of a workspace the user is in) it records an attachment and
/// answers `AttachmentResponse`; without, `{filename, link}`.
pub(super) async fn upload_file(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Answer {
    let caller = match header_text(&headers, "X-Workspace-ID") {
        None => None,
        Some(_) => Some(caller(&shared, user, &headers, &HashMap::new())?),
    };
    let mut file: Option<(String, String, Vec<u8>)> = None;
    let mut issue_reference = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(error = %err, "bad multipart upload");
                return Err(Refusal::BadRequest("invalid multipart form".into()));
            }
        };
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                                return Err(Refusal::BadRequest("file too large".into()));
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(err) => {
                            tracing::debug!(error = %err, "upload broke off");
                            return Err(Refusal::BadRequest("invalid multipart form".into()));
                        }
                    }
                }
                file = Some((filename, content_type, bytes));
            }
            Some("issue_id") => issue_reference = field.text().await.ok(),
            _ => {}
        }
    }
    let Some((filename, content_type, bytes)) = file else {
        return Err(Refusal::BadRequest("file is required".into()));
    };
    let issue_id = match (caller, issue_reference.as_deref().map(str::trim)) {
        (Some(caller), Some(reference)) if !reference.is_empty() => {
            Some(issue_of(&shared, caller, reference)?)
        }
        _ => None,
    };
    let input = NewAttachment {
        workspace_id: caller.map(|c| c.workspace_id),
        issue_id,
        uploader: caller.map_or(Actor::Member(user.user_id), |c| c.actor),
        filename: filename.clone(),
        content_type,
        bytes: bytes.into(),
    };
    let now = shared.now();
    let (id, body) = shared.write(|world| {
        let id = world.state.create_attachment(input, now);
        let body = world
            .state
            .attachments
            .get(&id)
            .map(Tables::attachment_response);
        (id, body)
    });
    let origin = origin(&headers);
    Ok(match (caller, body) {
        (Some(_), Some(body)) => ok_json(&absolute_links(body, &origin)),
        _ => ok_json(&json!({
            "filename": filename,
            "link": format!("{origin}/dev/files/{id}"),
        })),
    })
}

/// `GET /api/attachments/{id}`.
pub(super) async fn get_attachment(
    State(shared): State<Arc<Shared>>,
    Member { caller, origin }: Member,
    Path(attachment_id): Path<String>,
) -> Answer {
    let body = shared.read(|world| {
        go::parse_uuid(&attachment_id)
            .and_then(|id| world.state.attachments.get(&id))
            .filter(|a| a.workspace_id == Some(caller.workspace_id))
            .map(Tables::attachment_response)
    });
    body.map(|body| ok_json(&absolute_links(body, &origin)))
        .ok_or_else(|| Refusal::NotFound("attachment not found".into()))
}

/// `GET /dev/files/{id}`: the stored bytes, without authentication, as a signed
/// CDN link would serve them.
pub(super) async fn download_file(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
) -> Response {
    let file = shared.read(|world| {
        go::parse_uuid(&file_id)
            .and_then(|id| world.state.attachments.get(&id))
            .map(|a| (a.content_type.clone(), Arc::clone(&a.bytes)))
    });
    let Some((content_type, bytes)) = file else {
        return super::plain_error(StatusCode::NOT_FOUND, "404 page not found");
    };
    let mut response = (StatusCode::OK, Bytes::from_owner(bytes)).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
