//! The `multica-dev-server` command line, shared with `multica dev-server`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::{DemoSeed, DevServer, DevServerConfig};

/// Flags of `multica-dev-server` / `multica dev-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevServerArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8080, env = "MULTICA_DEV_SERVER_PORT")]
    pub port: u16,
    /// Address to bind. The admin API (`/dev/…`) answers loopback clients only.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Create a demo user and a "Demo" workspace, and print the token and the
    /// workspace ID (nothing is written to disk). Once a daemon registers a runtime
    /// in it, a demo agent is created and a demo issue assigned to it.
    #[arg(long)]
    pub demo: bool,
    /// Which server to play: `seed` (contract Part A) or `current` (Part B too:
    /// task tokens, batch claim, idempotent results, cancel-ack…).
    #[arg(long, default_value = "seed", value_parser = ["seed", "current"])]
    pub mode: String,
}

/// What a started server tells its caller to show.
#[derive(Debug, Clone)]
pub struct Ready {
    pub base_url: String,
    pub demo: Option<DemoSeed>,
}

impl Ready {
    /// Lines for the terminal: where the server is and, with `--demo`, how to use it.
    pub fn banner(&self) -> String {
        let mut text = format!(
            "Multica dev server listening on {url}\n\
             Daemon API: {url}/api/daemon   Admin API: {url}/dev   Health: {url}/health\n",
            url = self.base_url
        );
        if let Some(demo) = &self.demo {
            text.push_str(&format!(
                "\nDemo user:      {} <{}>\n\
                 Demo token:     {}\n\
                 Workspace ID:   {} ({})\n\n\
                 Try: MULTICA_SERVER_URL={} MULTICA_TOKEN={} multica daemon start --foreground\n",
                demo.user.name,
                demo.user.email,
                demo.user.token,
                demo.workspace.id,
                demo.workspace.name,
                self.base_url,
                demo.user.token,
            ));
        }
        text
    }
}

/// Runs a dev server until Ctrl-C (or SIGTERM), writing [`Ready::banner`] to
/// standard output once it listens. This is `multica dev-server`.
pub async fn run(args: DevServerArgs) -> std::io::Result<()> {
    run_with(args, |ready| {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        // A closed stdout must not stop the server.
        let _ = stdout.write_all(ready.banner().as_bytes());
        let _ = stdout.flush();
    })
    .await
}

/// Like [`run`], but hands the [`Ready`] information to `on_ready` instead of
/// printing it.
pub async fn run_with(args: DevServerArgs, on_ready: impl FnOnce(&Ready)) -> std::io::Result<()> {
    let server = DevServer::start_on(
        SocketAddr::new(args.host, args.port),
        DevServerConfig {
            mode: if args.mode == "current" {
                crate::ServerMode::Current
            } else {
                crate::ServerMode::Seed
            },
            ..DevServerConfig::default()
        },
    )
    .await?;
    // Listen for signals before announcing readiness, so that a stop request sent
    // right after the banner is not lost.
    let stop = StopSignal::install()?;
    let demo = args.demo.then(|| server.seed_demo());
    if let Some(seed) = &demo {
        tokio::spawn(assign_demo_issue(server.admin(), seed.workspace.id.clone()));
    }
    on_ready(&Ready {
        base_url: server.base_url(),
        demo,
    });
    stop.wait().await;
    tracing::info!("stopping");
    server.shutdown().await;
    Ok(())
}

/// Waits for a daemon to register in the demo workspace, then gives its first
/// runtime an agent and assigns it an issue, so a demo shows a whole task.
async fn assign_demo_issue(admin: crate::Admin, workspace_id: String) {
    use std::time::Duration;
    let runtime = admin
        .wait_until(Duration::from_secs(24 * 3600), |state| {
            state
                .runtimes()
                .into_iter()
                .find(|runtime| runtime.workspace_id == workspace_id)
        })
        .await;
    let Ok(runtime) = runtime else { return };
    let agent = admin.create_agent(crate::NewAgent {
        workspace_id: workspace_id.clone(),
        runtime_id: runtime.id.clone(),
        name: "Demo Agent".to_owned(),
        instructions: "You are a demo. Keep answers short.".to_owned(),
        ..crate::NewAgent::default()
    });
    let issue = admin.create_issue(crate::NewIssue {
        workspace_id,
        title: "Check that the multica CLI works".to_owned(),
        description: Some("Run `multica --version` and report what it printed.".to_owned()),
        ..crate::NewIssue::default()
    });
    let (Ok(agent), Ok(issue)) = (agent, issue) else {
        tracing::warn!("could not create the demo agent and issue");
        return;
    };
    match admin.assign_issue(&issue.id, Some(&agent.id)) {
        Ok(Some(task)) => {
            tracing::info!(issue = %issue.identifier, task = %task.id, provider = %runtime.provider, "demo issue assigned");
            let task_id = task.id;
            let ended = admin
                .wait_until(Duration::from_secs(3600), |state| {
                    state
                        .task(&task_id)
                        .filter(|task| task.status.is_terminal())
                })
                .await;
            if let Ok(task) = ended {
                let output = task
                    .result
                    .as_ref()
                    .and_then(|result| result.get("output"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                tracing::info!(
                    status = %task.status,
                    messages = task.messages.len(),
                    output = %output,
                    error = %task.error.unwrap_or_default(),
                    "demo task ended"
                );
            }
        }
        Ok(None) => tracing::warn!("assigning the demo issue enqueued no task"),
        Err(error) => tracing::warn!(%error, "could not assign the demo issue"),
    }
}

#[cfg(unix)]
struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignal {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct StopSignal;

#[cfg(not(unix))]
impl StopSignal {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
