//! Heartbeats keep the runtimes online (a seed server marks a runtime offline, and
//! fails its tasks, after 45 s of silence), and carry the server's requests: pings
//! and update requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use multica_api::wire::{PendingUpdate, PingResultRequest, UpdateResultRequest};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::engine::{RuntimeBinding, Shared};

/// The Go daemon's ping prompt and limit.
const PING_PROMPT: &str = "Respond with exactly one word: pong";
const PING_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(shared.config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => beat_once(&shared, &stop).await,
        }
    }
}

/// One heartbeat per runtime, all at once: a slow answer for one runtime must
/// not make another one late. Runtimes the daemon socket keeps alive are skipped.
async fn beat_once(shared: &Arc<Shared>, stop: &CancellationToken) {
    if shared
        .socket
        .acked_within(shared.config.heartbeat_interval * 2)
    {
        return;
    }
    let runtimes = shared.registry().runtimes();
    let beats = runtimes.into_iter().map(|runtime| async move {
        let response = shared.client.heartbeat(&runtime.id).await;
        (runtime, response)
    });
    let results = tokio::select! {
        () = stop.cancelled() => return,
        results = futures::future::join_all(beats) => results,
    };
    for (runtime, response) in results {
        shared.note_answer(&response);
        match response {
            Ok(response) => {
                debug!(runtime_id = %runtime.id, "heartbeat");
                shared.runtimes_seen([runtime.id.as_str()]);
                if let Some(ping) = response.pending_ping {
                    tokio::spawn(answer_ping(Arc::clone(shared), runtime.clone(), ping.id));
                }
                if let Some(update) = response.pending_update {
                    tokio::spawn(answer_update(Arc::clone(shared), runtime.clone(), update));
                }
            }
            Err(error) if error.is_not_found() => {
                warn!(runtime_id = %runtime.id, %error, "runtime unknown to the server; registering again");
                shared.registry().stale.insert(runtime.workspace_id.clone());
            }
            Err(error) => warn!(runtime_id = %runtime.id, %error, "heartbeat failed"),
        }
    }
}

/// Runs the agent once with a one-word prompt and reports how it went.
async fn answer_ping(shared: Arc<Shared>, runtime: RuntimeBinding, ping_id: String) {
    info!(runtime_id = %runtime.id, %ping_id, "ping requested");
    let started = Instant::now();
    let result = match ping_agent(&shared, &runtime).await {
        Ok(output) => PingResultRequest {
            status: "completed".to_owned(),
            output,
            error: String::new(),
            duration_ms: elapsed_ms(started),
        },
        Err(error) => PingResultRequest {
            status: "failed".to_owned(),
            output: String::new(),
            error,
            duration_ms: elapsed_ms(started),
        },
    };
    if let Err(error) = shared
        .client
        .report_ping_result(&runtime.id, &ping_id, &result)
        .await
    {
        warn!(%ping_id, %error, "reporting the ping result failed");
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn ping_agent(shared: &Shared, runtime: &RuntimeBinding) -> Result<String, String> {
    let agent = shared
        .agent_for(&runtime.provider)
        .ok_or_else(|| format!("no agent CLI for provider {}", runtime.provider))?;
    let scratch = tempfile::tempdir()
        .map_err(|error| format!("cannot create a scratch directory: {error}"))?;
    let spec = multica_agents::RunSpec {
        executable: agent.executable.clone(),
        cwd: scratch.path().to_owned(),
        prompt: PING_PROMPT.to_owned(),
        model: agent.model.clone(),
        resume_session_id: None,
        env: Vec::new(),
        timeout: PING_TIMEOUT,
        idle_timeout: None,
        kill_grace: multica_agents::KillGrace::default(),
    };
    let run = multica_agents::backend(&runtime.provider)
        .spawn(spec, CancellationToken::new())
        .map_err(|error| error.to_string())?;
    let multica_agents::AgentRun {
        mut events,
        outcome,
        ..
    } = run;
    while events.recv().await.is_some() {}
    let outcome = outcome.await;
    match outcome.status {
        multica_agents::RunStatus::Completed => Ok(outcome.output),
        _ => Err(outcome
            .error
            .unwrap_or_else(|| format!("the agent ended as {:?}", outcome.status))),
    }
}

/// The host's updater does the update when there is one (`running`, then
/// `completed` or `failed`); the headless daemon does not replace itself — updates
/// come from the desktop app or the package manager that installed it — and says
/// so instead of leaving the request to time out.
async fn answer_update(shared: Arc<Shared>, runtime: RuntimeBinding, update: PendingUpdate) {
    let report = |status: &str, output: String, error: String| {
        let shared = Arc::clone(&shared);
        let (runtime_id, update_id) = (runtime.id.clone(), update.id.clone());
        let result = UpdateResultRequest {
            status: status.to_owned(),
            output,
            error,
        };
        async move {
            if let Err(error) = shared
                .client
                .report_update_result(&runtime_id, &update_id, &result)
                .await
            {
                warn!(update_id, %error, "reporting the update result failed");
            }
        }
    };
    let Some(updater) = shared.self_updater.get().cloned() else {
        info!(runtime_id = %runtime.id, target = %update.target_version, "update requested; not supported by this daemon");
        let error = format!(
            "this daemon ({}) cannot update itself to {}; update the Multica desktop app, or reinstall the multica CLI",
            shared.config.cli_version, update.target_version
        );
        report("failed", String::new(), error).await;
        return;
    };
    info!(runtime_id = %runtime.id, target = %update.target_version, "update requested");
    report("running", String::new(), String::new()).await;
    match updater.update(update.target_version.clone()).await {
        Ok(output) => report("completed", output, String::new()).await,
        Err(error) => report("failed", String::new(), error).await,
    }
}
