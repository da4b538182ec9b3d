//! The Claude backend driving small shell scripts that play a misbehaving CLI:
//! deterministic tests of the process handling (exit codes, huge lines, stubborn
//! processes, grandchildren holding the pipe, timeouts, bad output, stdin handling).
#![cfg(unix)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use multica_agents::{
    AgentBackend, AgentError, AgentEvent, RunSpec, RunStatus, StreamJsonBackend, detect_version,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use support::{assert_group_gone, fake_spec, finish, pid_alive, without_logs, write_script};

const INIT: &str =
    r#"{"type":"system","subtype":"init","session_id":"sess-1","model":"fake-model"}"#;
const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"all done","session_id":"sess-1","usage":{"input_tokens":5,"output_tokens":2},"modelUsage":{"fake-model":{"inputTokens":5,"outputTokens":2,"costUSD":0.01}}}"#;

fn start(script: &Path, cwd: &Path) -> multica_agents::AgentRun {
    StreamJsonBackend::claude()
        .spawn(fake_spec(script, cwd), CancellationToken::new())
        .expect("spawn the fake CLI")
}

#[tokio::test]
async fn a_well_behaved_run_completes() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "echo '{INIT}'\necho '{}'\necho '{RESULT}'",
            json!({"type":"assistant","message":{"content":[{"type":"text","text":"hello"}]}})
        ),
    );
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(
        without_logs(&events),
        vec![
            AgentEvent::Status("running".into()),
            AgentEvent::Session("sess-1".into()),
            AgentEvent::Text("hello".into())
        ]
    );
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.output, "all done");
    assert_eq!(outcome.session_id.as_deref(), Some("sess-1"));
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.usage.len(), 1);
    assert_eq!(outcome.usage[0].model, "fake-model");
    assert_eq!(outcome.usage[0].input_tokens, 5);
}

#[tokio::test]
async fn non_zero_exit_reports_the_status_and_stderr() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        "echo 'warming up' >&2\necho 'fatal: the config file is broken' >&2\nexit 3",
    );
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(
        outcome.error.as_deref(),
        Some("claude exited with status 3: warming up\nfatal: the config file is broken")
    );
    assert!(events.contains(&AgentEvent::Log {
        level: multica_agents::LogLevel::Warn,
        message: "fatal: the config file is broken".into()
    }));
}

#[tokio::test]
async fn the_root_refusal_says_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        "echo '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons' >&2\nexit 1",
    );
    let (_, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("an error");
    assert!(error.contains("root/sudo"), "{error}");
    assert!(error.contains("IS_SANDBOX=1"), "{error}");
}

#[tokio::test]
async fn exit_zero_without_a_result_fails() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(dir.path(), "claude", &format!("echo '{INIT}'"));
    let (_, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(
        outcome.error.as_deref(),
        Some("claude exited without a result (nothing on stderr)")
    );
    assert_eq!(outcome.session_id.as_deref(), Some("sess-1"));
}

#[tokio::test]
async fn an_error_result_fails_with_its_text() {
    let dir = tempfile::tempdir().expect("dir");
    let result = json!({"type":"result","subtype":"success","is_error":true,"result":"API Error: 401 invalid x-api-key"});
    let script = write_script(dir.path(), "claude", &format!("echo '{result}'\nexit 1"));
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.error.as_deref(),
        Some("claude reported an error: API Error: 401 invalid x-api-key")
    );
    assert!(events.contains(&AgentEvent::Error(
        "API Error: 401 invalid x-api-key".into()
    )));
}

#[tokio::test]
async fn malformed_lines_become_warnings_and_reading_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "echo '{INIT}'\necho 'Debugger attached.'\necho '{{\"type\":\"assistant\",'\necho '{{\"type\":\"something_new\"}}'\necho '{RESULT}'"
        ),
    );
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Completed);
    let warnings: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.starts_with("unreadable output line from claude"))
    );
    assert!(warnings[0].ends_with("Debugger attached."));
}

/// Writes `{INIT}`, one assistant line whose text is `text_bytes` long, and the
/// result, into a file the script `cat`s.
fn huge_transcript(dir: &Path, text: &str) -> std::path::PathBuf {
    let line = json!({"type":"assistant","message":{"content":[{"type":"text","text": text}]}});
    let path = dir.join("transcript.jsonl");
    std::fs::write(&path, format!("{INIT}\n{line}\n{RESULT}\n")).expect("write transcript");
    path
}

#[tokio::test]
async fn a_twenty_megabyte_line_is_an_ordinary_event() {
    let dir = tempfile::tempdir().expect("dir");
    let text = fake_model_api::filler_text(20_000_000);
    let transcript = huge_transcript(dir.path(), &text);
    let script = write_script(
        dir.path(),
        "claude",
        &format!("cat '{}'", transcript.display()),
    );
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    let texts: Vec<&String> = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::Text(text) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].len(), 20_000_000);
    assert!(*texts[0] == text);
}

