//! What the user API of contract A.6 (the routes the `multica` CLI calls) does to
//! the tables: who the actor is, finding an issue by UUID or `KEY-N`, issue updates
//! and their history, comment pages, attachments, and the response shapes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use multica_api::wire::ISSUE_STATUSES;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Attachment, Comment, Issue, IssueChange, State, Workspace};
use crate::go;
use crate::views::{AdminError, NewComment};

const PRIORITIES: [&str; 5] = ["urgent", "high", "medium", "low", "none"];

/// How many comments `?since=` alone returns at most.
const SINCE_ONLY_CAP: usize = 500;

/// Who acts: the token's user, or an agent named by `X-Agent-ID` (`resolveActor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Member(Uuid),
    Agent(Uuid),
}

impl Actor {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Member(_) => "member",
            Self::Agent(_) => "agent",
        }
    }

    pub(crate) fn id(self) -> Uuid {
        match self {
            Self::Member(id) | Self::Agent(id) => id,
        }
    }
}

/// A request the handlers answer with an error status and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadRequest(String),
    NotFound(String),
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

/// `GET /api/issues` filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct IssueFilter {
    pub(crate) status: Option<String>,
    pub(crate) priority: Option<String>,
    pub(crate) assignee_id: Option<Uuid>,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

/// `GET /api/issues/{id}/comments` paging.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommentPage {
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
    pub(crate) since: Option<DateTime<Utc>>,
}

impl CommentPage {
    /// The seed sets `X-Total-Count` only on paginated requests.
    pub(crate) fn is_paginated(&self) -> bool {
        self.limit.is_some() || self.offset.is_some()
    }
}

/// The body of `POST /api/issues/{id}/comments`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommentRequest {
    pub(crate) content: String,
    pub(crate) kind: Option<String>,
    pub(crate) parent_id: Option<String>,
    pub(crate) attachment_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct NewAttachment {
    pub(crate) workspace_id: Option<Uuid>,
    pub(crate) issue_id: Option<Uuid>,
    pub(crate) uploader: Actor,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) bytes: Arc<[u8]>,
}

impl State {
    // -- who and where -------------------------------------------------------

    /// `RequireWorkspaceMember`: the workspace, if `user_id` belongs to it.
    pub(crate) fn member_workspace(&self, user_id: Uuid, workspace: &str) -> Option<&Workspace> {
        let id = go::parse_uuid(workspace)?;
        self.is_member(user_id, id)
            .then(|| self.workspaces.get(&id))
            .flatten()
    }

    /// `resolveActor`: the agent when `X-Agent-ID` names an agent of the workspace
    /// and `X-Task-ID` (if sent) is one of its tasks; the user otherwise. A bad
    /// header silently falls back to the user, as in the seed.
    pub(crate) fn resolve_actor(
        &self,
        user_id: Uuid,
        workspace_id: Uuid,
        agent_header: Option<&str>,
        task_header: Option<&str>,
    ) -> Actor {
        let Some(agent_id) = agent_header
            .filter(|h| !h.is_empty())
            .and_then(go::parse_uuid)
        else {
            return Actor::Member(user_id);
        };
        let agent_in_workspace = self
            .agents
            .get(&agent_id)
            .is_some_and(|agent| agent.workspace_id == workspace_id);
        if !agent_in_workspace {
            return Actor::Member(user_id);
        }
        match task_header.filter(|h| !h.is_empty()) {
            None => Actor::Agent(agent_id),
            Some(task) => {
                let belongs = go::parse_uuid(task)
                    .and_then(|id| self.tasks.get(&id))
                    .is_some_and(|task| task.agent_id == agent_id);
                if belongs {
                    Actor::Agent(agent_id)
                } else {
                    Actor::Member(user_id)
                }
            }
        }
    }

    /// An issue of the workspace by UUID or by identifier (`MUL-42`, prefix in any
    /// case).
    pub(crate) fn find_issue(&self, workspace_id: Uuid, reference: &str) -> Option<Uuid> {
        let reference = reference.trim();
        if let Some(id) = go::parse_uuid(reference) {
            return self
                .issues
                .get(&id)
                .filter(|issue| issue.workspace_id == workspace_id)
                .map(|issue| issue.id);
        }
        let (prefix, number) = reference.rsplit_once('-')?;
        let number: i32 = number.parse().ok()?;
        let workspace = self.workspaces.get(&workspace_id)?;
        if !workspace.issue_prefix.eq_ignore_ascii_case(prefix) {
            return None;
        }
        self.issues
            .values()
            .find(|issue| issue.workspace_id == workspace_id && issue.number == number)
            .map(|issue| issue.id)
    }

