//! Load benchmark of the daemon (`multica daemon start --foreground`, this
//! crate's binary, a process of its own) against the in-process dev server, once
//! per server mode: N tasks through M slots, each run by a scripted agent that
//! prints E transcript events. Prints throughput, latencies, the daemon's peak RSS
//! and CPU time, and what was lost (which must be nothing).
//!
//! ```text
//! cargo bench -p multica-cli --bench load                       # 500 tasks, 20 slots, 1000 events
//! LOAD_TASKS=100 LOAD_EVENTS=200 cargo bench -p multica-cli --bench load
//! ```
//!
//! Loopback only; every wait is bounded, so a stuck run ends with a report of
//! what did not finish instead of hanging.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a bench binary: its figures are its output"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use multica_api::wire::TaskStatus;
use multica_daemon::cli_config::CliConfig;
use multica_dev_server::{
    Admin, DevServer, DevServerConfig, NewAgent, NewIssue, NewWorkspace, ServerMode, TaskView,
};

/// Every scripted event's text ends with this, to count them on the server.
const EVENT_MARK: &str = "of the load run";
/// Single tasks assigned to an idle daemon, one after the other, to measure
/// assign-to-spawn without queueing behind busy slots.
const PROBES: usize = 20;
/// Between probes: longer than a freed slot's immediate re-claim.
const PROBE_PAUSE: Duration = Duration::from_millis(700);
/// Agents on the server; tasks go round-robin to them.
const AGENTS: usize = 20;
/// The longest a whole run may take before it is reported as stuck.
const RUN_LIMIT: Duration = Duration::from_secs(15 * 60);

struct Settings {
    tasks: usize,
    slots: usize,
    events: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let settings = Settings {
        tasks: env_number("LOAD_TASKS", 500),
        slots: env_number("LOAD_SLOTS", 20),
        events: env_number("LOAD_EVENTS", 1000),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "load: {} tasks, {} slots, {} events per task, {} agents",
        settings.tasks, settings.slots, settings.events, AGENTS
    );
    for mode in [ServerMode::Seed, ServerMode::Current] {
        let report = runtime.block_on(run(&settings, mode));
        report.print(mode);
    }
}

#[derive(Debug, Default)]
struct Report {
    elapsed: Duration,
    completed: usize,
    lost_results: usize,
    lost_messages: usize,
    events_delivered: usize,
    claim_to_spawn_ms: Vec<f64>,
    assign_to_spawn_ms: Vec<f64>,
    idle_assign_to_spawn_ms: Vec<f64>,
    /// Start to completion of each task, as the server saw it.
    run_ms: Vec<f64>,
    peak_rss_kib: u64,
    cpu_seconds: f64,
}

impl Report {
    fn print(&self, mode: ServerMode) {
        let seconds = self.elapsed.as_secs_f64();
        println!("\n== {mode:?} server ==");
        println!("  elapsed            {seconds:.1} s");
        println!(
            "  tasks/s            {:.1}",
            self.completed as f64 / seconds
        );
        println!(
            "  events/s           {:.0}",
            self.events_delivered as f64 / seconds
        );
        println!(
            "  claim→spawn        p50 {:.1} ms   p99 {:.1} ms",
            percentile(&self.claim_to_spawn_ms, 50.0),
            percentile(&self.claim_to_spawn_ms, 99.0)
        );
        println!(
            "  assign→spawn       p50 {:.1} ms   p99 {:.1} ms   (under load, queueing included)",
            percentile(&self.assign_to_spawn_ms, 50.0),
            percentile(&self.assign_to_spawn_ms, 99.0)
        );
        println!(
            "  assign→spawn idle  p50 {:.1} ms   p99 {:.1} ms   ({} single tasks)",
            percentile(&self.idle_assign_to_spawn_ms, 50.0),
            percentile(&self.idle_assign_to_spawn_ms, 99.0),
            self.idle_assign_to_spawn_ms.len()
        );
        println!(
            "  start→complete     p50 {:.1} ms   p99 {:.1} ms",
            percentile(&self.run_ms, 50.0),
            percentile(&self.run_ms, 99.0)
        );
        println!(
            "  daemon peak RSS    {:.1} MiB",
            self.peak_rss_kib as f64 / 1024.0
        );
        println!("  daemon CPU         {:.1} s", self.cpu_seconds);
        println!("  lost results       {}", self.lost_results);
        println!("  lost messages      {}", self.lost_messages);
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A Claude-compatible stand-in: notes when it started (ns since the epoch),
/// then prints the prepared transcript.
fn write_agent(dir: &Path, events: usize) -> PathBuf {
    let transcript = dir.join("transcript.jsonl");
    let mut text = String::from(
        "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"load\",\"model\":\"fake\"}\n",
    );
    for n in 0..events {
        text.push_str(&format!(
            "{{\"type\":\"assistant\",\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"event {n} {EVENT_MARK}\"}}]}}}}\n"
        ));
    }
    text.push_str("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"load\"}\n");
    std::fs::write(&transcript, text).expect("transcript");
    let agent = dir.join("claude");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '2.1.0 (Claude Code)'; exit 0; fi\n\
             date +%s%N > spawned_at\ncat '{}'\n",
            transcript.display()
        ),
    )
    .expect("agent");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    agent
}

