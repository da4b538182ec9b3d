//! Serves a scripted model API for demos and manual runs of the real agent CLIs:
//!
//! ```text
//! fake-model-api --port 8787 --scenario tool-then-answer --command 'ls' --text 'Listed.'
//! ```
//!
//! It prints the environment to point Claude Code at it, then serves until Ctrl-C.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use fake_model_api::{FakeModelApi, Scenario};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScenarioKind {
    /// A Bash tool call running --command, then --text.
    ToolThenAnswer,
    /// --text as a plain answer.
    Answer,
    /// An answer of --bytes bytes.
    HugeAnswer,
    /// Start answering and never finish.
    Hang,
    /// Answer with --status and --body.
    Error,
}

#[derive(Debug, Parser)]
#[command(about = "A scripted Anthropic Messages API on 127.0.0.1")]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, value_enum, default_value = "tool-then-answer")]
    scenario: ScenarioKind,
    #[arg(long, default_value = "echo hello from the tool")]
    command: String,
    #[arg(long, default_value = "Done: the command ran.")]
    text: String,
    #[arg(long, default_value_t = 1024 * 1024)]
    bytes: usize,
    #[arg(long, default_value_t = 400)]
    status: u16,
    #[arg(
        long,
        default_value = r#"{"type":"error","error":{"type":"invalid_request_error","message":"scripted failure"}}"#
    )]
    body: String,
}

impl Args {
    fn scenario(&self) -> Scenario {
        match self.scenario {
            ScenarioKind::ToolThenAnswer => Scenario::ToolThenAnswer {
                command: self.command.clone(),
                final_text: self.text.clone(),
            },
            ScenarioKind::Answer => Scenario::Answer(self.text.clone()),
            ScenarioKind::HugeAnswer => Scenario::HugeAnswer { bytes: self.bytes },
            ScenarioKind::Hang => Scenario::Hang,
            ScenarioKind::Error => Scenario::Error {
                status: self.status,
                body: self.body.clone(),
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("fake_model_api=debug")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let api = FakeModelApi::start_on(
        SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        args.scenario(),
    )
    .await
    .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# fake model API on {} ({:?})",
        api.base_url(),
        args.scenario
    )?;
    for (key, value) in api.claude_env() {
        writeln!(out, "export {key}={value}")?;
    }
    drop(out);

    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    api.shutdown().await;
    Ok(())
}
