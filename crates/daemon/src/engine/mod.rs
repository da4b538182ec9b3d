//! The engine: registers this machine's agent CLIs in every watched workspace,
//! keeps them alive with heartbeats, claims tasks and runs them, and shuts down
//! without abandoning work. Hosts (the desktop app, `multica daemon start`) call
//! [`Engine::start`], then [`Engine::run`], and watch it through an
//! [`EngineHandle`]. This module only wires the engine's parts together and
//! hands each loop the parts it needs.

mod handle;
mod status;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use multica_api::{ApiError, DaemonClient, Secret};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

pub use handle::EngineHandle;

use crate::agent_detection::SkippedAgent;
use crate::agent_set::AgentSet;
use crate::bus::EventBus;
use crate::config::DaemonConfig;
use crate::events::EngineEvent;
use crate::gc::TaskDirLocks;
use crate::grants::{ControlToken, TaskGrants};
use crate::health::HealthReport;
use crate::local_api::{self, ApiState};
use crate::loops::claim::{Claimer, ProviderSlots, SlotNumbers};
use crate::loops::daemon_socket::DaemonSocket;
use crate::loops::gc::GarbageCollector;
use crate::loops::health_watch::HealthWatch;
use crate::loops::heartbeat::Heartbeat;
use crate::loops::outbox::OutboxSender;
use crate::loops::rediscovery::AgentRediscovery;
use crate::loops::repo_refresh::RepoRefresher;
use crate::loops::supervise;
use crate::loops::token_renewal::TokenRenewal;
use crate::loops::usage_scan::UsageScan;
use crate::loops::workspace_watch::WorkspaceWatch;
use crate::outbox::Outbox;
use crate::registry::Registry;
use crate::repo_cache::{RepoCache, RepoRefresh};
use crate::self_update::SelfUpdater;
use crate::server::Server;
use crate::task::TaskKit;
use crate::task_book::TaskBook;
use crate::usage_book::UsageBook;
use crate::workspaces::Registrar;

/// How long stopped tasks get to report after their agents were told to stop.
const STOPPED_TASK_REPORT_BOUND: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "another daemon is already running on 127.0.0.1:{port} (pid {pid}); stop it with `multica daemon stop` or pick another port with --health-port"
    )]
    AlreadyRunning { port: u16, pid: u32 },
    #[error(
        "cannot listen on 127.0.0.1:{port} ({source}); another program uses it: pick another port with --health-port"
    )]
    HealthPortTaken { port: u16, source: std::io::Error },
    #[error("no agent CLI found: install one (e.g. Claude Code: `npm install -g @anthropic-ai/claude-code`) or point MULTICA_<AGENT>_PATH at it (e.g. MULTICA_CLAUDE_PATH){}", skipped_reasons(.skipped))]
    NoAgents { skipped: Vec<SkippedAgent> },
    #[error("the multica CLI for agents was not found at {path}: {source}")]
    MulticaCliMissing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not logged in: run `multica login`, or set MULTICA_TOKEN")]
    NoToken,
    #[error("the server refused the token ({0}); run `multica login` again")]
    TokenRefused(ApiError),
    #[error("cannot build the HTTP client: {0}")]
    Client(ApiError),
}

fn skipped_reasons(skipped: &[SkippedAgent]) -> String {
    let (missing, unusable): (Vec<&SkippedAgent>, Vec<&SkippedAgent>) =
        skipped.iter().partition(|agent| agent.not_installed);
    let mut text: String = unusable
        .iter()
        .map(|agent| format!("\n  - {}: {}", agent.provider, agent.reason))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing
            .iter()
            .map(|agent| agent.provider.as_str())
            .collect();
        text.push_str(&format!("\n  - not installed: {}", names.join(", ")));
    }
    text
}

/// The engine's parts, each owned here and shared with the loops that need it.
#[derive(Debug)]
struct Parts {
    config: Arc<DaemonConfig>,
    started_at: Instant,
    server: Arc<Server>,
    agents: Arc<AgentSet>,
    registry: Arc<Registry>,
    tasks: Arc<TaskBook>,
    bus: Arc<EventBus>,
    outbox: Arc<Outbox>,
    grants: Arc<TaskGrants>,
    task_dirs: Arc<TaskDirLocks>,
    repo_cache: Arc<RepoCache>,
    usage: Arc<UsageBook>,
    /// `None` when the token file could not be written (then `/shutdown` is off).
    control: Option<Arc<ControlToken>>,
    multica_cli: PathBuf,
    /// The host's updater, for the server's update requests (none when headless).
    updater: Arc<OnceLock<Arc<dyn SelfUpdater>>>,
    /// Workspaces whose repositories should be cloned or fetched in the background.
    repo_refresh: mpsc::UnboundedSender<RepoRefresh>,
}