async fn run(settings: &Settings, mode: ServerMode) -> Report {
    let server = DevServer::start(DevServerConfig {
        mode,
        request_log_limit: 1000,
        ..DevServerConfig::default()
    })
    .await
    .expect("dev server");
    let admin = server.admin();
    let user = admin.create_user("Load", "load@example.com");
    let workspace = admin
        .create_workspace(NewWorkspace {
            name: "Load".into(),
            member_user_ids: vec![user.id.clone()],
            ..NewWorkspace::default()
        })
        .expect("workspace");
    let home = tempfile::tempdir().expect("home");
    let agent = write_agent(home.path(), settings.events);
    let mut config = CliConfig {
        server_url: server.base_url(),
        token: user.token,
        ..CliConfig::default()
    };
    config.watch(&workspace.id, &workspace.name);
    config
        .save(&home.path().join(".multica/config.json"))
        .expect("config");

    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_multica"))
        .args(["daemon", "start", "--foreground", "--health-port", "0"])
        .args(["--max-concurrent-tasks", &settings.slots.to_string()])
        .arg("--workspaces-root")
        .arg(home.path().join("workspaces"))
        .env("HOME", home.path())
        .env("MULTICA_CLAUDE_PATH", &agent)
        .env("MULTICA_LOGIN_SHELL", "off")
        .env("MULTICA_AGENT_REDISCOVERY_INTERVAL", "0")
        .env("MULTICA_GC_ENABLED", "false")
        .env("MULTICA_LOG", "warn")
        .env_remove("MULTICA_TOKEN")
        .env_remove("MULTICA_SERVER_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("daemon");
    let pid = daemon.id().expect("pid");

    let runtime_id = server
        .wait_until(Duration::from_secs(60), |state| {
            state
                .runtimes()
                .into_iter()
                .find(|runtime| runtime.status == "online")
                .map(|runtime| runtime.id)
        })
        .await
        .expect("the daemon registers");
    let agents: Vec<String> = (0..AGENTS)
        .map(|n| {
            admin
                .create_agent(NewAgent {
                    workspace_id: workspace.id.clone(),
                    runtime_id: runtime_id.clone(),
                    name: format!("Agent {n}"),
                    max_concurrent_tasks: Some(i32::try_from(settings.slots).unwrap_or(i32::MAX)),
                    ..NewAgent::default()
                })
                .expect("agent")
                .id
        })
        .collect();
    // Let the socket (current mode) connect and the first poll pass.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let started = Instant::now();
    let mut task_ids = Vec::with_capacity(settings.tasks);
    for n in 0..settings.tasks {
        task_ids.push(assign(
            &admin,
            &workspace.id,
            &agents[n % AGENTS],
            &format!("Load {n}"),
        ));
    }
    let finished = server
        .wait_until(RUN_LIMIT, |state| {
            // The status alone: a whole task view copies its transcript, and
            // this runs after every change the server makes.
            let done = task_ids
                .iter()
                .filter(|id| {
                    matches!(
                        state.task_status(id),
                        Some(TaskStatus::Completed | TaskStatus::Failed)
                    )
                })
                .count();
            (done == task_ids.len()).then_some(())
        })
        .await;
    let elapsed = started.elapsed();
    if let Err(stuck) = &finished {
        eprintln!("load: not every task finished: {stuck}");
    }
    // Assign-to-spawn of a daemon with free slots: one task at a time.
    let mut probe_ms = Vec::new();
    for n in 0..PROBES {
        // Let the daemon settle into waiting (its poll, or its socket).
        tokio::time::sleep(PROBE_PAUSE).await;
        let task_id = assign(
            &admin,
            &workspace.id,
            &agents[n % AGENTS],
            &format!("Probe {n}"),
        );
        let finished = server
            .wait_until(Duration::from_secs(30), |state| {
                matches!(
                    state.task_status(&task_id),
                    Some(TaskStatus::Completed | TaskStatus::Failed)
                )
                .then_some(())
            })
            .await;
        if finished.is_ok()
            && let Some(done) = admin.task(&task_id)
            && let (Some(spawned), Some(assigned)) =
                (spawned_at(&done), parse_ms(Some(&done.timings.created_at)))
        {
            probe_ms.push(millis_between(assigned, spawned));
        }
    }
    // Measured before the daemon stops, while its process is still there.
    let (peak_rss_kib, cpu_seconds) = process_figures(pid);
    let _ = daemon.kill().await;

    let mut report = Report {
        elapsed,
        peak_rss_kib,
        cpu_seconds,
        idle_assign_to_spawn_ms: probe_ms,
        ..Report::default()
    };
    for id in &task_ids {
        let Some(task) = admin.task(id) else {
            report.lost_results += 1;
            continue;
        };
        if task.status != TaskStatus::Completed {
            eprintln!(
                "load: task {} ended {:?}: {}",
                task.id,
                task.status,
                task.error.as_deref().unwrap_or("(no error)")
            );
            report.lost_results += 1;
            continue;
        }
        if let (Some(from), Some(to)) = (
            parse_ms(task.timings.started_at.as_deref()),
            parse_ms(task.timings.completed_at.as_deref()),
        ) {
            report.run_ms.push(millis_between(from, to));
        }
        report.completed += 1;
        // Consecutive text blocks may travel as one message: count the events.
        let delivered: usize = task
            .messages
            .iter()
            .filter(|m| m.kind == "text")
            .map(|m| {
                m.content
                    .as_deref()
                    .unwrap_or_default()
                    .matches(EVENT_MARK)
                    .count()
            })
            .sum();
        report.events_delivered += delivered;
        report.lost_messages += settings.events.saturating_sub(delivered);
        if let Some(spawned) = spawned_at(&task) {
            if let Some(claimed) = parse_ms(task.timings.dispatched_at.as_deref()) {
                report
                    .claim_to_spawn_ms
                    .push(millis_between(claimed, spawned));
            }
            if let Some(assigned) = parse_ms(Some(&task.timings.created_at)) {
                report
                    .assign_to_spawn_ms
                    .push(millis_between(assigned, spawned));
            }
        }
    }
    report
}

/// A new issue assigned to `agent`; returns its task.
fn assign(admin: &Admin, workspace_id: &str, agent: &str, title: &str) -> String {
    let issue = admin
        .create_issue(NewIssue {
            workspace_id: workspace_id.to_owned(),
            title: title.to_owned(),
            ..NewIssue::default()
        })
        .expect("issue");
    admin
        .assign_issue(&issue.id, Some(agent))
        .expect("assign")
        .expect("a task")
        .id
}

fn parse_ms(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// When the agent of `task` started, from the note it left in its work dir.
fn spawned_at(task: &TaskView) -> Option<DateTime<Utc>> {
    let dir = PathBuf::from(task.work_dir.as_deref()?);
    let nanos: i64 = std::fs::read_to_string(dir.join("spawned_at"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(DateTime::from_timestamp_nanos(nanos))
}

/// Peak resident set (KiB) and user+system CPU seconds of process `pid`.
fn process_figures(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|index| {
            fields
                .get(*index)
                .and_then(|value| value.parse::<u64>().ok())
        })
        .sum();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    (peak, ticks as f64 / per_second)
}