    // -- issues --------------------------------------------------------------

    pub(crate) fn list_issues(&self, workspace_id: Uuid, filter: &IssueFilter) -> Vec<Value> {
        let mut issues: Vec<&Issue> = self
            .issues
            .values()
            .filter(|issue| issue.workspace_id == workspace_id)
            .filter(|issue| filter.status.as_ref().is_none_or(|s| &issue.status == s))
            .filter(|issue| {
                filter
                    .priority
                    .as_ref()
                    .is_none_or(|p| &issue.priority == p)
            })
            .filter(|issue| {
                filter
                    .assignee_id
                    .is_none_or(|a| issue.assignee_id == Some(a))
            })
            .collect();
        // `ORDER BY position ASC, created_at DESC`; every issue here has position 0.
        issues.sort_by_key(|issue| std::cmp::Reverse((issue.created_at, issue.seq)));
        issues
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit)
            .map(|issue| self.issue_response(issue))
            .collect()
    }

    /// `PUT /api/issues/{id}`: applies the fields present in `patch`; an explicit
    /// `null` clears a nullable field. An assignee change cancels the issue's tasks
    /// and enqueues one for a newly assigned agent; a status change touches no task.
    pub(crate) fn update_issue(
        &mut self,
        issue_id: Uuid,
        patch: &Map<String, Value>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let current = self
            .issues
            .get(&issue_id)
            .cloned()
            .ok_or_else(|| Refusal::NotFound("issue not found".into()))?;
        let mut next = current.clone();
        let text = |name: &str| -> Result<Option<Option<String>>, Refusal> {
            match patch.get(name) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(None)),
                Some(Value::String(value)) => Ok(Some(Some(value.clone()))),
                Some(_) => Err(Refusal::bad("invalid request body")),
            }
        };
        if let Some(title) = text("title")? {
            match title {
                Some(title) if !title.trim().is_empty() => next.title = title,
                _ => return Err(Refusal::bad("title is required")),
            }
        }
        if let Some(description) = text("description")? {
            next.description = description;
        }
        if let Some(status) = text("status")?.flatten() {
            if !ISSUE_STATUSES.contains(&status.as_str()) {
                return Err(Refusal::bad("invalid status"));
            }
            next.status = status;
        }
        if let Some(priority) = text("priority")?.flatten() {
            if !PRIORITIES.contains(&priority.as_str()) {
                return Err(Refusal::bad("invalid priority"));
            }
            next.priority = priority;
        }
        if let Some(due) = text("due_date")? {
            next.due_date = match due.filter(|d| !d.is_empty()) {
                None => None,
                Some(text) => Some(
                    DateTime::parse_from_rfc3339(&text)
                        .map_err(|_| Refusal::bad("invalid due_date format, expected RFC3339"))?
                        .with_timezone(&Utc),
                ),
            };
        }
        let assignee_type = text("assignee_type")?;
        let assignee_id = text("assignee_id")?;
        if assignee_type.is_some() || assignee_id.is_some() {
            let kind = assignee_type.unwrap_or_else(|| current.assignee_type.clone());
            let id = match assignee_id {
                Some(id) => id
                    .map(|id| {
                        go::parse_uuid(&id).ok_or_else(|| Refusal::bad("invalid assignee_id"))
                    })
                    .transpose()?,
                None => current.assignee_id,
            };
            match (kind.as_deref(), id) {
                (_, None) | (None, _) => {
                    next.assignee_type = None;
                    next.assignee_id = None;
                }
                (Some("agent"), Some(agent_id)) => {
                    let usable = self.agents.get(&agent_id).is_some_and(|agent| {
                        agent.workspace_id == current.workspace_id && agent.archived_at.is_none()
                    });
                    if !usable {
                        return Err(Refusal::bad("invalid assignee: agent not found"));
                    }
                    next.assignee_type = Some("agent".into());
                    next.assignee_id = Some(agent_id);
                }
                (Some("member"), Some(user_id)) => {
                    if !self.is_member(user_id, current.workspace_id) {
                        return Err(Refusal::bad("invalid assignee: member not found"));
                    }
                    next.assignee_type = Some("member".into());
                    next.assignee_id = Some(user_id);
                }
                (Some(_), Some(_)) => return Err(Refusal::bad("invalid assignee_type")),
            }
        }

        let changes = issue_changes(&current, &next);
        if changes.is_empty() {
            return Ok(());
        }
        let assignee_changed =
            current.assignee_type != next.assignee_type || current.assignee_id != next.assignee_id;
        next.updated_at = now;
        self.issues.insert(issue_id, next.clone());
        for (field, from, to) in changes {
            self.issue_changes.push(IssueChange {
                issue_id,
                actor_type: actor.kind().to_owned(),
                actor_id: actor.id(),
                field: field.to_owned(),
                from,
                to,
                at: now,
            });
        }
        if assignee_changed {
            self.cancel_tasks_for_issue(issue_id);
            if let Some(agent_id) = next.assignee_agent()
                && !next.is_terminal()
                && self
                    .agents
                    .get(&agent_id)
                    .is_some_and(|agent| agent.trigger_enabled("on_assign"))
                && let Err(error) = self.enqueue_task(issue_id, agent_id, None, now)
            {
                tracing::warn!(%issue_id, %error, "enqueue on assignment failed");
            }
        }
        Ok(())
    }

    /// `IssueResponse`.
    pub(crate) fn issue_response(&self, issue: &Issue) -> Value {
        let prefix = self
            .workspaces
            .get(&issue.workspace_id)
            .map(|w| w.issue_prefix.as_str())
            .unwrap_or_default();
        let mut body = json!({
            "id": issue.id.to_string(),
            "workspace_id": issue.workspace_id.to_string(),
            "number": issue.number,
            "identifier": format!("{prefix}-{}", issue.number),
            "title": issue.title,
            "description": issue.description,
            "status": issue.status,
            "priority": issue.priority,
            "assignee_type": issue.assignee_type,
            "assignee_id": issue.assignee_id.map(|id| id.to_string()),
            "creator_type": issue.creator_type,
            "creator_id": issue.creator_id.to_string(),
            "parent_issue_id": null,
            "position": 0.0,
            "due_date": issue.due_date.map(go::format_time),
            "created_at": go::format_time(issue.created_at),
            "updated_at": go::format_time(issue.updated_at),
        });
        // `reactions` and `attachments` are `omitempty`.
        let attachments =
            self.attachments_where(|a| a.issue_id == Some(issue.id) && a.comment_id.is_none());
        if !attachments.is_empty()
            && let Some(object) = body.as_object_mut()
        {
            object.insert("attachments".into(), Value::Array(attachments));
        }
        body
    }

    // -- comments ------------------------------------------------------------

    /// The issue's comments, oldest first, one page of them, and how many there are.
    pub(crate) fn list_comments(&self, issue_id: Uuid, page: &CommentPage) -> (Vec<Value>, usize) {
        let mut comments: Vec<&Comment> = self
            .comments
            .values()
            .filter(|c| c.issue_id == issue_id)
            .filter(|c| page.since.is_none_or(|since| c.created_at > since))
            .collect();
        comments.sort_by_key(|c| (c.created_at, c.seq));
        let total = comments.len();
        let limit = match (page.limit, page.offset, page.since) {
            (Some(limit), _, _) => limit,
            (None, None, Some(_)) => SINCE_ONLY_CAP,
            _ => usize::MAX,
        };
        let shown = comments
            .into_iter()
            .skip(page.offset.unwrap_or(0))
            .take(limit)
            .map(|c| self.comment_response(c))
            .collect();
        (shown, total)
    }

    /// `POST /api/issues/{id}/comments` for an actor; links the given attachments
    /// of the workspace to the new comment.
    pub(crate) fn add_api_comment(
        &mut self,
        issue_id: Uuid,
        actor: Actor,
        request: CommentRequest,
        now: DateTime<Utc>,
    ) -> Result<Uuid, Refusal> {
        let CommentRequest {
            content,
            kind,
            parent_id,
            attachment_ids,
        } = request;
        if content.is_empty() {
            return Err(Refusal::bad("content is required"));
        }
        let workspace_id = self
            .issues
            .get(&issue_id)
            .map(|issue| issue.workspace_id)
            .ok_or_else(|| Refusal::NotFound("issue not found".into()))?;
        let input = NewComment {
            content,
            kind,
            parent_id,
            author_agent_id: matches!(actor, Actor::Agent(_)).then(|| actor.id().to_string()),
            author_user_id: matches!(actor, Actor::Member(_)).then(|| actor.id().to_string()),
        };
        let comment_id = self
            .add_comment(issue_id, &input, now)
            .map_err(|error| match error {
                AdminError::Invalid(message) => Refusal::BadRequest(message),
                other => Refusal::BadRequest(other.to_string()),
            })?;
        for id in attachment_ids.iter().filter_map(|id| go::parse_uuid(id)) {
            if let Some(attachment) = self.attachments.get_mut(&id)
                && attachment.workspace_id == Some(workspace_id)
            {
                attachment.issue_id = Some(issue_id);
                attachment.comment_id = Some(comment_id);
            }
        }
        Ok(comment_id)
    }

    /// `CommentResponse`.
    pub(crate) fn comment_response(&self, comment: &Comment) -> Value {
        let created = go::format_time(comment.created_at);
        json!({
            "id": comment.id.to_string(),
            "issue_id": comment.issue_id.to_string(),
            "author_type": comment.author_type,
            "author_id": comment.author_id.to_string(),
            "content": comment.content,
            "type": comment.kind,
            "parent_id": comment.parent_id.map(|id| id.to_string()),
            "created_at": created,
            "updated_at": created,
            "reactions": [],
            "attachments": self.attachments_where(|a| a.comment_id == Some(comment.id)),
        })
    }

    // -- attachments ---------------------------------------------------------

    pub(crate) fn create_attachment(&mut self, input: NewAttachment, now: DateTime<Utc>) -> Uuid {
        let id = Uuid::new_v4();
        self.attachments.insert(
            id,
            Attachment {
                id,
                workspace_id: input.workspace_id,
                issue_id: input.issue_id,
                comment_id: None,
                uploader_type: input.uploader.kind().to_owned(),
                uploader_id: input.uploader.id(),
                filename: input.filename,
                content_type: input.content_type,
                bytes: input.bytes,
                created_at: now,
            },
        );
        id
    }

    /// `AttachmentResponse`; `url` and `download_url` are relative (`/dev/files/…`)
    /// until the handler puts the server's address in front.
    pub(crate) fn attachment_response(attachment: &Attachment) -> Value {
        let link = format!("/dev/files/{}", attachment.id);
        json!({
            "id": attachment.id.to_string(),
            "workspace_id": attachment.workspace_id.map(|id| id.to_string()).unwrap_or_default(),
            "issue_id": attachment.issue_id.map(|id| id.to_string()),
            "comment_id": attachment.comment_id.map(|id| id.to_string()),
            "uploader_type": attachment.uploader_type,
            "uploader_id": attachment.uploader_id.to_string(),
            "filename": attachment.filename,
            "url": link,
            "download_url": link,
            "content_type": attachment.content_type,
            "size_bytes": attachment.bytes.len(),
            "created_at": go::format_time(attachment.created_at),
        })
    }

    fn attachments_where(&self, keep: impl Fn(&Attachment) -> bool) -> Vec<Value> {
        let mut found: Vec<&Attachment> = self.attachments.values().filter(|a| keep(a)).collect();
        found.sort_by_key(|a| (a.created_at, a.id));
        found.into_iter().map(Self::attachment_response).collect()
    }

    // -- workspaces, members, agents -------------------------------------------

    /// `[MemberWithUserResponse]`, oldest first.
    pub(crate) fn member_responses(&self, workspace_id: Uuid) -> Vec<Value> {
        let mut members: Vec<_> = self
            .members
            .iter()
            .filter(|m| m.workspace_id == workspace_id)
            .collect();
        members.sort_by_key(|m| m.created_at);
        members
            .into_iter()
            .filter_map(|member| {
                let user = self.users.get(&member.user_id)?;
                Some(json!({
                    "id": member.id.to_string(),
                    "workspace_id": member.workspace_id.to_string(),
                    "user_id": member.user_id.to_string(),
                    "role": member.role,
                    "created_at": go::format_time(member.created_at),
                    "name": user.name,
                    "email": user.email,
                    "avatar_url": null,
                }))
            })
            .collect()
    }

    /// `[AgentResponse]` of a workspace, oldest first.
    pub(crate) fn agent_responses(&self, workspace_id: Uuid, include_archived: bool) -> Vec<Value> {
        let mut agents: Vec<_> = self
            .agents
            .values()
            .filter(|a| a.workspace_id == workspace_id)
            .filter(|a| include_archived || a.archived_at.is_none())
            .collect();
        agents.sort_by_key(|a| (a.created_at, a.seq));
        agents
            .into_iter()
            .map(|agent| {
                let runtime_mode = self
                    .runtimes
                    .get(&agent.runtime_id)
                    .map_or("local", |r| r.runtime_mode.as_str());
                let triggers: Vec<Value> = agent
                    .triggers
                    .iter()
                    .flatten()
                    .map(|t| json!({"type": t.kind, "enabled": t.enabled}))
                    .collect();
                json!({
                    "id": agent.id.to_string(),
                    "workspace_id": agent.workspace_id.to_string(),
                    "runtime_id": agent.runtime_id.to_string(),
                    "name": agent.name,
                    "description": agent.description,
                    "instructions": agent.instructions,
                    "avatar_url": null,
                    "runtime_mode": runtime_mode,
                    "runtime_config": {},
                    "visibility": "workspace",
                    "status": agent.status,
                    "max_concurrent_tasks": agent.max_concurrent_tasks,
                    "owner_id": null,
                    "skills": agent.skills.iter().map(|s| json!({
                        "id": Uuid::new_v5(&agent.id, s.name.as_bytes()).to_string(),
                        "name": s.name,
                        "description": "",
                    })).collect::<Vec<_>>(),
                    "tools": [],
                    "triggers": triggers,
                    "created_at": go::format_time(agent.created_at),
                    "updated_at": go::format_time(agent.updated_at),
                    "archived_at": agent.archived_at.map(go::format_time),
                    "archived_by": null,
                })
            })
            .collect()
    }

    /// The user, as `GET /api/me` returns it.
    pub(crate) fn me_response(&self, user_id: Uuid) -> Option<Value> {
        let user = self.users.get(&user_id)?;
        Some(json!({
            "id": user.id.to_string(),
            "name": user.name,
            "email": user.email,
            "avatar_url": null,
            "created_at": go::format_time(user.created_at),
            "updated_at": go::format_time(user.created_at),
        }))
    }
}

