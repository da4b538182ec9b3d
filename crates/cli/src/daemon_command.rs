//! `multica daemon start|stop|status|logs|restart`: the headless engine and its
//! control.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use multica_daemon::ControlToken;
use multica_daemon::cli_config::profile_dir;
use multica_daemon::config::health_port_for_profile;
use multica_daemon::go_duration::parse_go_duration;
use multica_daemon::{
    ConfigOverrides, DaemonConfig, Engine, Environment, HealthReport, ProcessEnvironment,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::output::OutputFormat;
use crate::settings::Settings;
use crate::{GlobalOptions, VERSION, output};

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    #[command(subcommand)]
    action: DaemonAction,
}

#[derive(Debug, Subcommand)]
enum DaemonAction {
    /// Start the daemon (in the background unless --foreground).
    Start(StartArgs),
    /// Stop the running daemon; running tasks get their grace period.
    Stop(PortArgs),
    /// Show whether the daemon runs, and what it does.
    Status(PortArgs),
    /// Stop the running daemon, then start it in the background again.
    Restart(StartArgs),
    /// Show the background daemon's log.
    Logs(LogsArgs),
    /// Show the disk space task directories and cached repositories take.
    DiskUsage(DiskUsageArgs),
}

#[derive(Debug, Args)]
struct DiskUsageArgs {
    /// One row per workspace.
    #[arg(long)]
    by_workspace: bool,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// Keep printing lines as the daemon writes them (Ctrl-C to stop).
    #[arg(short, long)]
    follow: bool,
    /// How many of the last lines to show.
    #[arg(short = 'n', long, default_value_t = 50)]
    lines: usize,
}

#[derive(Debug, Args)]
struct StartArgs {
    /// Run in this terminal with logs on stderr, instead of in the background.
    #[arg(long)]
    foreground: bool,
    /// Unique daemon identifier (env: MULTICA_DAEMON_ID; default: the host name).
    #[arg(long)]
    daemon_id: Option<String>,
    /// Human-readable device name (env: MULTICA_DAEMON_DEVICE_NAME).
    #[arg(long)]
    device_name: Option<String>,
    /// Runtime display name (env: MULTICA_AGENT_RUNTIME_NAME).
    #[arg(long)]
    runtime_name: Option<String>,
    /// How often to ask for tasks, e.g. 3s (env: MULTICA_DAEMON_POLL_INTERVAL).
    #[arg(long, value_parser = parse_go_duration)]
    poll_interval: Option<Duration>,
    /// Heartbeat interval, e.g. 15s (env: MULTICA_DAEMON_HEARTBEAT_INTERVAL).
    #[arg(long, value_parser = parse_go_duration)]
    heartbeat_interval: Option<Duration>,
    /// Longest one agent run may take, e.g. 2h; 0 or unset: no limit (env: MULTICA_AGENT_TIMEOUT).
    #[arg(long, value_parser = parse_go_duration)]
    agent_timeout: Option<Duration>,
    /// Tasks that may run at once (env: MULTICA_DAEMON_MAX_CONCURRENT_TASKS).
    #[arg(long)]
    max_concurrent_tasks: Option<usize>,
    /// Where task directories go (env: MULTICA_WORKSPACES_ROOT; default ~/multica_workspaces).
    #[arg(long)]
    workspaces_root: Option<PathBuf>,
    /// Local health port (env: MULTICA_DAEMON_HEALTH_PORT; default 19514, offset per profile).
    #[arg(long)]
    health_port: Option<u16>,
}

#[derive(Debug, Args)]
struct PortArgs {
    /// The daemon's health port, if it was started with --health-port.
    #[arg(long)]
    health_port: Option<u16>,
}

pub(crate) async fn run(args: DaemonArgs, globals: &GlobalOptions) -> Result<()> {
    match args.action {
        DaemonAction::Start(start) if start.foreground => run_foreground(start, globals).await,
        DaemonAction::Start(start) => start_background(&start, globals).await,
        DaemonAction::Stop(port) => stop(port, globals).await,
        DaemonAction::Status(port) => show_status(port, globals).await,
        DaemonAction::Restart(start) => {
            stop(
                PortArgs {
                    health_port: start.health_port,
                },
                globals,
            )
            .await?;
            start_background(&start, globals).await
        }
        DaemonAction::Logs(logs) => {
            crate::daemon_logs::show(&log_path(globals)?, logs.lines, logs.follow).await
        }
        DaemonAction::DiskUsage(args) => {
            crate::disk_usage_command::show(args.by_workspace, globals).await
        }
    }
}

fn resolve_port(explicit: Option<u16>, globals: &GlobalOptions) -> Result<u16> {
    if let Some(port) = explicit {
        return Ok(port);
    }
    if let Some(raw) = ProcessEnvironment.var("MULTICA_DAEMON_HEALTH_PORT") {
        return raw
            .trim()
            .parse()
            .with_context(|| format!("MULTICA_DAEMON_HEALTH_PORT={raw:?} is not a port number"));
    }
    Ok(health_port_for_profile(globals.profile.as_deref()))
}

