//! Hosts the engine in the app's process: starts it when a token is there, starts it
//! again with back-off when it fails (the reason is shown), restarts it for settings
//! that need it once no task runs, and stops it gracefully on quit — waiting for the
//! running tasks or stopping them, as the user chose. Knows nothing of Tauri.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use multica_api::Secret;
use multica_daemon::{ConfigError, DaemonConfig, Engine, EngineError, EngineEvent, EngineHandle};
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The first pause before the engine is started again after a failure; it doubles
/// up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(5 * 60);
/// An engine that ran this long before failing starts the back-off over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Where the engine is, as the tray and the window show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HostStatus {
    /// No token, or the server refused it.
    NeedsLogin {
        reason: Option<String>,
    },
    Starting,
    /// The engine runs; its own health (online, degraded, offline) is in
    /// [`EngineHandle::health`].
    Running,
    /// It failed; it is started again in `retry_in_secs`.
    Retrying {
        reason: String,
        retry_in_secs: u64,
    },
    /// Stopped on request (quit, logout, `multica daemon stop`).
    Stopped,
}

/// What to do with running tasks when the engine stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopMode {
    /// Take no new tasks, wait for the running ones, then stop.
    WaitForTasks,
    /// Stop the running tasks' agents (their tasks are reported failed) and stop.
    StopTasks,
    /// As the headless daemon on SIGTERM: running tasks get the engine's shutdown
    /// grace (30 s), then their agents are stopped.
    WithinGrace,
}

/// Builds the engine's configuration each time it starts (settings may change). Its
/// error is shown as the reason the engine is retried.
pub type ConfigSource = Arc<dyn Fn() -> Result<DaemonConfig, ConfigError> + Send + Sync>;

#[derive(Debug)]
struct Running {
    shutdown: CancellationToken,
    supervisor: JoinHandle<()>,
}

/// The app's handle on the hosted engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHost {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EngineHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHost")
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Where the engine and its supervisor run: the host may be driven from
    /// threads outside the runtime (the app's main thread).
    runtime: tokio::runtime::Handle,
    status: watch::Sender<HostStatus>,
    /// Engine events, across engine restarts.
    events: broadcast::Sender<EngineEvent>,
    handle: Mutex<Option<EngineHandle>>,
    running: Mutex<Option<Running>>,
    /// Survives engine restarts.
    paused: AtomicBool,
    /// Given to each engine for the server's update requests.
    updater: std::sync::OnceLock<Arc<dyn multica_daemon::self_update::SelfUpdater>>,
}

