//! Shared by the integration tests: finding the real CLI, sandboxes for it, fake
//! CLIs as shell scripts, and watching process groups.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_model_api::FakeModelApi;
use multica_agents::{AgentEvent, AgentRun, KillGrace, RunOutcome, RunSpec};

/// The longest any single run in these tests may take before the test fails.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(90);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real Claude Code CLI: `$MULTICA_TEST_CLAUDE`, or the installed one.
pub(crate) fn real_claude() -> PathBuf {
    real_cli("claude", "MULTICA_TEST_CLAUDE")
}

/// The real Codex CLI: `$MULTICA_TEST_CODEX`, or the installed one.
pub(crate) fn real_codex() -> PathBuf {
    real_cli("codex", "MULTICA_TEST_CODEX")
}

/// The real OpenCode CLI: `$MULTICA_TEST_OPENCODE`, or the installed one.
pub(crate) fn real_opencode() -> PathBuf {
    real_cli("opencode", "MULTICA_TEST_OPENCODE")
}

/// A real ACP agent: Zed's adapter that serves Claude Code over the Agent Client
/// Protocol (`$MULTICA_TEST_CLAUDE_ACP`, or the installed one).
pub(crate) fn real_claude_acp() -> PathBuf {
    real_cli("claude-agent-acp", "MULTICA_TEST_CLAUDE_ACP")
}

/// The real Qwen Code CLI, a Claude-compatible stream-json CLI.
pub(crate) fn real_qwen() -> PathBuf {
    real_cli("qwen", "MULTICA_TEST_QWEN")
}

/// `$<env_var>`, or the CLI `scripts/install-agent-clis.sh` installs. Missing is a
/// failure, not a skip.
fn real_cli(binary: &str, env_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let path = repo_root()
        .join(".tools/agent-clis/node_modules/.bin")
        .join(binary);
    assert!(
        path.exists(),
        "the real {binary} CLI is not installed at {}: run scripts/install-agent-clis.sh \
         (or set {env_var} to an executable)",
        path.display()
    );
    path
}

/// A throw-away HOME and work directory for one real-CLI run.
#[derive(Debug)]
pub(crate) struct Sandbox {
    pub(crate) home: tempfile::TempDir,
    pub(crate) work: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp HOME"),
            work: tempfile::tempdir().expect("temp work dir"),
        }
    }

    /// Offline against `api`, in a throw-away HOME; `IS_SANDBOX=1` because tests
    /// run as root in CI and Claude Code refuses to bypass permissions as root
    /// otherwise.
    pub(crate) fn claude_env(&self, api: &FakeModelApi) -> Vec<(String, String)> {
        let mut env = api.claude_env();
        env.push(("HOME".into(), self.home.path().display().to_string()));
        env.push(("IS_SANDBOX".into(), "1".into()));
        env
    }

    /// A Codex run offline against `api`, with `CODEX_HOME` in the sandbox's HOME
    /// (so a second spec from the same sandbox can resume the first's thread).
    pub(crate) fn codex_spec(&self, api: &FakeModelApi, prompt: &str) -> RunSpec {
        let codex_home = self.home.path().join("codex-home");
        std::fs::create_dir_all(&codex_home).expect("codex home");
        std::fs::write(codex_home.join("config.toml"), api.codex_config("gpt-test"))
            .expect("codex config");
        let mut env = api.codex_env();
        env.push(("HOME".into(), self.home.path().display().to_string()));
        env.push(("CODEX_HOME".into(), codex_home.display().to_string()));
        RunSpec {
            executable: real_codex(),
            env,
            ..self.spec(api, prompt)
        }
    }

    /// `HOME` and the XDG directories, all inside the sandbox: CLIs that keep a
    /// database there (OpenCode) must not share one across tests, and CI sets
    /// `XDG_DATA_HOME` for its keyring.
    pub(crate) fn home_env(&self) -> Vec<(String, String)> {
        let home = self.home.path();
        [
            ("HOME", home.to_owned()),
            ("XDG_DATA_HOME", home.join(".local/share")),
            ("XDG_CONFIG_HOME", home.join(".config")),
            ("XDG_CACHE_HOME", home.join(".cache")),
            ("XDG_STATE_HOME", home.join(".local/state")),
        ]
        .into_iter()
        .map(|(key, path)| (key.to_owned(), path.display().to_string()))
        .collect()
    }

    /// An OpenCode run offline against `api`: its provider comes from an
    /// `opencode.json` in the work dir, its data from the sandbox's HOME.
    pub(crate) fn opencode_spec(&self, api: &FakeModelApi, prompt: &str) -> RunSpec {
        std::fs::write(
            self.work.path().join("opencode.json"),
            api.opencode_config("gpt-test"),
        )
        .expect("opencode config");
        RunSpec {
            executable: real_opencode(),
            env: [
                self.home_env(),
                vec![("OPENCODE_DISABLE_MODELS_FETCH".into(), "1".into())],
            ]
            .concat(),
            ..self.spec(api, prompt)
        }
    }

    pub(crate) fn spec(&self, api: &FakeModelApi, prompt: &str) -> RunSpec {
        RunSpec {
            executable: real_claude(),
            cwd: self.work.path().to_owned(),
            prompt: prompt.to_owned(),
            model: None,
            resume_session_id: None,
            env: self.claude_env(api),
            timeout: Some(RUN_LIMIT),
            idle_timeout: None,
            kill_grace: KillGrace::default(),
        }
    }
}

/// A spec for a fake CLI (a script) in `cwd`.
pub(crate) fn fake_spec(executable: &Path, cwd: &Path) -> RunSpec {
    RunSpec {
        executable: executable.to_owned(),
        cwd: cwd.to_owned(),
        prompt: "do the thing".into(),
        model: None,
        resume_session_id: None,
        env: Vec::new(),
        timeout: Some(RUN_LIMIT),
        idle_timeout: None,
        kill_grace: KillGrace {
            after_interrupt: Duration::from_millis(300),
            after_terminate: Duration::from_millis(300),
        },
    }
}

/// Writes an executable `/bin/sh` script.
pub(crate) fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Reads every event, then the outcome; fails the test if that takes too long.
pub(crate) async fn finish(run: AgentRun) -> (Vec<AgentEvent>, RunOutcome) {
    let AgentRun {
        mut events,
        outcome,
        ..
    } = run;
    tokio::time::timeout(RUN_LIMIT, async move {
        let mut seen = Vec::new();
        while let Some(event) = events.recv().await {
            seen.push(event);
        }
        (seen, outcome.await)
    })
    .await
    .expect("the run ends in time")
}

/// The events that are not diagnostics.
pub(crate) fn without_logs(events: &[AgentEvent]) -> Vec<AgentEvent> {
    events
        .iter()
        .filter(|event| !matches!(event, AgentEvent::Log { .. }))
        .cloned()
        .collect()
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub(crate) fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // The command name may hold spaces and parentheses; fields follow the
            // last ')': state, ppid, pgrp, …
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields
                .first()
                .is_some_and(|state| *state != "Z" && *state != "X")
                && fields.get(2).and_then(|pgrp| pgrp.parse::<u32>().ok()) == Some(pgid)
        })
        .collect()
}

/// Waits up to `within` for the group to have no live member left.
pub(crate) async fn assert_group_gone(pgid: u32, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let members = live_group_members(pgid);
        if members.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process group {pgid} still has live members {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