fn daemon_label(globals: &GlobalOptions) -> String {
    match &globals.profile {
        Some(profile) => format!("Daemon [{profile}]"),
        None => "Daemon".to_owned(),
    }
}

async fn run_foreground(args: StartArgs, globals: &GlobalOptions) -> Result<()> {
    output::init_console_logging();
    let overrides = ConfigOverrides {
        server_url: globals.server_url.clone(),
        profile: globals.profile.clone(),
        daemon_id: args.daemon_id,
        device_name: args.device_name,
        runtime_name: args.runtime_name,
        workspaces_root: args.workspaces_root,
        health_port: args.health_port,
        poll_interval: args.poll_interval,
        heartbeat_interval: args.heartbeat_interval,
        agent_timeout: args.agent_timeout,
        max_concurrent_tasks: args.max_concurrent_tasks,
    };
    // Agents must call exactly this binary, whatever else is on PATH.
    let myself = std::env::current_exe()
        .and_then(|path| path.canonicalize())
        .context("cannot locate the running multica binary")?;
    let config = DaemonConfig::load(overrides, &ProcessEnvironment, myself, VERSION)?;
    let (token, source) = Settings::load(globals)?.require_token().await?;
    info!(token_from = %source, "using the login token");

    let pid_file = config.config_file.with_file_name("daemon.pid");
    let engine = Engine::start(config, Some(token)).await?;
    if let Err(error) = write_pid_file(&pid_file) {
        warn!(%error, path = %pid_file.display(), "cannot write the pid file");
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signals(shutdown.clone()));
    let result = engine.run(shutdown).await;
    let _ = std::fs::remove_file(&pid_file);
    result.map_err(Into::into)
}

fn write_pid_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, std::process::id().to_string())
}

/// The first SIGINT or SIGTERM starts a graceful shutdown; a second one ends the
/// process at once (the user means it).
async fn stop_on_signals(shutdown: CancellationToken) {
    multica_daemon::signals::stop_requested().await;
    info!("shutdown requested; finishing running tasks (press Ctrl-C again to quit at once)");
    shutdown.cancel();
    multica_daemon::signals::stop_requested().await;
    let killed = multica_agents::kill_all_agents();
    warn!(agents_killed = killed, "second signal: exiting now");
    std::process::exit(130);
}

async fn fetch_health(port: u16, timeout: Duration) -> Option<HealthReport> {
    let client = reqwest::Client::builder().timeout(timeout).build().ok()?;
    let response = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

async fn start_background(args: &StartArgs, globals: &GlobalOptions) -> Result<()> {
    let port = resolve_port(args.health_port, globals)?;
    if let Some(health) = fetch_health(port, Duration::from_secs(2)).await {
        bail!(
            "{} is already running (pid {})",
            daemon_label(globals),
            health.pid
        );
    }
    let myself = std::env::current_exe().context("cannot locate the running multica binary")?;
    let log_path = log_path(globals)?;
    if let Some(state_dir) = log_path.parent() {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_for_stderr = log.try_clone().context("cannot share the log file")?;

    let mut command = std::process::Command::new(myself);
    command.args(foreground_args(args, globals));
    command
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Out of the terminal's process group, so Ctrl-C there does not reach it.
        command.process_group(0);
    }
    let child = command.spawn().context("cannot start the daemon process")?;
    let pid = child.id();

    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if fetch_health(port, Duration::from_secs(1)).await.is_some() {
            output::note(&format!(
                "{} started (pid {pid}, version {VERSION})\nLogs: {}",
                daemon_label(globals),
                log_path.display()
            ));
            return Ok(());
        }
    }
    Err(crate::failure::Failure::daemon(format!(
        "the daemon did not come up within 5 s; see `multica daemon logs` ({})",
        log_path.display()
    ))
    .into())
}

/// The flags of `start`, passed on to the background `start --foreground`.
fn foreground_args(args: &StartArgs, globals: &GlobalOptions) -> Vec<String> {
    let mut out = vec![
        "daemon".to_owned(),
        "start".to_owned(),
        "--foreground".to_owned(),
    ];
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(format!("--{name}"));
            out.push(value);
        }
    };
    let duration = |value: Option<Duration>| value.map(|d| format!("{}ms", d.as_millis()));
    flag("server-url", globals.server_url.clone());
    flag("profile", globals.profile.clone());
    flag("daemon-id", args.daemon_id.clone());
    flag("device-name", args.device_name.clone());
    flag("runtime-name", args.runtime_name.clone());
    flag("poll-interval", duration(args.poll_interval));
    flag("heartbeat-interval", duration(args.heartbeat_interval));
    flag("agent-timeout", duration(args.agent_timeout));
    flag(
        "max-concurrent-tasks",
        args.max_concurrent_tasks.map(|n| n.to_string()),
    );
    flag(
        "workspaces-root",
        args.workspaces_root.as_ref().map(|path| {
            std::path::absolute(path)
                .unwrap_or_else(|_| path.clone())
                .to_string_lossy()
                .into_owned()
        }),
    );
    flag("health-port", args.health_port.map(|port| port.to_string()));
    out
}

