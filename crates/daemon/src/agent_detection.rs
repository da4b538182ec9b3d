//! Finding the agent CLIs on this machine and asking each for its version, all at
//! once, so that a slow or hung CLI costs one timeout, not one per CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use multica_agents::{Provider, VersionCheck, check_min_version};

use crate::agent_config::AgentSetting;

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
    /// Not installed (and no path was given for it): normal for most of the
    /// built-in CLIs, unlike one that is there but cannot be used.
    pub not_installed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub found: Vec<DetectedAgent>,
    pub skipped: Vec<SkippedAgent>,
}

/// Probes every configured agent at once, searching `search_path` (the process
/// PATH when `None`).
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
            Err(failure) => detection.skipped.push(SkippedAgent {
                provider: setting.provider.clone(),
                not_installed: matches!(failure, ProbeFailure::NotFound(_)) && !setting.pinned,
                reason: failure.into_reason(),
            }),
        }
    }
    detection
}

/// Why a probe found no usable CLI.
enum ProbeFailure {
    NotFound(String),
    Unusable(String),
}

impl ProbeFailure {
    fn into_reason(self) -> String {
        match self {
            ProbeFailure::NotFound(reason) | ProbeFailure::Unusable(reason) => reason,
        }
    }
}

async fn probe(
    setting: &AgentSetting,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<DetectedAgent, ProbeFailure> {
    let provider = &setting.provider;
    let found = resolve_executable(&setting.executable, search_path).ok_or_else(|| {
        let hint = if setting.pinned {
            format!("check MULTICA_{}_PATH or the config file", provider.env_prefix())
        } else {
            format!(
                "install it, or set MULTICA_{}_PATH to its location",
                provider.env_prefix()
            )
        };
        ProbeFailure::NotFound(match powershell_only(&setting.executable, search_path) {
            Some(script) => format!(
                "{} is installed only as the PowerShell script {}; set MULTICA_{}_PATH to its .cmd or .exe",
                provider.display_name(),
                script.display(),
                provider.env_prefix()
            ),
            None => format!(
                "{} not found (looked for {:?}; {hint})",
                provider.display_name(),
                setting.executable
            ),
        })
    })?;
    let search = search_path.map(std::ffi::OsStr::to_os_string);
    let executable = crate::discovery::resolve_shim(&found, search.as_ref())
        .await
        .unwrap_or(found);
    let version = multica_agents::detect_version(&executable, VERSION_TIMEOUT)
        .await
        .map_err(|error| ProbeFailure::Unusable(error.to_string()))?;
    if let Some(minimum) = &provider.profile().min_version {
        if let VersionCheck::TooOld { found, minimum } = check_min_version(&version, minimum) {
            return Err(ProbeFailure::Unusable(format!(
                "{} {found} at {} is older than {minimum}, the oldest version this daemon can drive: update it",
                provider.display_name(),
                executable.display()
            )));
        }
    }
    Ok(DetectedAgent {
        provider: provider.clone(),
        executable,
        version,
        model: setting.model.clone(),
    })
}

/// A bare name is searched on `search_path` (the process PATH when `None`); a path
/// with a separator is taken as given. The result is absolute. On Windows the
/// search tries PATHEXT's extensions, so npm's `.cmd` shims are found.
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

/// `name.ps1` in a search directory, when that is all there is: PowerShell
/// scripts cannot be started directly.
fn powershell_only(executable: &Path, search_path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if !cfg!(windows) || executable.components().count() > 1 {
        return None;
    }
    let path = search_path.map_or_else(|| std::env::var_os("PATH"), |p| Some(p.to_os_string()))?;
    let script_name = format!("{}.ps1", executable.display());
    std::env::split_paths(&path)
        .map(|dir| dir.join(&script_name))
        .find(|script| script.is_file())
}
