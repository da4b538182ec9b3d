//! Finding the agent CLIs on this machine and asking each for its version, all at
//! once, so that a slow or hung CLI costs one timeout, not one per CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_agents::Provider;

use crate::config::AgentSetting;

/// How long one `--version` may take. Node-based CLIs need a second or two cold.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// A usable agent CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedAgent {
    pub provider: Provider,
    /// Absolute path of the executable that answered.
    pub executable: PathBuf,
    pub version: String,
    pub model: Option<String>,
}

/// An agent CLI that is configured but cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedAgent {
    pub provider: Provider,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub found: Vec<DetectedAgent>,
    pub skipped: Vec<SkippedAgent>,
}

pub async fn detect_agents(
    settings: &[AgentSetting],
    search_path: Option<&std::ffi::OsStr>,
) -> Detection {
    let probes = settings.iter().map(|setting| async move {
        let result = probe(setting, search_path).await;
        (setting, result)
    });
    let mut detection = Detection::default();
    for (setting, result) in futures::future::join_all(probes).await {
        match result {
            Ok(agent) => detection.found.push(agent),
            Err(reason) => detection.skipped.push(SkippedAgent {
                provider: setting.provider.clone(),
                reason,
            }),
        }
    }
    detection
}

async fn probe(
    setting: &AgentSetting,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<DetectedAgent, String> {
    let executable = resolve_executable(&setting.executable, search_path).ok_or_else(|| {
        format!(
            "{} not found (looked for {:?}; set MULTICA_{}_PATH to its location)",
            setting.provider.display_name(),
            setting.executable,
            setting.provider.env_prefix()
        )
    })?;
    let version = multica_agents::detect_version(&executable, VERSION_TIMEOUT)
        .await
        .map_err(|error| error.to_string())?;
    Ok(DetectedAgent {
        provider: setting.provider.clone(),
        executable,
        version,
        model: setting.model.clone(),
    })
}

/// A bare name is searched on `search_path` (the process PATH when `None`); a path
/// with a separator is taken as given. The result is absolute.
pub fn resolve_executable(
    executable: &Path,
    search_path: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    let has_separator = executable.components().count() > 1;
    let found = if has_separator {
        executable.is_file().then(|| executable.to_owned())
    } else {
        let cwd = std::env::current_dir().ok()?;
        match search_path {
            Some(paths) => which::which_in(executable, Some(paths), cwd).ok(),
            None => which::which(executable).ok(),
        }
    }?;
    std::path::absolute(found).ok()
}
