//! The engine: registers this machine's agent CLIs in every watched workspace,
//! keeps them alive with heartbeats, claims tasks and runs them, and shuts down
//! without abandoning work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use multica_agents::Provider;
use multica_api::wire::{RegisterRequest, RepoRef, RuntimeRegistration};
use multica_api::{ApiError, DaemonClient, Secret};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::agent_detection::{DetectedAgent, SkippedAgent, detect_agents};
use crate::cli_config::CliConfig;
use crate::config::DaemonConfig;
use crate::discovery::{Discovery, discover};
use crate::events::EngineEvent;
use crate::gc::{Collector, IssueState, IssueStates, TaskDirLocks};
use crate::heartbeat;
use crate::local_api::{self, ControlToken, HealthReport, TaskGrants};
use crate::outbox::Outbox;
use crate::repo_cache::RepoCache;
use crate::server_features::ServerFeatures;
use crate::supervision::supervised;
use crate::task_runner;

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUS_CAPACITY: usize = 1024;

/// The timeout of the deregistration on shutdown, as in the Go daemon.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A runtime the server gave us for one provider in one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeBinding {
    pub id: String,
    pub workspace_id: String,
    pub provider: Provider,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RegisteredWorkspace {
    pub(crate) runtimes: Vec<RuntimeBinding>,
    pub(crate) repos: Vec<RepoRef>,
}

/// A task being worked on, for status reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActiveTask {
    pub task_id: String,
    pub issue_id: String,
    pub workspace_id: String,
    pub provider: String,
    pub started_at_unix: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) workspaces: BTreeMap<String, RegisteredWorkspace>,
    /// Workspaces whose registration must be (re)done at the next reconcile.
    pub(crate) stale: BTreeSet<String>,
}

impl Registry {
    pub(crate) fn runtimes(&self) -> Vec<RuntimeBinding> {
        self.workspaces
            .values()
            .flat_map(|workspace| workspace.runtimes.iter().cloned())
            .collect()
    }
}

/// State shared by the engine's loops and tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: DaemonConfig,
    pub(crate) client: DaemonClient,
    pub(crate) token: Secret,
    /// The agent CLIs found by the last discovery.
    pub(crate) agents: Mutex<Arc<Vec<DetectedAgent>>>,
    /// The configured agent CLIs the last discovery could not use, and why.
    pub(crate) skipped_agents: Mutex<Arc<Vec<SkippedAgent>>>,
    /// When the server last confirmed each runtime (registration or heartbeat), by id.
    pub(crate) runtime_seen: Mutex<BTreeMap<String, SystemTime>>,
    /// The search path and login-shell variables of the last discovery.
    pub(crate) discovery: Mutex<Arc<Discovery>>,
    pub(crate) multica_cli: PathBuf,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) active: Mutex<BTreeMap<String, ActiveTask>>,
    pub(crate) events: broadcast::Sender<EngineEvent>,
    pub(crate) started_at: Instant,
    /// Running tasks per provider, for the per-provider caps.
    pub(crate) running_per_provider: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Wakes the claim loop early: a slot freed up or a workspace was registered.
    pub(crate) wake_claims: Notify,
    /// The local API bearer tokens of running tasks.
    pub(crate) grants: Arc<TaskGrants>,
    /// `None` when the token file could not be written (then `/shutdown` is off).
    pub(crate) control: Option<Arc<ControlToken>>,
    pub(crate) repo_cache: RepoCache,
    /// Results and last transcripts not yet delivered, on disk.
    pub(crate) outbox: Outbox,
    /// What of the current server protocol this server offers.
    pub(crate) features: ServerFeatures,
    /// What the engine's health is derived from, and the state derived.
    pub(crate) vitals: crate::supervision::Vitals,
    pub(crate) state: Mutex<crate::supervision::EngineState>,
    /// Heartbeat acks over the daemon socket (current servers).
    pub(crate) socket: crate::wakeups::SocketHealth,
    /// Asks the workspace loop to sync with the server now.
    pub(crate) wake_workspace_sync: Notify,
    /// The ETag of the last workspace list (current servers).
    pub(crate) workspaces_etag: Mutex<Option<String>>,
    /// Runtimes whose orphans were recovered by this process.
    pub(crate) recovered_runtimes: Mutex<BTreeSet<String>>,
    /// Task directories in use, by tasks or by the collector.
    pub(crate) task_dirs: Arc<TaskDirLocks>,
    /// Workspaces whose repositories should be cloned or fetched in the background.
    pub(crate) repo_refresh: mpsc::UnboundedSender<RepoRefresh>,
    /// Per-task usage and the last scan of the machine's agent logs.
    pub(crate) usage: crate::usage::UsageState,
    /// No new tasks are claimed while set; running ones go on.
    pub(crate) paused: std::sync::atomic::AtomicBool,
    /// Stops running tasks from this machine, by task id.
    pub(crate) local_cancels: Mutex<BTreeMap<String, CancellationToken>>,
    /// Recent tasks and transcripts, for hosts that open after a task started.
    pub(crate) history: crate::history::TaskHistory,
    /// The host's updater, for the server's update requests (none when headless).
    pub(crate) self_updater: std::sync::OnceLock<Arc<dyn crate::self_update::SelfUpdater>>,
}