/// Locks `mutex`, also after a thread panicked holding it: what these mutexes guard
/// is replaced whole, never left half-changed, so the value is still good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl EngineHost {
    /// A host whose engine runs on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> EngineHost {
        let (status, _) = watch::channel(HostStatus::NeedsLogin { reason: None });
        let (events, _) = broadcast::channel(1024);
        EngineHost {
            inner: Arc::new(Inner {
                runtime,
                status,
                events,
                handle: Mutex::new(None),
                running: Mutex::new(None),
                paused: AtomicBool::new(false),
                updater: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn status(&self) -> HostStatus {
        self.inner.status.borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<HostStatus> {
        self.inner.status.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// The running engine, if any.
    pub fn engine(&self) -> Option<EngineHandle> {
        lock(&self.inner.handle).clone()
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Relaxed)
    }

    /// Pauses or resumes taking new tasks, now and for later engines.
    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::Relaxed);
        if let Some(engine) = self.engine() {
            engine.set_paused(paused);
        }
    }

    /// The app's updater, for the server's update requests (set once).
    pub fn set_self_updater(&self, updater: Arc<dyn multica_daemon::self_update::SelfUpdater>) {
        let _ = self.inner.updater.set(updater);
    }

    /// Says that there is no token (or it was refused): the engine waits for a login.
    pub fn needs_login(&self, reason: Option<String>) {
        self.inner
            .status
            .send_replace(HostStatus::NeedsLogin { reason });
    }

    /// Starts the engine under supervision, replacing a stopped one. Does nothing
    /// when one is already supervised.
    pub fn start(&self, config: ConfigSource, token: Secret) {
        let mut running = lock(&self.inner.running);
        if running
            .as_ref()
            .is_some_and(|running| !running.supervisor.is_finished())
        {
            return;
        }
        let shutdown = CancellationToken::new();
        let supervisor = self.inner.runtime.spawn(supervise(
            Arc::clone(&self.inner),
            config,
            token,
            shutdown.clone(),
        ));
        *running = Some(Running {
            shutdown,
            supervisor,
        });
    }

    /// Stops the engine (see [`StopMode`]) and waits for it, at most `limit`.
    pub async fn stop(&self, mode: StopMode, limit: Duration) {
        let Some(running) = lock(&self.inner.running).take() else {
            return;
        };
        if let Some(engine) = self.engine() {
            match mode {
                StopMode::WaitForTasks => {
                    engine.set_paused(true);
                    wait_until_idle(&engine, &self.inner.events, limit).await;
                }
                StopMode::StopTasks => {
                    for task in engine.active_tasks() {
                        engine.cancel_task(&task.task_id);
                    }
                }
                StopMode::WithinGrace => {}
            }
        }
        running.shutdown.cancel();
        let mut supervisor = running.supervisor;
        if tokio::time::timeout(limit, &mut supervisor).await.is_err() {
            warn!("the engine did not stop in time; its agents are stopped with the app");
            supervisor.abort();
        }
        *lock(&self.inner.handle) = None;
        self.inner.status.send_replace(HostStatus::Stopped);
    }

    /// Starts the engine again with a fresh configuration once no task runs, so
    /// that no agent is stopped for a settings change.
    pub fn restart_when_idle(&self, config: ConfigSource, token: Secret) {
        let host = self.clone();
        self.inner.runtime.spawn(async move {
            if let Some(engine) = host.engine() {
                wait_until_idle(&engine, &host.inner.events, Duration::MAX).await;
            }
            info!("restarting the engine for new settings");
            host.stop(StopMode::WaitForTasks, Duration::from_secs(60))
                .await;
            host.start(config, token);
        });
    }
}

/// Returns once the engine runs no task (or after `limit`).
async fn wait_until_idle(
    engine: &EngineHandle,
    events: &broadcast::Sender<EngineEvent>,
    limit: Duration,
) {
    let mut finished = events.subscribe();
    let deadline = tokio::time::Instant::now()
        .checked_add(limit)
        .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600));
    while !engine.active_tasks().is_empty() {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return,
            _ = finished.recv() => {}
            // A task that ends between the check and the subscription is seen here.
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn supervise(
    inner: Arc<Inner>,
    config: ConfigSource,
    token: Secret,
    shutdown: CancellationToken,
) {
    let mut retry = FIRST_RETRY;
    loop {
        inner.status.send_replace(HostStatus::Starting);
        let failure = match run_once(&inner, &config, &token, &shutdown).await {
            Ended::Stopped => {
                inner.status.send_replace(HostStatus::Stopped);
                return;
            }
            Ended::TokenRefused(reason) => {
                inner.status.send_replace(HostStatus::NeedsLogin {
                    reason: Some(reason),
                });
                return;
            }
            Ended::Failed { reason, ran_for } => {
                if ran_for >= HEALTHY_RUN {
                    retry = FIRST_RETRY;
                }
                reason
            }
        };
        error!(reason = %failure, retry_in = ?retry, "the engine stopped; starting it again");
        inner.status.send_replace(HostStatus::Retrying {
            reason: failure,
            retry_in_secs: retry.as_secs(),
        });
        tokio::select! {
            () = shutdown.cancelled() => {
                inner.status.send_replace(HostStatus::Stopped);
                return;
            }
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

enum Ended {
    Stopped,
    TokenRefused(String),
    Failed { reason: String, ran_for: Duration },
}

async fn run_once(
    inner: &Arc<Inner>,
    config: &ConfigSource,
    token: &Secret,
    shutdown: &CancellationToken,
) -> Ended {
    let failed = |reason: String| Ended::Failed {
        reason,
        ran_for: Duration::ZERO,
    };
    let config = match config() {
        Ok(config) => config,
        Err(error) => return failed(error.to_string()),
    };
    let engine = match Engine::start(config, Some(token.clone())).await {
        Ok(engine) => engine,
        Err(error @ (EngineError::NoToken | EngineError::TokenRefused(_))) => {
            return Ended::TokenRefused(error.to_string());
        }
        Err(error) => return failed(error.to_string()),
    };
    let handle = engine.handle();
    handle.set_paused(inner.paused.load(Ordering::Relaxed));
    if let Some(updater) = inner.updater.get() {
        handle.set_self_updater(Arc::clone(updater));
    }
    let forward = {
        let mut events = handle.subscribe();
        let out = inner.events.clone();
        let engine = handle.clone();
        let status = inner.status.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        // A token revoked while running: the engine goes on (tasks
                        // hold their own tokens) and the app asks for a login.
                        if matches!(event, EngineEvent::StateChanged { .. }) {
                            let refused = engine.token_refused();
                            status.send_if_modified(|current| {
                                let next = if refused {
                                    HostStatus::NeedsLogin {
                                        reason: Some(
                                            multica_daemon::health::TOKEN_REFUSED.to_owned(),
                                        ),
                                    }
                                } else {
                                    HostStatus::Running
                                };
                                let changed = *current != next;
                                *current = next;
                                changed
                            });
                        }
                        let _ = out.send(event);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    };
    *lock(&inner.handle) = Some(handle);
    inner.status.send_replace(HostStatus::Running);
    let started = tokio::time::Instant::now();
    // A panic inside the engine ends this task, not the app.
    let run = tokio::spawn(engine.run(shutdown.child_token())).await;
    *lock(&inner.handle) = None;
    forward.abort();
    let ran_for = started.elapsed();
    match run {
        Ok(Ok(())) => Ended::Stopped,
        Ok(Err(error @ EngineError::TokenRefused(_))) => Ended::TokenRefused(error.to_string()),
        Ok(Err(error)) => Ended::Failed {
            reason: error.to_string(),
            ran_for,
        },
        Err(panic) => Ended::Failed {
            reason: format!("the engine failed unexpectedly ({panic})"),
            ran_for,
        },
    }
}
