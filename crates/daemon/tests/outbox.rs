//! Nothing lost: results and transcripts outlive a server that is away and a
//! daemon that dies. The dev server's fault injection plays the outage; dropping
//! the engine's run without a shutdown plays a killed daemon.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_api::Secret;
use multica_api::wire::TaskStatus;
use multica_daemon::Engine;
use multica_daemon::outbox::ORPHAN_ERROR;
use multica_dev_server::FaultSpec;
use support::{Harness, Script, WAIT, wait_for_pids, wait_until_dead};
use tokio_util::sync::CancellationToken;

fn outbox_dir(harness: &Harness) -> PathBuf {
    harness.config.workspaces_root.join(".outbox")
}

fn waiting_reports(dir: &Path, kind: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .ends_with(&format!("-{kind}.json"))
                })
                .count()
        })
        .unwrap_or(0)
}

async fn wait_for_waiting_report(dir: &Path, kind: &str) {
    tokio::time::timeout(WAIT, async {
        while waiting_reports(dir, kind) == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let files: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        panic!("no {kind} report waited in the outbox: {files:?}")
    });
}

/// The whole API answers 503 until the faults are cleared.
fn take_the_server_down(harness: &Harness) {
    harness.admin().inject_fault(FaultSpec {
        path_contains: "/api/".to_owned(),
        status: Some(503),
        body: Some(r#"{"error":"service unavailable"}"#.to_owned()),
        times: Some(0),
        ..FaultSpec::default()
    });
}

/// Takes the server away once the task runs and its result waits in the outbox,
/// keeps it away for `outage`, brings it back, and checks that the result and the
/// whole transcript arrived exactly once.
async fn survive_an_outage(harness: &Harness, title: &str, outage: Duration) {
    let task = harness.assign_new_issue(&harness.workspace_id, title).await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;
    take_the_server_down(harness);
    wait_for_waiting_report(&outbox_dir(harness), "complete").await;
    tokio::time::sleep(outage).await;
    assert_eq!(
        harness.admin().task(&task.id).expect("task").status,
        TaskStatus::Running
    );
    harness.admin().clear_faults();

    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert_eq!(done.result.expect("result")["output"], "All done.");
    assert_eq!(
        handled(harness, &task.id, "/complete"),
        [200],
        "delivered exactly once"
    );
    let seqs: Vec<i32> = done.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "the transcript whole, once, in order");
    tokio::time::timeout(WAIT, async {
        while waiting_reports(&outbox_dir(harness), "complete") > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the outbox empties");
}

/// Requests for `task_id` ending in `action` that the server really handled.
fn handled(harness: &Harness, task_id: &str, action: &str) -> Vec<u16> {
    harness
        .admin()
        .requests()
        .into_iter()
        .filter(|r| !r.fault && r.path.contains(task_id) && r.path.ends_with(action))
        .map(|r| r.status)
        .collect()
}

/// An engine on a runtime of its own, so that it can die the way a killed
/// process does: every one of its tasks stops at once, nothing is flushed,
/// nothing deregistered. Its agents, in process groups of their own, live on.
struct Doomed {
    runtime: tokio::runtime::Runtime,
}

impl Doomed {
    fn start(harness: &Harness) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = harness.config.clone();
        let token = Secret::new(harness.token.clone());
        runtime.spawn(async move {
            let engine = Engine::start(config, Some(token))
                .await
                .expect("engine starts");
            engine.run(CancellationToken::new()).await
        });
        Self { runtime }
    }

    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

#[tokio::test]
async fn a_result_finished_while_the_server_is_away_arrives_once_it_is_back() {
    let mut harness = Harness::new(Script::SucceedAfter(1)).await;
    // Back-off alone would wait far longer than this test: the first heartbeat
    // that gets through sends what waits.
    harness.config.report_retry = Duration::from_secs(20);
    let engine = harness.start_engine().await;
    survive_an_outage(&harness, "Survive an outage", Duration::from_secs(2)).await;
    engine.stop().await;
}

#[tokio::test]
async fn a_result_left_by_a_killed_daemon_is_delivered_by_the_next_one() {
    let harness = Harness::new(Script::Succeed).await;
    // Results cannot get through: the daemon dies with one in its outbox.
    harness.admin().inject_fault(FaultSpec {
        path_contains: "/complete".to_owned(),
        status: Some(502),
        times: Some(0),
        ..FaultSpec::default()
    });
    let doomed = Doomed::start(&harness);
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Outlive the daemon")
        .await;
    wait_for_waiting_report(&outbox_dir(&harness), "complete").await;
    doomed.kill();
    harness.admin().clear_faults();

    let restarted = harness.start_engine().await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert_eq!(done.result.expect("result")["output"], "All done.");
    assert_eq!(handled(&harness, &task.id, "/complete"), [200]);
    assert!(
        handled(&harness, &task.id, "/fail").is_empty(),
        "not an orphan"
    );
    restarted.stop().await;
}

#[tokio::test]
async fn a_task_whose_daemon_was_killed_mid_run_is_reported_failed_at_restart() {
    let harness = Harness::new(Script::Hang).await;
    let doomed = Doomed::start(&harness);
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Lost with the daemon")
        .await;
    harness.wait_for_status(&task.id, TaskStatus::Running).await;
    let pids = wait_for_pids(&harness.config.workspaces_root).await;
    doomed.kill();
    // The agent outlived its daemon; its result is lost all the same. End it.
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    wait_until_dead(&pids, WAIT).await;

    let restarted = harness.start_engine().await;
    let failed = harness.wait_for_status(&task.id, TaskStatus::Failed).await;
    assert_eq!(failed.error.as_deref(), Some(ORPHAN_ERROR));
    restarted.stop().await;
}

#[tokio::test]
async fn malformed_answers_to_result_reports_are_retried_not_trusted() {
    let harness = Harness::new(Script::Succeed).await;
    // A proxy's error page, then a 200 whose body is not the task: neither is a
    // definite answer.
    harness.admin().inject_fault(FaultSpec {
        path_contains: "/complete".to_owned(),
        status: Some(502),
        body: Some("<html>proxy error</html>".to_owned()),
        times: Some(1),
        ..FaultSpec::default()
    });
    harness.admin().inject_fault(FaultSpec {
        path_contains: "/complete".to_owned(),
        status: Some(200),
        body: Some("<html>cached page</html>".to_owned()),
        times: Some(1),
        ..FaultSpec::default()
    });
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Through a bad proxy")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert_eq!(done.result.expect("result")["output"], "All done.");
    assert_eq!(handled(&harness, &task.id, "/complete"), [200]);
    engine.stop().await;
}

#[tokio::test]
async fn malformed_json_from_every_endpoint_delays_but_loses_nothing() {
    let harness = Harness::new(Script::Succeed).await;
    for path in [
        "/register",
        "/api/workspaces",
        "/heartbeat",
        "/tasks/claim",
        "/start",
        "/messages",
        "/status",
        "/complete",
    ] {
        harness.admin().inject_fault(FaultSpec {
            path_contains: path.to_owned(),
            status: Some(200),
            body: Some(r#"{"truncated": "#.to_owned()),
            content_type: Some("application/json".to_owned()),
            times: Some(1),
            ..FaultSpec::default()
        });
    }
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Garbage everywhere")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let seqs: Vec<i32> = done.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "each message exactly once, in order");
    assert_eq!(handled(&harness, &task.id, "/complete"), [200]);
    assert!(
        harness
            .admin()
            .faults()
            .iter()
            .all(|fault| fault.remaining == Some(0)),
        "every endpoint answered garbage once"
    );
    engine.stop().await;
}

#[tokio::test]
async fn slow_answers_delay_but_lose_nothing() {
    let harness = Harness::new(Script::Succeed).await;
    for path in [
        "/heartbeat",
        "/tasks/claim",
        "/start",
        "/messages",
        "/complete",
    ] {
        harness.admin().inject_fault(FaultSpec {
            path_contains: path.to_owned(),
            delay_ms: 1500,
            times: Some(2),
            ..FaultSpec::default()
        });
    }
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "A slow server")
        .await;
    let done = harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    assert_eq!(done.result.expect("result")["output"], "All done.");
    let seqs: Vec<i32> = done.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    engine.stop().await;
}

/// The outage of the issue: two minutes (`MULTICA_TEST_OUTAGE_SECONDS` to change),
/// against a current server, whose runtimes get a reconnect grace (a seed server
/// fails the tasks of a runtime silent for 45 s, whatever the daemon does).
#[tokio::test]
async fn a_two_minute_outage_mid_task_loses_nothing() {
    let outage = Duration::from_secs(
        std::env::var("MULTICA_TEST_OUTAGE_SECONDS")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(120),
    );
    let harness = Harness::current(Script::SucceedAfter(1)).await;
    let engine = harness.start_engine().await;
    survive_an_outage(&harness, "Two minutes of nothing", outage).await;
    engine.stop().await;
}