impl Parts {
    fn task_kit(&self) -> TaskKit {
        TaskKit {
            config: Arc::clone(&self.config),
            server: Arc::clone(&self.server),
            agents: Arc::clone(&self.agents),
            tasks: Arc::clone(&self.tasks),
            bus: Arc::clone(&self.bus),
            outbox: Arc::clone(&self.outbox),
            grants: Arc::clone(&self.grants),
            task_dirs: Arc::clone(&self.task_dirs),
            usage: Arc::clone(&self.usage),
            multica_cli: self.multica_cli.clone(),
            control: self.control.clone(),
        }
    }

    fn registrar(&self) -> Registrar {
        Registrar {
            config: Arc::clone(&self.config),
            server: Arc::clone(&self.server),
            agents: Arc::clone(&self.agents),
            registry: Arc::clone(&self.registry),
            tasks: Arc::clone(&self.tasks),
            outbox: Arc::clone(&self.outbox),
            bus: Arc::clone(&self.bus),
            repo_refresh: self.repo_refresh.clone(),
        }
    }

    fn health_report(&self) -> HealthReport {
        status::health_report(status::StatusSources {
            config: &self.config,
            started_at: self.started_at,
            server: &self.server,
            agents: &self.agents,
            registry: &self.registry,
            tasks: &self.tasks,
        })
    }
}

/// A started engine. Create it with [`Engine::start`], then drive it with
/// [`Engine::run`] until the shutdown token fires.
#[derive(Debug)]
pub struct Engine {
    parts: Arc<Parts>,
    health_listener: TcpListener,
    repo_refreshes: mpsc::UnboundedReceiver<RepoRefresh>,
}

