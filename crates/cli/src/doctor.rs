//! `multica doctor`: everything the daemon needs on this machine, one verdict each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use multica_api::DaemonClient;
use multica_daemon::agent_detection::detect_agents;
use multica_daemon::{ConfigOverrides, DaemonConfig, HealthReport, ProcessEnvironment};
use multica_token_store::KeychainStore;
use serde::Serialize;

use crate::output::{self, OutputFormat};
use crate::settings::{Settings, TokenStorage};
use crate::{GlobalOptions, VERSION};

/// Below this much free space the workspaces root is a warning, below a tenth of it
/// a failure: agents install dependencies and build in their work directories.
const LOW_DISK_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// A keychain that asks the user to unlock it could wait forever.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: String,
    verdict: Verdict,
    detail: String,
}

impl Check {
    fn new(name: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict,
            detail: detail.into(),
        }
    }
}

pub(crate) async fn run(globals: &GlobalOptions) -> Result<ExitCode> {
    let settings = Settings::load(globals)?;
    let myself = std::env::current_exe()
        .and_then(|path| path.canonicalize())
        .context("cannot locate the running multica binary")?;
    let overrides = ConfigOverrides {
        server_url: Some(settings.server_url.as_str().to_owned()),
        profile: settings.profile.clone(),
        ..ConfigOverrides::default()
    };
    let config = DaemonConfig::load(overrides, &ProcessEnvironment, myself.clone(), VERSION)?;

    let mut checks = Vec::new();
    checks.extend(check_agents(&config).await);
    checks.push(check_cli_on_agent_path(&myself));
    checks.push(check_keychain(&settings).await);
    let reachable = check_server(&settings).await;
    let server_up = reachable.verdict == Verdict::Ok;
    checks.push(reachable);
    checks.push(check_token(&settings, server_up).await);
    checks.push(check_health_port(config.health_port).await);
    checks.push(check_disk(&config.workspaces_root));

    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    match globals.output {
        OutputFormat::Json => output::json(&checks)?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|check| {
                    let mark = match check.verdict {
                        Verdict::Ok => "ok",
                        Verdict::Warn => "WARN",
                        Verdict::Fail => "FAIL",
                    };
                    vec![mark.to_owned(), check.name.clone(), check.detail.clone()]
                })
                .collect();
            output::table(&["", "CHECK", "DETAIL"], &rows);
            output::note(if failed {
                "\nSome checks failed: fix the FAIL lines above, then run `multica doctor` again."
            } else {
                "\nThis machine is ready to run agents."
            });
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn check_agents(config: &DaemonConfig) -> Vec<Check> {
    let discovery = multica_daemon::discovery::discover(&config.discovery).await;
    let detection = detect_agents(&config.agents, discovery.joined_path().as_deref()).await;
    let mut checks: Vec<Check> = detection
        .found
        .iter()
        .map(|agent| {
            Check::new(
                format!("agent {}", agent.provider),
                Verdict::Ok,
                format!("{} ({})", agent.version, agent.executable.display()),
            )
        })
        .collect();
    let (missing, unusable): (Vec<_>, Vec<_>) = detection
        .skipped
        .iter()
        .partition(|skipped| skipped.not_installed);
    checks.extend(unusable.iter().map(|skipped| {
        Check::new(
            format!("agent {}", skipped.provider),
            Verdict::Warn,
            skipped.reason.clone(),
        )
    }));
    if !missing.is_empty() {
        let names: Vec<&str> = missing
            .iter()
            .map(|skipped| skipped.provider.as_str())
            .collect();
        checks.push(Check::new(
            "other agents",
            Verdict::Ok,
            format!(
                "not installed: {} (install one, or set MULTICA_<AGENT>_PATH)",
                names.join(", ")
            ),
        ));
    }
    if detection.found.is_empty() {
        checks.push(Check::new(
            "agent CLIs",
            Verdict::Fail,
            "no agent CLI found: install one (e.g. `npm i -g @anthropic-ai/claude-code`) so the \
             daemon has something to run",
        ));
    }
    checks
}

/// The daemon puts this binary's directory first on every agent's PATH; check that
/// a lookup of `multica` there finds exactly this file, and say if the user's own
/// PATH would find another one.
fn check_cli_on_agent_path(myself: &Path) -> Check {
    let Some(dir) = myself.parent() else {
        return Check::new(
            "multica on agents' PATH",
            Verdict::Fail,
            "the running binary has no directory",
        );
    };
    let user_path = std::env::var_os("PATH").unwrap_or_default();
    let mut agent_path = vec![dir.to_owned()];
    agent_path.extend(std::env::split_paths(&user_path));
    let agent_path = std::env::join_paths(agent_path).unwrap_or_default();
    let resolved = which::which_in("multica", Some(&agent_path), dir)
        .ok()
        .and_then(|path| path.canonicalize().ok());
    if resolved.as_deref() != Some(myself) {
        return Check::new(
            "multica on agents' PATH",
            Verdict::Fail,
            format!(
                "agents would run {} instead of {}: is this binary named `multica`?",
                resolved.map_or_else(|| "nothing".to_owned(), |p| p.display().to_string()),
                myself.display()
            ),
        );
    }
    let on_user_path = which::which_in("multica", Some(&user_path), dir)
        .ok()
        .and_then(|path| path.canonicalize().ok());
    match on_user_path {
        Some(other) if other != myself => Check::new(
            "multica on agents' PATH",
            Verdict::Warn,
            format!(
                "agents get {} (first on their PATH, and as MULTICA_CLI), but your shell finds \
                 {} first",
                myself.display(),
                other.display()
            ),
        ),
        _ => Check::new(
            "multica on agents' PATH",
            Verdict::Ok,
            format!("{} (also MULTICA_CLI)", myself.display()),
        ),
    }
}

async fn check_keychain(settings: &Settings) -> Check {
    let probe = tokio::time::timeout(
        KEYCHAIN_TIMEOUT,
        tokio::task::spawn_blocking(|| KeychainStore::new().probe()),
    )
    .await;
    let opted_for_file = settings.token_storage == TokenStorage::File;
    let (verdict, detail) = match probe {
        Ok(Ok(Ok(()))) => (Verdict::Ok, "usable (write, read, delete)".to_owned()),
        Ok(Ok(Err(error))) if opted_for_file => (
            Verdict::Warn,
            format!("{error}; the token is kept in the config file as you chose"),
        ),
        Ok(Ok(Err(error))) => (
            Verdict::Fail,
            format!(
                "{error}; start a keychain (on Linux: gnome-keyring or KWallet), or opt in to a \
                 plain file with `multica config set token_storage file`"
            ),
        ),
        Ok(Err(_)) => (Verdict::Fail, "the keychain probe crashed".to_owned()),
        Err(_) => (
            Verdict::Fail,
            format!(
                "no answer within {} s: is the keychain waiting to be unlocked?",
                KEYCHAIN_TIMEOUT.as_secs()
            ),
        ),
    };
    Check::new("keychain", verdict, detail)
}

async fn check_server(settings: &Settings) -> Check {
    let url = settings.server_url.join("/health");
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(error) => return Check::new("server", Verdict::Fail, error.to_string()),
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Check::new(
            "server",
            Verdict::Ok,
            format!("{} answers", settings.server_url.as_str()),
        ),
        Ok(response) => Check::new(
            "server",
            Verdict::Fail,
            format!("{url} answered {}", response.status()),
        ),
        Err(error) => Check::new(
            "server",
            Verdict::Fail,
            format!(
                "cannot reach {} ({}); check --server-url / MULTICA_SERVER_URL",
                settings.server_url.as_str(),
                root_cause(&error)
            ),
        ),
    }
}

