//! Token usage through the engine: each run kept in the local ledger, the machine's
//! agent logs (including the Codex homes of the daemon's own tasks) scanned and shown
//! on the local API, full-day totals uploaded to a seed server's runtime and replaced
//! as the day grows, and no such upload to a current server.
#![cfg(unix)]

mod support;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate};
use multica_api::wire::TaskStatus;
use multica_daemon::usage_book::task_ledger_path;
use multica_usage::LogRoot;
use multica_usage::task_runs::{CostSource, read_task_ledger};
use support::{Harness, Script, WAIT};

const CLAUDE_TIMESTAMP: &str = "2026-11-29T10:00:00.000Z";

fn claude_line(message: &str, input: u64, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s1","requestId":"req-{message}","timestamp":"{CLAUDE_TIMESTAMP}","message":{{"id":"{message}","model":"claude-sonnet-4-20250514","content":[],"usage":{{"input_tokens":{input},"output_tokens":{output}}}}}}}"#
    ) + "\n"
}

fn local_day(timestamp: &str) -> String {
    let moment: DateTime<chrono::Utc> = timestamp.parse().expect("timestamp");
    moment
        .with_timezone(&Local)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// A Claude Code log of the user and, in a task directory of the daemon, a Codex
/// home with a rollout (the usage crate's fixture).
fn write_logs(harness: &Harness) -> (PathBuf, PathBuf) {
    let projects = harness.home.path().join("claude").join("projects");
    let log = projects.join("-home-me-app").join("s1.jsonl");
    fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    fs::write(&log, claude_line("msg_1", 100, 50)).expect("write log");

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../usage/tests/fixtures/codex/sessions/2025/09/15/rollout-2025-09-15T10-00-00-0199a1b2-6c3d-7e4f-8a9b-0c1d2e3f4a5b.jsonl",
    );
    let rollout = harness
        .config
        .workspaces_root
        .join(&harness.workspace_id)
        .join("0f1e2d3c")
        .join("codex-home/sessions/2025/09/15/rollout.jsonl");
    fs::create_dir_all(rollout.parent().expect("parent")).expect("mkdir");
    fs::copy(fixture, &rollout).expect("copy the Codex fixture");
    (projects, log)
}

#[tokio::test]
async fn runs_are_kept_logs_are_scanned_and_seed_servers_get_full_days() {
    let mut harness = Harness::new(Script::Succeed).await;
    let (projects, log) = write_logs(&harness);
    harness.config.usage.log_roots = vec![LogRoot::claude(&projects)];
    harness.config.usage.scan_interval = Some(Duration::from_millis(200));
    let engine = harness.start_engine().await;

    let task = harness
        .assign_new_issue(&harness.workspace_id, "Count my tokens")
        .await;
    harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    let runtime_id = harness.runtime_in(&harness.workspace_id).await;

    // The seed server gets the day's totals on the Claude runtime.
    let day = local_day(CLAUDE_TIMESTAMP);
    let wait_for_row = |input: i64| {
        let admin = harness.admin();
        let (runtime_id, day) = (runtime_id.clone(), day.clone());
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let rows = admin.state().usage;
                if let Some(row) = rows.iter().find(|row| {
                    row.runtime_id == runtime_id
                        && row.date == day
                        && row.provider == "claude"
                        && row.input_tokens == input
                }) {
                    return row.clone();
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no usage row with input {input}: {rows:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let row = wait_for_row(100).await;
    assert_eq!(row.model, "claude-sonnet-4-20250514");
    assert_eq!(row.output_tokens, 50);

    // The day grows: the server's row is replaced by the new full-day total.
    let mut file = OpenOptions::new().append(true).open(&log).expect("open");
    file.write_all(claude_line("msg_2", 7, 3).as_bytes())
        .expect("append");
    let row = wait_for_row(107).await;
    assert_eq!(row.output_tokens, 53);
    let claude_rows: Vec<_> = harness
        .admin()
        .state()
        .usage
        .into_iter()
        .filter(|row| row.provider == "claude")
        .collect();
    assert_eq!(
        claude_rows.len(),
        1,
        "one row per day and model: {claude_rows:?}"
    );

    // The run is in the ledger with the agent's own numbers and cost.
    let ledger = read_task_ledger(&task_ledger_path(&harness.config.config_file)).expect("ledger");
    assert_eq!(ledger.records.len(), 1);
    let run = &ledger.records[0];
    assert_eq!(run.task_id, task.id);
    assert_eq!(run.outcome, "completed");
    assert_eq!(run.runtime_id, runtime_id);
    assert_eq!(
        (
            run.models[0].model.as_str(),
            run.models[0].input_tokens,
            run.models[0].output_tokens
        ),
        ("fake", 10, 5)
    );
    assert_eq!(run.models[0].cost_usd, Some(0.001));
    assert_eq!(run.models[0].cost_from, CostSource::Agent);

    // The local API shows both: the machine's logs (the user's Claude Code and the
    // Codex home of a task) and the daemon's runs.
    let port = engine.handle.health_port();
    let report: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{port}/usage?since=2025-01-01"))
            .await
            .expect("GET /usage")
            .json()
            .await
            .expect("JSON");
    assert_eq!(report["tasks"][0]["task_id"], task.id.as_str());
    assert_eq!(report["task_total"]["tasks"], 1);
    assert_eq!(report["task_total"]["total_tokens"], 15);
    let daily = report["machine"]["daily"].as_array().expect("daily rows");
    let providers: Vec<&str> = daily
        .iter()
        .filter_map(|row| row["provider"].as_str())
        .collect();
    assert!(providers.contains(&"claude"), "{daily:?}");
    assert!(
        providers.contains(&"codex"),
        "the task's Codex home is scanned: {daily:?}"
    );
    assert!(report["machine"]["top_models"][0]["model"].is_string());
    let bad = reqwest::get(format!("http://127.0.0.1:{port}/usage?since=yesterday"))
        .await
        .expect("GET /usage");
    assert_eq!(bad.status(), 400);

    // The engine API answers the same, from the default 30 days on.
    let recent = engine.handle.usage(None);
    assert_eq!(recent.tasks.len(), 1);
    let thirty_days_ago = Local::now().date_naive() - chrono::Days::new(29);
    assert_eq!(recent.since, thirty_days_ago);
    let all = engine
        .handle
        .usage(Some(NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")));
    assert!(all.machine.expect("scanned").total.total > 0);
    engine.stop().await;
}

#[tokio::test]
async fn a_current_server_is_asked_once_for_runtime_usage() {
    let mut harness = Harness::current(Script::Succeed).await;
    let (projects, log) = write_logs(&harness);
    harness.config.usage.log_roots = vec![LogRoot::claude(&projects)];
    harness.config.usage.scan_interval = Some(Duration::from_millis(200));
    let engine = harness.start_engine().await;
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Per task only")
        .await;
    harness
        .wait_for_status(&task.id, TaskStatus::Completed)
        .await;
    // Several scans, one of them with new figures.
    let mut file = OpenOptions::new().append(true).open(&log).expect("open");
    file.write_all(claude_line("msg_2", 7, 3).as_bytes())
        .expect("append");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let uploads: Vec<u16> = harness
        .admin()
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/daemon/runtimes/") && r.path.ends_with("/usage"))
        .map(|r| r.status)
        .collect();
    assert_eq!(uploads, [404], "tried once, then left alone");
    assert!(harness.admin().state().usage.is_empty());
    // The run still counts: per task on the server and in the ledger.
    assert_eq!(harness.admin().task_usage().len(), 1);
    assert_eq!(engine.handle.usage(None).tasks.len(), 1);
    engine.stop().await;
}
