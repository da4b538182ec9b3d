//! Heartbeats keep the runtimes online (a seed server marks a runtime offline, and
//! fails its tasks, after 45 s of silence), and carry the server's requests: pings
//! and update requests.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use multica_api::wire::{PendingUpdate, PingResultRequest, UpdateResultRequest};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::agent_set::AgentSet;
use crate::registry::{Registry, RuntimeBinding};
use crate::self_update::SelfUpdater;
use crate::server::Server;

/// The Go daemon's ping prompt and limit.
const PING_PROMPT: &str = "Respond with exactly one word: pong";
const PING_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    pub(crate) interval: Duration,
    pub(crate) cli_version: String,
    pub(crate) server: Arc<Server>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) agents: Arc<AgentSet>,
    /// The host's updater, for the server's update requests (none when headless).
    pub(crate) updater: Arc<OnceLock<Arc<dyn SelfUpdater>>>,
}

#[derive(Debug, thiserror::Error)]
enum PingError {
    #[error("no agent CLI for provider {0}")]
    NoAgent(String),
    #[error("cannot create a scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error(transparent)]
    Spawn(#[from] multica_agents::AgentError),
    #[error("{0}")]
    Run(String),
}

impl Heartbeat {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => self.beat_once(&stop).await,
            }
        }
    }

    /// One heartbeat per runtime, all at once: a slow answer for one runtime must
    /// not make another one late. Runtimes the daemon socket keeps alive are skipped.
    async fn beat_once(&self, stop: &CancellationToken) {
        if self.server.vitals.socket_acked_within(self.interval * 2) {
            return;
        }
        let beats = self
            .registry
            .runtimes()
            .into_iter()
            .map(|runtime| async move {
                let response = self.server.client.heartbeat(&runtime.id).await;
                (runtime, response)
            });
        let results = tokio::select! {
            () = stop.cancelled() => return,
            results = futures::future::join_all(beats) => results,
        };
        for (runtime, response) in results {
            self.server.note_answer(&response);
            match response {
                Ok(response) => {
                    debug!(runtime_id = %runtime.id, "heartbeat");
                    self.registry.runtimes_seen([runtime.id.as_str()]);
                    if let Some(ping) = response.pending_ping {
                        tokio::spawn(self.clone().answer_ping(runtime.clone(), ping.id));
                    }
                    if let Some(update) = response.pending_update {
                        tokio::spawn(self.clone().answer_update(runtime.clone(), update));
                    }
                }
                Err(error) if error.is_not_found() => {
                    warn!(runtime_id = %runtime.id, %error, "runtime unknown to the server; registering again");
                    self.registry.mark_stale(&runtime.workspace_id);
                }
                Err(error) => warn!(runtime_id = %runtime.id, %error, "heartbeat failed"),
            }
        }
    }

    /// Runs the agent once with a one-word prompt and reports how it went.
    async fn answer_ping(self, runtime: RuntimeBinding, ping_id: String) {
        info!(runtime_id = %runtime.id, %ping_id, "ping requested");
        let started = Instant::now();
        let (status, output, error) = match self.ping_agent(&runtime).await {
            Ok(output) => ("completed", output, String::new()),
            Err(error) => ("failed", String::new(), error.to_string()),
        };
        let result = PingResultRequest {
            status: status.to_owned(),
            output,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(error) = self
            .server
            .client
            .report_ping_result(&runtime.id, &ping_id, &result)
            .await
        {
            warn!(%ping_id, %error, "reporting the ping result failed");
        }
    }

    async fn ping_agent(&self, runtime: &RuntimeBinding) -> Result<String, PingError> {
        let agent = self
            .agents
            .agent_for(&runtime.provider)
            .ok_or_else(|| PingError::NoAgent(runtime.provider.to_string()))?;
        let scratch = tempfile::tempdir().map_err(PingError::Scratch)?;
        let spec = multica_agents::RunSpec {
            executable: agent.executable.clone(),
            cwd: scratch.path().to_owned(),
            prompt: PING_PROMPT.to_owned(),
            model: agent.model.clone(),
            resume_session_id: None,
            env: Vec::new(),
            timeout: Some(PING_TIMEOUT),
            idle_timeout: None,
            kill_grace: multica_agents::KillGrace::default(),
        };
        let run =
            multica_agents::backend(&runtime.provider).spawn(spec, CancellationToken::new())?;
        let multica_agents::AgentRun {
            mut events,
            outcome,
            ..
        } = run;
        while events.recv().await.is_some() {}
        let outcome = outcome.await;
        match outcome.status {
            multica_agents::RunStatus::Completed => Ok(outcome.output),
            _ => Err(PingError::Run(outcome.error.unwrap_or_else(|| {
                format!("the agent ended as {:?}", outcome.status)
            }))),
        }
    }

    /// The host's updater does the update when there is one (`running`, then
    /// `completed` or `failed`); the headless daemon does not replace itself —
    /// updates come from the desktop app or the package manager that installed
    /// it — and says so instead of leaving the request to time out.
    async fn answer_update(self, runtime: RuntimeBinding, update: PendingUpdate) {
        let report = |status: &str, output: String, error: String| {
            let server = Arc::clone(&self.server);
            let (runtime_id, update_id) = (runtime.id.clone(), update.id.clone());
            let result = UpdateResultRequest {
                status: status.to_owned(),
                output,
                error,
            };
            async move {
                if let Err(error) = server
                    .client
                    .report_update_result(&runtime_id, &update_id, &result)
                    .await
                {
                    warn!(update_id, %error, "reporting the update result failed");
                }
            }
        };
        let Some(updater) = self.updater.get().cloned() else {
            info!(runtime_id = %runtime.id, target = %update.target_version, "update requested; not supported by this daemon");
            let error = format!(
                "this daemon ({}) cannot update itself to {}; update the Multica desktop app, or reinstall the multica CLI",
                self.cli_version, update.target_version
            );
            report("failed", String::new(), error).await;
            return;
        };
        info!(runtime_id = %runtime.id, target = %update.target_version, "update requested");
        report("running", String::new(), String::new()).await;
        match updater.update(update.target_version.clone()).await {
            Ok(output) => report("completed", output, String::new()).await,
            Err(error) => report("failed", String::new(), error.to_string()).await,
        }
    }
}
