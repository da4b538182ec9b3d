//! `multica`: the command agents call from inside their tasks, the commands people
//! use to log in and check their machine, and the headless daemon. Commands are
//! thin: they parse, call the engine or the API, and print.

mod attachment_command;
mod auth_command;
mod cells;
mod config_command;
mod daemon_command;
mod daemon_logs;
mod disk_usage_command;
mod doctor;
mod failure;
mod issue_command;
mod output;
mod repo_command;
mod session;
mod settings;
mod usage_command;
mod workspace_command;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::output::OutputFormat;

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

const AFTER_HELP: &str = "\
Settings come from flags, then environment variables (MULTICA_SERVER_URL,
MULTICA_WORKSPACE_ID, MULTICA_PROFILE, MULTICA_TOKEN), then the profile's
~/.multica/config.json. Exit codes: 0 ok, 1 error, 2 usage, 3 not logged in or
token refused, 4 not found, 5 refused by the server, 6 server unreachable or
failing, 7 local daemon not running.";

#[derive(Debug, Parser)]
#[command(
    name = "multica",
    version = VERSION,
    about = "Multica from the command line: the local agent daemon, and the commands agents and people use",
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Multica server URL [env: MULTICA_SERVER_URL; default http://localhost:8080].
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    server_url: Option<String>,
    /// Workspace to act in [env: MULTICA_WORKSPACE_ID; config workspace_id].
    #[arg(
        long,
        global = true,
        value_name = "ID",
        help_heading = "Global options"
    )]
    workspace_id: Option<String>,
    /// Configuration profile (e.g. `dev`): its own config, token, daemon and workspaces
    /// [env: MULTICA_PROFILE].
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Global options"
    )]
    profile: Option<String>,
    /// How read commands print: an aligned table, or the server's JSON as it came.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table,
        help_heading = "Global options"
    )]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and change issues, their comments and their agent runs.
    Issue(issue_command::IssueArgs),
    /// List workspaces and members; choose which ones the daemon serves.
    Workspace(workspace_command::WorkspaceArgs),
    /// List the workspace's agents.
    Agent(workspace_command::AgentArgs),
    /// Download attachments.
    Attachment(attachment_command::AttachmentArgs),
    /// Check out a workspace repository (inside an agent task).
    Repo(repo_command::RepoArgs),
    /// Log in: browser sign-in, or --token; the token goes to the OS keychain.
    Login(auth_command::LoginArgs),
    /// Remove the stored login token.
    Logout,
    /// Who you are logged in as.
    Auth(AuthArgs),
    /// Tokens (and their cost) this machine's agents used, from Claude Code and Codex logs.
    Usage(usage_command::UsageArgs),
    /// Show or change the profile's settings (~/.multica/config.json).
    Config(config_command::ConfigArgs),
    /// Run and control the local agent daemon.
    Daemon(daemon_command::DaemonArgs),
    /// Check this machine: agent CLIs, keychain, server, token, port, disk.
    Doctor,
    /// Print a shell completion script, e.g. `multica completions bash > ~/.local/share/bash-completion/completions/multica`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, clap::Args)]
struct AuthArgs {
    #[command(subcommand)]
    action: AuthAction,
}

#[derive(Debug, Subcommand)]
enum AuthAction {
    /// Show the server, the user and where the token comes from.
    Status,
}

/// Options every command may use.
#[derive(Debug, Clone)]
pub(crate) struct GlobalOptions {
    pub(crate) server_url: Option<String>,
    pub(crate) workspace_id: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) output: OutputFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let globals = GlobalOptions {
        server_url: cli.server_url,
        workspace_id: cli.workspace_id,
        profile: cli.profile,
        output: cli.output,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, &globals));
    // Do not wait for stray blocking work (a keychain waiting for an unlock prompt).
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(error) => {
            let (code, message) = failure::report(&error);
            output::error(&message);
            code
        }
    }
}

async fn run(command: Command, globals: &GlobalOptions) -> anyhow::Result<ExitCode> {
    match command {
        Command::Issue(args) => issue_command::run(args, globals).await?,
        Command::Workspace(args) => workspace_command::run(args, globals).await?,
        Command::Agent(args) => workspace_command::run_agent(args, globals).await?,
        Command::Attachment(args) => attachment_command::run(args, globals).await?,
        Command::Repo(args) => repo_command::run(args, globals).await?,
        Command::Login(args) => auth_command::login(args, globals).await?,
        Command::Logout => auth_command::logout(globals).await?,
        Command::Auth(AuthArgs {
            action: AuthAction::Status,
        }) => auth_command::status(globals).await?,
        Command::Usage(args) => usage_command::run(args, globals).await?,
        Command::Config(args) => config_command::run(args, globals).await?,
        Command::Daemon(args) => daemon_command::run(args, globals).await?,
        Command::Doctor => return doctor::run(globals).await,
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "multica", &mut buffer);
            output::raw(&buffer)?;
        }
        Command::Version => output::line(&format!("multica {VERSION}")),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
