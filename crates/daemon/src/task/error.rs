//! Why a task failed before its agent could finish: each is reported to the
//! server as the task's failure, in these words.

use multica_api::ApiError;
use multica_api::wire::FailRequest;

use crate::execenv::ExecEnvError;
use crate::failure::{FailureReason, classify};

#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskError {
    #[error("no agent CLI for provider {0} on this machine")]
    NoAgent(String),
    #[error("start task failed: {0}")]
    Start(ApiError),
    #[error("prepare execution environment: {0}")]
    Prepare(#[from] ExecEnvError),
    #[error("prepare execution environment: preparation task failed: {0}")]
    PrepareJoin(tokio::task::JoinError),
    #[error("prepare CODEX_HOME: {0}")]
    CodexHome(ExecEnvError),
    #[error("prepare CODEX_HOME: {0}")]
    CodexHomeJoin(tokio::task::JoinError),
    #[error("task preparation timed out after {}", crate::go_duration::format_duration(*.0))]
    PrepareTimeout(std::time::Duration),
    /// Upstream's words: a current server gives every task its own token.
    #[error("server did not provide task-scoped auth token")]
    NoTaskToken,
    #[error("server provided non-task-scoped auth token")]
    NotTaskScopedToken,
    #[error("prepare task temp dir: {0}")]
    TempDir(std::io::Error),
    #[error("cannot start {provider}: {source}")]
    Spawn {
        provider: String,
        source: multica_agents::AgentError,
    },
}

impl TaskError {
    /// The report of a task that failed this way: its words, and the reason the
    /// server's classifier gives them.
    pub(crate) fn failure_request(&self) -> FailRequest {
        let error = self.to_string();
        let reason = match self {
            Self::PrepareTimeout(_) => FailureReason::Timeout,
            _ => classify(&error),
        };
        FailRequest {
            failure_reason: Some(reason.as_str().to_owned()),
            ..FailRequest::because(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preparation_that_runs_out_of_time_is_a_timeout_servers_retry() {
        let request =
            TaskError::PrepareTimeout(std::time::Duration::from_secs(300)).failure_request();
        assert_eq!(request.error, "task preparation timed out after 5m");
        assert_eq!(request.failure_reason.as_deref(), Some("timeout"));
        let start = TaskError::NoAgent("codex".into()).failure_request();
        assert_eq!(start.failure_reason.as_deref(), Some("agent_error.unknown"));
    }

    #[test]
    fn the_words_sent_to_the_server_name_the_step_that_failed() {
        assert_eq!(
            TaskError::NoAgent("codex".into()).to_string(),
            "no agent CLI for provider codex on this machine"
        );
        let full = ExecEnvError::Io {
            path: "/w/codex-home".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            TaskError::CodexHome(full).to_string(),
            "prepare CODEX_HOME: cannot prepare the task directory /w/codex-home: disk full"
        );
    }
}
