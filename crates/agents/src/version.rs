use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::AgentError;
use crate::process::{GroupSignal, own_process_group, signal_group};
use crate::supervisor::tail_of;

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
