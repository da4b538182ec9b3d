//! The engine against a dev server playing the current Multica server (contract
//! Part B): what it adds is used, and nothing of it is needed on a seed server.
#![cfg(unix)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use multica_api::wire::{RegisterRequest, RuntimeRegistration, TaskStatus};
use multica_api::{DaemonClient, Secret, ServerUrl};
use support::{Harness, Script, WAIT};

fn paths(harness: &Harness) -> Vec<(String, String, u16)> {
    harness
        .admin()
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

#[tokio::test]
async fn tasks_are_claimed_in_batches_and_agents_get_the_task_token() {
    let harness = Harness::current(Script::Succeed).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Current protocol")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;

    let requests = paths(&harness);
    assert!(
        requests
            .iter()
            .any(|(method, path, status)| method == "POST"
                && path == "/api/daemon/tasks/claim"
                && *status == 200),
        "batch claim used: {requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|(_, path, _)| path.ends_with("/tasks/claim") && path.contains("/runtimes/")),
        "no per-runtime claims: {requests:?}"
    );
    // The agent ran with the task's own token, which is revoked now.
    let work_dir = PathBuf::from(done.work_dir.expect("work dir"));
    let token = std::fs::read_to_string(work_dir.join("multica_token.txt")).expect("token file");
    assert!(token.starts_with("mat_"), "{token}");
    assert_ne!(token, harness.token);
    // The transcript does not show it.
    assert!(
        done.messages
            .iter()
            .all(|m| !m.output.clone().unwrap_or_default().contains(&token))
    );
    // Usage per task, from the agent's own numbers.
    let usage = harness.admin().task_usage();
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0].task_id, task.id);
    assert_eq!(
        (
            usage[0].model.as_str(),
            usage[0].input_tokens,
            usage[0].output_tokens
        ),
        ("fake", 10, 5)
    );
    engine.stop().await;
}

#[tokio::test]
async fn on_a_seed_server_the_batch_claim_is_tried_once() {
    let harness = Harness::new(Script::Succeed).await;
    let engine = harness.start_engine().await;
    for title in ["First", "Second"] {
        let task = harness.assign_new_issue(&harness.workspace_id, title).await;
        harness
            .wait_for_status(&task.id, TaskStatus::Completed)
            .await;
    }
    let requests = paths(&harness);
    let batch: Vec<u16> = requests
        .iter()
        .filter(|(_, path, _)| path == "/api/daemon/tasks/claim")
        .map(|(_, _, status)| *status)
        .collect();
    assert_eq!(batch, [404], "{requests:?}");
    let task_usage: Vec<u16> = requests
        .iter()
        .filter(|(_, path, _)| path.ends_with("/usage") && path.contains("/tasks/"))
        .map(|(_, _, status)| *status)
        .collect();
    assert_eq!(task_usage, [404], "per-task usage tried once: {requests:?}");
    engine.stop().await;
}