/// The fields that differ between two versions of an issue, with old and new values.
fn issue_changes(before: &Issue, after: &Issue) -> Vec<(&'static str, Value, Value)> {
    let mut changes = Vec::new();
    let mut compare = |field: &'static str, from: Value, to: Value| {
        if from != to {
            changes.push((field, from, to));
        }
    };
    compare("title", json!(before.title), json!(after.title));
    compare(
        "description",
        json!(before.description),
        json!(after.description),
    );
    compare("status", json!(before.status), json!(after.status));
    compare("priority", json!(before.priority), json!(after.priority));
    compare(
        "assignee_type",
        json!(before.assignee_type),
        json!(after.assignee_type),
    );
    compare(
        "assignee_id",
        json!(before.assignee_id.map(|id| id.to_string())),
        json!(after.assignee_id.map(|id| id.to_string())),
    );
    compare(
        "due_date",
        json!(before.due_date.map(go::format_time)),
        json!(after.due_date.map(go::format_time)),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::World;

    #[test]
    fn issues_are_found_by_uuid_or_key_in_their_workspace_only() {
        let mut world = World::new();
        let issue = world.issue("A", "low");
        let key = world.state.issue_response(&world.state.issues[&issue])["identifier"]
            .as_str()
            .map(str::to_owned)
            .expect("identifier");
        assert_eq!(world.state.find_issue(world.workspace, &key), Some(issue));
        assert_eq!(
            world.state.find_issue(world.workspace, &key.to_lowercase()),
            Some(issue)
        );
        assert_eq!(
            world.state.find_issue(world.workspace, &issue.to_string()),
            Some(issue)
        );
        assert_eq!(
            world.state.find_issue(Uuid::new_v4(), &issue.to_string()),
            None
        );
        assert_eq!(world.state.find_issue(world.workspace, "NOPE-1"), None);
        assert_eq!(world.state.find_issue(world.workspace, "garbage"), None);
    }

    #[test]
    fn an_agent_header_counts_only_with_its_own_task() {
        let mut world = World::new();
        let (_, task) = world.assigned_issue("A", "low");
        let user = Uuid::new_v4();
        let agent = world.agent.to_string();
        let state = &world.state;
        assert_eq!(
            state.resolve_actor(user, world.workspace, Some(&agent), Some(&task.to_string())),
            Actor::Agent(world.agent)
        );
        assert_eq!(
            state.resolve_actor(user, world.workspace, Some(&agent), None),
            Actor::Agent(world.agent)
        );
        assert_eq!(
            state.resolve_actor(user, world.workspace, Some(&agent), Some("not-a-task")),
            Actor::Member(user)
        );
        assert_eq!(
            state.resolve_actor(user, Uuid::new_v4(), Some(&agent), None),
            Actor::Member(user)
        );
    }

    #[test]
    fn updates_clear_with_null_record_history_and_reassignment_requeues() {
        let mut world = World::new();
        let (issue, first_task) = world.assigned_issue("A", "low");
        let agent = Actor::Agent(world.agent);
        let patch =
            json!({"status": "in_review", "description": "d", "due_date": "2026-12-01T00:00:00Z"});
        let patch = patch.as_object().expect("object");
        world
            .state
            .update_issue(issue, patch, agent, world.now)
            .expect("update");
        // A status change leaves the task alone.
        assert!(world.state.tasks[&first_task].is_active());
        let history: Vec<_> = world
            .state
            .issue_changes
            .iter()
            .map(|c| (c.field.as_str(), c.actor_type.as_str()))
            .collect();
        assert_eq!(
            history,
            [
                ("description", "agent"),
                ("status", "agent"),
                ("due_date", "agent")
            ]
        );

        let clear = json!({"description": null, "due_date": null});
        world
            .state
            .update_issue(issue, clear.as_object().expect("object"), agent, world.now)
            .expect("clear");
        let view = world.state.issue_response(&world.state.issues[&issue]);
        assert!(
            view["description"].is_null() && view["due_date"].is_null(),
            "{view}"
        );

        let bad = json!({"status": "finished"});
        assert_eq!(
            world
                .state
                .update_issue(issue, bad.as_object().expect("object"), agent, world.now),
            Err(Refusal::bad("invalid status"))
        );

        let unassign = json!({"assignee_type": null, "assignee_id": null});
        world
            .state
            .update_issue(
                issue,
                unassign.as_object().expect("object"),
                agent,
                world.now,
            )
            .expect("unassign");
        assert!(!world.state.tasks[&first_task].is_active());
        let reassign = json!({"assignee_type": "agent", "assignee_id": world.agent.to_string()});
        world
            .state
            .update_issue(
                issue,
                reassign.as_object().expect("object"),
                agent,
                world.now,
            )
            .expect("reassign");
        let queued = world
            .state
            .tasks
            .values()
            .filter(|t| t.issue_id == issue && t.is_pending())
            .count();
        assert_eq!(queued, 1);
    }

    fn comment(content: String) -> CommentRequest {
        CommentRequest {
            content,
            ..CommentRequest::default()
        }
    }

    #[test]
    fn comment_pages_follow_limit_offset_and_since() {
        let mut world = World::new();
        let issue = world.issue("A", "low");
        let stored = world.state.members[0].user_id;
        for n in 0..5 {
            world.tick(1);
            world
                .state
                .add_api_comment(
                    issue,
                    Actor::Member(stored),
                    comment(format!("m{n}")),
                    world.now,
                )
                .expect("comment");
        }
        let contents = |page: &CommentPage| {
            let (shown, total) = world.state.list_comments(issue, page);
            (
                shown
                    .iter()
                    .filter_map(|c| c["content"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                total,
            )
        };
        assert_eq!(contents(&CommentPage::default()).0.len(), 5);
        let page = CommentPage {
            limit: Some(2),
            offset: Some(1),
            since: None,
        };
        assert_eq!(contents(&page), (vec!["m1".to_owned(), "m2".to_owned()], 5));
        let since = world.now - chrono::TimeDelta::seconds(2);
        let page = CommentPage {
            since: Some(since),
            ..CommentPage::default()
        };
        assert_eq!(contents(&page).0, ["m3", "m4"]);
        assert_eq!(
            world.state.add_api_comment(
                issue,
                Actor::Member(stored),
                comment(String::new()),
                world.now
            ),
            Err(Refusal::bad("content is required"))
        );
    }
}