async fn stop(args: PortArgs, globals: &GlobalOptions) -> Result<()> {
    let port = resolve_port(args.health_port, globals)?;
    let Some(health) = fetch_health(port, Duration::from_secs(2)).await else {
        output::note(&format!("{} is not running.", daemon_label(globals)));
        return Ok(());
    };
    if !request_shutdown(port, globals).await {
        send_terminate(health.pid)?;
    }
    output::note(&format!("Stopping daemon (pid {})...", health.pid));
    // Running tasks get up to the shutdown grace (30 s by default) plus reporting.
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if fetch_health(port, Duration::from_secs(1)).await.is_none() {
            output::note("Daemon stopped.");
            return Ok(());
        }
    }
    output::note("The daemon is still stopping; it may be finishing a running task.");
    Ok(())
}

#[cfg(unix)]
fn send_terminate(pid: u32) -> Result<()> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pid = i32::try_from(pid).context("the daemon reported an invalid pid")?;
    kill(Pid::from_raw(pid), Signal::SIGTERM).with_context(|| format!("cannot signal pid {pid}"))
}

#[cfg(not(unix))]
fn send_terminate(pid: u32) -> Result<()> {
    let status = std::process::Command::new("taskkill")
        .args(["/PID", &pid.to_string()])
        .status()
        .context("cannot run taskkill")?;
    if !status.success() {
        bail!("taskkill could not stop pid {pid}");
    }
    Ok(())
}

/// Asks the daemon to stop through its local API, with the control token it left
/// in the profile directory. `false` when that is not possible (an older daemon,
/// another user's): the caller falls back to a signal.
async fn request_shutdown(port: u16, globals: &GlobalOptions) -> bool {
    let Some(home) = ProcessEnvironment.home() else {
        return false;
    };
    let token_file =
        ControlToken::file_for(&profile_dir(&home, globals.profile.as_deref()).join("config.json"));
    let Ok(token) = std::fs::read_to_string(&token_file) else {
        return false;
    };
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    client
        .post(format!("http://127.0.0.1:{port}/shutdown"))
        .bearer_auth(token.trim())
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// Where the background daemon writes its log: `daemon.log` in the profile's
/// directory.
fn log_path(globals: &GlobalOptions) -> Result<PathBuf> {
    let home = ProcessEnvironment
        .home()
        .context("cannot find the home directory (set HOME)")?;
    Ok(profile_dir(&home, globals.profile.as_deref()).join("daemon.log"))
}

async fn show_status(args: PortArgs, globals: &GlobalOptions) -> Result<()> {
    let port = resolve_port(args.health_port, globals)?;
    let health = fetch_health(port, Duration::from_secs(2)).await;
    let label = daemon_label(globals);
    match (globals.output, health) {
        (OutputFormat::Json, Some(health)) => output::line(&serde_json::to_string_pretty(&health)?),
        (OutputFormat::Json, None) => output::line(r#"{"status":"stopped"}"#),
        (OutputFormat::Table, None) => output::line(&format!("{label}: stopped")),
        (OutputFormat::Table, Some(health)) => {
            output::line(&format!(
                "{label}:     running (pid {}, uptime {})",
                health.pid, health.uptime
            ));
            output::line(&format!("Server:     {}", health.server_url));
            if !health.state.is_empty() {
                let state = match &health.state_reason {
                    Some(reason) => format!("{} ({reason})", health.state),
                    None => health.state.clone(),
                };
                output::line(&format!("State:      {state}"));
            }
            output::line(&format!("Agents:     {}", health.agents.join(", ")));
            output::line(&format!("Workspaces: {}", health.workspaces.len()));
            output::line(&format!(
                "Tasks:      {} running",
                health.active_tasks.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_start_forwards_every_flag() {
        let args = StartArgs {
            foreground: false,
            daemon_id: Some("d1".into()),
            device_name: None,
            runtime_name: None,
            poll_interval: Some(Duration::from_millis(1500)),
            heartbeat_interval: None,
            agent_timeout: Some(Duration::from_secs(60)),
            max_concurrent_tasks: Some(3),
            workspaces_root: None,
            health_port: Some(20000),
        };
        let globals = GlobalOptions {
            server_url: Some("http://127.0.0.1:1".into()),
            workspace_id: None,
            profile: Some("dev".into()),
            output: OutputFormat::Table,
        };
        let forwarded = foreground_args(&args, &globals).join(" ");
        assert_eq!(
            forwarded,
            "daemon start --foreground --server-url http://127.0.0.1:1 --profile dev --daemon-id d1 \
             --poll-interval 1500ms --agent-timeout 60000ms --max-concurrent-tasks 3 --health-port 20000"
        );
    }
}
