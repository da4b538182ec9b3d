use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::AgentError;
use crate::child::tail_of;
use crate::process::{GroupSignal, own_process_group, signal_group};

/// How much of `--version`'s stderr an error quotes.
const STDERR_QUOTE_BYTES: usize = 1024;

/// Runs `<executable> --version` and returns what it printed, trimmed.
///
/// Version managers' shims and wrapper scripts can hang (a prompt, a lock), so the
/// command gets `timeout`, runs in its own process group, and the group is killed
/// when the time is up.
pub async fn detect_version(executable: &Path, timeout: Duration) -> Result<String, AgentError> {
    let mut command = tokio::process::Command::new(executable);
    command
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    own_process_group(&mut command);
    let child = command
        .spawn()
        .map_err(|source| AgentError::from_spawn(executable.to_owned(), source))?;
    let pid = child.id();
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => {
            return Err(AgentError::Spawn {
                path: executable.to_owned(),
                source,
            });
        }
        Err(_) => {
            if let Some(pid) = pid {
                signal_group(pid, GroupSignal::Kill);
            }
            return Err(AgentError::Timeout {
                path: executable.to_owned(),
                timeout,
            });
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(AgentError::VersionFailed {
            path: executable.to_owned(),
            status: output.status.to_string(),
            stderr: tail_of(stderr.trim(), STDERR_QUOTE_BYTES).to_owned(),
        });
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if version.is_empty() {
        return Err(AgentError::VersionEmpty {
            path: executable.to_owned(),
        });
    }
    Ok(version)
}

/// How a CLI's version compares with the oldest one we can drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    Supported,
    /// Older than `minimum`.
    TooOld {
        found: String,
        minimum: String,
    },
    /// No `major.minor.patch` in what `--version` printed; the CLI is used anyway.
    Unknown,
}

/// Compares the first `X.Y.Z` in `version_output` (e.g. `2.1.331 (Claude Code)`,
/// `codex-cli 0.169.0`) with `minimum`.
pub fn check_min_version(version_output: &str, minimum: &str) -> VersionCheck {
    let (Some(found), Some(wanted)) = (semver_in(version_output), semver_in(minimum)) else {
        return VersionCheck::Unknown;
    };
    if found >= wanted {
        VersionCheck::Supported
    } else {
        VersionCheck::TooOld {
            found: format!("{}.{}.{}", found.0, found.1, found.2),
            minimum: minimum.to_owned(),
        }
    }
}

/// The first `X.Y.Z` (or `X.Y`) made of digits in `text`.
fn semver_in(text: &str) -> Option<(u64, u64, u64)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|word| {
            let mut parts = word.split('.').filter(|part| !part.is_empty());
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch = parts.next().map_or(Some(0), |part| part.parse().ok())?;
            Some((major, minor, patch))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_in_what_clis_print() {
        assert_eq!(
            check_min_version("2.1.331 (Claude Code)", "2.0.0"),
            VersionCheck::Supported
        );
        assert_eq!(
            check_min_version("codex-cli 0.169.0", "0.100.0"),
            VersionCheck::Supported
        );
        assert_eq!(
            check_min_version("codex-cli 0.99.1", "0.100.0"),
            VersionCheck::TooOld {
                found: "0.99.1".into(),
                minimum: "0.100.0".into()
            }
        );
        assert_eq!(
            check_min_version("v1.18", "1.18.0"),
            VersionCheck::Supported
        );
        assert_eq!(
            check_min_version("dev build", "1.0.0"),
            VersionCheck::Unknown
        );
        assert_eq!(
            check_min_version("1.2.3-beta.4", "1.2.3"),
            VersionCheck::Supported
        );
    }
}
