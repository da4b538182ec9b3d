//! The engine's settings, resolved as flag > environment > config file > default with
//! the Go daemon's names, so that its users switch without relearning anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_api::{ServerUrl, ServerUrlError};

mod gc_env;
mod usage_settings;

pub use usage_settings::{DEFAULT_SCAN_INTERVAL, PRICES_FILE, UsageSettings};

use crate::cli_config::{CliConfig, CliConfigError, config_path};
use crate::discovery::DiscoveryInputs;
use crate::gc::GcSettings;
use crate::go_duration::{DurationError, parse_go_duration};

pub const DEFAULT_SERVER_URL: &str = "ws://localhost:8080/ws";
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(3);
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// How long an agent may say nothing before the watchdog stops it as stuck.
pub const DEFAULT_IDLE_WATCHDOG: Duration = Duration::from_secs(30 * 60);
/// The same while one of its tool calls runs (a build, a test suite).
pub const DEFAULT_TOOL_WATCHDOG: Duration = Duration::from_secs(2 * 60 * 60);
pub const DEFAULT_MAX_CONCURRENT_TASKS: usize = 20;
pub const DEFAULT_HEALTH_PORT: u16 = 19514;
pub const DEFAULT_RUNTIME_NAME: &str = "Local Agent";
pub const DEFAULT_STATUS_POLL_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_CONFIG_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_WORKSPACE_SYNC_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Agent CLIs installed or removed while the daemon runs are noticed this often.
pub const DEFAULT_AGENT_REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5 * 60);

pub use crate::agent_config::AgentSetting;

/// Everything the engine needs to run. Built by [`DaemonConfig::load`] for the
/// headless daemon, or directly by the desktop app and tests.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub server_url: ServerUrl,
    pub profile: Option<String>,
    pub daemon_id: String,
    pub device_name: String,
    pub runtime_name: String,
    /// Sent on registration as `cli_version`.
    pub cli_version: String,
    pub workspaces_root: PathBuf,
    pub health_port: u16,
    pub max_concurrent_tasks: usize,
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    /// Where each task's own temporary directory is made (`MULTICA_AGENT_TEMP_BASE`;
    /// `None`: `/tmp` where it exists, else the system's temporary directory).
    pub task_temp_base: Option<PathBuf>,
    /// The longest one agent run may take (`None`, the default, as today's Go
    /// daemon: no wall clock; the watchdogs catch a stuck agent).
    pub agent_timeout: Option<Duration>,
    /// Stop an agent that said nothing for this long (`None`: the whole
    /// watchdog is off, the tool window too).
    pub idle_watchdog: Option<Duration>,
    /// The silence allowed while a tool call of the agent runs (`None`: a
    /// running tool never trips the watchdog).
    pub tool_watchdog: Option<Duration>,
    pub status_poll_interval: Duration,
    pub config_reload_interval: Duration,
    pub workspace_sync_interval: Duration,
    /// How long shutdown waits for running tasks before it stops their agents.
    pub shutdown_grace: Duration,
    pub agents: Vec<AgentSetting>,
    /// The `multica` binary agents call. Its directory goes first on their PATH.
    pub multica_cli: PathBuf,
    /// The profile's `config.json`: watched workspaces live there.
    pub config_file: PathBuf,
    /// Clean-up of old task directories and cached clones.
    pub gc: GcSettings,
    /// Where agent CLIs are searched for (PATH, login shell, install dirs).
    pub discovery: DiscoveryInputs,
    /// The first pause before a report (result, transcript) is sent again; it
    /// doubles per failure, up to 5 minutes.
    pub report_retry: Duration,
    /// How often agents are looked for again (`None`: only at start).
    pub agent_rediscovery_interval: Option<Duration>,
    /// The user's Codex home (`$CODEX_HOME`, else `~/.codex`): each Codex task's
    /// own home is seeded from it.
    pub codex_home: Option<PathBuf>,
    /// The machine-wide usage scan (log folders, interval, price overrides).
    pub usage: UsageSettings,
    /// The window's built files (`ui/dist`), served read-only at `/ui/` on the local
    /// API for a browser on a headless machine: `MULTICA_UI_DIR`, else a `ui`
    /// folder beside the `multica` binary.
    pub ui_dir: Option<PathBuf>,
}

