//! A logged-in connection to the server for the agent-facing commands: the token,
//! the workspace, and (inside a task) the agent and task ids the server uses to
//! attribute what is done to the agent.

use anyhow::Result;
use multica_api::{ApiError, UserClient};

use crate::failure::Failure;
use crate::settings::Settings;
use crate::{GlobalOptions, VERSION};

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) settings: Settings,
    pub(crate) client: UserClient,
}

impl Session {
    /// Commands that act in a workspace (almost all) need one chosen.
    pub(crate) async fn in_workspace(globals: &GlobalOptions) -> Result<Self> {
        let settings = Settings::load(globals)?;
        settings.require_workspace()?;
        Self::open(settings).await
    }

    /// For commands that name their workspace themselves (`workspace get <id>`).
    pub(crate) async fn anywhere(globals: &GlobalOptions) -> Result<Self> {
        Self::open(Settings::load(globals)?).await
    }

    async fn open(settings: Settings) -> Result<Self> {
        let (token, _) = settings.require_token().await?;
        let mut client = UserClient::new(
            settings.server_url.clone(),
            Some(token),
            &format!("multica-cli/{VERSION}"),
        )
        .map_err(|error| Failure::from_api(&error, "the server", None))?;
        if let Some(workspace) = &settings.workspace_id {
            client = client.with_workspace(workspace.clone());
        }
        if let Some(agent) = &settings.agent_id {
            client = client.with_agent(agent.clone(), settings.task_id.clone());
        }
        Ok(Self { settings, client })
    }

    /// Turns a server error into the CLI's failure, naming what was asked for.
    pub(crate) fn failure<'a>(&'a self, what: &'a str) -> impl Fn(ApiError) -> Failure + 'a {
        move |error| Failure::from_api(&error, what, self.settings.profile.as_deref())
    }

    pub(crate) fn workspace_id(&self) -> String {
        self.settings.workspace_id.clone().unwrap_or_default()
    }
}
