use std::path::PathBuf;
use std::time::Duration;

/// Why an agent CLI could not be started or asked for its version.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{} not found: install the agent CLI or set its path (MULTICA_<AGENT>_PATH)", path.display())]
    NotFound { path: PathBuf },
    #[error("{} is not executable: check its permissions (chmod +x) or point MULTICA_<AGENT>_PATH at the real CLI", path.display())]
    NotExecutable { path: PathBuf },
    #[error("cannot start {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{} --version` failed ({status}){}", path.display(), stderr_suffix(stderr))]
    VersionFailed {
        path: PathBuf,
        /// How it ended, e.g. `exit status: 1`.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    #[error("`{} --version` printed nothing: is it really the agent CLI?", path.display())]
    VersionEmpty { path: PathBuf },
    #[error("`{} --version` did not answer within {}", path.display(), humantime::format_duration(*timeout))]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("the work directory {} does not exist", path.display())]
    MissingWorkDir { path: PathBuf },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl AgentError {
    /// Classifies a failure to spawn `path`.
    pub(crate) fn from_spawn(path: PathBuf, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => AgentError::NotFound { path },
            std::io::ErrorKind::PermissionDenied => AgentError::NotExecutable { path },
            _ => AgentError::Spawn { path, source },
        }
    }
}