/// Values given on the command line; `None` falls through to env, file, default.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    pub server_url: Option<String>,
    pub profile: Option<String>,
    pub daemon_id: Option<String>,
    pub device_name: Option<String>,
    pub runtime_name: Option<String>,
    pub workspaces_root: Option<PathBuf>,
    pub health_port: Option<u16>,
    pub poll_interval: Option<Duration>,
    pub heartbeat_interval: Option<Duration>,
    pub agent_timeout: Option<Duration>,
    pub max_concurrent_tasks: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    ServerUrl(#[from] ServerUrlError),
    #[error("{name}: {source}")]
    Duration {
        name: &'static str,
        source: DurationError,
    },
    #[error("{name} must be greater than zero")]
    Zero { name: &'static str },
    #[error("{name}={value:?} is not a whole number")]
    NotANumber { name: &'static str, value: String },
    #[error("cannot find the home directory; set MULTICA_WORKSPACES_ROOT and HOME")]
    NoHome,
    #[error(transparent)]
    CliConfig(#[from] CliConfigError),
    #[error(transparent)]
    Agents(#[from] crate::agent_config::AgentConfigError),
    #[error("invalid profile name {0:?}: use letters, digits, '-' and '_' only")]
    Profile(String),
}

/// Where the process environment and home directory come from; tests pass their own.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    fn hostname(&self) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        std::env::home_dir()
    }

    fn hostname(&self) -> Option<String> {
        hostname()
    }
}

#[cfg(unix)]
fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.trim().is_empty())
}

#[cfg(not(unix))]
fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
}

/// The Go daemon's health port: 19514, or for a named profile
/// `19515 + (sum of the profile's bytes % 1000)`.
pub fn health_port_for_profile(profile: Option<&str>) -> u16 {
    match profile {
        None => DEFAULT_HEALTH_PORT,
        Some(name) => {
            let sum: u32 = name.bytes().map(u32::from).sum();
            // The offset is below 1000, so the port stays far from u16::MAX.
            DEFAULT_HEALTH_PORT + 1 + (sum % 1000) as u16
        }
    }
}