#[tokio::test]
async fn a_line_over_the_limit_is_skipped_and_reading_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let length = multica_agents::MAX_LINE_BYTES + 1_000_000;
    let script = write_script(
        dir.path(),
        "claude",
        &format!("echo '{INIT}'\nhead -c {length} /dev/zero | tr '\\0' x\necho\necho '{RESULT}'"),
    );
    let (events, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.output, "all done");
    assert_eq!(
        without_logs(&events),
        vec![
            AgentEvent::Status("running".into()),
            AgentEvent::Session("sess-1".into()),
            AgentEvent::Error(format!(
                "skipped an output line of {length} bytes: longer than the 64 MiB limit"
            )),
        ]
    );
}

#[tokio::test]
async fn a_slow_consumer_loses_no_events() {
    let dir = tempfile::tempdir().expect("dir");
    let count = 3000;
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "i=0\nwhile [ $i -lt {count} ]; do\n  echo '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"'$i'\"}}]}}}}'\n  i=$((i+1))\ndone\necho '{RESULT}'"
        ),
    );
    let mut run = start(&script, dir.path());
    let mut expected = 0;
    while let Some(event) = run.events.recv().await {
        assert_eq!(event, AgentEvent::Text(expected.to_string()));
        expected += 1;
        if expected % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(expected, count);
    assert_eq!(run.outcome.await.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_dropped_event_receiver_does_not_block_the_agent() {
    let dir = tempfile::tempdir().expect("dir");
    // Far more output than the event buffer and a pipe hold together.
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "i=0\nwhile [ $i -lt 20000 ]; do echo '{{\"type\":\"assistant\",\"message\":{{\"content\":\"padding padding padding padding\"}}}}'; i=$((i+1)); done\necho '{RESULT}'"
        ),
    );
    let run = start(&script, dir.path());
    drop(run.events);
    let outcome = tokio::time::timeout(support::RUN_LIMIT, run.outcome.wait())
        .await
        .expect("ends");
    assert_eq!(outcome.status, RunStatus::Completed);
}

#[tokio::test]
async fn the_prompt_goes_in_on_stdin_and_permission_prompts_are_answered() {
    let dir = tempfile::tempdir().expect("dir");
    let request = json!({"type":"control_request","request_id":"req-7",
        "request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"make test"}}});
    // Reads the prompt, asks for permission, records the answer, prints the result
    // and then reads stdin to its end: it only exits once stdin is closed.
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "read -r prompt\necho \"$prompt\" > prompt.json\necho '{INIT}'\necho '{request}'\nread -r answer\necho \"$answer\" > answer.json\necho '{RESULT}'\ncat > rest.txt\necho \"$@\" > args.txt"
        ),
    );
    let started = Instant::now();
    let (_, outcome) = finish(start(&script, dir.path())).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stdin was closed after the result"
    );

    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).expect(name))
            .expect("json")
    };
    assert_eq!(
        read("prompt.json"),
        json!({"type":"user","message":{"role":"user","content":[{"type":"text","text":"do the thing"}]}})
    );
    assert_eq!(
        read("answer.json"),
        json!({"type":"control_response","response":{"subtype":"success","request_id":"req-7",
            "response":{"behavior":"allow","updatedInput":{"command":"make test"}}}})
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rest.txt")).expect("rest"),
        ""
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("args.txt"))
            .expect("args")
            .trim(),
        "-p --input-format stream-json --output-format stream-json --verbose --permission-mode bypassPermissions"
    );
}