#[tokio::test]
async fn a_cancelled_task_is_acknowledged_after_its_transcript() {
    let harness = Harness::current(Script::Hang).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Cancel me")
        .await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;
    harness.admin().cancel_task(&task.id).expect("cancel");
    tokio::time::timeout(WAIT, async {
        while !harness.admin().cancel_acks().contains(&task.id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("cancel acknowledged");
    engine.stop().await;
}

#[tokio::test]
async fn tasks_a_previous_process_left_on_the_runtime_are_recovered_at_start() {
    let harness = Harness::current(Script::Succeed).await;
    // A previous process of this daemon registered, claimed a task and died.
    let client = DaemonClient::new(
        ServerUrl::parse(&harness.server.base_url()).expect("url"),
        Some(Secret::new(harness.token.clone())),
        "multica-daemon/0.0.1",
    )
    .expect("client");
    let registered = client
        .register(&RegisterRequest {
            workspace_id: harness.workspace_id.clone(),
            daemon_id: harness.config.daemon_id.clone(),
            device_name: "box".into(),
            cli_version: "0.0.1".into(),
            runtimes: vec![RuntimeRegistration {
                name: "Claude (box)".into(),
                provider: "claude".into(),
                version: "9.9.9".into(),
                status: "online".into(),
            }],
        })
        .await
        .expect("register");
    let runtime_id = registered.runtimes[0].id.clone();
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Left behind")
        .await;
    let claimed = client
        .claim_tasks(&harness.config.daemon_id, &[runtime_id], 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    client.start_task(&task.id).await.expect("start");

    let engine = harness.start_engine().await;
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    assert!(
        failed
            .error
            .clone()
            .unwrap_or_default()
            .contains("orphaned"),
        "{failed:?}"
    );
    engine.stop().await;
}

#[tokio::test]
async fn the_workspace_list_is_fetched_again_only_when_it_changed() {
    let mut harness = Harness::current(Script::Succeed).await;
    harness.config.workspace_sync_interval = Duration::from_millis(100);
    let engine = harness.start_engine().await;
    harness.runtime_in(&harness.workspace_id).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let statuses: Vec<u16> = paths(&harness)
        .into_iter()
        .filter(|(_, path, _)| path == "/api/daemon/workspaces")
        .map(|(_, _, status)| status)
        .collect();
    assert_eq!(statuses.first(), Some(&200), "{statuses:?}");
    assert!(
        statuses[1..].iter().all(|status| *status == 304),
        "{statuses:?}"
    );
    assert!(statuses.len() >= 3, "{statuses:?}");
    // And the token was renewed at start.
    assert!(
        paths(&harness)
            .iter()
            .any(|(_, path, status)| path == "/api/tokens/current/renew" && *status == 200)
    );
    engine.stop().await;
}

#[tokio::test]
async fn the_daemon_socket_wakes_the_claim_at_once_and_carries_heartbeats() {
    let mut harness = Harness::current(Script::Succeed).await;
    // Polling alone would take a minute to see the task.
    harness.config.poll_interval = Duration::from_secs(60);
    harness.config.heartbeat_interval = Duration::from_millis(200);
    let engine = harness.start_engine().await;
    let runtime_id = harness.runtime_in(&harness.workspace_id).await;
    // Let the socket connect and the first poll pass.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let started = std::time::Instant::now();
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Wake up")
        .await;
    harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "claimed through the wake-up, not the 60 s poll"
    );

    let requests = paths(&harness);
    assert!(
        requests
            .iter()
            .any(|(method, path, _)| method == "GET" && path == "/api/daemon/ws")
    );
    // The runtime stayed online on socket heartbeats; HTTP ones stood aside.
    let http_heartbeats = requests
        .iter()
        .filter(|(_, path, _)| path == "/api/daemon/heartbeat")
        .count();
    assert!(
        http_heartbeats <= 2,
        "{http_heartbeats} HTTP heartbeats: {requests:?}"
    );
    let runtime = harness.admin().runtime(&runtime_id).expect("runtime");
    assert_eq!(runtime.status, "online");
    engine.stop().await;
}

#[tokio::test]
async fn a_failed_run_carries_its_reason_and_the_servers_retry_resumes_its_session() {
    let harness = Harness::current(Script::NetworkErrorOnce).await;
    let engine = harness.start_engine().await;
    let first = harness
        .assign_new_issue(&harness.workspace_id, "Flaky network")
        .await;
    let failed = harness.wait_for_status(&first.id, TaskStatus::Failed).await;
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("agent_error.provider_network"),
        "{failed:?}"
    );
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|error| error.contains("stream disconnected")),
        "{failed:?}"
    );
    assert_eq!(
        failed.session_id.as_deref(),
        Some("sess-net"),
        "the session is kept"
    );
    let work_dir = failed
        .work_dir
        .clone()
        .expect("the work dir is sent with the failure");

    // The server retries a network error in a new task, which the daemon runs in
    // the same directory, resuming the session.
    let first_id = first.id.clone();
    let retry = harness
        .server
        .wait_until(WAIT, |state| {
            state
                .tasks()
                .into_iter()
                .find(|task| task.retry_of_task_id.as_deref() == Some(first_id.as_str()))
                .filter(|task| task.status == TaskStatus::Completed)
        })
        .await
        .expect("the retry completes");
    assert_eq!(retry.attempt, 2);
    assert_eq!(retry.work_dir.as_deref(), Some(work_dir.as_str()));
    let args = std::fs::read_to_string(std::path::Path::new(&work_dir).join("args.txt"))
        .expect("the retry ran in the same directory");
    assert!(args.contains("--resume sess-net"), "{args}");
    engine.stop().await;
}

#[tokio::test]
async fn an_agent_that_goes_silent_is_stopped_by_the_watchdog_with_its_reason() {
    let mut harness = Harness::current(Script::Hang).await;
    harness.config.idle_watchdog = Some(Duration::from_secs(1));
    harness.config.tool_watchdog = Some(Duration::from_secs(1));
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Stuck agent")
        .await;
    let pids = support::wait_for_pids(&harness.config.workspaces_root).await;
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("idle_watchdog"),
        "{failed:?}"
    );
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|error| error.contains("force-stopped by idle watchdog")),
        "{failed:?}"
    );
    support::wait_until_dead(&pids, Duration::from_secs(15)).await;
    engine.stop().await;
}

#[tokio::test]
async fn a_running_tasks_session_is_pinned_as_soon_as_the_agent_names_it() {
    let harness = Harness::current(Script::Hang).await;
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Long job")
        .await;
    let task_id = task.id.clone();
    let pinned = harness
        .server
        .wait_until(WAIT, |state| {
            state
                .task(&task_id)
                .filter(|task| task.status == TaskStatus::Running)
                .filter(|task| task.session_id.as_deref() == Some("sess-hang"))
        })
        .await
        .expect("the session is on the server while the agent still runs");
    assert!(pinned.work_dir.is_some_and(|dir| dir.ends_with("workdir")));
    assert!(
        paths(&harness)
            .iter()
            .any(|(method, path, status)| method == "POST"
                && path.ends_with(&format!("/tasks/{task_id}/session"))
                && *status == 204),
        "{:?}",
        paths(&harness)
    );
    engine.stop().await;
}