impl DaemonConfig {
    /// Resolves the configuration for the headless daemon. `multica_cli` is the
    /// binary agents should call (for the headless daemon: itself).
    pub fn load(
        overrides: ConfigOverrides,
        env: &dyn Environment,
        multica_cli: PathBuf,
        cli_version: &str,
    ) -> Result<Self, ConfigError> {
        let profile = overrides.profile.filter(|p| !p.trim().is_empty());
        if let Some(name) = &profile
            && !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::Profile(name.clone()));
        }
        let home = env.home();
        let config_file = match &home {
            Some(home) => config_path(home, profile.as_deref()),
            None => return Err(ConfigError::NoHome),
        };
        let file = CliConfig::load(&config_file)?;

        let raw_server_url = overrides
            .server_url
            .or_else(|| env.var("MULTICA_SERVER_URL"))
            .or_else(|| Some(file.server_url.clone()).filter(|url| !url.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
        let server_url = ServerUrl::parse(&raw_server_url)?;

        let host = env.hostname().unwrap_or_else(|| "local-machine".to_owned());
        let mut daemon_id = overrides
            .daemon_id
            .or_else(|| env.var("MULTICA_DAEMON_ID"))
            .unwrap_or_else(|| host.clone());
        // Two profiles on one machine must not share runtime rows on the server.
        if let Some(name) = &profile {
            let suffix = format!("-{name}");
            if !daemon_id.ends_with(&suffix) {
                daemon_id.push_str(&suffix);
            }
        }
        let device_name = overrides
            .device_name
            .or_else(|| env.var("MULTICA_DAEMON_DEVICE_NAME"))
            .unwrap_or(host);
        let runtime_name = overrides
            .runtime_name
            .or_else(|| env.var("MULTICA_AGENT_RUNTIME_NAME"))
            .unwrap_or_else(|| DEFAULT_RUNTIME_NAME.to_owned());

        let workspaces_root = match overrides
            .workspaces_root
            .or_else(|| env.var("MULTICA_WORKSPACES_ROOT").map(PathBuf::from))
        {
            Some(root) => absolute(&root),
            None => {
                let home = home.as_deref().ok_or(ConfigError::NoHome)?;
                match &profile {
                    None => home.join("multica_workspaces"),
                    Some(name) => home.join(format!("multica_workspaces_{name}")),
                }
            }
        };

        let duration = |name: &'static str, flag: Option<Duration>, default: Duration| {
            let value = match flag {
                Some(value) => value,
                None => match env.var(name) {
                    Some(raw) => parse_go_duration(&raw)
                        .map_err(|source| ConfigError::Duration { name, source })?,
                    None => default,
                },
            };
            if value.is_zero() {
                return Err(ConfigError::Zero { name });
            }
            Ok(value)
        };
        let poll_interval = duration(
            "MULTICA_DAEMON_POLL_INTERVAL",
            overrides.poll_interval,
            DEFAULT_POLL_INTERVAL,
        )?;
        let heartbeat_interval = duration(
            "MULTICA_DAEMON_HEARTBEAT_INTERVAL",
            overrides.heartbeat_interval,
            DEFAULT_HEARTBEAT_INTERVAL,
        )?;
        // `0` (and no setting at all) means no wall clock, as upstream.
        let agent_timeout = match overrides.agent_timeout {
            Some(limit) => Some(limit),
            None => env
                .var("MULTICA_AGENT_TIMEOUT")
                .map(|raw| parse_go_duration(&raw))
                .transpose()
                .map_err(|source| ConfigError::Duration {
                    name: "MULTICA_AGENT_TIMEOUT",
                    source,
                })?,
        }
        .filter(|limit| !limit.is_zero());
        // Upstream's names; ours (MULTICA_AGENT_IDLE_TIMEOUT) still works.
        let idle_name = if env.var("MULTICA_AGENT_IDLE_WATCHDOG").is_some()
            || env.var("MULTICA_AGENT_IDLE_TIMEOUT").is_none()
        {
            "MULTICA_AGENT_IDLE_WATCHDOG"
        } else {
            "MULTICA_AGENT_IDLE_TIMEOUT"
        };
        let idle_watchdog = duration_or_off(env, idle_name, DEFAULT_IDLE_WATCHDOG)?;
        let tool_watchdog =
            duration_or_off(env, "MULTICA_AGENT_TOOL_WATCHDOG", DEFAULT_TOOL_WATCHDOG)?;
        // "0" turns the idle watchdog off; the wall-clock timeout still applies.
        let status_poll_interval = duration(
            "MULTICA_DAEMON_STATUS_POLL_INTERVAL",
            None,
            DEFAULT_STATUS_POLL_INTERVAL,
        )?;
        let shutdown_grace = duration(
            "MULTICA_DAEMON_SHUTDOWN_GRACE",
            None,
            DEFAULT_SHUTDOWN_GRACE,
        )?;
        let report_retry = duration(
            "MULTICA_REPORT_RETRY",
            None,
            crate::outbox::DEFAULT_FIRST_RETRY,
        )?;

        let max_concurrent_tasks = match overrides.max_concurrent_tasks {
            Some(value) => value,
            None => match env.var("MULTICA_DAEMON_MAX_CONCURRENT_TASKS") {
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError::NotANumber {
                    name: "MULTICA_DAEMON_MAX_CONCURRENT_TASKS",
                    value: raw,
                })?,
                None => DEFAULT_MAX_CONCURRENT_TASKS,
            },
        };
        if max_concurrent_tasks == 0 {
            return Err(ConfigError::Zero {
                name: "MULTICA_DAEMON_MAX_CONCURRENT_TASKS",
            });
        }

        let health_port = match overrides.health_port {
            Some(port) => port,
            None => match env.var("MULTICA_DAEMON_HEALTH_PORT") {
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError::NotANumber {
                    name: "MULTICA_DAEMON_HEALTH_PORT",
                    value: raw,
                })?,
                None => health_port_for_profile(profile.as_deref()),
            },
        };

        let gc = gc_env::gc_settings(|name| env.var(name))?;
        let codex_home = env
            .var("CODEX_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(".codex")));

        let agents = crate::agent_config::agent_settings(|name| env.var(name), &file)?;
        // "0" turns re-discovery off.
        let agent_rediscovery_interval = duration_or_off(
            env,
            "MULTICA_AGENT_REDISCOVERY_INTERVAL",
            DEFAULT_AGENT_REDISCOVERY_INTERVAL,
        )?;

        let usage = UsageSettings::from_env(env, &config_file)?;
        let ui_dir = env
            .var("MULTICA_UI_DIR")
            .map(PathBuf::from)
            .or_else(|| multica_cli.parent().map(|dir| dir.join("ui")));

        Ok(Self {
            server_url,
            profile,
            daemon_id,
            device_name,
            runtime_name,
            cli_version: cli_version.to_owned(),
            workspaces_root,
            health_port,
            max_concurrent_tasks,
            poll_interval,
            heartbeat_interval,
            agent_timeout,
            task_temp_base: env
                .var("MULTICA_AGENT_TEMP_BASE")
                .filter(|base| !base.trim().is_empty())
                .map(PathBuf::from),
            idle_watchdog,
            tool_watchdog,
            status_poll_interval,
            config_reload_interval: DEFAULT_CONFIG_RELOAD_INTERVAL,
            workspace_sync_interval: DEFAULT_WORKSPACE_SYNC_INTERVAL,
            shutdown_grace,
            agents,
            multica_cli,
            config_file,
            gc,
            discovery: DiscoveryInputs::from_process(),
            report_retry,
            agent_rediscovery_interval,
            codex_home,
            usage,
            ui_dir,
        })
    }
}

