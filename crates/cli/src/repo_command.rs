//! `multica repo checkout <url> [--ref R]`: asks the local daemon, which keeps a
//! cache of the workspace's repositories, for a git worktree inside the agent's
//! work directory. Only works inside a task: the daemon checks the task's own
//! bearer token and that the work directory is the task's.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::GlobalOptions;
use crate::failure::{Failure, FailureKind};
use crate::output::{self, OutputFormat};

/// A checkout may clone a large repository first.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The longest wait between two tries while the repository is busy.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(10);
/// The per-task bearer of the local API; `MULTICA_TOKEN` is the fallback, as with
/// the upstream CLI on servers that issue task tokens.
const LOCAL_API_TOKEN_ENV: &str = "MULTICA_LOCAL_API_TOKEN";

#[derive(Debug, Args)]
pub(crate) struct RepoArgs {
    #[command(subcommand)]
    action: RepoAction,
}

#[derive(Debug, Subcommand)]
enum RepoAction {
    /// Check out a workspace repository into the current directory's task work dir
    /// (a git worktree on a new branch `agent/<agent>/<task>`); prints its path.
    Checkout {
        /// The repository URL, as listed in the workspace.
        url: String,
        /// Branch, tag or commit to start from (default: the default branch).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct CheckoutResponse {
    path: String,
    branch_name: String,
    /// Set when the daemon could not fetch and used its cached copy.
    #[serde(default)]
    warning: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

pub(crate) async fn run(args: RepoArgs, globals: &GlobalOptions) -> Result<()> {
    let RepoAction::Checkout { url, git_ref } = args.action;
    let port = env("MULTICA_DAEMON_PORT").ok_or_else(|| {
        Failure::daemon(
            "MULTICA_DAEMON_PORT is not set: `multica repo checkout` runs inside an agent task, \
             where the daemon sets it",
        )
    })?;
    let token = env(LOCAL_API_TOKEN_ENV)
        .or_else(|| env("MULTICA_TOKEN"))
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Auth,
                format!("{LOCAL_API_TOKEN_ENV} is not set: the daemon gives it to each task"),
            )
        })?;
    let workdir = std::env::current_dir().context("cannot read the current directory")?;
    let body = json!({
        "url": url,
        "workspace_id": globals.workspace_id.clone().or_else(|| env("MULTICA_WORKSPACE_ID")).unwrap_or_default(),
        "workdir": workdir,
        "ref": git_ref.unwrap_or_default(),
        "agent_name": env("MULTICA_AGENT_NAME").unwrap_or_default(),
        "task_id": env("MULTICA_TASK_ID").unwrap_or_default(),
        "checkout_mode": env("MULTICA_REPO_CHECKOUT_MODE").unwrap_or_default(),
        "retry_busy": true,
    });
    let endpoint = format!("http://127.0.0.1:{port}/repo/checkout");
    let client = reqwest::Client::builder()
        .timeout(CHECKOUT_TIMEOUT)
        .build()
        .context("cannot build an HTTP client")?;
    let deadline = tokio::time::Instant::now() + CHECKOUT_TIMEOUT;
    let response = loop {
        let response = client
            .post(&endpoint)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                Failure::daemon(format!(
                    "cannot reach the local daemon on 127.0.0.1:{port} ({error}); is it running?"
                ))
            })?;
        let busy = response.status() == StatusCode::SERVICE_UNAVAILABLE
            && response
                .headers()
                .get("X-Multica-Retryable")
                .is_some_and(|v| v.as_bytes() == b"repo-busy");
        if !busy {
            break response;
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(2), Duration::from_secs)
            .min(MAX_BUSY_WAIT);
        if tokio::time::Instant::now() + wait > deadline {
            return Err(Failure::daemon(
                "the repository stayed busy with other checkouts for 5 minutes; try again",
            )
            .into());
        }
        output::note("The repository is busy with another checkout; waiting...");
        tokio::time::sleep(wait).await;
    };
    let status = response.status();
    let text = response
        .text()
        .await
        .context("the daemon's answer broke off")?;
    if !status.is_success() {
        let kind = match status {
            StatusCode::UNAUTHORIZED => FailureKind::Auth,
            StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
                FailureKind::Rejected
            }
            _ => FailureKind::General,
        };
        return Err(Failure::new(kind, format!("checkout failed: {}", text.trim())).into());
    }
    let not_a_checkout = |error: serde_json::Error| {
        Failure::daemon(format!(
            "the daemon's answer is not a checkout ({error}): {text}"
        ))
    };
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(not_a_checkout)?;
    let checkout = CheckoutResponse::deserialize(&raw).map_err(not_a_checkout)?;
    if let Some(warning) = &checkout.warning {
        output::note(&format!("warning: {warning}"));
    }
    match globals.output {
        OutputFormat::Json => output::json(&raw)?,
        OutputFormat::Table => {
            output::line(&checkout.path);
            output::note(&format!("on branch {}", checkout.branch_name));
        }
    }
    Ok(())
}
