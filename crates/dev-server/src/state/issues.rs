//! Issues and comments, and the ways they enqueue tasks: assignment, comments on an
//! agent's issue, and mentions of agents.

use chrono::{DateTime, Utc};
use multica_api::wire::TaskStatus;
use uuid::Uuid;

use super::{Comment, Issue, State, Task, parse_id, priority_to_int};
use crate::go;
use crate::views::{AdminError, CommentView, IssueChangeView, IssueView, NewComment, NewIssue};

/// Why no task was created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnqueueError {
    #[error("load agent: no rows in result set")]
    AgentNotFound,
    #[error("agent is archived")]
    AgentArchived,
    /// The unique index `idx_one_pending_task_per_issue`.
    #[error("create task: an issue has at most one queued or dispatched task")]
    PendingExists,
}

impl State {
    // -- issues --------------------------------------------------------------

    pub(crate) fn create_issue(
        &mut self,
        input: &NewIssue,
        now: DateTime<Utc>,
    ) -> Result<Issue, AdminError> {
        let workspace_id = parse_id("workspace", &input.workspace_id)?;
        if input.title.trim().is_empty() {
            return Err(AdminError::Invalid("title is required".into()));
        }
        let priority = input.priority.clone().unwrap_or_else(|| "none".to_owned());
        if !matches!(
            priority.as_str(),
            "urgent" | "high" | "medium" | "low" | "none"
        ) {
            return Err(AdminError::Invalid(format!("invalid priority: {priority}")));
        }
        let creator_id = match &input.creator_user_id {
            Some(text) => {
                let id = parse_id("user", text)?;
                if !self.users.contains_key(&id) {
                    return Err(AdminError::not_found("user", text));
                }
                id
            }
            None => self
                .members
                .iter()
                .find(|m| m.workspace_id == workspace_id)
                .map_or(Uuid::nil(), |m| m.user_id),
        };
        let assignee = match &input.assignee_agent_id {
            Some(text) => Some(self.agent_in_workspace(text, workspace_id)?),
            None => None,
        };
        let workspace = self
            .workspaces
            .get_mut(&workspace_id)
            .ok_or_else(|| AdminError::not_found("workspace", &input.workspace_id))?;
        workspace.issue_counter += 1;
        let number = workspace.issue_counter;
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let issue = Issue {
            id,
            seq,
            workspace_id,
            number,
            title: input.title.clone(),
            description: input.description.clone(),
            status: input.status.clone().unwrap_or_else(|| "todo".to_owned()),
            priority,
            assignee_type: assignee.map(|_| "agent".to_owned()),
            assignee_id: assignee,
            creator_type: "member".to_owned(),
            creator_id,
            due_date: None,
            created_at: now,
            updated_at: now,
        };
        self.issues.insert(id, issue.clone());
        if let Some(agent_id) = assignee
            && self.trigger_enabled_for(agent_id, "on_assign")
        {
            // As in the seed, a failed enqueue only gets logged.
            if let Err(error) = self.enqueue_task(id, agent_id, None, now) {
                tracing::warn!(issue_id = %id, %error, "enqueue on issue creation failed");
            }
        }
        Ok(issue)
    }

    fn agent_in_workspace(&self, text: &str, workspace_id: Uuid) -> Result<Uuid, AdminError> {
        let agent_id = parse_id("agent", text)?;
        let agent = self
            .agents
            .get(&agent_id)
            .ok_or_else(|| AdminError::not_found("agent", text))?;
        if agent.workspace_id != workspace_id {
            return Err(AdminError::Invalid(format!(
                "agent {agent_id} belongs to another workspace"
            )));
        }
        if agent.archived_at.is_some() {
            return Err(AdminError::Invalid(
                "cannot assign to archived agent".into(),
            ));
        }
        Ok(agent_id)
    }

    /// `isAgentTriggerEnabled` minus the assignee check: the agent exists, is not
    /// archived, and has the trigger enabled.
    fn trigger_enabled_for(&self, agent_id: Uuid, kind: &str) -> bool {
        self.agents
            .get(&agent_id)
            .is_some_and(|a| a.archived_at.is_none() && a.trigger_enabled(kind))
    }

