//! `multica`: the command agents call from inside their tasks, and the headless
//! daemon. Commands are thin: they parse, call the engine or the API, and print.

mod daemon_command;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "multica",
    version = VERSION,
    about = "Multica from the command line: the local agent daemon and the commands agents use",
    propagate_version = true
)]
struct Cli {
    /// Multica server URL (env: MULTICA_SERVER_URL).
    #[arg(long, global = true)]
    server_url: Option<String>,
    /// Configuration profile (e.g. `dev`); isolates config, daemon state and workspaces.
    #[arg(long, global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run and control the local agent daemon.
    Daemon(daemon_command::DaemonArgs),
    /// Run an in-memory Multica server for tests and demos (loopback only).
    DevServer(multica_dev_server::cli::DevServerArgs),
    /// Print the version.
    Version,
}

/// Options every command may use.
#[derive(Debug, Clone)]
pub(crate) struct GlobalOptions {
    pub(crate) server_url: Option<String>,
    pub(crate) profile: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let globals = GlobalOptions {
        server_url: cli.server_url,
        profile: cli.profile,
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Daemon(args) => daemon_command::run(args, &globals).await,
            Command::DevServer(args) => {
                output::init_console_logging();
                multica_dev_server::cli::run(args)
                    .await
                    .map_err(anyhow::Error::from)
            }
            Command::Version => {
                output::line(&format!("multica {VERSION}"));
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(&format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}
