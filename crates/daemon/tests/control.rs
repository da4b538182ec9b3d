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
