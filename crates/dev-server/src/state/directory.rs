//! Users, tokens, workspaces and their members, and agents: the rows the admin API
//! creates before any work exists.

use chrono::{DateTime, Utc};
use multica_api::wire;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Agent, Member, Repo, State, Token, Trigger, User, Workspace};
use crate::go;
use crate::views::{
    AdminError, AgentPatch, AgentView, NewAgent, NewUser, NewWorkspace, TokenView, TriggerSpec,
};

/// Parses an ID given to the admin API.
pub(crate) fn parse_id(kind: &'static str, text: &str) -> Result<Uuid, AdminError> {
    go::parse_uuid(text).ok_or_else(|| AdminError::not_found(kind, text))
}

fn new_token_text() -> String {
    format!(
        "mul_{}{}",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

impl State {
    // -- users and tokens ----------------------------------------------------

    /// Creates a user and a personal access token for it.
    pub(crate) fn create_user(&mut self, input: &NewUser, now: DateTime<Utc>) -> (Uuid, String) {
        let id = Uuid::new_v4();
        self.users.insert(
            id,
            User {
                id,
                name: input.name.clone(),
                email: input.email.clone(),
                created_at: now,
            },
        );
        let token = self.insert_token(id, None, now);
        (id, token)
    }

    fn insert_token(
        &mut self,
        user_id: Uuid,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> String {
        self.insert_named_token(user_id, "", expires_at, now)
    }

    pub(crate) fn insert_named_token(
        &mut self,
        user_id: Uuid,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> String {
        let text = new_token_text();
        self.tokens.insert(
            text.clone(),
            Token {
                id: Uuid::new_v4(),
                user_id,
                name: name.to_owned(),
                revoked: false,
                expires_at,
                created_at: now,
                last_used_at: None,
            },
        );
        text
    }

    pub(crate) fn create_token(
        &mut self,
        user_id: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<TokenView, AdminError> {
        let user_id = parse_id("user", user_id)?;
        if !self.users.contains_key(&user_id) {
            return Err(AdminError::not_found("user", user_id));
        }
        let text = self.insert_token(user_id, expires_at, now);
        self.token_view(&text)
            .ok_or_else(|| AdminError::not_found("token", "new"))
    }

    pub(crate) fn revoke_token(&mut self, token: &str) -> Result<(), AdminError> {
        let row = self
            .tokens
            .get_mut(token)
            .ok_or_else(|| AdminError::not_found("token", "(the given token)"))?;
        row.revoked = true;
        Ok(())
    }

    /// `GetPersonalAccessTokenByHash`: a `mul_` token that is not revoked and not
    /// expired. Marks it used.
    pub(crate) fn authenticate_pat(&mut self, token: &str, now: DateTime<Utc>) -> Option<Uuid> {
        let row = self.tokens.get_mut(token)?;
        if row.revoked || row.expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        row.last_used_at = Some(now);
        Some(row.user_id)
    }

    pub(crate) fn token_view(&self, text: &str) -> Option<TokenView> {
        let row = self.tokens.get(text)?;
        Some(TokenView {
            id: row.id.to_string(),
            user_id: row.user_id.to_string(),
            name: row.name.clone(),
            token: text.to_owned(),
            revoked: row.revoked,
            expires_at: row.expires_at.map(go::format_time),
            created_at: go::format_time(row.created_at),
            last_used_at: row.last_used_at.map(go::format_time),
        })
    }

    // -- workspaces ----------------------------------------------------------

    pub(crate) fn create_workspace(
        &mut self,
        input: &NewWorkspace,
        now: DateTime<Utc>,
    ) -> Result<Workspace, AdminError> {
        if input.name.trim().is_empty() {
            return Err(AdminError::Invalid("name is required".into()));
        }
        let mut members = Vec::new();
        for text in &input.member_user_ids {
            let user_id = parse_id("user", text)?;
            if !self.users.contains_key(&user_id) {
                return Err(AdminError::not_found("user", text));
            }
            members.push(user_id);
        }
        let slug = input
            .slug
            .clone()
            .filter(|slug| !slug.is_empty())
            .unwrap_or_else(|| go::slug_for(&input.name));
        if self.workspaces.values().any(|w| w.slug == slug) {
            return Err(AdminError::Conflict(format!(
                "a workspace with slug {slug:?} exists"
            )));
        }
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let workspace = Workspace {
            id,
            seq,
            name: input.name.clone(),
            slug,
            description: input.description.clone(),
            context: input.context.clone(),
            settings: json!({}),
            repos: input
                .repos
                .iter()
                .map(|r| Repo {
                    url: r.url.clone(),
                    description: r.description.clone(),
                })
                .collect(),
            issue_prefix: input
                .issue_prefix
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| go::issue_prefix_for(&input.name)),
            issue_counter: 0,
            created_at: now,
            updated_at: now,
        };
        self.workspaces.insert(id, workspace.clone());
        for (index, user_id) in members.into_iter().enumerate() {
            let role = if index == 0 { "owner" } else { "member" };
            self.add_member_row(id, user_id, role, now);
        }
        Ok(workspace)
    }

    fn add_member_row(
        &mut self,
        workspace_id: Uuid,
        user_id: Uuid,
        role: &str,
        now: DateTime<Utc>,
    ) {
        if !self.is_member(user_id, workspace_id) {
            self.members.push(Member {
                id: Uuid::new_v4(),
                workspace_id,
                user_id,
                role: role.to_owned(),
                created_at: now,
            });
        }
    }

    pub(crate) fn add_member(
        &mut self,
        workspace_id: &str,
        user_id: &str,
        role: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AdminError> {
        let workspace_id = parse_id("workspace", workspace_id)?;
        let user_id = parse_id("user", user_id)?;
        if !self.workspaces.contains_key(&workspace_id) {
            return Err(AdminError::not_found("workspace", workspace_id));
        }
        if !self.users.contains_key(&user_id) {
            return Err(AdminError::not_found("user", user_id));
        }
        self.add_member_row(workspace_id, user_id, role.unwrap_or("member"), now);
        Ok(())
    }

    /// `WorkspaceResponse`.
    pub(crate) fn workspace_view(workspace: &Workspace) -> wire::Workspace {
        let repos: Vec<Value> = workspace
            .repos
            .iter()
            .map(|r| json!({"url": r.url, "description": r.description}))
            .collect();
        wire::Workspace {
            id: workspace.id.to_string(),
            name: workspace.name.clone(),
            slug: workspace.slug.clone(),
            description: workspace.description.clone(),
            context: workspace.context.clone(),
            settings: go::as_go_any(&workspace.settings),
            // The column is JSONB decoded into `any`: keys come back sorted.
            repos: go::as_go_any(&Value::Array(repos)),
            issue_prefix: workspace.issue_prefix.clone(),
            created_at: go::format_time(workspace.created_at),
            updated_at: go::format_time(workspace.updated_at),
        }
    }

    /// The workspaces a user is a member of, oldest first (`ListWorkspaces`).
    pub(crate) fn workspaces_of(&self, user_id: Uuid) -> Vec<&Workspace> {
        let mut found: Vec<&Workspace> = self
            .workspaces
            .values()
            .filter(|w| self.is_member(user_id, w.id))
            .collect();
        found.sort_by_key(|w| (w.created_at, w.seq));
        found
    }

    // -- agents --------------------------------------------------------------

    pub(crate) fn create_agent(
        &mut self,
        input: &NewAgent,
        now: DateTime<Utc>,
    ) -> Result<Agent, AdminError> {
        let workspace_id = parse_id("workspace", &input.workspace_id)?;
        if !self.workspaces.contains_key(&workspace_id) {
            return Err(AdminError::not_found("workspace", &input.workspace_id));
        }
        let runtime_id = self.runtime_in_workspace(&input.runtime_id, workspace_id)?;
        let max = input.max_concurrent_tasks.unwrap_or(1);
        if max < 1 {
            return Err(AdminError::Invalid(
                "max_concurrent_tasks must be at least 1".into(),
            ));
        }
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let agent = Agent {
            id,
            seq,
            workspace_id,
            runtime_id,
            name: input.name.clone(),
            description: input.description.clone(),
            instructions: input.instructions.clone(),
            status: "idle".to_owned(),
            max_concurrent_tasks: max,
            skills: input.skills.clone(),
            triggers: input.triggers.as_deref().map(triggers_from_specs),
            archived_at: None,
            created_at: now,
            updated_at: now,
        };
        self.agents.insert(id, agent.clone());
        Ok(agent)
    }

    fn runtime_in_workspace(&self, text: &str, workspace_id: Uuid) -> Result<Uuid, AdminError> {
        let runtime_id = parse_id("runtime", text)?;
        let runtime = self
            .runtimes
            .get(&runtime_id)
            .ok_or_else(|| AdminError::not_found("runtime", text))?;
        if runtime.workspace_id != workspace_id {
            return Err(AdminError::Invalid(format!(
                "runtime {runtime_id} belongs to another workspace"
            )));
        }
        Ok(runtime_id)
    }

    pub(crate) fn update_agent(
        &mut self,
        agent_id: &str,
        patch: &AgentPatch,
        now: DateTime<Utc>,
    ) -> Result<Agent, AdminError> {
        let id = parse_id("agent", agent_id)?;
        let workspace_id = self
            .agents
            .get(&id)
            .ok_or_else(|| AdminError::not_found("agent", agent_id))?
            .workspace_id;
        let runtime_id = match &patch.runtime_id {
            Some(text) => Some(self.runtime_in_workspace(text, workspace_id)?),
            None => None,
        };
        if patch.max_concurrent_tasks.is_some_and(|max| max < 1) {
            return Err(AdminError::Invalid(
                "max_concurrent_tasks must be at least 1".into(),
            ));
        }
        let agent = self
            .agents
            .get_mut(&id)
            .ok_or_else(|| AdminError::not_found("agent", agent_id))?;
        if let Some(runtime_id) = runtime_id {
            agent.runtime_id = runtime_id;
        }
        if let Some(name) = &patch.name {
            agent.name.clone_from(name);
        }
        if let Some(instructions) = &patch.instructions {
            agent.instructions.clone_from(instructions);
        }
        if let Some(skills) = &patch.skills {
            agent.skills.clone_from(skills);
        }
        if let Some(max) = patch.max_concurrent_tasks {
            agent.max_concurrent_tasks = max;
        }
        if let Some(triggers) = &patch.triggers {
            agent.triggers = Some(triggers_from_specs(triggers));
        }
        if let Some(archived) = patch.archived {
            agent.archived_at = archived.then_some(now);
        }
        agent.updated_at = now;
        Ok(agent.clone())
    }

    pub(crate) fn agent_view(agent: &Agent) -> AgentView {
        AgentView {
            id: agent.id.to_string(),
            workspace_id: agent.workspace_id.to_string(),
            runtime_id: agent.runtime_id.to_string(),
            name: agent.name.clone(),
            description: agent.description.clone(),
            instructions: agent.instructions.clone(),
            status: agent.status.clone(),
            max_concurrent_tasks: agent.max_concurrent_tasks,
            skills: agent.skills.clone(),
            triggers: agent.triggers.as_ref().map(|triggers| {
                triggers
                    .iter()
                    .map(|t| TriggerSpec {
                        kind: t.kind.clone(),
                        enabled: t.enabled,
                    })
                    .collect()
            }),
            archived_at: agent.archived_at.map(go::format_time),
            created_at: go::format_time(agent.created_at),
            updated_at: go::format_time(agent.updated_at),
        }
    }
}

fn triggers_from_specs(specs: &[TriggerSpec]) -> Vec<Trigger> {
    specs
        .iter()
        .map(|s| Trigger {
            kind: s.kind.clone(),
            enabled: s.enabled,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::World;

    #[test]
    fn tokens_authenticate_until_revoked_or_expired() {
        let mut world = World::new();
        let now = world.now;
        let (user, token) = world.state.create_user(&NewUser::default(), now);
        assert_eq!(world.state.authenticate_pat(&token, now), Some(user));
        assert_eq!(world.state.authenticate_pat("mul_unknown", now), None);
        world.state.revoke_token(&token).expect("revoke");
        assert_eq!(world.state.authenticate_pat(&token, now), None);

        let expiring = world
            .state
            .create_token(
                &user.to_string(),
                Some(now + chrono::TimeDelta::seconds(10)),
                now,
            )
            .expect("token")
            .token;
        assert_eq!(world.state.authenticate_pat(&expiring, now), Some(user));
        world.tick(11);
        assert_eq!(world.state.authenticate_pat(&expiring, world.now), None);
    }
}