async fn check_token(settings: &Settings, server_up: bool) -> Check {
    let (token, source) = match settings.require_token().await {
        Ok(found) => found,
        Err(error) => return Check::new("token", Verdict::Fail, format!("{error:#}")),
    };
    if !server_up {
        return Check::new(
            "token",
            Verdict::Warn,
            format!("found in {source}; not checked, the server is unreachable"),
        );
    }
    let client = match DaemonClient::new(
        settings.server_url.clone(),
        Some(token),
        &format!("multica-cli/{VERSION}"),
    ) {
        Ok(client) => client,
        Err(error) => return Check::new("token", Verdict::Warn, format!("not checked: {error}")),
    };
    match client.list_workspaces().await {
        Ok(workspaces) => Check::new(
            "token",
            Verdict::Ok,
            format!(
                "valid (from {source}); member of {} workspace(s)",
                workspaces.len()
            ),
        ),
        Err(error) if error.is_unauthorized() => Check::new(
            "token",
            Verdict::Fail,
            format!(
                "the server refuses the token from {source} ({}); run `{}`",
                error.message,
                crate::failure::login_command(settings.profile.as_deref())
            ),
        ),
        Err(error) => Check::new("token", Verdict::Warn, format!("not checked: {error}")),
    }
}

async fn check_health_port(port: u16) -> Check {
    let name = "daemon port";
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(_) => Check::new(name, Verdict::Ok, format!("127.0.0.1:{port} is free")),
        Err(error) => match running_daemon(port).await {
            Some(health) => Check::new(
                name,
                Verdict::Ok,
                format!(
                    "127.0.0.1:{port} is used by the running daemon (pid {})",
                    health.pid
                ),
            ),
            None => Check::new(
                name,
                Verdict::Fail,
                format!(
                    "127.0.0.1:{port} is taken by another program ({error}); stop it, or start \
                     the daemon with --health-port / MULTICA_DAEMON_HEALTH_PORT"
                ),
            ),
        },
    }
}

async fn running_daemon(port: u16) -> Option<HealthReport> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

fn check_disk(root: &Path) -> Check {
    let name = "disk space";
    // The root may not exist yet: measure the nearest existing ancestor.
    let existing: PathBuf = root
        .ancestors()
        .find(|dir| dir.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
    match free_bytes(&existing) {
        Ok(free) => {
            let detail = format!("{} free for {}", human_bytes(free), root.display());
            let verdict = if free < LOW_DISK_BYTES / 10 {
                Verdict::Fail
            } else if free < LOW_DISK_BYTES {
                Verdict::Warn
            } else {
                Verdict::Ok
            };
            Check::new(name, verdict, detail)
        }
        Err(error) => Check::new(
            name,
            Verdict::Warn,
            format!("cannot measure {}: {error}", existing.display()),
        ),
    }
}

#[cfg(unix)]
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    #[allow(
        clippy::useless_conversion,
        reason = "the field types differ between platforms"
    )]
    Ok(u64::from(stats.blocks_available()) * u64::from(stats.fragment_size()))
}

#[cfg(not(unix))]
fn free_bytes(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::other("not measured on this platform yet"))
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss, reason = "a rounded figure for people")]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
