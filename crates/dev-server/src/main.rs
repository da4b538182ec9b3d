//! `multica-dev-server`: an in-memory Multica server for tests and demos.

use anyhow::Context as _;
use clap::Parser;
use multica_dev_server::cli::{DevServerArgs, run_with};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "multica-dev-server",
    version,
    about = "An in-memory Multica server for tests and demos"
)]
struct Cli {
    #[command(flatten)]
    args: DevServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    run_with(cli.args, |ready| {
        #[allow(clippy::print_stdout, reason = "the banner is this binary's output")]
        {
            print!("{}", ready.banner());
        }
    })
    .await
    .context("the dev server failed")
}
