//! Finding agent CLIs the way a GUI-launched app must: through the user's login
//! shell (a fake one here, a real `sh` underneath) and known install directories,
//! and noticing a CLI installed while the daemon runs.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_agents::Provider;
use multica_daemon::AgentSetting;
use multica_daemon::agent_detection::detect_agents;
use multica_daemon::discovery::{DiscoveryInputs, discover, login_shell_environment};
use support::{Harness, Script, WAIT, write_executable, write_fake_claude};

/// A "login shell" that adds `extra_dir` to PATH and a proxy variable, prints a
/// banner as rc files do, then runs the command it was given with `-c`.
fn fake_login_shell(dir: &Path, extra_dir: &Path) -> PathBuf {
    let shell = dir.join("fake-login-shell");
    write_executable(
        &shell,
        &format!(
            "#!/bin/sh\n\
             [ \"$1\" = -l ] && [ \"$2\" = -i ] && [ \"$3\" = -c ] || exit 64\n\
             echo 'Welcome to your login shell'\n\
             PATH='{}':\"$PATH\"; export PATH\n\
             HTTPS_PROXY=http://proxy.test:3128; export HTTPS_PROXY\n\
             MULTICA_TEST_FROM_SHELL_ONLY=yes; export MULTICA_TEST_FROM_SHELL_ONLY\n\
             exec /bin/sh -c \"$4\"\n",
            extra_dir.display()
        ),
    );
    shell
}

fn fake_cli(dir: &Path, name: &str, version: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join(name);
    write_executable(&path, &format!("#!/bin/sh\necho '{version}'\n"));
    path
}

fn setting(provider: Provider) -> AgentSetting {
    AgentSetting {
        executable: PathBuf::from(provider.default_executable()),
        provider,
        pinned: false,
        model: None,
        max_concurrent_tasks: None,
    }
}

#[tokio::test]
async fn clis_are_found_through_the_login_shell_and_install_dirs() {
    let root = tempfile::tempdir().expect("tempdir");
    let home = root.path().join("home");
    let shell_only = root.path().join("shell-only-bin");
    fake_cli(&shell_only, "codex", "codex-cli 0.169.0");
    // nvm's newest Node wins over an older one.
    fake_cli(
        &home.join(".nvm/versions/node/v18.0.0/bin"),
        "opencode",
        "1.0.0",
    );
    let newest = fake_cli(
        &home.join(".nvm/versions/node/v20.11.1/bin"),
        "opencode",
        "1.18.33",
    );
    fake_cli(&home.join(".local/bin"), "gemini", "0.9.0");
    // Too old to drive: found, but skipped with the reason.
    fake_cli(&home.join(".local/bin"), "claude", "1.0.2 (Claude Code)");

    let inputs = DiscoveryInputs {
        process_path: Some("/usr/bin:/bin".into()),
        login_shell: Some(fake_login_shell(root.path(), &shell_only)),
        home: Some(home.clone()),
        vars: Vec::new(),
    };
    let discovery = discover(&inputs).await;
    assert!(discovery.search_path.contains(&shell_only), "{discovery:?}");
    assert!(
        discovery.shell_env.contains(&(
            "HTTPS_PROXY".to_owned(),
            "http://proxy.test:3128".to_owned()
        )),
        "the login shell's variables are passed on: {:?}",
        discovery.shell_env
    );
    assert!(
        !discovery
            .shell_env
            .iter()
            .any(|(key, _)| key == "PATH" || key == "HOME")
    );

    let settings: Vec<AgentSetting> = ["claude", "codex", "opencode", "gemini", "kimi"]
        .into_iter()
        .map(|id| setting(Provider::builtin(id).expect("built in")))
        .collect();
    let detection = detect_agents(&settings, discovery.joined_path().as_deref()).await;
    let found = |id: &str| detection.found.iter().find(|a| a.provider.as_str() == id);
    assert_eq!(
        found("codex").expect("codex").executable,
        shell_only.join("codex")
    );
    assert_eq!(found("opencode").expect("opencode").executable, newest);
    assert_eq!(found("gemini").expect("gemini").version, "0.9.0");
    let skipped = |id: &str| {
        detection
            .skipped
            .iter()
            .find(|s| s.provider.as_str() == id)
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        skipped("claude").contains("older than 2.0.0"),
        "{}",
        skipped("claude")
    );
    assert!(
        skipped("kimi").contains("Kimi not found"),
        "{}",
        skipped("kimi")
    );
    assert!(
        skipped("kimi").contains("MULTICA_KIMI_PATH"),
        "{}",
        skipped("kimi")
    );
}