/// A request to bring a workspace's cached repositories up to date.
#[derive(Debug)]
pub(crate) struct RepoRefresh {
    pub(crate) workspace_id: String,
    pub(crate) urls: Vec<String>,
}

impl Shared {
    /// The token that stops `task_id` from this machine (made on first ask).
    pub(crate) fn local_cancel_for(&self, task_id: &str) -> CancellationToken {
        self.local_cancels
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .entry(task_id.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn forget_local_cancel(&self, task_id: &str) {
        self.local_cancels
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(task_id);
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.registry
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn active(&self) -> MutexGuard<'_, BTreeMap<String, ActiveTask>> {
        self.active
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn emit(&self, event: EngineEvent) {
        self.history.observe(&event);
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// The control token's text, for redaction ("" when there is none).
    pub(crate) fn control_token_text(&self) -> &str {
        self.control
            .as_ref()
            .map_or("", |control| control.secret().expose())
    }

    pub(crate) fn agents(&self) -> Arc<Vec<DetectedAgent>> {
        Arc::clone(
            &self
                .agents
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    pub(crate) fn skipped_agents(&self) -> Arc<Vec<SkippedAgent>> {
        Arc::clone(
            &self
                .skipped_agents
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    /// The server just confirmed these runtimes.
    pub(crate) fn runtimes_seen<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let now = SystemTime::now();
        let mut seen = self
            .runtime_seen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for id in ids {
            seen.insert(id.to_owned(), now);
        }
    }

    /// When the server last confirmed each runtime it confirmed in this process.
    pub(crate) fn runtimes_last_seen(&self) -> BTreeMap<String, SystemTime> {
        self.runtime_seen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    pub(crate) fn discovery(&self) -> Arc<Discovery> {
        Arc::clone(
            &self
                .discovery
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    /// Records what a call to the server says about reaching it: an answer after
    /// an outage sends what waits in the outbox at once.
    pub(crate) fn note_answer<T>(&self, result: &Result<T, ApiError>) {
        match result {
            // Transport errors, 5xx, 408, 429: the server is not there for us.
            Err(error) if error.is_retryable() => self.vitals.unreachable(error.to_string()),
            Err(error) if error.is_unauthorized() => {
                if !self.vitals.is_token_refused() {
                    error!("the server refused the login token: log in again");
                }
                self.vitals.token_refused(true);
                self.vitals.contact();
            }
            Ok(_) => {
                self.vitals.token_refused(false);
                if self.vitals.was_unreachable() {
                    self.outbox.server_is_back();
                }
                self.vitals.contact();
            }
            _ => {
                if self.vitals.was_unreachable() {
                    self.outbox.server_is_back();
                }
                self.vitals.contact();
            }
        }
    }

    pub(crate) fn agent_for(&self, provider: &Provider) -> Option<DetectedAgent> {
        self.agents()
            .iter()
            .find(|agent| agent.provider == *provider)
            .cloned()
    }
}

/// A started engine. Create it with [`Engine::start`], then drive it with
/// [`Engine::run`] until the shutdown token fires.
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    health_listener: TcpListener,
    repo_refreshes: mpsc::UnboundedReceiver<RepoRefresh>,
}

/// A cheap handle for hosts: subscribe to events, read status.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl EngineHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.shared.events.subscribe()
    }

    pub fn active_tasks(&self) -> Vec<ActiveTask> {
        self.shared.active().values().cloned().collect()
    }

    pub fn runtimes(&self) -> Vec<RuntimeBinding> {
        self.shared.registry().runtimes()
    }

    pub fn agents(&self) -> Vec<DetectedAgent> {
        self.shared.agents().as_ref().clone()
    }

    /// What `/health` would answer now.
    pub fn health(&self) -> crate::local_api::HealthReport {
        crate::local_api::health_report(&self.shared)
    }

    pub fn health_port(&self) -> u16 {
        self.shared.config.health_port
    }

    /// Token usage from `since` (default: the last 30 days): the machine's, from
    /// the agents' logs, and the daemon's runs.
    pub fn usage(&self, since: Option<chrono::NaiveDate>) -> crate::usage::UsageReport {
        self.shared.usage.report(since)
    }

    /// The server refuses the login token (401 on the daemon's calls): a new login is
    /// needed. Tasks that hold their own task tokens go on meanwhile.
    pub fn token_refused(&self) -> bool {
        self.shared.vitals.is_token_refused()
    }

    /// The last tasks, newest first, with their state, progress and tokens.
    pub fn recent_tasks(&self) -> Vec<crate::history::TaskSummary> {
        self.shared.history.recent()
    }

    /// A recent task's transcript (as sent to the server, secrets redacted) after
    /// `after_seq`; `None` when the task is not among the recent ones.
    pub fn transcript(
        &self,
        task_id: &str,
        after_seq: Option<u64>,
    ) -> Option<Vec<multica_api::wire::TaskMessage>> {
        self.shared.history.transcript(task_id, after_seq)
    }

    /// Lets the server's update requests go to the host's updater (once).
    pub fn set_self_updater(&self, updater: Arc<dyn crate::self_update::SelfUpdater>) {
        let _ = self.shared.self_updater.set(updater);
    }

    /// Stops or resumes taking new tasks; running tasks go on either way.
    pub fn set_paused(&self, paused: bool) {
        let was = self
            .shared
            .paused
            .swap(paused, std::sync::atomic::Ordering::Relaxed);
        if was != paused {
            info!(
                paused,
                "taking new tasks {}",
                if paused { "paused" } else { "resumed" }
            );
            self.shared.emit(EngineEvent::PausedChanged { paused });
            self.shared.wake_claims.notify_one();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.shared
            .paused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops a running task's agent and reports the task failed ("stopped on this
    /// machine"). `false` when no such task runs here.
    pub fn cancel_task(&self, task_id: &str) -> bool {
        let running = self.shared.active().contains_key(task_id);
        if running {
            self.shared.local_cancel_for(task_id).cancel();
        }
        running
    }

    /// Asks for a scan of the agents' logs soon (scans are at least 10 s apart).
    pub fn rescan_usage(&self) {
        self.shared.usage.wake.notify_one();
    }
}

impl Engine {
    /// Does everything that can fail before work starts: binds the health port (which
    /// also tells whether another daemon runs), finds the `multica` CLI for agents,
    /// detects agent CLIs and builds the client.
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

        let discovery = discover(&config.discovery).await;
        let detection = detect_agents(&config.agents, discovery.joined_path().as_deref()).await;
        for skipped in &detection.skipped {
            if skipped.not_installed {
                debug!(provider = %skipped.provider, reason = %skipped.reason, "agent CLI not installed");
            } else {
                warn!(provider = %skipped.provider, reason = %skipped.reason, "agent CLI cannot be used");
            }
        }
        if detection.found.is_empty() {
            return Err(EngineError::NoAgents {
                skipped: detection.skipped,
            });
        }
        for agent in &detection.found {
            info!(provider = %agent.provider, version = %agent.version, path = %agent.executable.display(), "agent CLI found");
        }

        let user_agent = format!("multica-daemon/{}", config.cli_version);
        let client = DaemonClient::new(config.server_url.clone(), Some(token.clone()), &user_agent)
            .map_err(EngineError::Client)?;
        let (events, _) = broadcast::channel(EVENT_BUS_CAPACITY);
        let control = match ControlToken::create(&config.config_file) {
            Ok(control) => Some(Arc::new(control)),
            Err(error) => {
                warn!(%error, "cannot write the control token; `multica daemon stop` will use a signal");
                None
            }
        };
        let repo_cache = RepoCache::new(config.workspaces_root.join(".repos"));
        let outbox = Outbox::open(config.workspaces_root.join(".outbox"), config.report_retry);
        for task_id in outbox.take_orphans() {
            warn!(%task_id, "a task was left running by a previous daemon process; reporting it as failed");
        }
        let (repo_refresh, repo_refreshes) = mpsc::unbounded_channel();
        let usage = crate::usage::UsageState::new(&config);
        let shared = Arc::new(Shared {
            config,
            client,
            token,
            agents: Mutex::new(Arc::new(detection.found)),
            skipped_agents: Mutex::new(Arc::new(detection.skipped)),
            runtime_seen: Mutex::new(BTreeMap::new()),
            discovery: Mutex::new(Arc::new(discovery)),
            multica_cli,
            registry: Mutex::new(Registry::default()),
            active: Mutex::new(BTreeMap::new()),
            events,
            started_at: Instant::now(),
            running_per_provider: Arc::new(Mutex::new(BTreeMap::new())),
            wake_claims: Notify::new(),
            grants: Arc::new(TaskGrants::default()),
            repo_cache,
            outbox,
            features: ServerFeatures::default(),
            usage,
            paused: std::sync::atomic::AtomicBool::new(false),
            local_cancels: Mutex::new(BTreeMap::new()),
            self_updater: std::sync::OnceLock::new(),
            history: crate::history::TaskHistory::default(),
            recovered_runtimes: Mutex::new(BTreeSet::new()),
            workspaces_etag: Mutex::new(None),
            socket: crate::wakeups::SocketHealth::default(),
            vitals: crate::supervision::Vitals::default(),
            state: Mutex::new(crate::supervision::EngineState::Starting),
            wake_workspace_sync: Notify::new(),
            task_dirs: Arc::new(TaskDirLocks::default()),
            repo_refresh,
            control,
        });
        Ok(Self {
            shared,
            health_listener,
            repo_refreshes,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs until `shutdown` fires, then stops claiming, lets running tasks finish
    /// within the grace period, stops the rest, and deregisters.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), EngineError> {
        let shared = self.shared;
        let background = CancellationToken::new();
        let stop_tasks = CancellationToken::new();
        let loops = TaskTracker::new();
        let tasks = TaskTracker::new();

        loops.spawn(local_api::serve(
            Arc::clone(&shared),
            self.health_listener,
            shared.control.clone(),
            shutdown.clone(),
            background.clone(),
        ));

        info!(
            daemon_id = %shared.config.daemon_id,
            server = %shared.config.server_url,
            agents = ?shared.agents().iter().map(|a| a.provider.as_str()).collect::<Vec<_>>(),
            "daemon starting"
        );
        shared.emit(EngineEvent::Started {
            daemon_id: shared.config.daemon_id.clone(),
            agents: shared
                .agents()
                .iter()
                .map(|a| a.provider.to_string())
                .collect(),
        });

        // A refused token is fatal at start: nothing can work, and the user must act.
        if let Err(error) = sync_workspaces_from_server(&shared).await {
            if error.is_unauthorized() {
                background.cancel();
                loops.close();
                loops.wait().await;
                return Err(EngineError::TokenRefused(error));
            }
            warn!(%error, "could not list workspaces from the server; using the configured ones");
        }
        reconcile_workspaces(&shared).await;
        if shared.registry().workspaces.is_empty() {
            warn!(
                config = %shared.config.config_file.display(),
                "no workspace registered yet; watching the config file and the server for workspaces"
            );
        }

        // A loop that fails is started again (see `supervision`); the claim loop
        // below is this task itself.
        let (own, stop) = (&shared, &background);
        loops.spawn(supervised(
            "heartbeat",
            Arc::clone(own),
            stop.clone(),
            heartbeat::run,
        ));
        loops.spawn(supervised("gc", Arc::clone(own), stop.clone(), gc_loop));
        loops.spawn(supervised(
            "outbox",
            Arc::clone(own),
            stop.clone(),
            outbox_loop,
        ));
        loops.spawn(supervised(
            "token renewal",
            Arc::clone(own),
            stop.clone(),
            token_renewal_loop,
        ));
        loops.spawn(supervised(
            "daemon socket",
            Arc::clone(own),
            stop.clone(),
            crate::wakeups::run,
        ));
        loops.spawn(supervised(
            "state",
            Arc::clone(own),
            stop.clone(),
            crate::supervision::state_loop,
        ));
        if shared.config.usage.scan_interval.is_some() {
            loops.spawn(supervised(
                "usage scan",
                Arc::clone(own),
                stop.clone(),
                crate::usage::scan_loop,
            ));
        }
        loops.spawn(repo_refresh_loop(
            Arc::clone(&shared),
            self.repo_refreshes,
            background.clone(),
        ));
        loops.spawn(workspace_watch_loop(Arc::clone(&shared), shutdown.clone()));
        if let Some(interval) = shared.config.agent_rediscovery_interval {
            loops.spawn(rediscovery_loop(
                Arc::clone(&shared),
                interval,
                background.clone(),
            ));
        }
        claim_loop(&shared, &shutdown, &tasks, &stop_tasks).await;

        // Shutdown: no new claims from here on.
        shared.emit(EngineEvent::Stopping);
        tasks.close();
        let running = shared.active().len();
        if running > 0 {
            info!(
                running,
                grace = %crate::go_duration::format_duration(shared.config.shutdown_grace),
                "waiting for running tasks before stopping"
            );
        }
        if tokio::time::timeout(shared.config.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            warn!(
                running = shared.active().len(),
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

        deregister_all(&shared).await;
        if let Some(control) = &shared.control {
            control.retire();
        }
        background.cancel();
        loops.close();
        loops.wait().await;
        shared.emit(EngineEvent::Stopped);
        info!("daemon stopped");
        Ok(())
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

/// A running task's place under its provider's cap (`max_concurrent_tasks` of
/// the agent's settings); given back on drop.
#[derive(Debug)]
struct ProviderSlot {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    provider: String,
}

impl ProviderSlot {
    /// How many more tasks the provider may run (`None`: no cap of its own).
    fn room(shared: &Shared, provider: &Provider) -> Option<usize> {
        let cap = Self::cap(shared, provider)?;
        let counts = shared
            .running_per_provider
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        Some(cap.saturating_sub(counts.get(provider.as_str()).copied().unwrap_or(0)))
    }

    fn cap(shared: &Shared, provider: &Provider) -> Option<usize> {
        shared
            .config
            .agents
            .iter()
            .find(|setting| setting.provider == *provider)
            .and_then(|setting| setting.max_concurrent_tasks)
    }

    /// `None` when the provider already runs as many tasks as it may.
    fn try_take(shared: &Shared, provider: &Provider) -> Option<Self> {
        let cap = Self::cap(shared, provider);
        let mut counts = shared
            .running_per_provider
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let running = counts.entry(provider.to_string()).or_insert(0);
        if cap.is_some_and(|cap| *running >= cap) {
            return None;
        }
        *running += 1;
        Some(Self {
            counts: Arc::clone(&shared.running_per_provider),
            provider: provider.to_string(),
        })
    }
}

impl Drop for ProviderSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(running) = counts.get_mut(&self.provider) {
            *running = running.saturating_sub(1);
        }
    }
}

/// Runs a claimed task on the tracker; its slots are given back when it ends.
fn spawn_task(
    shared: &Arc<Shared>,
    tasks: &TaskTracker,
    task: multica_api::wire::AgentTask,
    runtime: RuntimeBinding,
    stop: CancellationToken,
    slot: tokio::sync::OwnedSemaphorePermit,
    provider_slot: ProviderSlot,
) {
    let shared = Arc::clone(shared);
    tasks.spawn(async move {
        task_runner::run_task(&shared, task, runtime, stop).await;
        drop(provider_slot);
        drop(slot);
        shared.wake_claims.notify_one();
    });
}

/// Current servers: one request per provider claims for all its runtimes, as
/// many tasks as there are free slots (and room under the provider's cap).
/// `None` when the server has no batch claim (then claims go per runtime).
async fn claim_batch(
    shared: &Arc<Shared>,
    runtimes: &[RuntimeBinding],
    slots: &Arc<Semaphore>,
    tasks: &TaskTracker,
    stop_tasks: &CancellationToken,
) -> Option<usize> {
    let mut providers: Vec<Provider> = runtimes.iter().map(|r| r.provider.clone()).collect();
    providers.sort();
    providers.dedup();
    let mut claimed = 0;
    for provider in providers {
        let free = slots.available_permits();
        let room = ProviderSlot::room(shared, &provider).map_or(free, |room| room.min(free));
        if room == 0 {
            continue;
        }
        let ids: Vec<String> = runtimes
            .iter()
            .filter(|runtime| runtime.provider == provider)
            .map(|runtime| runtime.id.clone())
            .collect();
        let result = shared
            .client
            .claim_tasks(&shared.config.daemon_id, &ids, room)
            .await;
        shared.note_answer(&result);
        if shared.features.batch_claim.learn(&result) {
            info!("the server has no batch claim; claiming per runtime");
            return None;
        }
        let claimed_tasks = match result {
            Ok(claimed_tasks) => claimed_tasks,
            Err(error) => {
                warn!(%error, "claiming tasks failed");
                continue;
            }
        };
        for task in claimed_tasks {
            claimed += 1;
            let runtime = runtimes
                .iter()
                .find(|runtime| runtime.id == task.runtime_id);
            let (Some(runtime), Ok(slot), Some(provider_slot)) = (
                runtime,
                Arc::clone(slots).try_acquire_owned(),
                ProviderSlot::try_take(shared, &provider),
            ) else {
                // Asked for no more than there was room for; this is a server
                // answering beyond the request. The task cannot run here.
                warn!(task_id = %task.id, "the server handed out a task beyond the request; failing it");
                let shared = Arc::clone(shared);
                tasks.spawn(async move {
                    let _ = shared
                        .client
                        .fail_task(&task.id, "the daemon had no room for this task")
                        .await;
                });
                continue;
            };
            spawn_task(
                shared,
                tasks,
                task,
                runtime.clone(),
                stop_tasks.clone(),
                slot,
                provider_slot,
            );
        }
    }
    Some(claimed)
}

/// Claims tasks round-robin over all runtimes, at most one per pass as the Go
/// daemon does, while a concurrency slot is free.
async fn claim_loop(
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
    stop_tasks: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_concurrent_tasks));
    let mut offset = 0usize;
    let mut idle_passes = 0u64;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if shared.paused.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = shared.wake_claims.notified() => {}
            }
            continue;
        }
        let runtimes = shared.registry().runtimes();
        let mut claimed = false;
        let mut batched = false;
        if !runtimes.is_empty() && shared.features.batch_claim.worth_trying() {
            let claim = tokio::select! {
                () = shutdown.cancelled() => return,
                claim = claim_batch(shared, &runtimes, &slots, tasks, stop_tasks) => claim,
            };
            if let Some(count) = claim {
                batched = true;
                claimed = count > 0;
            }
        }
        if !runtimes.is_empty() && !batched {
            let count = runtimes.len();
            for step in 0..count {
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    debug!(
                        max = shared.config.max_concurrent_tasks,
                        "all task slots busy"
                    );
                    break;
                };
                let runtime = &runtimes[(offset + step) % count];
                let Some(provider_slot) = ProviderSlot::try_take(shared, &runtime.provider) else {
                    debug!(provider = %runtime.provider, "the provider's task limit is reached");
                    continue;
                };
                let claim = tokio::select! {
                    () = shutdown.cancelled() => return,
                    claim = shared.client.claim_task(&runtime.id) => claim,
                };
                shared.note_answer(&claim);
                match claim {
                    Ok(Some(task)) => {
                        claimed = true;
                        offset = (offset + step + 1) % count;
                        let shared = Arc::clone(shared);
                        let runtime = runtime.clone();
                        let stop = stop_tasks.clone();
                        spawn_task(&shared, tasks, task, runtime, stop, slot, provider_slot);
                        break;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        if error.is_not_found() {
                            // Current servers delete runtimes that stayed offline.
                            warn!(runtime_id = %runtime.id, %error, "runtime unknown to the server; registering again");
                            shared.registry().stale.insert(runtime.workspace_id.clone());
                        } else {
                            warn!(runtime_id = %runtime.id, %error, "claiming a task failed");
                        }
                    }
                }
            }
        }
        if claimed {
            idle_passes = 0;
            continue;
        }
        idle_passes += 1;
        if idle_passes % 20 == 1 {
            debug!(runtimes = runtimes.len(), "no task to claim");
        }
        if !runtimes.is_empty() {
            offset = (offset + 1) % runtimes.len();
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(shared.config.poll_interval) => {}
            () = shared.wake_claims.notified() => {}
        }
    }
}

/// Sends what the outbox holds: at start (what a previous process left), then
/// whenever reports are waiting, with jittered exponential back-off.
async fn outbox_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut backoff = shared.outbox.backoff();
    loop {
        let waiting = shared.outbox.flush(&shared.client).await;
        let pause = if waiting == 0 {
            backoff.reset();
            OUTBOX_IDLE_CHECK
        } else {
            let delay = backoff.next_delay();
            debug!(waiting, retry_in = ?delay, "reports waiting in the outbox");
            delay
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
            // Reports left by a task, or the server back after an outage.
            () = shared.outbox.reports_left_waiting() => backoff.reset(),
        }
    }
}

/// Current servers let personal access tokens be renewed before they expire:
/// at start, then every 3 days, as the Go daemon does.
async fn token_renewal_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    const EVERY: Duration = Duration::from_secs(3 * 24 * 60 * 60);
    if !shared.token.expose().starts_with("mul_") {
        return;
    }
    loop {
        if !shared.features.token_renewal.worth_trying() {
            return;
        }
        let result = shared.client.renew_token().await;
        if shared.features.token_renewal.learn(&result) {
            return;
        }
        match result {
            Ok(renewal) if renewal.renewed => {
                info!(expires_at = ?renewal.expires_at, "token renewed");
            }
            Ok(_) => debug!("token does not expire; nothing to renew"),
            Err(error) if error.is_unauthorized() => {
                error!("the server refused the token: log in again (multica login)");
            }
            Err(error) => debug!(%error, "token renewal failed; trying again later"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// How often an empty outbox is looked at (tasks also write and send directly).
const OUTBOX_IDLE_CHECK: Duration = Duration::from_secs(30);

/// Current servers: asks them to settle what a previous process of this daemon
/// left dispatched or running on these runtimes, once per runtime and process.
/// Skipped while results wait in the outbox (they would be failed first) or
/// tasks run (they are ours).
async fn recover_orphans_once(shared: &Shared, runtime_ids: &[String]) {
    if !shared.features.recover_orphans.worth_trying()
        || shared.outbox.waiting() > 0
        || !shared.active().is_empty()
    {
        return;
    }
    for runtime_id in runtime_ids {
        let first_time = shared
            .recovered_runtimes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(runtime_id.clone());
        if !first_time {
            continue;
        }
        let result = shared.client.recover_orphans(runtime_id).await;
        if shared.features.recover_orphans.learn(&result) {
            return;
        }
        if let Err(error) = result {
            debug!(%runtime_id, %error, "recover-orphans failed");
        }
    }
}

/// Looks for agent CLIs again every `interval`: one installed, updated or removed
/// while the daemon runs is registered (or dropped) without a restart.
async fn rediscovery_loop(shared: Arc<Shared>, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                rediscover(&shared).await;
            }
        }
    }
}

/// One re-discovery; returns whether the set of agents changed.
pub(crate) async fn rediscover(shared: &Shared) -> bool {
    let discovery = discover(&shared.config.discovery).await;
    let detection = detect_agents(&shared.config.agents, discovery.joined_path().as_deref()).await;
    *shared
        .discovery
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(discovery);
    *shared
        .skipped_agents
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(detection.skipped);
    let identity = |agents: &[DetectedAgent]| -> Vec<(String, PathBuf, String)> {
        agents
            .iter()
            .map(|a| {
                (
                    a.provider.to_string(),
                    a.executable.clone(),
                    a.version.clone(),
                )
            })
            .collect()
    };
    if identity(&detection.found) == identity(&shared.agents()) {
        return false;
    }
    if detection.found.is_empty() {
        warn!("no agent CLI found any more; keeping the ones registered");
        return false;
    }
    for agent in &detection.found {
        info!(provider = %agent.provider, version = %agent.version, path = %agent.executable.display(), "agent CLI found");
    }
    let names = detection
        .found
        .iter()
        .map(|agent| agent.provider.to_string())
        .collect();
    *shared
        .agents
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(detection.found);
    {
        let mut registry = shared.registry();
        let workspaces: Vec<String> = registry.workspaces.keys().cloned().collect();
        registry.stale.extend(workspaces);
    }
    info!("the set of agent CLIs changed; registering the workspaces again");
    shared.emit(EngineEvent::AgentsChanged { agents: names });
    true
}

/// Picks up workspaces added to (or removed from) the config file and, every sync
/// interval, workspaces the user gained on the server.
async fn workspace_watch_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut last_modified = modified_time(&shared.config.config_file);
    let mut reload = tokio::time::interval(shared.config.config_reload_interval);
    let mut sync = tokio::time::interval(shared.config.workspace_sync_interval);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Both fire at once on the first tick; startup already did that work.
    reload.tick().await;
    sync.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reload.tick() => {
                let modified = modified_time(&shared.config.config_file);
                let has_stale = !shared.registry().stale.is_empty();
                if modified != last_modified || has_stale {
                    last_modified = modified;
                    reconcile_workspaces(&shared).await;
                }
            }
            () = shared.wake_workspace_sync.notified() => {
                if let Err(error) = sync_workspaces_from_server(&shared).await {
                    debug!(%error, "workspace sync failed");
                }
                reconcile_workspaces(&shared).await;
                last_modified = modified_time(&shared.config.config_file);
            }
            _ = sync.tick() => {
                if let Err(error) = sync_workspaces_from_server(&shared).await {
                    debug!(%error, "workspace sync failed");
                }
                // Also retries workspaces whose registration failed earlier.
                reconcile_workspaces(&shared).await;
                last_modified = modified_time(&shared.config.config_file);
            }
        }
    }
}

/// Cleans the workspaces root now and then (see [`crate::gc`]).
async fn gc_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let settings = &shared.config.gc;
    if !settings.enabled {
        info!("gc: disabled (MULTICA_GC_ENABLED)");
        return;
    }
    let issues = match ServerIssueStates::new(&shared) {
        Ok(issues) => issues,
        Err(error) => {
            warn!(%error, "gc: cannot build a client for issue lookups; clean-up is off");
            return;
        }
    };
    // Not at once: startup is busy enough, and a restart loop must not turn into
    // a clean-up loop.
    let mut next = tokio::time::Instant::now() + settings.interval.min(GC_FIRST_RUN_DELAY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        next = tokio::time::Instant::now() + settings.interval;
        let listed_repos: BTreeMap<String, Vec<String>> = shared
            .registry()
            .workspaces
            .iter()
            .map(|(id, workspace)| {
                (
                    id.clone(),
                    workspace
                        .repos
                        .iter()
                        .map(|repo| repo.url.clone())
                        .collect(),
                )
            })
            .collect();
        let collector = Collector {
            root: &shared.config.workspaces_root,
            settings,
            locks: &shared.task_dirs,
            repos: &shared.repo_cache,
            listed_repos: &listed_repos,
            issues: &issues,
        };
        let report = tokio::select! {
            () = shutdown.cancelled() => return,
            report = collector.collect(SystemTime::now()) => report,
        };
        if report.did_anything() {
            info!(?report, "gc: cycle complete");
        } else {
            debug!(in_use = report.in_use, "gc: nothing to clean");
        }
    }
}

const GC_FIRST_RUN_DELAY: Duration = Duration::from_secs(30);

/// Issue states from the server's user API (`GET /api/issues/{id}`), which old
/// and new servers both have.
struct ServerIssueStates {
    client: multica_api::UserClient,
}

impl ServerIssueStates {
    fn new(shared: &Shared) -> Result<Self, ApiError> {
        let client = multica_api::UserClient::new(
            shared.config.server_url.clone(),
            Some(shared.token.clone()),
            &format!("multica-daemon/{}", shared.config.cli_version),
        )?;
        Ok(Self { client })
    }
}

impl IssueStates for ServerIssueStates {
    async fn state(&self, workspace_id: &str, issue_id: &str) -> IssueState {
        let client = self.client.clone().with_workspace(workspace_id);
        match client.get_issue(issue_id).await {
            Ok(issue) => {
                let status = issue["status"].as_str().unwrap_or_default();
                if !matches!(status, "done" | "cancelled") {
                    return IssueState::Open;
                }
                let updated_at = issue["updated_at"]
                    .as_str()
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                    .map(SystemTime::from);
                match updated_at {
                    Some(updated_at) => IssueState::Closed { updated_at },
                    None => IssueState::Unknown,
                }
            }
            Err(error) if error.is_not_found() => IssueState::Missing,
            Err(error) => {
                debug!(%issue_id, %error, "gc: issue lookup failed");
                IssueState::Unknown
            }
        }
    }
}

/// Clones or fetches registered workspaces' repositories, one at a time, away
/// from the heartbeat and claim loops so a slow remote never delays them.
async fn repo_refresh_loop(
    shared: Arc<Shared>,
    mut requests: mpsc::UnboundedReceiver<RepoRefresh>,
    shutdown: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            () = shutdown.cancelled() => return,
            request = requests.recv() => match request {
                Some(request) => request,
                None => return,
            },
        };
        for url in request.urls {
            let refreshed = tokio::select! {
                () = shutdown.cancelled() => return,
                refreshed = shared.repo_cache.refresh(&request.workspace_id, &url) => refreshed,
            };
            match refreshed {
                Ok(()) => {
                    debug!(workspace_id = %request.workspace_id, %url, "repository cache up to date")
                }
                Err(error) => {
                    warn!(workspace_id = %request.workspace_id, %url, %error, "could not refresh the cached repository; checkouts will retry")
                }
            }
        }
    }
}

