//! Why a task failed before its agent could finish: each is reported to the
//! server as the task's failure, in these words.

use multica_api::ApiError;

use crate::execenv::ExecEnvError;

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
    #[error("cannot start {provider}: {source}")]
    Spawn {
        provider: String,
        source: multica_agents::AgentError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

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