#[tokio::test]
async fn a_login_shell_that_hangs_or_fails_costs_one_timeout_and_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let hanging = root.path().join("hanging-shell");
    write_executable(&hanging, "#!/bin/sh\nsleep 300\n");
    let started = std::time::Instant::now();
    let error = login_shell_environment(&hanging, Duration::from_millis(500))
        .await
        .expect_err("no answer");
    assert!(
        error.to_string().contains("did not answer within 500ms"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    let silent = root.path().join("silent-shell");
    write_executable(&silent, "#!/bin/sh\nexit 3\n");
    let error = login_shell_environment(&silent, Duration::from_secs(5))
        .await
        .expect_err("no environment");
    assert!(
        error.to_string().contains("printed no environment"),
        "{error}"
    );

    // Discovery goes on without it.
    let inputs = DiscoveryInputs {
        process_path: Some("/usr/bin:/bin".into()),
        login_shell: Some(silent),
        ..DiscoveryInputs::default()
    };
    let discovery = discover(&inputs).await;
    assert!(discovery.search_path.contains(&PathBuf::from("/usr/bin")));
}

#[tokio::test]
async fn a_cli_only_the_login_shell_knows_is_registered_and_a_new_one_is_picked_up() {
    let mut harness = Harness::new(Script::Succeed).await;
    let root = tempfile::tempdir().expect("tempdir");
    let shell_only = root.path().join("shell-only-bin");
    std::fs::create_dir_all(&shell_only).expect("dir");
    write_fake_claude(&shell_only, Script::Succeed);
    harness.config.agents = vec![
        setting(Provider::claude()),
        setting(Provider::builtin("gemini").expect("gemini")),
    ];
    harness.config.discovery = DiscoveryInputs {
        process_path: Some("/usr/bin:/bin".into()),
        login_shell: Some(fake_login_shell(root.path(), &shell_only)),
        home: Some(root.path().join("empty-home")),
        vars: Vec::new(),
    };
    harness.config.agent_rediscovery_interval = Some(Duration::from_millis(300));
    let engine = harness.start_engine().await;
    harness.runtime_in(&harness.workspace_id).await;
    let providers = |harness: &Harness| -> Vec<String> {
        let mut providers: Vec<String> = harness
            .admin()
            .runtimes()
            .into_iter()
            .filter(|runtime| runtime.status == "online")
            .map(|runtime| runtime.provider)
            .collect();
        providers.sort();
        providers
    };
    assert_eq!(providers(&harness), ["claude"]);
    let mut events = engine.handle.subscribe();

    // Installed while the daemon runs: registered without a restart.
    fake_cli(&shell_only, "gemini", "0.9.0");
    let registered = harness
        .server
        .wait_until(WAIT, |state| {
            state
                .runtimes()
                .into_iter()
                .any(|runtime| runtime.provider == "gemini")
                .then_some(())
        })
        .await;
    assert!(registered.is_ok(), "gemini was never registered");
    let changed = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(multica_daemon::events::EngineEvent::AgentsChanged { agents }) =
                events.recv().await
            {
                return agents;
            }
        }
    })
    .await
    .expect("an AgentsChanged event");
    assert_eq!(changed, ["claude", "gemini"]);

    // And a task on the claude runtime still runs with the shell's PATH.
    let task = harness
        .assign_new_issue(&harness.workspace_id, "Through the login shell")
        .await;
    harness
        .wait_for_status(&task.id, multica_api::wire::TaskStatus::Completed)
        .await;
    engine.stop().await;
}

#[tokio::test]
async fn a_version_manager_shim_is_seen_through_to_the_real_cli() {
    let root = tempfile::tempdir().expect("tempdir");
    let home = root.path().join("home");
    // asdf's shim answers for itself when no version is picked in the directory.
    let shims = home.join(".asdf/shims");
    std::fs::create_dir_all(&shims).expect("shims");
    write_executable(
        &shims.join("codex"),
        "#!/bin/sh\necho 'No version is set for command codex' >&2\nexit 126\n",
    );
    let real = fake_cli(
        &root.path().join("installs/codex/0.169.0/bin"),
        "codex",
        "codex-cli 0.169.0",
    );
    let manager_dir = root.path().join("asdf-bin");
    std::fs::create_dir_all(&manager_dir).expect("dir");
    write_executable(
        &manager_dir.join("asdf"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = which ] && [ \"$2\" = codex ] && echo '{}' && exit 0\nexit 1\n",
            real.display()
        ),
    );
    let inputs = DiscoveryInputs {
        process_path: Some(std::env::join_paths([&manager_dir]).expect("path")),
        login_shell: None,
        home: Some(home),
        vars: Vec::new(),
    };
    let discovery = discover(&inputs).await;
    let detection = detect_agents(
        &[setting(Provider::codex())],
        discovery.joined_path().as_deref(),
    )
    .await;
    assert!(detection.skipped.is_empty(), "{:?}", detection.skipped);
    assert_eq!(detection.found[0].executable, real);
    assert_eq!(detection.found[0].version, "codex-cli 0.169.0");
}