fn modified_time(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

/// Adds every workspace the user belongs to on the server to the watch list in the
/// config file, as the Go daemon does.
async fn sync_workspaces_from_server(shared: &Shared) -> Result<(), ApiError> {
    let workspaces = if shared.features.daemon_workspaces.worth_trying() {
        let etag = shared
            .workspaces_etag
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        let result = shared.client.list_daemon_workspaces(etag.as_deref()).await;
        if shared.features.daemon_workspaces.learn(&result) {
            shared.client.list_workspaces().await?
        } else {
            match result? {
                // Unchanged since the last look.
                None => return Ok(()),
                Some((workspaces, etag)) => {
                    *shared
                        .workspaces_etag
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner()) = etag;
                    workspaces
                }
            }
        }
    } else {
        shared.client.list_workspaces().await?
    };
    let path = shared.config.config_file.clone();
    let added = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let mut config = CliConfig::load(&path).map_err(|error| error.to_string())?;
        let added: Vec<String> = workspaces
            .iter()
            .filter(|workspace| config.watch(&workspace.id, &workspace.name))
            .map(|workspace| workspace.id.clone())
            .collect();
        if !added.is_empty() {
            config.save(&path).map_err(|error| error.to_string())?;
        }
        Ok(added)
    })
    .await;
    match added {
        Ok(Ok(added)) if !added.is_empty() => {
            info!(workspaces = ?added, "discovered new workspaces on the server");
        }
        Ok(Ok(_)) => {}
        Ok(Err(error)) => warn!(%error, "could not record discovered workspaces"),
        Err(error) => warn!(%error, "workspace sync task failed"),
    }
    Ok(())
}

