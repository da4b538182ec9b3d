//! What went wrong, as one line a person can act on, and an exit code a script can
//! rely on. The codes are documented in the README ("Exit codes").

use std::fmt;
use std::process::ExitCode;

use multica_api::{ApiError, ApiErrorKind};

/// The kinds of failure, each with its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// 1: anything not listed below (a local file that cannot be written, …).
    General,
    /// 2: the command line itself is wrong (clap uses 2 as well).
    Usage,
    /// 3: not logged in, or the server refused the token (401).
    Auth,
    /// 4: the issue, workspace, attachment, … does not exist or is not visible (404).
    NotFound,
    /// 5: the server understood and refused the request (400, 403, 409, …).
    Rejected,
    /// 6: the server cannot be reached, timed out or failed (transport, 5xx, 429).
    Unreachable,
    /// 7: the local daemon is not running, or refused the request.
    Daemon,
}

impl FailureKind {
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Self::General => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::NotFound => 4,
            Self::Rejected => 5,
            Self::Unreachable => 6,
            Self::Daemon => 7,
        }
    }
}

/// A failure the CLI reports: the message already says what to do about it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Usage, message)
    }

    pub(crate) fn daemon(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Daemon, message)
    }

    pub(crate) fn not_logged_in(profile: Option<&str>) -> Self {
        Self::new(
            FailureKind::Auth,
            format!(
                "not logged in: run `{}` (or set MULTICA_TOKEN)",
                login_command(profile)
            ),
        )
    }

    /// A server error, told in terms of what the user asked for (`what`, e.g.
    /// "issue MUL-42"), with the fix where there is one.
    pub(crate) fn from_api(error: &ApiError, what: &str, profile: Option<&str>) -> Self {
        let kind = match error.kind {
            ApiErrorKind::Unauthorized => FailureKind::Auth,
            ApiErrorKind::NotFound => FailureKind::NotFound,
            ApiErrorKind::Forbidden | ApiErrorKind::Conflict | ApiErrorKind::Rejected => {
                FailureKind::Rejected
            }
            ApiErrorKind::Retryable | ApiErrorKind::Malformed => FailureKind::Unreachable,
        };
        let message = match error.kind {
            ApiErrorKind::Unauthorized => format!(
                "the server refused the token ({}): run `{}` again",
                error.message,
                login_command(profile)
            ),
            ApiErrorKind::NotFound if error.is_workspace_not_found() => format!(
                "workspace not found, or you are not a member of it (asking for {what}); \
                 check --workspace-id / MULTICA_WORKSPACE_ID"
            ),
            ApiErrorKind::NotFound => format!("{what} not found ({})", error.message),
            ApiErrorKind::Forbidden => format!("not allowed to change {what} ({})", error.message),
            ApiErrorKind::Conflict | ApiErrorKind::Rejected => {
                format!(
                    "the server refused the request for {what}: {}",
                    error.message
                )
            }
            ApiErrorKind::Retryable if error.status.is_none() => format!(
                "{}; check the server URL (--server-url / MULTICA_SERVER_URL) and that the server is up",
                error.message
            ),
            ApiErrorKind::Retryable => format!(
                "the server failed ({} {}: {}); try again later",
                error.status.unwrap_or_default(),
                error.path,
                error.message
            ),
            ApiErrorKind::Malformed => format!(
                "the server's answer for {what} is not what this CLI understands ({}); \
                 is --server-url a Multica server?",
                error.message
            ),
        };
        Self::new(kind, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub(crate) fn login_command(profile: Option<&str>) -> String {
    match profile {
        Some(profile) => format!("multica login --profile {profile}"),
        None => "multica login".to_owned(),
    }
}

/// The exit code and the line to print for any error that reached `main`.
pub(crate) fn report(error: &anyhow::Error) -> (ExitCode, String) {
    if let Some(failure) = error.downcast_ref::<Failure>() {
        return (
            ExitCode::from(failure.kind.exit_code()),
            failure.message.clone(),
        );
    }
    if let Some(api) = error.downcast_ref::<ApiError>() {
        let failure = Failure::from_api(api, "the request", None);
        return (ExitCode::from(failure.kind.exit_code()), failure.message);
    }
    (
        ExitCode::from(FailureKind::General.exit_code()),
        format!("{error:#}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(kind: ApiErrorKind, status: Option<u16>, message: &str) -> ApiError {
        ApiError {
            kind,
            method: "GET",
            path: "/api/issues/MUL-1".to_owned(),
            status,
            message: message.to_owned(),
        }
    }

    #[test]
    fn api_errors_map_to_documented_codes_and_say_the_fix() {
        let cases = [
            (
                ApiErrorKind::Unauthorized,
                Some(401),
                "invalid token",
                3,
                "multica login",
            ),
            (
                ApiErrorKind::NotFound,
                Some(404),
                "issue not found",
                4,
                "issue MUL-1 not found",
            ),
            (
                ApiErrorKind::NotFound,
                Some(404),
                "workspace not found",
                4,
                "MULTICA_WORKSPACE_ID",
            ),
            (
                ApiErrorKind::Rejected,
                Some(400),
                "content is required",
                5,
                "content is required",
            ),
            (
                ApiErrorKind::Retryable,
                None,
                "cannot connect",
                6,
                "--server-url",
            ),
            (
                ApiErrorKind::Retryable,
                Some(502),
                "bad gateway",
                6,
                "try again later",
            ),
        ];
        for (kind, status, message, code, hint) in cases {
            let failure = Failure::from_api(&api_error(kind, status, message), "issue MUL-1", None);
            assert_eq!(failure.kind.exit_code(), code, "{kind:?}");
            assert!(failure.message.contains(hint), "{}", failure.message);
        }
    }

    #[test]
    fn unknown_errors_are_general_with_their_causes() {
        let error = anyhow::anyhow!("disk full").context("cannot write /tmp/x");
        let (_, message) = report(&error);
        assert_eq!(message, "cannot write /tmp/x: disk full");
    }
}
