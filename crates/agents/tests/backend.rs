//! The Claude backend driving scripted stand-ins for the CLI: what it does with
//! processes that resist, outlive or flood it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use multica_agents::{
    AgentEvent, AgentRun, KillGrace, Provider, RunOutcome, RunSpec, RunStatus, backend,
};
use tokio_util::sync::CancellationToken;

fn script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("claude");
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn spec(dir: &Path, executable: PathBuf, timeout: Duration) -> RunSpec {
    RunSpec {
        executable,
        cwd: dir.to_owned(),
        prompt: "do the thing".into(),
        model: None,
        resume_session_id: None,
        env: vec![("FROM_SPEC".into(), "yes".into())],
        timeout: Some(timeout),
        idle_timeout: None,
        kill_grace: KillGrace {
            after_interrupt: Duration::from_millis(500),
            after_terminate: Duration::from_millis(500),
        },
    }
}

async fn run_to_end(run: AgentRun) -> (Vec<AgentEvent>, RunOutcome) {
    let AgentRun {
        mut events,
        outcome,
        ..
    } = run;
    let mut collected = Vec::new();
    while let Some(event) = events.recv().await {
        collected.push(event);
    }
    (collected, outcome.await)
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

async fn read_pids(path: &Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let pids: Vec<i32> = text
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.len() >= 2 {
                return pids;
            }
        }
        assert!(Instant::now() < deadline, "no pids written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const RESULT_LINE: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"finished","session_id":"s-1"}"#;

#[tokio::test]
async fn environment_arguments_and_result_reach_the_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        &format!(
            "printf '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"%s|%s\"}}]}}}}\\n' \"$FROM_SPEC\" \"$PWD\"\n\
             echo '{RESULT_LINE}'\n"
        ),
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(30)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (events, outcome) = run_to_end(run).await;
    let cwd = dir.path().canonicalize().expect("canonical");
    assert!(
        events.contains(&AgentEvent::Text(format!("yes|{}", cwd.display()))),
        "{events:?}"
    );
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.output, "finished");
    assert_eq!(outcome.session_id.as_deref(), Some("s-1"));
    assert_eq!(outcome.exit_code, Some(0));
}

#[tokio::test]
async fn a_cli_ignoring_interrupt_and_terminate_is_killed_with_its_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        "trap '' INT TERM\n\
         ( trap '' INT TERM; sleep 300 ) &\n\
         echo \"$$ $!\" > pids\n\
         echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}'\n\
         while true; do sleep 1; done\n",
    );
    let cancel = CancellationToken::new();
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(60)),
            cancel.clone(),
        )
        .expect("spawn");
    let pids = read_pids(&dir.path().join("pids")).await;
    let started = Instant::now();
    cancel.cancel();
    let (_, outcome) = run_to_end(run).await;
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived");
    }
}

#[tokio::test]
async fn a_background_job_holding_stdout_does_not_hang_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        &format!(
            "sleep 300 &\n\
             echo \"$$ $!\" > pids\n\
             echo '{RESULT_LINE}'\n\
             exit 0\n"
        ),
    );
    let started = Instant::now();
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (_, outcome) = run_to_end(run).await;
    assert_eq!(outcome.status, RunStatus::Completed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let pids = read_pids(&dir.path().join("pids")).await;
    assert!(!alive(pids[1]), "the background job outlived the task");
}

#[tokio::test]
async fn a_slow_consumer_gets_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        &format!(
            "for i in $(seq 1 2000); do printf '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"%s\"}}]}}}}\\n' $i; done\n\
             echo '{RESULT_LINE}'\n"
        ),
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let AgentRun {
        mut events,
        outcome,
        ..
    } = run;
    let mut texts = Vec::new();
    while let Some(event) = events.recv().await {
        if let AgentEvent::Text(text) = event {
            texts.push(text);
            if texts.len() % 500 == 0 {
                // Far longer than it takes the script to fill any buffer.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let expected: Vec<String> = (1..=2000).map(|i| i.to_string()).collect();
    assert_eq!(texts, expected, "no event may be dropped");
    assert_eq!(outcome.await.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_dropped_consumer_does_not_block_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        &format!(
            "for i in $(seq 1 5000); do echo '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"filler filler filler\"}}]}}}}'; done\n\
             echo '{RESULT_LINE}'\n"
        ),
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let AgentRun {
        events, outcome, ..
    } = run;
    drop(events);
    let outcome = tokio::time::timeout(Duration::from_secs(20), outcome)
        .await
        .expect("the run ends although nobody reads its events");
    assert_eq!(outcome.status, RunStatus::Completed);
}

#[tokio::test]
async fn malformed_lines_exit_codes_and_missing_results_are_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        "echo 'warning: not json'\necho '{\"type\":\"assistant\",'\necho 'oops' >&2\nexit 0\n",
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(30)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (events, outcome) = run_to_end(run).await;
    let logs = events
        .iter()
        .filter(|event| matches!(event, AgentEvent::Log { .. }))
        .count();
    assert_eq!(
        logs, 3,
        "two unparseable lines and one stderr line: {events:?}"
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.error.as_deref(),
        Some("claude exited without a result: oops")
    );

    let failing = script(
        dir.path(),
        "echo '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons' >&2\nexit 1\n",
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), failing, Duration::from_secs(30)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (_, outcome) = run_to_end(run).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("error");
    assert!(
        error.starts_with("claude exited with status 1: --dangerously-skip-permissions"),
        "{error}"
    );
}

#[tokio::test]
async fn timeouts_stop_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(dir.path(), "sleep 300\n");
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_millis(300)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (_, outcome) = run_to_end(run).await;
    assert_eq!(outcome.status, RunStatus::TimedOut);
    assert_eq!(
        outcome.error.as_deref(),
        Some("claude timed out after 300ms")
    );
}

#[tokio::test]
async fn a_twenty_megabyte_line_is_one_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = script(
        dir.path(),
        &format!(
            "printf '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"'\n\
             head -c 20000000 /dev/zero | tr '\\0' 'b'\n\
             printf '\"}}]}}}}\\n'\n\
             echo '{RESULT_LINE}'\n"
        ),
    );
    let run = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), exe, Duration::from_secs(60)),
            CancellationToken::new(),
        )
        .expect("spawn");
    let (events, outcome) = run_to_end(run).await;
    let longest = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::Text(text) => Some(text.len()),
            _ => None,
        })
        .max();
    assert_eq!(longest, Some(20_000_000));
    assert_eq!(outcome.status, RunStatus::Completed);
}

#[tokio::test]
async fn missing_executables_and_work_dirs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope").join("claude");
    let error = backend(&Provider::claude())
        .spawn(
            spec(dir.path(), missing.clone(), Duration::from_secs(1)),
            CancellationToken::new(),
        )
        .expect_err("missing CLI");
    assert!(error.to_string().contains("not found"), "{error}");

    let exe = script(dir.path(), "exit 0\n");
    let mut bad_cwd = spec(dir.path(), exe, Duration::from_secs(1));
    bad_cwd.cwd = dir.path().join("gone");
    let error = backend(&Provider::claude())
        .spawn(bad_cwd, CancellationToken::new())
        .expect_err("missing work dir");
    assert!(error.to_string().contains("does not exist"), "{error}");

    let version_error = multica_agents::detect_version(&missing, Duration::from_secs(1))
        .await
        .expect_err("no version");
    assert!(
        version_error.to_string().contains("not found"),
        "{version_error}"
    );
}