/// Brings the registered workspaces in line with the config file's watch list.
pub(crate) async fn reconcile_workspaces(shared: &Shared) {
    let path = shared.config.config_file.clone();
    let config = match tokio::task::spawn_blocking(move || CliConfig::load(&path)).await {
        Ok(Ok(config)) => config,
        Ok(Err(error)) => {
            warn!(%error, "cannot read the config file; keeping the current workspaces");
            return;
        }
        Err(error) => {
            warn!(%error, "config read task failed");
            return;
        }
    };
    let wanted: BTreeSet<String> = config
        .watched_workspaces
        .iter()
        .map(|workspace| workspace.id.clone())
        .collect();

    let (to_register, to_drop) = {
        let registry = shared.registry();
        let to_register: Vec<String> = wanted
            .iter()
            .filter(|id| !registry.workspaces.contains_key(*id) || registry.stale.contains(*id))
            .cloned()
            .collect();
        let to_drop: Vec<String> = registry
            .workspaces
            .keys()
            .filter(|id| !wanted.contains(*id))
            .cloned()
            .collect();
        (to_register, to_drop)
    };

    for workspace_id in to_register {
        match register_workspace(shared, &workspace_id).await {
            Ok(registered) => {
                let runtime_ids: Vec<String> =
                    registered.runtimes.iter().map(|r| r.id.clone()).collect();
                info!(%workspace_id, runtimes = ?runtime_ids, repos = registered.repos.len(), "watching workspace");
                if !registered.repos.is_empty() {
                    // Nobody listening only means the engine is stopping.
                    let _ = shared.repo_refresh.send(RepoRefresh {
                        workspace_id: workspace_id.clone(),
                        urls: registered
                            .repos
                            .iter()
                            .map(|repo| repo.url.clone())
                            .collect(),
                    });
                }
                shared.runtimes_seen(runtime_ids.iter().map(String::as_str));
                recover_orphans_once(shared, &runtime_ids).await;
                {
                    let mut registry = shared.registry();
                    registry.stale.remove(&workspace_id);
                    registry.workspaces.insert(workspace_id.clone(), registered);
                }
                shared.emit(EngineEvent::WorkspaceRegistered {
                    workspace_id,
                    runtime_ids,
                });
                shared.wake_claims.notify_one();
            }
            Err(error) => {
                error!(%workspace_id, %error, "registering runtimes failed; will retry");
                shared.registry().stale.insert(workspace_id.clone());
                shared.emit(EngineEvent::WorkspaceRegistrationFailed {
                    workspace_id,
                    error,
                });
            }
        }
    }

    for workspace_id in to_drop {
        let removed = shared.registry().workspaces.remove(&workspace_id);
        if let Some(removed) = removed {
            let ids: Vec<String> = removed.runtimes.into_iter().map(|r| r.id).collect();
            // Going offline now is kinder than waiting for the server's sweeper.
            if let Err(error) = shared.client.deregister(&ids).await {
                warn!(%workspace_id, %error, "deregistering a dropped workspace failed");
            }
            info!(%workspace_id, "stopped watching workspace");
            shared.emit(EngineEvent::WorkspaceDropped { workspace_id });
        }
    }
}