/// A duration setting that `0` turns off; `default` when unset.
pub(crate) fn duration_or_off(
    env: &dyn Environment,
    name: &'static str,
    default: Duration,
) -> Result<Option<Duration>, ConfigError> {
    match env.var(name) {
        None => Ok(Some(default)),
        Some(raw) if raw.trim() == "0" => Ok(None),
        Some(raw) => parse_go_duration(&raw)
            .map(Some)
            .map_err(|source| ConfigError::Duration { name, source }),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeEnvironment {
        vars: HashMap<&'static str, &'static str>,
        home: PathBuf,
    }

    impl Environment for FakeEnvironment {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).map(|value| (*value).to_owned())
        }
        fn home(&self) -> Option<PathBuf> {
            Some(self.home.clone())
        }
        fn hostname(&self) -> Option<String> {
            Some("box".to_owned())
        }
    }

    fn load(
        vars: &[(&'static str, &'static str)],
        overrides: ConfigOverrides,
        home: &Path,
    ) -> Result<DaemonConfig, ConfigError> {
        let env = FakeEnvironment {
            vars: vars.iter().copied().collect(),
            home: home.to_owned(),
        };
        DaemonConfig::load(overrides, &env, PathBuf::from("/opt/multica"), "0.1.0")
    }

    #[test]
    fn defaults_match_the_go_daemon() {
        let home = tempfile::tempdir().expect("tempdir");
        let config = load(&[], ConfigOverrides::default(), home.path()).expect("config");
        assert_eq!(config.server_url.as_str(), "http://localhost:8080");
        assert_eq!(config.poll_interval, Duration::from_secs(3));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(15));
        // Today's Go daemon has no wall clock by default (the seed's was 2 h).
        assert_eq!(config.agent_timeout, None);
        assert_eq!(config.idle_watchdog, Some(Duration::from_secs(30 * 60)));
        assert_eq!(config.tool_watchdog, Some(Duration::from_secs(2 * 60 * 60)));
        assert_eq!(config.max_concurrent_tasks, 20);
        assert_eq!(config.health_port, 19514);
        assert_eq!(config.daemon_id, "box");
        assert_eq!(config.device_name, "box");
        assert_eq!(
            config.workspaces_root,
            home.path().join("multica_workspaces")
        );
        assert_eq!(config.agents[0].executable, PathBuf::from("claude"));
    }

    #[test]
    fn no_wall_clock_unless_asked_and_the_watchdogs_under_upstreams_names() {
        let home = tempfile::tempdir().expect("tempdir");
        let zero = load(
            &[("MULTICA_AGENT_TIMEOUT", "0")],
            ConfigOverrides::default(),
            home.path(),
        )
        .expect("0 is accepted: no wall clock");
        assert_eq!(zero.agent_timeout, None);
        let vars = [
            ("MULTICA_AGENT_TIMEOUT", "1d"),
            ("MULTICA_AGENT_IDLE_WATCHDOG", "10m"),
            ("MULTICA_AGENT_TOOL_WATCHDOG", "0"),
        ];
        let upstream = load(&vars, ConfigOverrides::default(), home.path()).expect("config");
        assert_eq!(upstream.agent_timeout, Some(Duration::from_secs(86_400)));
        assert_eq!(upstream.idle_watchdog, Some(Duration::from_secs(600)));
        assert_eq!(upstream.tool_watchdog, None);
        let ours = load(
            &[("MULTICA_AGENT_IDLE_TIMEOUT", "0")],
            ConfigOverrides::default(),
            home.path(),
        )
        .expect("config");
        assert_eq!(ours.idle_watchdog, None, "the older name still works");
        let both = [
            ("MULTICA_AGENT_IDLE_TIMEOUT", "0"),
            ("MULTICA_AGENT_IDLE_WATCHDOG", "5m"),
        ];
        let both = load(&both, ConfigOverrides::default(), home.path()).expect("config");
        assert_eq!(
            both.idle_watchdog,
            Some(Duration::from_secs(300)),
            "upstream's name wins"
        );
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let home = tempfile::tempdir().expect("tempdir");
        let file = CliConfig {
            server_url: "https://from-file.example".into(),
            ..CliConfig::default()
        };
        file.save(&config_path(home.path(), None)).expect("save");

        let from_file = load(&[], ConfigOverrides::default(), home.path()).expect("config");
        assert_eq!(from_file.server_url.as_str(), "https://from-file.example");

        let vars = [
            ("MULTICA_SERVER_URL", "wss://from-env.example/ws"),
            ("MULTICA_DAEMON_POLL_INTERVAL", "500ms"),
            ("MULTICA_AGENT_TIMEOUT", "1h30m"),
            ("MULTICA_DAEMON_MAX_CONCURRENT_TASKS", "4"),
            ("MULTICA_CLAUDE_PATH", "/usr/local/bin/claude"),
            ("MULTICA_CLAUDE_MODEL", " opus "),
        ];
        let from_env = load(&vars, ConfigOverrides::default(), home.path()).expect("config");
        assert_eq!(from_env.server_url.as_str(), "https://from-env.example");
        assert_eq!(from_env.poll_interval, Duration::from_millis(500));
        assert_eq!(from_env.agent_timeout, Some(Duration::from_secs(5400)));
        assert_eq!(from_env.max_concurrent_tasks, 4);
        assert_eq!(
            from_env.agents[0].executable,
            PathBuf::from("/usr/local/bin/claude")
        );
        assert_eq!(from_env.agents[0].model.as_deref(), Some("opus"));

        let flags = ConfigOverrides {
            server_url: Some("http://127.0.0.1:9".into()),
            poll_interval: Some(Duration::from_secs(1)),
            max_concurrent_tasks: Some(2),
            ..ConfigOverrides::default()
        };
        let from_flags = load(&vars, flags, home.path()).expect("config");
        assert_eq!(from_flags.server_url.as_str(), "http://127.0.0.1:9");
        assert_eq!(from_flags.poll_interval, Duration::from_secs(1));
        assert_eq!(from_flags.max_concurrent_tasks, 2);
    }

    #[test]
    fn profile_changes_port_id_root_and_file() {
        let home = tempfile::tempdir().expect("tempdir");
        let overrides = ConfigOverrides {
            profile: Some("dev".into()),
            ..ConfigOverrides::default()
        };
        let config = load(&[], overrides, home.path()).expect("config");
        // 'd'+'e'+'v' = 100+101+118 = 319
        assert_eq!(config.health_port, 19514 + 1 + 319);
        assert_eq!(config.daemon_id, "box-dev");
        assert_eq!(
            config.workspaces_root,
            home.path().join("multica_workspaces_dev")
        );
        assert_eq!(
            config.config_file,
            home.path().join(".multica/profiles/dev/config.json")
        );
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let home = tempfile::tempdir().expect("tempdir");
        let error = load(
            &[("MULTICA_DAEMON_POLL_INTERVAL", "3")],
            ConfigOverrides::default(),
            home.path(),
        )
        .expect_err("a unitless duration is refused");
        assert!(
            error.to_string().contains("MULTICA_DAEMON_POLL_INTERVAL"),
            "{error}"
        );

        let error = load(
            &[("MULTICA_DAEMON_MAX_CONCURRENT_TASKS", "many")],
            ConfigOverrides::default(),
            home.path(),
        )
        .expect_err("not a number");
        assert!(error.to_string().contains("many"), "{error}");

        let error = load(
            &[],
            ConfigOverrides {
                profile: Some("../x".into()),
                ..ConfigOverrides::default()
            },
            home.path(),
        )
        .expect_err("path-like profile");
        assert!(matches!(error, ConfigError::Profile(_)));
    }
}
