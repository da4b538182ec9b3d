//! What the engine scans for machine-wide token usage, from the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_usage::LogRoot;
use tracing::warn;

use super::{ConfigError, Environment, duration_or_off};

/// Price overrides read when present, beside the profile's `config.json`.
pub const PRICES_FILE: &str = "prices.json";
/// How often the machine's logs are scanned unless `MULTICA_USAGE_SCAN_INTERVAL` says.
pub const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// What the engine scans for machine-wide usage.
#[derive(Debug, Clone, Default)]
pub struct UsageSettings {
    /// The folders of the user's own Claude Code and Codex logs (see
    /// [`multica_usage::default_roots`]). The daemon adds its tasks' Codex homes.
    pub log_roots: Vec<LogRoot>,
    /// How often the logs are scanned; `None` turns the scan (and the seed upload) off.
    pub scan_interval: Option<Duration>,
    /// A price table whose models replace or add to the built-in prices.
    pub prices_file: Option<PathBuf>,
}

impl UsageSettings {
    /// From the environment: the log folders ccusage reads, `MULTICA_USAGE_SCAN_INTERVAL`
    /// (a Go duration, `0` for off) and `MULTICA_PRICES_FILE` (else `prices.json`
    /// beside the config, when it exists).
    pub(crate) fn from_env(
        env: &dyn Environment,
        config_file: &Path,
    ) -> Result<UsageSettings, ConfigError> {
        let home = env.home();
        let log_roots = match multica_usage::default_roots(|name| env.var(name), home.as_deref()) {
            Ok(roots) => roots,
            Err(error) => {
                // A wrong CLAUDE_CONFIG_DIR costs the Claude figures, not the daemon.
                warn!(%error, "usage: using the default Claude Code folders");
                multica_usage::default_roots(
                    |name| {
                        (name != "CLAUDE_CONFIG_DIR")
                            .then(|| env.var(name))
                            .flatten()
                    },
                    home.as_deref(),
                )
                .unwrap_or_default()
            }
        };
        let scan_interval =
            duration_or_off(env, "MULTICA_USAGE_SCAN_INTERVAL", DEFAULT_SCAN_INTERVAL)?;
        let prices_file = env
            .var("MULTICA_PRICES_FILE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(config_file.with_file_name(PRICES_FILE)).filter(|p| p.is_file()));
        Ok(UsageSettings {
            log_roots,
            scan_interval,
            prices_file,
        })
    }
}
