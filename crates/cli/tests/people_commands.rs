//! The commands people run on their machine: `config`, `doctor`, `daemon logs`,
//! `completions`, `--help`, through the real binary, in both output formats.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Output;

use multica_daemon::cli_config::CliConfig;
use multica_dev_server::{DevServer, DevServerConfig};
use serde_json::Value;

fn multica() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multica"))
}

/// A stand-in for `claude` that only answers `--version`.
fn fake_claude(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("claude");
    std::fs::write(&path, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

async fn run(home: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(multica());
    command.args(args).env("HOME", home);
    for name in [
        "MULTICA_TOKEN",
        "MULTICA_SERVER_URL",
        "MULTICA_WORKSPACE_ID",
        "MULTICA_PROFILE",
        "MULTICA_TASK_ID",
        "MULTICA_AGENT_ID",
        "MULTICA_DAEMON_HEALTH_PORT",
        "MULTICA_WORKSPACES_ROOT",
        "MULTICA_TOKEN_STORAGE",
    ] {
        command.env_remove(name);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().await.expect("run multica")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

#[tokio::test]
async fn config_set_and_show_round_trip_and_keep_unknown_fields() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join(".multica/config.json");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, r#"{"token":"mul_from_go","future":{"kept":true}}"#).expect("write");

    for (key, value) in [
        ("server_url", "http://127.0.0.1:9"),
        ("workspace_id", "ws-1"),
        ("token_storage", "file"),
        ("app_url", "http://127.0.0.1:9/"),
    ] {
        let set = run(home.path(), &[], &["config", "set", key, value]).await;
        assert!(set.status.success(), "{key}: {}", stderr(&set));
    }

    let shown = run(home.path(), &[], &["config", "show", "--output", "json"]).await;
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown = json(&shown);
    assert_eq!(shown["server_url"], "http://127.0.0.1:9");
    assert_eq!(shown["server_url_source"], "config file");
    assert_eq!(shown["workspace_id"], "ws-1");
    assert_eq!(shown["token_storage"], "file");
    assert_eq!(shown["app_url"], "http://127.0.0.1:9");
    let token = shown["token"].as_str().expect("token description");
    assert!(token.starts_with("set ("), "{token}");
    assert!(
        !shown.to_string().contains("mul_from_go"),
        "the token leaked"
    );

    // Flags and env beat the file, and the table says where each value came from.
    let table = run(
        home.path(),
        &[("MULTICA_WORKSPACE_ID", "ws-env")],
        &["--server-url", "http://127.0.0.1:10", "config", "show"],
    )
    .await;
    let table = stdout(&table);
    assert!(table.contains("http://127.0.0.1:10 (flag)"), "{table}");
    assert!(
        table.contains("ws-env (env MULTICA_WORKSPACE_ID)"),
        "{table}"
    );
    assert!(!table.contains("mul_from_go"), "the token leaked: {table}");

    let raw: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("config json");
    assert_eq!(raw["future"]["kept"], true);
    assert_eq!(raw["token"], "mul_from_go");

    let cleared = run(home.path(), &[], &["config", "set", "workspace_id", ""]).await;
    assert!(cleared.status.success());
    let raw = CliConfig::load(&file).expect("load");
    assert!(raw.workspace_id.is_empty());
}

#[tokio::test]
async fn config_set_refuses_bad_keys_and_values_with_usage_code() {
    let home = tempfile::tempdir().expect("home");
    for (args, hint) in [
        (&["config", "set", "colour", "blue"][..], "unknown setting"),
        (&["config", "set", "token_storage", "vault"][..], "keychain"),
        (
            &["config", "set", "server_url", "ftp://x"][..],
            "server_url",
        ),
        (
            &["config", "set", "token", "mul_x"][..],
            "multica login --token",
        ),
    ] {
        let output = run(home.path(), &[], args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = stderr(&output);
        assert!(error.starts_with("Error: "), "{error}");
        assert!(error.contains(hint), "{args:?}: {error}");
        assert_eq!(error.lines().count(), 1, "one line: {error}");
    }
    assert!(!home.path().join(".multica/config.json").exists());
}

#[tokio::test]
async fn doctor_reports_each_check_with_a_verdict() {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let user = server.admin().create_user("Doc", "doc@example.com");
    let home = tempfile::tempdir().expect("home");
    let claude = fake_claude(home.path());
    let claude = claude.to_string_lossy();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let root = home.path().join("work");
    let root = root.to_string_lossy();
    let base_env = [
        ("MULTICA_CLAUDE_PATH", claude.as_ref()),
        ("MULTICA_DAEMON_HEALTH_PORT", port.as_str()),
        ("MULTICA_WORKSPACES_ROOT", root.as_ref()),
        ("MULTICA_TOKEN_STORAGE", "file"),
    ];

    let mut env = base_env.to_vec();
    env.push(("MULTICA_TOKEN", user.token.as_str()));
    let url = server.base_url();
    let healthy = run(
        home.path(),
        &env,
        &["--server-url", &url, "doctor", "--output", "json"],
    )
    .await;
    let checks = json(&healthy);
    let verdict = |name: &str| -> (String, String) {
        let check = checks
            .as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {checks}"));
        (
            check["verdict"].as_str().unwrap_or_default().to_owned(),
            check["detail"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(verdict("agent claude").0, "ok");
    assert!(verdict("agent claude").1.contains("9.9.9"));
    assert_eq!(verdict("server").0, "ok");
    assert_eq!(verdict("token").0, "ok", "{checks}");
    assert!(verdict("token").1.contains("MULTICA_TOKEN"));
    assert_eq!(verdict("daemon port").0, "ok");
    assert_ne!(verdict("multica on agents' PATH").0, "fail");
    assert!(["ok", "warn"].contains(&verdict("disk space").0.as_str()));
    assert!(
        !checks.to_string().contains(&user.token),
        "the token leaked"
    );

    // A refused token, and a server that is down: clear FAIL lines, exit 1.
    let mut env = base_env.to_vec();
    env.push(("MULTICA_TOKEN", "mul_not_a_real_token"));
    let refused = run(home.path(), &env, &["--server-url", &url, "doctor"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let table = stdout(&refused);
    let token_line = table
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some("token"))
        .expect("token line");
    assert!(token_line.starts_with("FAIL"), "{table}");
    assert!(token_line.contains("multica login"), "{table}");
    server.shutdown().await;

    let down = run(home.path(), &env, &["--server-url", &url, "doctor"]).await;
    assert_eq!(down.status.code(), Some(1));
    let table = stdout(&down);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("cannot reach")),
        "{table}"
    );
}

#[tokio::test]
async fn daemon_logs_shows_the_last_lines() {
    let home = tempfile::tempdir().expect("home");
    let log = home.path().join(".multica/profiles/dev/daemon.log");
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    let lines: String = (1..=200).map(|n| format!("line {n}\n")).collect();
    std::fs::write(&log, lines).expect("write");

    let tail = run(
        home.path(),
        &[],
        &["--profile", "dev", "daemon", "logs", "-n", "3"],
    )
    .await;
    assert!(tail.status.success(), "{}", stderr(&tail));
    assert_eq!(stdout(&tail), "line 198\nline 199\nline 200\n");

    let default = run(home.path(), &[], &["--profile", "dev", "daemon", "logs"]).await;
    assert_eq!(stdout(&default).lines().count(), 50);

    let missing = run(home.path(), &[], &["daemon", "logs"]).await;
    assert_eq!(missing.status.code(), Some(7));
    assert!(stderr(&missing).contains("multica daemon start"));
}

#[tokio::test]
async fn completions_and_help_read_well() {
    let home = tempfile::tempdir().expect("home");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = run(home.path(), &[], &["completions", shell]).await;
        assert!(output.status.success(), "{shell}");
        assert!(stdout(&output).contains("multica"), "{shell}");
    }
    let help = run(home.path(), &[], &["--help"]).await;
    let help = stdout(&help);
    for expected in ["daemon", "doctor", "config", "Exit codes", "--workspace-id"] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
    let bad = run(home.path(), &[], &["no-such-command"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn usage_reports_the_scanners_figures_in_both_formats() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../usage/tests/fixtures");
    let claude = fixtures.join("claude");
    let codex = fixtures.join("codex");
    let home = tempfile::tempdir().expect("home");
    let claude_env = claude.to_string_lossy().into_owned();
    let codex_env = codex.to_string_lossy().into_owned();
    let env = [
        ("CLAUDE_CONFIG_DIR", claude_env.as_str()),
        ("CODEX_HOME", codex_env.as_str()),
    ];

    let mut expected_config = multica_usage::ScanConfig::new(vec![
        multica_usage::LogRoot::claude(claude.join("projects")),
        multica_usage::LogRoot::codex(codex.join("sessions")),
        multica_usage::LogRoot::codex(codex.join("archived_sessions")),
    ]);
    expected_config.cache_dir = None;
    let expected = multica_usage::Scanner::new(expected_config)
        .scan()
        .expect("scan");
    let expected_total = serde_json::to_value(expected.total(None)).expect("json");
    assert!(expected_total["total"].as_u64().unwrap_or(0) > 0);

    let by_model = run(
        home.path(),
        &env,
        &["usage", "--by", "model", "--output", "json"],
    )
    .await;
    assert!(by_model.status.success(), "{}", stderr(&by_model));
    let report = json(&by_model);
    assert_eq!(report["total"], expected_total);
    assert_eq!(
        report["rows"].as_array().map(Vec::len),
        Some(expected.by_model(None).len())
    );
    // The second run reads the cache it left and gives the same figures.
    let again = json(
        &run(
            home.path(),
            &env,
            &["usage", "--by", "model", "--output", "json"],
        )
        .await,
    );
    assert_eq!(again["total"], expected_total);
    assert_eq!(again["stats"]["files_read"], 0);

    let table = run(home.path(), &env, &["usage"]).await;
    let text = stdout(&table);
    assert!(text.starts_with("DATE"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("TOTAL")), "{text}");

    let bad = run(home.path(), &env, &["usage", "--since", "yesterday-ish"]).await;
    assert_eq!(bad.status.code(), Some(2));

    // By task: the daemon's ledger, whose unreadable lines are skipped and counted.
    let run_line = |task: &str, date: &str, model: &str, cost: &str| {
        format!(
            r#"{{"task_id":"{task}","issue_id":"i","workspace_id":"w","runtime_id":"r","agent":"claude","finished_at":"{date}T09:00:00Z","date":"{date}","outcome":"completed","models":[{{"model":"{model}","input_tokens":1000,"output_tokens":200,"cache_read_tokens":30,"cache_write_tokens":4,"cost_usd":{cost},"cost_from":"agent"}}]}}"#
        ) + "\n"
    };
    let ledger = home.path().join(".multica").join("task-usage.jsonl");
    std::fs::create_dir_all(ledger.parent().expect("dir")).expect("mkdir");
    let text = run_line("11111111-aaaa", "2026-11-01", "claude-sonnet-4", "0.5")
        + "{not json\n"
        + &run_line("22222222-bbbb", "2026-11-03", "mystery-model", "null");
    std::fs::write(&ledger, text).expect("ledger");
    let tasks = json(
        &run(
            home.path(),
            &env,
            &[
                "usage",
                "--by",
                "task",
                "--since",
                "2026-11-02",
                "--output",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(tasks["rows"].as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(tasks["rows"][0]["task_id"], "22222222-bbbb");
    assert_eq!(tasks["total"]["total_tokens"], 1234);
    assert_eq!(tasks["total"]["unpriced_models"][0], "mystery-model");
    assert_eq!(tasks["skipped_lines"], 1);
    let table = run(home.path(), &env, &["usage", "--by", "task"]).await;
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.starts_with("DATE"), "{text}");
    assert!(
        text.contains("11111111") && text.contains("22222222"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("TOTAL") && l.contains("2 runs") && l.contains("$0.50 + ?")),
        "{text}"
    );
}