async fn register_workspace(
    shared: &Shared,
    workspace_id: &str,
) -> Result<RegisteredWorkspace, String> {
    let agents = shared.agents();
    let runtimes: Vec<RuntimeRegistration> = agents
        .iter()
        .map(|agent| RuntimeRegistration {
            name: format!(
                "{} ({})",
                agent.provider.display_name(),
                shared.config.device_name
            ),
            provider: agent.provider.as_str().to_owned(),
            version: agent.version.clone(),
            status: "online".to_owned(),
        })
        .collect();
    let request = RegisterRequest {
        workspace_id: workspace_id.to_owned(),
        daemon_id: shared.config.daemon_id.clone(),
        device_name: shared.config.device_name.clone(),
        cli_version: shared.config.cli_version.clone(),
        runtimes,
    };
    let response = shared.client.register(&request).await;
    shared.note_answer(&response);
    let response = response.map_err(|error| {
        if error.is_workspace_not_found() {
            format!("{error} (is this account a member of the workspace?)")
        } else {
            error.to_string()
        }
    })?;
    if response.runtimes.is_empty() {
        return Err("the server registered no runtime".to_owned());
    }
    let runtimes = response
        .runtimes
        .into_iter()
        .filter_map(|runtime| match agents
            .iter()
            .find(|agent| agent.provider.as_str() == runtime.provider)
        {
            Some(agent) => Some(RuntimeBinding {
                id: runtime.id,
                workspace_id: workspace_id.to_owned(),
                provider: agent.provider.clone(),
            }),
            None => {
                warn!(provider = %runtime.provider, "server returned a runtime for an unknown provider");
                None
            }
        })
        .collect();
    Ok(RegisteredWorkspace {
        runtimes,
        repos: response.repos,
    })
}

async fn deregister_all(shared: &Shared) {
    let ids: Vec<String> = shared
        .registry()
        .runtimes()
        .into_iter()
        .map(|runtime| runtime.id)
        .collect();
    if ids.is_empty() {
        return;
    }
    match tokio::time::timeout(DEREGISTER_TIMEOUT, shared.client.deregister(&ids)).await {
        Ok(Ok(())) => info!(count = ids.len(), "deregistered runtimes"),
        Ok(Err(error)) => warn!(%error, "deregistering runtimes failed"),
        Err(_) => warn!("deregistering runtimes timed out"),
    }
}
