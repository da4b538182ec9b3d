//! `multica workspace list|get|members|watch|unwatch` and `multica agent list`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::GlobalOptions;
use crate::cells;
use crate::failure::Failure;
use crate::output::{self, OutputFormat};
use crate::session::Session;

#[derive(Debug, Args)]
pub(crate) struct WorkspaceArgs {
    #[command(subcommand)]
    action: WorkspaceAction,
}

#[derive(Debug, Subcommand)]
enum WorkspaceAction {
    /// The workspaces you are a member of.
    List,
    /// One workspace (default: the current one).
    Get { id: Option<String> },
    /// A workspace's members, with the user ids used for assignment and mentions.
    Members { id: Option<String> },
    /// Let the daemon serve this workspace (it picks the change up while running).
    Watch { id: String },
    /// Stop serving this workspace.
    Unwatch { id: String },
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    #[command(subcommand)]
    action: AgentAction,
}

#[derive(Debug, Subcommand)]
enum AgentAction {
    /// The workspace's agents.
    List {
        /// Include archived agents.
        #[arg(long)]
        include_archived: bool,
    },
}

/// The workspace named on the command line, else the current one.
fn chosen(session: &Session, id: Option<String>) -> Result<String, Failure> {
    match id {
        Some(id) => Ok(id),
        None => session.settings.require_workspace(),
    }
}

pub(crate) async fn run(args: WorkspaceArgs, globals: &GlobalOptions) -> Result<()> {
    let session = Session::anywhere(globals).await?;
    let format = globals.output;
    match args.action {
        WorkspaceAction::List => {
            let workspaces = session
                .client
                .list_workspaces()
                .await
                .map_err(session.failure("your workspaces"))?;
            let watched: Vec<&str> = session
                .settings
                .config
                .watched_workspaces
                .iter()
                .map(|w| w.id.as_str())
                .collect();
            print_list(
                &workspaces,
                format,
                |workspace| {
                    let id = cells::text(workspace, "id");
                    let watching = if watched.contains(&id.as_str()) {
                        "yes"
                    } else {
                        ""
                    };
                    vec![
                        id,
                        cells::text(workspace, "name"),
                        cells::text(workspace, "slug"),
                        watching.to_owned(),
                    ]
                },
                &["ID", "NAME", "SLUG", "WATCHED"],
            )
        }
        WorkspaceAction::Get { id } => {
            let id = chosen(&session, id)?;
            let workspace = session
                .client
                .get_workspace(&id)
                .await
                .map_err(session.failure(&format!("workspace {id}")))?;
            match format {
                OutputFormat::Json => output::json(&workspace),
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> =
                        ["id", "name", "slug", "description", "created_at"]
                            .iter()
                            .map(|field| vec![(*field).to_owned(), cells::text(&workspace, field)])
                            .collect();
                    output::table(&["FIELD", "VALUE"], &rows);
                    Ok(())
                }
            }
        }
        WorkspaceAction::Members { id } => {
            let id = chosen(&session, id)?;
            let members = session
                .client
                .workspace_members(&id)
                .await
                .map_err(session.failure(&format!("workspace {id}")))?;
            print_list(
                &members,
                format,
                |member| {
                    vec![
                        cells::text(member, "user_id"),
                        cells::text(member, "name"),
                        cells::text(member, "email"),
                        cells::text(member, "role"),
                    ]
                },
                &["USER ID", "NAME", "EMAIL", "ROLE"],
            )
        }
        WorkspaceAction::Watch { id } => {
            let workspace = session
                .client
                .get_workspace(&id)
                .await
                .map_err(session.failure(&format!("workspace {id}")))?;
            let name = cells::text(&workspace, "name");
            let mut config = session.settings.config.clone();
            let added = config.watch(&id, &name);
            config.save(&session.settings.config_path)?;
            output::note(&if added {
                format!("Watching {name} ({id}). A running daemon picks it up within seconds.")
            } else {
                format!("Already watching {name} ({id}).")
            });
            Ok(())
        }
        WorkspaceAction::Unwatch { id } => {
            let mut config = session.settings.config.clone();
            if config.unwatch(&id) {
                config.save(&session.settings.config_path)?;
                output::note(&format!("No longer watching {id}."));
            } else {
                output::note(&format!("{id} was not watched."));
            }
            Ok(())
        }
    }
}

pub(crate) async fn run_agent(args: AgentArgs, globals: &GlobalOptions) -> Result<()> {
    let session = Session::in_workspace(globals).await?;
    let AgentAction::List { include_archived } = args.action;
    let agents = session
        .client
        .list_agents(include_archived)
        .await
        .map_err(session.failure("the workspace's agents"))?;
    print_list(
        &agents,
        globals.output,
        |agent| {
            vec![
                cells::text(agent, "id"),
                cells::text(agent, "name"),
                cells::text(agent, "status"),
                cells::text(agent, "runtime_mode"),
                cells::short_id(agent, "runtime_id"),
                cells::text(agent, "visibility"),
            ]
        },
        &["ID", "NAME", "STATUS", "MODE", "RUNTIME", "VISIBILITY"],
    )
}

fn print_list(
    answer: &Value,
    format: OutputFormat,
    row: impl Fn(&Value) -> Vec<String>,
    headers: &[&str],
) -> Result<()> {
    match format {
        OutputFormat::Json => output::json(answer),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = cells::items(answer, "items").iter().map(row).collect();
            output::table(headers, &rows);
            Ok(())
        }
    }
}
