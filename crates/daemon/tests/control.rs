//! What the app controls on a running engine: pausing and resuming the taking of
//! new tasks, and stopping a running task from this machine.
#![cfg(unix)]

mod support;

use std::time::Duration;

use multica_api::wire::TaskStatus;
use multica_daemon::EngineEvent;
use support::{Harness, Script};

#[tokio::test]
async fn a_paused_engine_takes_no_task_until_resumed() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let mut events = engine.handle.subscribe();
    engine.handle.set_paused(true);
    assert!(engine.handle.is_paused());
    assert!(engine.handle.health().paused);
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Wait for me")
        .await;
    // Several poll intervals (100 ms) pass without a claim.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = harness.admin().task(&task.id).map(|t| t.status);
    assert_eq!(status, Some(TaskStatus::Queued), "not claimed while paused");

    engine.handle.set_paused(false);
    harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let mut changes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EngineEvent::PausedChanged { paused } = event {
            changes.push(paused);
        }
    }
    assert_eq!(changes, [true, false]);
    engine.stop().await;
}

#[tokio::test]
async fn a_task_stopped_here_is_reported_failed_and_its_agent_ends() {
    let harness = Harness::new(Script::Hang).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Stop me")
        .await;
    let pids = support::wait_for_pids(&harness.config.workspaces_root).await;
    assert!(!engine.handle.cancel_task("no-such-task"));
    assert!(engine.handle.cancel_task(&task.id));
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("stopped on test-box by its user"), "{error}");
    support::wait_until_dead(&pids, Duration::from_secs(20)).await;
    // The task leaves the list once its report is done, just after the server saw it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !engine.handle.active_tasks().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task is still listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.stop().await;
}

/// A host updater that says what it was asked for.
#[derive(Debug)]
struct RecordingUpdater;

impl multica_daemon::self_update::SelfUpdater for RecordingUpdater {
    fn update(
        &self,
        target_version: String,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<String, multica_daemon::self_update::SelfUpdateError>,
                > + Send,
        >,
    > {
        Box::pin(async move { Ok(format!("downloaded {target_version}; installs when idle")) })
    }
}

#[tokio::test]
async fn the_servers_update_request_goes_to_the_hosts_updater() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    engine
        .handle
        .set_self_updater(std::sync::Arc::new(RecordingUpdater));
    let runtime_id = harness.runtime_in(&harness.workspace_id).await;
    harness
        .admin()
        .queue_heartbeat_actions(multica_dev_server::HeartbeatActions {
            runtime_id,
            ping: false,
            update_target_version: Some("v2.0.0".into()),
        })
        .expect("queue the update");
    let update = harness
        .server
        .wait_until(support::WAIT, |state| {
            state
                .updates()
                .into_iter()
                .find(|update| update.status == "completed")
        })
        .await
        .expect("the update is reported completed");
    assert_eq!(update.output, "downloaded v2.0.0; installs when idle");
    engine.stop().await;
}

#[tokio::test]
async fn a_token_revoked_while_running_shows_offline_with_log_in_again() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    harness.runtime_in(&harness.workspace_id).await;
    assert!(!engine.handle.token_refused());
    harness
        .admin()
        .revoke_token(&harness.token)
        .expect("revoke");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while !engine.handle.token_refused() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal is noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The state loop publishes it within its period.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let health = engine.handle.health();
        if health.state == "offline" {
            let reason = health.state_reason.unwrap_or_default();
            assert!(reason.contains("log in again"), "{reason}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{health:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.stop().await;
}

#[tokio::test]
async fn recent_tasks_and_their_transcripts_are_kept_for_late_windows() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Remember me")
        .await;
    harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let recent = loop {
        let recent = engine.handle.recent_tasks();
        if recent.first().is_some_and(|t| t.outcome.is_some()) {
            break recent;
        }
        assert!(tokio::time::Instant::now() < deadline, "{recent:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(recent[0].task_id, task.id);
    assert_eq!(recent[0].total_tokens, Some(15));
    assert!(recent[0].messages >= 3, "{:?}", recent[0]);
    let work_dir = recent[0].work_dir.as_ref().expect("work dir known");
    assert!(
        work_dir.starts_with(&harness.config.workspaces_root) && work_dir.is_dir(),
        "{work_dir:?}"
    );

    // The same over the local API.
    let port = engine.handle.health_port();
    let listed: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/tasks"))
        .await
        .expect("GET /tasks")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed[0]["task_id"], task.id.as_str());
    assert_eq!(listed[0]["outcome"]["status"], "completed");
    let url = format!(
        "http://127.0.0.1:{port}/tasks/{}/transcript?after=1",
        task.id
    );
    let anonymous = reqwest::get(&url).await.expect("GET transcript");
    assert_eq!(anonymous.status(), 401, "only the user reads transcripts");
    let control = std::fs::read_to_string(multica_daemon::ControlToken::file_for(
        &harness.config.config_file,
    ))
    .expect("control token");
    let http = reqwest::Client::new();
    let transcript: Vec<serde_json::Value> = http
        .get(&url)
        .bearer_auth(control.trim())
        .send()
        .await
        .expect("GET transcript")
        .json()
        .await
        .expect("JSON");
    assert!(!transcript.is_empty());
    assert!(transcript.iter().all(|m| m["seq"].as_u64() > Some(1)));
    let all = engine.handle.transcript(&task.id, None).expect("kept");
    assert!(
        all.iter()
            .any(|m| m.content.contains("Looking at the issue"))
    );
    let missing = http
        .get(format!("http://127.0.0.1:{port}/tasks/nope/transcript"))
        .bearer_auth(control.trim())
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    engine.stop().await;
}

/// `GET /events` streams the engine's events to the user (a window served to a
/// browser), refuses anyone else, and does not hold the engine's stop.
#[tokio::test]
async fn the_event_stream_carries_a_task_live_to_the_user_only() {
    use futures::StreamExt;

    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let port = engine.handle.health_port();
    let url = format!("http://127.0.0.1:{port}/events");
    let anonymous = reqwest::get(&url).await.expect("GET /events");
    assert_eq!(anonymous.status(), 401);

    let control = std::fs::read_to_string(multica_daemon::ControlToken::file_for(
        &harness.config.config_file,
    ))
    .expect("control token");
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(control.trim())
        .send()
        .await
        .expect("GET /events");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = response.bytes_stream();

    let task = harness
        .assign_new_issue(&harness.workspace_id, "Stream me")
        .await;
    let mut seen = String::new();
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while !types.iter().any(|t| t == "task_finished") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        // One `data: <json>` line per event, events apart by a blank line.
        while let Some(end) = seen.find("\n\n") {
            let event: String = seen.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    let value: serde_json::Value = serde_json::from_str(data).expect("JSON");
                    if value["task_id"] == task.id.as_str() {
                        types.push(value["type"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        }
    }
    for expected in ["task_claimed", "task_messages", "task_finished"] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }

    // An open stream does not keep the engine from stopping.
    tokio::time::timeout(Duration::from_secs(20), engine.stop())
        .await
        .expect("the engine stops with a listener connected");
}