    /// Changes the assignee as `PUT /api/issues/{id}` does. A change cancels every
    /// active task of the issue and enqueues one for the new agent (trigger
    /// `on_assign`). Assigning the agent that already has the issue returns its
    /// pending task, or enqueues a new one when there is none (a re-run; the seed has
    /// no such action, this is a convenience of the admin API).
    pub(crate) fn assign_issue(
        &mut self,
        issue_id: Uuid,
        agent_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, AdminError> {
        let issue = self
            .issues
            .get(&issue_id)
            .ok_or_else(|| AdminError::not_found("issue", issue_id))?;
        let workspace_id = issue.workspace_id;
        let previous = issue.assignee_agent();
        if let Some(agent_id) = agent_id {
            self.agent_in_workspace(&agent_id.to_string(), workspace_id)?;
        }
        if let Some(agent) = agent_id
            && previous == Some(agent)
        {
            if let Some(pending) = self
                .tasks
                .values()
                .find(|t| t.issue_id == issue_id && t.is_pending())
            {
                return Ok(Some(pending.id));
            }
            return Ok(self.enqueue_task(issue_id, agent, None, now).ok());
        }
        if let Some(issue) = self.issues.get_mut(&issue_id) {
            issue.assignee_type = agent_id.map(|_| "agent".to_owned());
            issue.assignee_id = agent_id;
            issue.updated_at = now;
        }
        if previous == agent_id {
            return Ok(None);
        }
        self.cancel_tasks_for_issue(issue_id);
        match agent_id {
            Some(agent_id) if self.trigger_enabled_for(agent_id, "on_assign") => {
                match self.enqueue_task(issue_id, agent_id, None, now) {
                    Ok(task) => Ok(Some(task)),
                    Err(error) => {
                        tracing::warn!(%issue_id, %error, "enqueue on assignment failed");
                        Ok(None)
                    }
                }
            }
            _ => Ok(None),
        }
    }

    /// `CancelAgentTasksByIssue`: no `completed_at`, no agent reconciliation.
    pub(crate) fn cancel_tasks_for_issue(&mut self, issue_id: Uuid) {
        for task in self.tasks.values_mut() {
            if task.issue_id == issue_id && task.is_active() {
                task.status = TaskStatus::Cancelled;
            }
        }
    }

    /// `CreateAgentTask` for an issue and an agent.
    pub(crate) fn enqueue_task(
        &mut self,
        issue_id: Uuid,
        agent_id: Uuid,
        trigger_comment_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EnqueueError> {
        let agent = self
            .agents
            .get(&agent_id)
            .ok_or(EnqueueError::AgentNotFound)?;
        if agent.archived_at.is_some() {
            return Err(EnqueueError::AgentArchived);
        }
        let runtime_id = agent.runtime_id;
        let priority = self
            .issues
            .get(&issue_id)
            .map_or(0, |issue| priority_to_int(&issue.priority));
        if self
            .tasks
            .values()
            .any(|t| t.issue_id == issue_id && t.is_pending())
        {
            return Err(EnqueueError::PendingExists);
        }
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        self.tasks.insert(
            id,
            Task {
                id,
                seq,
                agent_id,
                runtime_id,
                issue_id,
                status: TaskStatus::Queued,
                priority,
                dispatched_at: None,
                started_at: None,
                completed_at: None,
                result: None,
                error: None,
                failure_reason: None,
                created_at: now,
                session_id: None,
                work_dir: None,
                trigger_comment_id,
                messages: Vec::new(),
                attempt: 1,
                retry_of: None,
            },
        );
        tracing::debug!(task_id = %id, %issue_id, %agent_id, "task enqueued");
        Ok(id)
    }

    pub(crate) fn issue_view(&self, issue: &Issue) -> IssueView {
        let prefix = self
            .workspaces
            .get(&issue.workspace_id)
            .map(|w| w.issue_prefix.clone())
            .unwrap_or_default();
        let mut comments: Vec<&Comment> = self
            .comments
            .values()
            .filter(|c| c.issue_id == issue.id)
            .collect();
        comments.sort_by_key(|c| (c.created_at, c.seq));
        IssueView {
            id: issue.id.to_string(),
            workspace_id: issue.workspace_id.to_string(),
            number: issue.number,
            identifier: format!("{prefix}-{}", issue.number),
            title: issue.title.clone(),
            description: issue.description.clone(),
            status: issue.status.clone(),
            priority: issue.priority.clone(),
            assignee_type: issue.assignee_type.clone(),
            assignee_id: issue.assignee_id.map(|id| id.to_string()),
            creator_type: issue.creator_type.clone(),
            creator_id: issue.creator_id.to_string(),
            due_date: issue.due_date.map(go::format_time),
            created_at: go::format_time(issue.created_at),
            updated_at: go::format_time(issue.updated_at),
            comments: comments.into_iter().map(Self::comment_view).collect(),
            history: self
                .issue_changes
                .iter()
                .filter(|change| change.issue_id == issue.id)
                .map(|change| IssueChangeView {
                    field: change.field.clone(),
                    from: change.from.clone(),
                    to: change.to.clone(),
                    actor_type: change.actor_type.clone(),
                    actor_id: change.actor_id.to_string(),
                    at: go::format_time(change.at),
                })
                .collect(),
        }
    }

    pub(crate) fn comment_view(comment: &Comment) -> CommentView {
        CommentView {
            id: comment.id.to_string(),
            issue_id: comment.issue_id.to_string(),
            author_type: comment.author_type.clone(),
            author_id: comment.author_id.to_string(),
            content: comment.content.clone(),
            kind: comment.kind.clone(),
            parent_id: comment.parent_id.map(|id| id.to_string()),
            created_at: go::format_time(comment.created_at),
        }
    }

    // -- comments ------------------------------------------------------------

    /// `POST /api/issues/{id}/comments`: stores the comment, then enqueues a task for
    /// the assigned agent (`on_comment`) and for mentioned agents (`on_mention`) under
    /// the seed's conditions.
    pub(crate) fn add_comment(
        &mut self,
        issue_id: Uuid,
        input: &NewComment,
        now: DateTime<Utc>,
    ) -> Result<Uuid, AdminError> {
        let issue = self
            .issues
            .get(&issue_id)
            .ok_or_else(|| AdminError::not_found("issue", issue_id))?
            .clone();
        if input.content.is_empty() {
            return Err(AdminError::Invalid("content is required".into()));
        }
        let (author_type, author_id) = match (&input.author_agent_id, &input.author_user_id) {
            (Some(agent), _) => ("agent", self.agent_in_workspace(agent, issue.workspace_id)?),
            (None, Some(user)) => {
                let id = parse_id("user", user)?;
                if !self.users.contains_key(&id) {
                    return Err(AdminError::not_found("user", user));
                }
                ("member", id)
            }
            (None, None) => ("member", issue.creator_id),
        };
        let parent = match &input.parent_id {
            Some(text) => {
                let parent = go::parse_uuid(text)
                    .and_then(|id| self.comments.get(&id))
                    .filter(|c| c.issue_id == issue_id)
                    .ok_or_else(|| AdminError::Invalid("invalid parent comment".into()))?;
                Some(parent.clone())
            }
            None => None,
        };
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let comment = Comment {
            id,
            seq,
            issue_id,
            author_type: author_type.to_owned(),
            author_id,
            content: input.content.clone(),
            kind: input
                .kind
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "comment".to_owned()),
            parent_id: parent.as_ref().map(|p| p.id),
            created_at: now,
        };
        self.comments.insert(id, comment.clone());
        // Replies go to the thread root.
        let reply_to = comment.parent_id.unwrap_or(comment.id);

        if author_type == "member"
            && self.should_enqueue_on_comment(&issue)
            && !mentions_others_but_not_assignee(&comment.content, &issue)
            && !is_reply_to_member_thread(parent.as_ref(), &comment.content, &issue)
            && let Some(agent_id) = issue.assignee_agent()
            && let Err(error) = self.enqueue_task(issue_id, agent_id, Some(reply_to), now)
        {
            tracing::warn!(%issue_id, %error, "enqueue on comment failed");
        }
        self.enqueue_mentioned_agents(&issue, &comment, parent.as_ref(), reply_to, now);
        Ok(id)
    }

    /// `shouldEnqueueOnComment`.
    fn should_enqueue_on_comment(&self, issue: &Issue) -> bool {
        if issue.is_terminal() {
            return false;
        }
        let Some(agent_id) = issue.assignee_agent() else {
            return false;
        };
        if !self.trigger_enabled_for(agent_id, "on_comment") {
            return false;
        }
        !self
            .tasks
            .values()
            .any(|t| t.issue_id == issue.id && t.is_pending())
    }

    /// `enqueueMentionedAgentTasks` (without the private-agent visibility rule: the
    /// dev server's agents are all workspace-visible).
    fn enqueue_mentioned_agents(
        &mut self,
        issue: &Issue,
        comment: &Comment,
        parent: Option<&Comment>,
        reply_to: Uuid,
        now: DateTime<Utc>,
    ) {
        let mut mentions = go::parse_mentions(&comment.content);
        if let Some(parent) = parent {
            let has_agent = mentions.iter().any(|m| m.kind == "agent");
            let has_other = mentions.iter().any(|m| m.kind != "agent");
            if has_agent || !has_other {
                for mention in go::parse_mentions(&parent.content) {
                    if !mentions.contains(&mention) {
                        mentions.push(mention);
                    }
                }
            }
        }
        for mention in mentions.into_iter().filter(|m| m.kind == "agent") {
            if comment.author_type == "agent" && comment.author_id.to_string() == mention.id {
                continue;
            }
            let is_assignee = issue
                .assignee_agent()
                .is_some_and(|a| a.to_string() == mention.id);
            if is_assignee && !issue.is_terminal() {
                continue;
            }
            let Some(agent_id) = go::parse_uuid(&mention.id) else {
                continue;
            };
            if !self.trigger_enabled_for(agent_id, "on_mention") {
                continue;
            }
            let has_pending = self
                .tasks
                .values()
                .any(|t| t.issue_id == issue.id && t.agent_id == agent_id && t.is_pending());
            if has_pending {
                continue;
            }
            if let Err(error) = self.enqueue_task(issue.id, agent_id, Some(reply_to), now) {
                tracing::warn!(issue_id = %issue.id, %agent_id, %error, "enqueue on mention failed");
            }
        }
    }
}

/// `commentMentionsOthersButNotAssignee`.
fn mentions_others_but_not_assignee(content: &str, issue: &Issue) -> bool {
    let mentions: Vec<go::Mention> = go::parse_mentions(content)
        .into_iter()
        .filter(|m| m.kind != "issue")
        .collect();
    if mentions.is_empty() {
        return false;
    }
    if mentions.iter().any(|m| m.kind == "all") {
        return true;
    }
    let Some(assignee) = issue.assignee_id else {
        return true;
    };
    let assignee = assignee.to_string();
    !mentions.iter().any(|m| m.id == assignee)
}

/// `isReplyToMemberThread`.
fn is_reply_to_member_thread(parent: Option<&Comment>, content: &str, issue: &Issue) -> bool {
    let Some(parent) = parent else {
        return false;
    };
    if parent.author_type != "member" {
        return false;
    }
    let Some(assignee) = issue.assignee_id else {
        return true;
    };
    let assignee = assignee.to_string();
    let mentions_assignee = |text: &str| go::parse_mentions(text).iter().any(|m| m.id == assignee);
    !(mentions_assignee(content) || mentions_assignee(&parent.content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::World;
    use crate::views::{AgentPatch, NewAgent, TriggerSpec};

    #[test]
    fn issues_are_numbered_per_workspace() {
        let mut world = World::new();
        let first = world.issue("one", "none");
        let second = world.issue("two", "none");
        let view = world.state.issue_view(&world.state.issues[&second]);
        assert_eq!(view.identifier, "TES-2");
        assert_eq!(world.state.issues[&first].number, 1);
    }

    #[test]
    fn assignment_enqueues_and_reassignment_cancels() {
        let mut world = World::new();
        let (issue, first) = world.assigned_issue("fix", "high");
        assert_eq!(world.state.tasks[&first].priority, 3);
        assert_eq!(world.state.tasks[&first].status, TaskStatus::Queued);

        // Assigning the same agent again returns the pending task.
        let again = world
            .state
            .assign_issue(issue, Some(world.agent), world.now)
            .expect("assign");
        assert_eq!(again, Some(first));

        let other = world
            .state
            .create_agent(
                &NewAgent {
                    workspace_id: world.workspace.to_string(),
                    runtime_id: world.runtime.to_string(),
                    name: "Other".into(),
                    ..NewAgent::default()
                },
                world.now,
            )
            .expect("agent")
            .id;
        let second = world
            .state
            .assign_issue(issue, Some(other), world.now)
            .expect("reassign")
            .expect("task");
        assert_eq!(world.state.tasks[&first].status, TaskStatus::Cancelled);
        assert_eq!(world.state.tasks[&first].completed_at, None);
        assert_eq!(world.state.tasks[&second].agent_id, other);

        // Unassigning cancels too.
        assert_eq!(
            world
                .state
                .assign_issue(issue, None, world.now)
                .expect("unassign"),
            None
        );
        assert_eq!(world.state.tasks[&second].status, TaskStatus::Cancelled);
    }

    #[test]
    fn at_most_one_pending_task_per_issue() {
        let mut world = World::new();
        let (issue, _) = world.assigned_issue("fix", "none");
        assert_eq!(
            world
                .state
                .enqueue_task(issue, world.agent, None, world.now),
            Err(EnqueueError::PendingExists)
        );
    }

    #[test]
    fn member_comment_triggers_only_without_pending_task() {
        let mut world = World::new();
        let (issue, first) = world.assigned_issue("fix", "none");
        let comment = NewComment {
            content: "please also do X".into(),
            ..NewComment::default()
        };
        // A queued task exists: the comment coalesces into it.
        world
            .state
            .add_comment(issue, &comment, world.now)
            .expect("comment");
        assert_eq!(world.state.tasks.len(), 1);

        world
            .state
            .claim_for_runtime(world.runtime, world.now)
            .expect("claim");
        world.state.start_task(first, world.now).expect("start");
        let comment_id = world
            .state
            .add_comment(issue, &comment, world.now)
            .expect("comment");
        let triggered: Vec<&Task> = world
            .state
            .tasks
            .values()
            .filter(|t| t.trigger_comment_id == Some(comment_id))
            .collect();
        assert_eq!(triggered.len(), 1);
        assert_eq!(triggered[0].status, TaskStatus::Queued);
    }

    #[test]
    fn agent_comments_and_comments_addressed_to_others_do_not_trigger() {
        let mut world = World::new();
        let (issue, first) = world.assigned_issue("fix", "none");
        world
            .state
            .claim_for_runtime(world.runtime, world.now)
            .expect("claim");
        world.state.start_task(first, world.now).expect("start");
        let agent_comment = NewComment {
            content: "done".into(),
            author_agent_id: Some(world.agent.to_string()),
            ..NewComment::default()
        };
        world
            .state
            .add_comment(issue, &agent_comment, world.now)
            .expect("comment");
        let to_someone_else = NewComment {
            content: format!("[@Bob](mention://member/{})", Uuid::new_v4()),
            ..NewComment::default()
        };
        world
            .state
            .add_comment(issue, &to_someone_else, world.now)
            .expect("comment");
        assert_eq!(world.state.tasks.len(), 1);
    }

    #[test]
    fn disabled_on_assign_trigger_enqueues_nothing() {
        let mut world = World::new();
        world
            .state
            .update_agent(
                &world.agent.to_string(),
                &AgentPatch {
                    triggers: Some(vec![TriggerSpec {
                        kind: "on_assign".into(),
                        enabled: false,
                    }]),
                    ..AgentPatch::default()
                },
                world.now,
            )
            .expect("patch");
        let issue = world.issue("x", "none");
        assert_eq!(
            world
                .state
                .assign_issue(issue, Some(world.agent), world.now)
                .expect("assign"),
            None
        );
    }
}