#[tokio::test]
async fn a_cli_that_lingers_after_its_result_is_stopped_and_the_result_stands() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        &format!("echo '{INIT}'\necho '{RESULT}'\nexec sleep 600"),
    );
    let run = start(&script, dir.path());
    let pgid = run.pid.expect("pid");
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.output, "all done");
    assert!(outcome.duration < Duration::from_secs(15));
    assert_group_gone(pgid, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn cancel_kills_a_cli_that_ignores_sigint_and_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(
        dir.path(),
        "claude",
        &format!("trap '' INT TERM\necho '{INIT}'\nsleep 600\nsleep 600"),
    );
    let cancel = CancellationToken::new();
    let mut run = StreamJsonBackend::claude()
        .spawn(fake_spec(&script, dir.path()), cancel.clone())
        .expect("spawn");
    let pgid = run.pid.expect("pid");
    assert_eq!(
        run.events.recv().await,
        Some(AgentEvent::Status("running".into()))
    );
    let cancelled_at = Instant::now();
    cancel.cancel();
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Cancelled, "{outcome:?}");
    assert_eq!(
        outcome.error.as_deref(),
        Some("the run was cancelled and claude was stopped")
    );
    assert_eq!(outcome.session_id.as_deref(), Some("sess-1"));
    // 300 ms after SIGINT, 300 ms after SIGTERM, then SIGKILL.
    assert!(cancelled_at.elapsed() < Duration::from_secs(4));
    assert_group_gone(pgid, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_grandchild_holding_stdout_does_not_hang_the_run_and_is_killed() {
    let dir = tempfile::tempdir().expect("dir");
    // The background sleep inherits stdout and would keep it open for ten minutes.
    let script = write_script(
        dir.path(),
        "claude",
        &format!("sleep 600 &\necho $! > grandchild.pid\necho '{INIT}'\necho '{RESULT}'\nexit 0"),
    );
    let started = Instant::now();
    let run = start(&script, dir.path());
    let pgid = run.pid.expect("pid");
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let grandchild: u32 = std::fs::read_to_string(dir.path().join("grandchild.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_group_gone(pgid, Duration::from_secs(3)).await;
    assert!(
        !pid_alive(grandchild),
        "the grandchild {grandchild} was killed"
    );
}

#[tokio::test]
async fn timeout_stops_the_run() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(dir.path(), "claude", &format!("echo '{INIT}'\nsleep 600"));
    let mut spec = fake_spec(&script, dir.path());
    spec.timeout = Some(Duration::from_millis(500));
    let run = StreamJsonBackend::claude()
        .spawn(spec, CancellationToken::new())
        .expect("spawn");
    let pgid = run.pid.expect("pid");
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::TimedOut);
    let error = outcome.error.expect("error");
    assert_eq!(error, "claude timed out after 500ms");
    assert!(outcome.duration < Duration::from_secs(3));
    assert_group_gone(pgid, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn spawn_errors_are_clear() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("no-such-claude");
    let error = StreamJsonBackend::claude()
        .spawn(fake_spec(&missing, dir.path()), CancellationToken::new())
        .expect_err("missing executable");
    assert!(matches!(error, AgentError::NotFound { .. }), "{error}");

    let script = write_script(dir.path(), "claude", "exit 0");
    let error = StreamJsonBackend::claude()
        .spawn(
            fake_spec(&script, &dir.path().join("gone")),
            CancellationToken::new(),
        )
        .expect_err("missing work dir");
    assert!(
        matches!(error, AgentError::MissingWorkDir { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn detect_version_answers_and_explains_failures() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let timeout = Duration::from_secs(10);

    let good = write_script(dir.path(), "good", "echo '  2.1.0 (Fake Code)  '");
    assert_eq!(
        detect_version(&good, timeout).await.expect("version"),
        "2.1.0 (Fake Code)"
    );

    let failing = write_script(dir.path(), "failing", "echo 'node: bad option' >&2\nexit 9");
    let error = detect_version(&failing, timeout).await.expect_err("fails");
    assert!(matches!(error, AgentError::VersionFailed { .. }));
    assert!(error.to_string().contains("exit status: 9"), "{error}");
    assert!(error.to_string().contains("node: bad option"), "{error}");

    let silent = write_script(dir.path(), "silent", "exit 0");
    let error = detect_version(&silent, timeout).await.expect_err("empty");
    assert!(matches!(error, AgentError::VersionEmpty { .. }), "{error}");

    let error = detect_version(&dir.path().join("missing"), timeout)
        .await
        .expect_err("missing");
    assert!(matches!(error, AgentError::NotFound { .. }), "{error}");

    let plain = dir.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\necho 1\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = detect_version(&plain, timeout)
        .await
        .expect_err("not executable");
    assert!(matches!(error, AgentError::NotExecutable { .. }), "{error}");

    let hanging = write_script(dir.path(), "hanging", "sleep 600 &\nwait");
    let started = Instant::now();
    let error = detect_version(&hanging, Duration::from_millis(300))
        .await
        .expect_err("times out");
    assert!(matches!(error, AgentError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().ends_with("did not answer within 300ms"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_cli_that_goes_quiet_is_stopped_by_the_idle_watchdog() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write_script(dir.path(), "claude", &format!("echo '{INIT}'\nsleep 600"));
    let spec = RunSpec {
        idle_timeout: Some(Duration::from_millis(600)),
        ..fake_spec(&script, dir.path())
    };
    let run = StreamJsonBackend::claude()
        .spawn(spec, CancellationToken::new())
        .expect("spawn");
    let pgid = run.pid.expect("pid");
    let started = Instant::now();
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::TimedOut, "{outcome:?}");
    let error = outcome.error.unwrap_or_default();
    assert!(error.contains("printed nothing for 600ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_group_gone(pgid, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_cli_that_keeps_talking_outlives_the_idle_limit() {
    let dir = tempfile::tempdir().expect("dir");
    // 2 s of work with a line every 200 ms, against a 700 ms idle limit; stderr
    // counts as a sign of life too.
    let script = write_script(
        dir.path(),
        "claude",
        &format!(
            "echo '{INIT}'\nfor i in 1 2 3 4 5; do sleep 0.2; echo \"tick $i\" >&2; sleep 0.2; echo '{{\"type\":\"keep_alive\"}}'; done\necho '{RESULT}'"
        ),
    );
    let spec = RunSpec {
        idle_timeout: Some(Duration::from_millis(700)),
        ..fake_spec(&script, dir.path())
    };
    let run = StreamJsonBackend::claude()
        .spawn(spec, CancellationToken::new())
        .expect("spawn");
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.output, "all done");
}