impl Engine {
    /// Does everything that can fail before work starts: binds the health port
    /// (which also tells whether another daemon runs), finds the `multica` CLI for
    /// agents, detects agent CLIs and builds the client.
    pub async fn start(config: DaemonConfig, token: Option<Secret>) -> Result<Self, EngineError> {
        let token = token
            .filter(|token| !token.is_empty())
            .ok_or(EngineError::NoToken)?;
        let health_listener = match TcpListener::bind(("127.0.0.1", config.health_port)).await {
            Ok(listener) => listener,
            Err(source) => {
                let port = config.health_port;
                return Err(match running_daemon(port).await {
                    Some(health) => EngineError::AlreadyRunning {
                        port,
                        pid: health.pid,
                    },
                    None => EngineError::HealthPortTaken { port, source },
                });
            }
        };
        // The port may have been 0 (tests): record the one we got, agents need it.
        let mut config = config;
        if let Ok(address) = health_listener.local_addr() {
            config.health_port = address.port();
        }
        let multica_cli =
            config
                .multica_cli
                .canonicalize()
                .map_err(|source| EngineError::MulticaCliMissing {
                    path: config.multica_cli.clone(),
                    source,
                })?;
        let (discovery, detection) = AgentSet::discover(&config.agents, &config.discovery).await;
        if detection.found.is_empty() {
            return Err(EngineError::NoAgents {
                skipped: detection.skipped,
            });
        }
        let user_agent = format!("multica-daemon/{}", config.cli_version);
        let client = DaemonClient::new(config.server_url.clone(), Some(token.clone()), &user_agent)
            .map_err(EngineError::Client)?;
        let control = match ControlToken::create(&config.config_file) {
            Ok(control) => Some(Arc::new(control)),
            Err(error) => {
                warn!(%error, "cannot write the control token; `multica daemon stop` will use a signal");
                None
            }
        };
        let outbox = Outbox::open(config.workspaces_root.join(".outbox"), config.report_retry);
        for task_id in outbox.take_orphans() {
            warn!(%task_id, "a task was left running by a previous daemon process; reporting it as failed");
        }
        let (repo_refresh, repo_refreshes) = mpsc::unbounded_channel();
        let parts = Parts {
            started_at: Instant::now(),
            server: Arc::new(Server::new(client, token)),
            agents: Arc::new(AgentSet::new(discovery, detection)),
            registry: Arc::default(),
            tasks: Arc::default(),
            bus: Arc::default(),
            outbox: Arc::new(outbox),
            grants: Arc::default(),
            task_dirs: Arc::default(),
            repo_cache: Arc::new(RepoCache::new(config.workspaces_root.join(".repos"))),
            usage: Arc::new(UsageBook::new(&config)),
            control,
            multica_cli,
            updater: Arc::default(),
            repo_refresh,
            config: Arc::new(config),
        };
        Ok(Self {
            parts: Arc::new(parts),
            health_listener,
            repo_refreshes,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        EngineHandle::new(Arc::clone(&self.parts))
    }

    /// Runs until `shutdown` fires, then stops claiming, lets running tasks finish
    /// within the grace period, stops the rest, and deregisters.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), EngineError> {
        let parts = self.parts;
        let config = Arc::clone(&parts.config);
        // Stops the loops and the local API, after the tasks are settled.
        let background = CancellationToken::new();
        let loops = TaskTracker::new();
        loops.spawn(local_api::serve(
            api_state(&parts, shutdown.clone(), background.clone()),
            self.health_listener,
        ));
        let agents = parts.agents.provider_names();
        info!(daemon_id = %config.daemon_id, server = %config.server_url, ?agents, "daemon starting");
        parts.bus.emit(EngineEvent::Started {
            daemon_id: config.daemon_id.clone(),
            agents,
        });

        // A refused token is fatal at start: nothing can work, and the user must act.
        let registrar = parts.registrar();
        if let Err(error) = registrar.sync_from_server().await {
            if error.is_unauthorized() {
                background.cancel();
                loops.close();
                loops.wait().await;
                return Err(EngineError::TokenRefused(error));
            }
            warn!(%error, "could not list workspaces from the server; using the configured ones");
        }
        registrar.reconcile().await;
        if parts.registry.registered_count() == 0 {
            warn!(
                config = %config.config_file.display(),
                "no workspace registered yet; watching the config file and the server for workspaces"
            );
        }

        spawn_loops(
            &parts,
            &loops,
            &background,
            self.repo_refreshes,
            registrar.clone(),
        );
        let tasks = TaskTracker::new();
        let stop_tasks = CancellationToken::new();
        let claimer = Claimer {
            kit: parts.task_kit(),
            registry: Arc::clone(&parts.registry),
            slots: Arc::new(Semaphore::new(config.max_concurrent_tasks)),
            slot_numbers: SlotNumbers::new(config.max_concurrent_tasks),
            provider_slots: ProviderSlots::new(config.agents.iter().filter_map(|setting| {
                Some((setting.provider.clone(), setting.max_concurrent_tasks?))
            })),
            tasks: tasks.clone(),
            stop_tasks: stop_tasks.clone(),
        };
        claimer.run(&shutdown).await;

        // Shutdown: no new claims from here on. Running tasks get the grace
        // period, then their agents are stopped and they report that.
        parts.bus.emit(EngineEvent::Stopping);
        tasks.close();
        let running = parts.tasks.count();
        if running > 0 {
            let grace = crate::go_duration::format_duration(config.shutdown_grace);
            info!(running, %grace, "waiting for running tasks before stopping");
        }
        if tokio::time::timeout(config.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            warn!(
                running = parts.tasks.count(),
                "running tasks did not finish within the grace period; stopping their agents"
            );
            stop_tasks.cancel();
            if tokio::time::timeout(STOPPED_TASK_REPORT_BOUND, tasks.wait())
                .await
                .is_err()
            {
                error!("some tasks did not finish reporting; the server will settle them");
            }
        }
        // Deregistered only after the tasks reported: the server fails the running
        // tasks of a runtime that goes offline.
        registrar.deregister_all().await;
        if let Some(control) = &parts.control {
            control.retire();
        }
        background.cancel();
        loops.close();
        loops.wait().await;
        parts.bus.emit(EngineEvent::Stopped);
        info!("daemon stopped");
        Ok(())
    }
}

/// Starts every background loop, each under [`supervise`] with the parts it needs.
fn spawn_loops(
    parts: &Parts,
    loops: &TaskTracker,
    stop: &CancellationToken,
    repo_refreshes: mpsc::UnboundedReceiver<RepoRefresh>,
    registrar: Registrar,
) {
    let config = &parts.config;
    let start = Starter {
        loops,
        server: &parts.server,
        stop,
    };
    let heartbeat = Heartbeat {
        interval: config.heartbeat_interval,
        cli_version: config.cli_version.clone(),
        server: Arc::clone(&parts.server),
        registry: Arc::clone(&parts.registry),
        agents: Arc::clone(&parts.agents),
        updater: Arc::clone(&parts.updater),
    };
    start.run("heartbeat", move |stop| heartbeat.clone().run(stop));
    let socket = DaemonSocket {
        heartbeat_interval: config.heartbeat_interval,
        server: Arc::clone(&parts.server),
        registry: Arc::clone(&parts.registry),
        tasks: Arc::clone(&parts.tasks),
    };
    start.run("daemon socket", move |stop| socket.clone().run(stop));
    let outbox = OutboxSender {
        server: Arc::clone(&parts.server),
        outbox: Arc::clone(&parts.outbox),
    };
    start.run("outbox", move |stop| outbox.clone().run(stop));
    let renewal = TokenRenewal {
        server: Arc::clone(&parts.server),
    };
    start.run("token renewal", move |stop| renewal.clone().run(stop));
    let health = HealthWatch {
        heartbeat_interval: config.heartbeat_interval,
        server: Arc::clone(&parts.server),
        registry: Arc::clone(&parts.registry),
        outbox: Arc::clone(&parts.outbox),
        bus: Arc::clone(&parts.bus),
    };
    start.run("health", move |stop| health.clone().run(stop));
    let gc = GarbageCollector {
        config: Arc::clone(config),
        server: Arc::clone(&parts.server),
        registry: Arc::clone(&parts.registry),
        task_dirs: Arc::clone(&parts.task_dirs),
        repo_cache: Arc::clone(&parts.repo_cache),
    };
    start.run("gc", move |stop| gc.clone().run(stop));
    let refresher = RepoRefresher {
        repo_cache: Arc::clone(&parts.repo_cache),
        requests: Arc::new(tokio::sync::Mutex::new(repo_refreshes)),
    };
    start.run("repo refresh", move |stop| refresher.clone().run(stop));
    let watch = WorkspaceWatch { registrar };
    start.run("workspace watch", move |stop| watch.clone().run(stop));
    if config.usage.scan_interval.is_some() {
        let scan = UsageScan {
            config: Arc::clone(config),
            server: Arc::clone(&parts.server),
            registry: Arc::clone(&parts.registry),
            usage: Arc::clone(&parts.usage),
            bus: Arc::clone(&parts.bus),
        };
        start.run("usage scan", move |stop| scan.clone().run(stop));
    }
    if let Some(interval) = config.agent_rediscovery_interval {
        let rediscovery = AgentRediscovery {
            interval,
            config: Arc::clone(config),
            agents: Arc::clone(&parts.agents),
            registry: Arc::clone(&parts.registry),
            bus: Arc::clone(&parts.bus),
        };
        start.run("agent rediscovery", move |stop| {
            rediscovery.clone().run(stop)
        });
    }
}

/// Starts loops on the tracker, each under [`supervise`].
struct Starter<'a> {
    loops: &'a TaskTracker,
    server: &'a Arc<Server>,
    stop: &'a CancellationToken,
}

impl Starter<'_> {
    fn run<F, Fut>(&self, name: &'static str, make_loop: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.loops.spawn(supervise(
            name,
            Arc::clone(self.server),
            self.stop.clone(),
            make_loop,
        ));
    }
}

fn api_state(parts: &Arc<Parts>, shutdown: CancellationToken, stop: CancellationToken) -> ApiState {
    let reporter = Arc::clone(parts);
    ApiState {
        port: parts.config.health_port,
        health: Arc::new(move || reporter.health_report()),
        bus: Arc::clone(&parts.bus),
        usage: Arc::clone(&parts.usage),
        registry: Arc::clone(&parts.registry),
        repo_cache: Arc::clone(&parts.repo_cache),
        grants: Arc::clone(&parts.grants),
        control: parts.control.clone(),
        ui_dir: parts.config.ui_dir.clone(),
        shutdown,
        stop,
    }
}

/// The daemon answering `/health` on the port, if it is one of ours.
async fn running_daemon(port: u16) -> Option<HealthReport> {
    let url = format!("http://127.0.0.1:{port}/health");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    client.get(url).send().await.ok()?.json().await.ok()
}
