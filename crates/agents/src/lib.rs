//! One backend per agent CLI. A backend spawns its CLI in a process group of its
//! own, turns the CLI's output into one normalized event stream, and stops the
//! whole group on cancel or timeout.
//!
//! Events are delivered through a bounded channel with back-pressure: when the
//! consumer is slow, reading pauses (and the agent with it) instead of dropping
//! events, as the Go seed did.

mod claude;
mod lines;
mod process;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use claude::{ClaudeBackend, ClaudeStreamParser, ControlRequest, ParsedLine};
pub use lines::{Line, LineSplitter, MAX_LINE_BYTES};
pub use process::kill_all_agents;

/// Events buffered between the reader and the consumer before reading pauses.
pub const EVENT_BUFFER: usize = 256;

/// The agent CLIs this crate can drive.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Claude,
}

impl Provider {
    pub fn all() -> &'static [Provider] {
        &[Provider::Claude]
    }

    /// The key the server knows the provider by.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Claude => "Claude",
        }
    }

    /// The command looked up on PATH when no path is configured.
    pub fn default_executable(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
        }
    }

    /// `CLAUDE` for `MULTICA_CLAUDE_PATH` and `MULTICA_CLAUDE_MODEL`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Provider::Claude => "CLAUDE",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent provider {0:?} (known: claude)")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "claude" => Ok(Provider::Claude),
            _ => Err(UnknownProvider(value.to_owned())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What an agent did, in one shape for every CLI.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    Text(String),
    Thinking(String),
    ToolUse {
        call_id: String,
        tool: String,
        input: serde_json::Value,
    },
    ToolResult {
        call_id: String,
        tool: Option<String>,
        output: String,
        is_error: bool,
    },
    Error(String),
    Status(String),
    Log {
        level: LogLevel,
        message: String,
    },
}

/// Grace periods of the stop sequence: SIGINT, then SIGTERM, then SIGKILL, each
/// sent to the agent's whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillGrace {
    pub after_interrupt: Duration,
    pub after_terminate: Duration,
}

impl Default for KillGrace {
    fn default() -> Self {
        Self {
            after_interrupt: Duration::from_secs(2),
            after_terminate: Duration::from_secs(2),
        }
    }
}

/// One run of an agent CLI.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub executable: PathBuf,
    pub cwd: PathBuf,
    pub prompt: String,
    pub model: Option<String>,
    pub resume_session_id: Option<String>,
    /// Set on top of (and overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub kill_grace: KillGrace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
    TimedOut,
    Cancelled,
}

/// Tokens one model used during a run, as the CLI totals them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: Option<f64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The agent's final answer.
    pub output: String,
    /// Why the run did not complete, in words a person can act on.
    pub error: Option<String>,
    pub session_id: Option<String>,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    pub usage: Vec<ModelUsage>,
}

/// A running agent: its events, and its outcome once it has ended.
#[derive(Debug)]
pub struct AgentRun {
    /// Closed when the agent's output has ended. Read it to the end: reading pauses
    /// while it is full.
    pub events: mpsc::Receiver<AgentEvent>,
    pub outcome: OutcomeReceiver,
    pub pid: Option<u32>,
}

/// Resolves to the run's outcome.
#[derive(Debug)]
pub struct OutcomeReceiver {
    receiver: oneshot::Receiver<RunOutcome>,
}

impl IntoFuture for OutcomeReceiver {
    type Output = RunOutcome;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = RunOutcome> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.receiver.await.unwrap_or_else(|_| RunOutcome {
                status: RunStatus::Failed,
                output: String::new(),
                error: Some("the agent supervisor stopped unexpectedly".to_owned()),
                session_id: None,
                exit_code: None,
                duration: Duration::ZERO,
                usage: Vec::new(),
            })
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{path} not found")]
    NotFound { path: PathBuf },
    #[error("{path} cannot be run: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path} --version` failed ({status}){}", stderr_suffix(.stderr))]
    VersionFailed {
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("`{path} --version` printed nothing")]
    VersionEmpty { path: PathBuf },
    #[error("`{path} --version` did not answer within {timeout:?}")]
    VersionTimeout { path: PathBuf, timeout: Duration },
    #[error("the work directory {path} does not exist")]
    MissingWorkDir { path: PathBuf },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

/// Drives one kind of agent CLI.
pub trait AgentBackend: Send + Sync + fmt::Debug {
    fn provider(&self) -> Provider;
    fn spawn(&self, spec: RunSpec, cancel: CancellationToken) -> Result<AgentRun, AgentError>;
}

pub fn backend(provider: Provider) -> Box<dyn AgentBackend> {
    match provider {
        Provider::Claude => Box::new(ClaudeBackend),
    }
}

/// Runs `<executable> --version` and returns what it printed, trimmed.
pub async fn detect_version(executable: &Path, timeout: Duration) -> Result<String, AgentError> {
    if !executable.exists() {
        return Err(AgentError::NotFound {
            path: executable.to_owned(),
        });
    }
    let mut command = tokio::process::Command::new(executable);
    command
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => {
            return Err(AgentError::Spawn {
                path: executable.to_owned(),
                source,
            });
        }
        Err(_) => {
            return Err(AgentError::VersionTimeout {
                path: executable.to_owned(),
                timeout,
            });
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(AgentError::VersionFailed {
            path: executable.to_owned(),
            status: output.status.to_string(),
            stderr: tail,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for provider in Provider::all() {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(*provider));
        }
        assert_eq!(" Claude ".parse::<Provider>(), Ok(Provider::Claude));
        assert!("gemini".parse::<Provider>().is_err());
    }
}
