//! The one error the app's core and every IPC command return. The window receives it
//! as `{"code": "<kind>", "message": "<sentence>"}`: `code` is one of the closed set
//! in [`ErrorCode`], for the window to act on (mark the token field, offer a login);
//! `message` says what failed and what to do next, for a person to read.
//!
//! Messages never carry a token: no variant holds a [`multica_api::Secret`], and what
//! a person typed or a server sent is passed through [`redact_tokens`] before it
//! leaves the process, in case a token was pasted into the wrong field.

use std::path::PathBuf;

use multica_api::{ApiError, ApiErrorKind, ServerUrlError};
use multica_daemon::cli_config::CliConfigError;
use multica_login::CallbackError;
use multica_token_store::TokenStoreError;
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::settings::SettingsError;

/// What kind of failure an [`AppError`] is. A closed set: the window may branch on
/// any of these names, and its `ErrorCode` type (`ui/src/errors.ts`) lists the same
/// ones; a test keeps the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No token is stored for this server: log in first.
    NotLoggedIn,
    /// A value the window sent cannot work (a server URL, an empty token, a setting);
    /// the message says which and why. Fix the value and try again.
    InvalidInput,
    /// A configuration file or environment variable holds something unusable; the
    /// message names it.
    InvalidConfig,
    /// The server answered 401: the token is wrong, revoked or expired.
    TokenRefused,
    /// The server could not be reached, or did not answer in time, or failed (5xx,
    /// 429): worth trying again later.
    ServerUnreachable,
    /// The server answered and said no (a 4xx other than 401, or a body that is not
    /// what it should be): trying again the same way will not help.
    ServerRefused,
    /// The OS keychain is unavailable or failed.
    Keychain,
    /// A file or folder could not be read or written; the message has its path.
    Io,
    /// The engine is not running, so there is nothing to ask it.
    EngineNotRunning,
    /// What was asked for does not exist (any more).
    NotFound,
    /// Refused by the app's own policy (e.g. a link that is not a web or mail link).
    NotAllowed,
    /// The system could not open a browser, folder or link.
    OpenFailed,
    /// The clipboard could not be written.
    Clipboard,
    /// The browser login cannot start here (no local port); use a token.
    BrowserLoginUnavailable,
    /// The user cancelled: nothing to show.
    Cancelled,
    /// Nothing arrived in time (a browser login).
    TimedOut,
}

impl ErrorCode {
    /// Every code, in the order documented above.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::NotLoggedIn,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidConfig,
        ErrorCode::TokenRefused,
        ErrorCode::ServerUnreachable,
        ErrorCode::ServerRefused,
        ErrorCode::Keychain,
        ErrorCode::Io,
        ErrorCode::EngineNotRunning,
        ErrorCode::NotFound,
        ErrorCode::NotAllowed,
        ErrorCode::OpenFailed,
        ErrorCode::Clipboard,
        ErrorCode::BrowserLoginUnavailable,
        ErrorCode::Cancelled,
        ErrorCode::TimedOut,
    ];

    /// The name the window sees.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::TokenRefused => "token_refused",
            ErrorCode::ServerUnreachable => "server_unreachable",
            ErrorCode::ServerRefused => "server_refused",
            ErrorCode::Keychain => "keychain",
            ErrorCode::Io => "io",
            ErrorCode::EngineNotRunning => "engine_not_running",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::OpenFailed => "open_failed",
            ErrorCode::Clipboard => "clipboard",
            ErrorCode::BrowserLoginUnavailable => "browser_login_unavailable",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::TimedOut => "timed_out",
        }
    }
}

/// A failure of the app's core or of an IPC command. Each variant is one thing that
/// went wrong; [`AppError::code`] groups them into the kinds the window acts on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not logged in: log in with the browser or a token first")]
    NotLoggedIn,

    // What the window sent.
    #[error("{0}; use the address of your Multica server, like https://api.multica.ai")]
    ServerUrl(ServerUrlError),
    #[error("paste a token first")]
    EmptyToken,
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    #[error("{agent}: at least one task must be allowed")]
    NoTaskAllowed { agent: String },
    /// `usage`'s `since` (the engine's own sentence, with the formats it takes).
    #[error(transparent)]
    Since(multica_daemon::usage_book::BadSince),
    #[error("not a link: {0}")]
    NotALink(url::ParseError),
    #[error("only web and mail links open from here, not {scheme}: links")]
    LinkNotAllowed { scheme: String },

    // The configuration.
    #[error(
        "the configured server URL is not usable ({0}); fix MULTICA_SERVER_URL or server_url in config.json"
    )]
    ConfiguredServerUrl(ServerUrlError),
    /// The web app's address (`MULTICA_APP_URL`, config.json's `app_url`), as the
    /// login crate words it.
    #[error(transparent)]
    WebAppUrl(multica_login::LoginUrlError),
    #[error("cannot find the home directory (set HOME)")]
    NoHome,
    #[error("the multica CLI is missing beside the app; reinstall Multica")]
    CliMissing,
    #[error(transparent)]
    ConfigFile(#[from] CliConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    TokenStore(#[from] TokenStoreError),
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        /// What was being done, as a verb phrase ("read the log in").
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    // The server.
    #[error(
        "the server refused the token: check that it is a Multica personal access token for {server}"
    )]
    TokenRefused { server: String },
    #[error(
        "cannot reach {server}: {reason}; check the address and the connection, then try again"
    )]
    ServerUnreachable { server: String, reason: String },
    #[error("{server} refused the request: {reason}")]
    ServerRefused { server: String, reason: String },

    // The browser login.
    #[error(transparent)]
    BrowserLogin(#[from] CallbackError),
    #[error("cannot open the browser ({reason}); open {url} yourself, or paste a token")]
    BrowserNotOpened { url: String, reason: String },

    // The engine and its tasks.
    #[error("the engine is not running; see its state at the top of the window")]
    EngineNotRunning,
    #[error("task {0} is not among the engine's recent tasks")]
    TaskNotFound(String),
    #[error("this task has no folder yet")]
    NoTaskFolder,
    #[error(
        "{} is gone: finished tasks' folders are removed after a while (Settings → Keep finished task folders)",
        .0.display()
    )]
    TaskFolderGone(PathBuf),
    #[error("no token in {}", .0.display())]
    NoTokenToImport(PathBuf),

    // The desktop.
    #[error("there is no log folder: logging could not start (see the console)")]
    NoLogFolder,
    #[error("cannot open {target}: {reason}")]
    OpenFailed { target: String, reason: String },
    #[error("cannot copy: {reason}")]
    Clipboard { reason: String },
}

impl AppError {
    /// The kind, for the window to act on.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::NotLoggedIn => ErrorCode::NotLoggedIn,
            AppError::ServerUrl(_)
            | AppError::EmptyToken
            | AppError::UnknownAgent(_)
            | AppError::NoTaskAllowed { .. }
            | AppError::Since(_)
            | AppError::NotALink(_) => ErrorCode::InvalidInput,
            AppError::LinkNotAllowed { .. } => ErrorCode::NotAllowed,
            AppError::ConfiguredServerUrl(_) | AppError::WebAppUrl(_) | AppError::NoHome => {
                ErrorCode::InvalidConfig
            }
            AppError::CliMissing
            | AppError::TaskNotFound(_)
            | AppError::NoTaskFolder
            | AppError::TaskFolderGone(_)
            | AppError::NoTokenToImport(_)
            | AppError::NoLogFolder => ErrorCode::NotFound,
            AppError::ConfigFile(error) => match error {
                CliConfigError::Read { .. } | CliConfigError::Write { .. } => ErrorCode::Io,
                CliConfigError::Parse { .. } | CliConfigError::TaskRootNotAbsolute(_) => {
                    ErrorCode::InvalidConfig
                }
            },
            AppError::Settings(error) => match error {
                SettingsError::Read { .. } | SettingsError::Write { .. } => ErrorCode::Io,
                SettingsError::Parse { .. } => ErrorCode::InvalidConfig,
                SettingsError::Invalid(_) => ErrorCode::InvalidInput,
            },
            AppError::TokenStore(error) => match error {
                TokenStoreError::KeychainUnavailable { .. }
                | TokenStoreError::KeychainFailed { .. } => ErrorCode::Keychain,
                // The plain-file store the user opted into instead of the keychain.
                TokenStoreError::FileRead { .. } | TokenStoreError::FileWrite { .. } => {
                    ErrorCode::Io
                }
                TokenStoreError::FileParse { .. } => ErrorCode::InvalidConfig,
            },
            AppError::Io { .. } => ErrorCode::Io,
            AppError::TokenRefused { .. } => ErrorCode::TokenRefused,
            AppError::ServerUnreachable { .. } => ErrorCode::ServerUnreachable,
            AppError::ServerRefused { .. } => ErrorCode::ServerRefused,
            AppError::BrowserLogin(error) => match error {
                CallbackError::Bind(_) => ErrorCode::BrowserLoginUnavailable,
                CallbackError::TimedOut(_) => ErrorCode::TimedOut,
                CallbackError::Cancelled => ErrorCode::Cancelled,
            },
            AppError::BrowserNotOpened { .. } | AppError::OpenFailed { .. } => {
                ErrorCode::OpenFailed
            }
            AppError::EngineNotRunning => ErrorCode::EngineNotRunning,
            AppError::Clipboard { .. } => ErrorCode::Clipboard,
        }
    }

    /// A failed call to `server`: a 401 is a refused token, what is worth retrying
    /// is "unreachable", the rest is the server saying no.
    pub fn from_api(server: &impl std::fmt::Display, error: &ApiError) -> AppError {
        let server = server.to_string();
        match error.kind {
            ApiErrorKind::Unauthorized => AppError::TokenRefused { server },
            ApiErrorKind::Retryable => AppError::ServerUnreachable {
                server,
                reason: error.to_string(),
            },
            ApiErrorKind::NotFound
            | ApiErrorKind::Forbidden
            | ApiErrorKind::Conflict
            | ApiErrorKind::Rejected
            | ApiErrorKind::Malformed => AppError::ServerRefused {
                server,
                reason: error.to_string(),
            },
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut error = serializer.serialize_struct("AppError", 2)?;
        error.serialize_field("code", &self.code())?;
        error.serialize_field("message", &redact_tokens(&self.to_string()))?;
        error.end()
    }
}

/// The prefixes of Multica's tokens: personal access tokens and agent task tokens.
const TOKEN_PREFIXES: [&str; 2] = ["mul_", "mat_"];

/// `text` with every word that looks like a Multica token replaced by `<redacted>`.
/// The core never puts a token into a message; this catches one that a person
/// pasted into the server field, or that a server echoed back.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, prefix)) = TOKEN_PREFIXES
        .iter()
        .filter_map(|prefix| rest.find(prefix).map(|at| (at, *prefix)))
        .min_by_key(|(at, _)| *at)
    {
        // Only at the start of a word: "formul_a" is not a token.
        let at_word_start = rest[..start]
            .chars()
            .next_back()
            .is_none_or(|before| !before.is_alphanumeric() && before != '_');
        let token_len = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len() - start);
        let end = start + token_len;
        out.push_str(&rest[..start]);
        if at_word_start && token_len > prefix.len() {
            out.push_str("<redacted>");
        } else {
            out.push_str(&rest[start..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn json_of(error: &AppError) -> serde_json::Value {
        serde_json::to_value(error).expect("serializes")
    }

    fn server_url_error(input: &str) -> ServerUrlError {
        multica_api::ServerUrl::parse(input).expect_err("not a server URL")
    }

    fn api_error(status: u16, body: &str) -> ApiError {
        ApiError {
            kind: match status {
                401 => ApiErrorKind::Unauthorized,
                403 => ApiErrorKind::Forbidden,
                500..=599 => ApiErrorKind::Retryable,
                _ => ApiErrorKind::Rejected,
            },
            method: "GET",
            path: "/api/me".into(),
            status: Some(status),
            message: body.into(),
        }
    }

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::from(kind)
    }

    /// The exact JSON the window receives, for one error of each kind (and every
    /// variant of the core's own).
    #[test]
    fn each_error_serializes_as_code_and_message() {
        let cases: Vec<(AppError, serde_json::Value)> = vec![
            (
                AppError::NotLoggedIn,
                json!({"code": "not_logged_in", "message": "not logged in: log in with the browser or a token first"}),
            ),
            (
                AppError::ServerUrl(server_url_error("nope")),
                json!({"code": "invalid_input", "message": "invalid server URL \"nope\": relative URL without a base; use the address of your Multica server, like https://api.multica.ai"}),
            ),
            (
                AppError::EmptyToken,
                json!({"code": "invalid_input", "message": "paste a token first"}),
            ),
            (
                AppError::UnknownAgent("nope".into()),
                json!({"code": "invalid_input", "message": "unknown agent \"nope\""}),
            ),
            (
                AppError::NoTaskAllowed {
                    agent: "Claude Code".into(),
                },
                json!({"code": "invalid_input", "message": "Claude Code: at least one task must be allowed"}),
            ),
            (
                AppError::Since(multica_daemon::usage_book::BadSince("soon".into())),
                json!({"code": "invalid_input", "message": "since \"soon\": use YYYY-MM-DD or a number of days like 7d"}),
            ),
            (
                AppError::NotALink(url::Url::parse("::").expect_err("not a URL")),
                json!({"code": "invalid_input", "message": "not a link: relative URL without a base"}),
            ),
            (
                AppError::LinkNotAllowed {
                    scheme: "file".into(),
                },
                json!({"code": "not_allowed", "message": "only web and mail links open from here, not file: links"}),
            ),
            (
                AppError::ConfiguredServerUrl(server_url_error("ftp://x")),
                json!({"code": "invalid_config", "message": "the configured server URL is not usable (server URL \"ftp://x\" must use ws, wss, http or https); fix MULTICA_SERVER_URL or server_url in config.json"}),
            ),
            (
                AppError::WebAppUrl(multica_login::LoginUrlError::AppUrl {
                    app_url: "x".into(),
                    source: url::ParseError::RelativeUrlWithoutBase,
                }),
                json!({"code": "invalid_config", "message": "the web app address \"x\" is not a URL (relative URL without a base)"}),
            ),
            (
                AppError::NoHome,
                json!({"code": "invalid_config", "message": "cannot find the home directory (set HOME)"}),
            ),
            (
                AppError::CliMissing,
                json!({"code": "not_found", "message": "the multica CLI is missing beside the app; reinstall Multica"}),
            ),
            (
                AppError::ConfigFile(CliConfigError::Write {
                    path: "/home/a/.multica/config.json".into(),
                    source: io(std::io::ErrorKind::PermissionDenied),
                }),
                json!({"code": "io", "message": "cannot write /home/a/.multica/config.json: permission denied"}),
            ),
            (
                AppError::ConfigFile(CliConfigError::Parse {
                    path: "/home/a/.multica/config.json".into(),
                    source: serde_json::from_str::<serde_json::Value>("{").expect_err("cut off"),
                }),
                json!({"code": "invalid_config", "message": "/home/a/.multica/config.json is not valid JSON (EOF while parsing an object at line 1 column 1); fix or remove it"}),
            ),
            (
                AppError::Settings(SettingsError::Invalid(
                    "at least one task must be allowed to run".into(),
                )),
                json!({"code": "invalid_input", "message": "at least one task must be allowed to run"}),
            ),
            (
                AppError::Settings(SettingsError::Read {
                    path: "/s.json".into(),
                    source: io(std::io::ErrorKind::PermissionDenied),
                }),
                json!({"code": "io", "message": "cannot read /s.json: permission denied"}),
            ),
            (
                AppError::TokenStore(TokenStoreError::KeychainUnavailable {
                    reason: "no Secret Service".into(),
                }),
                json!({"code": "keychain", "message": "the OS keychain is not available: no Secret Service"}),
            ),
            (
                AppError::TokenStore(TokenStoreError::KeychainFailed {
                    reason: "locked".into(),
                }),
                json!({"code": "keychain", "message": "the OS keychain failed: locked"}),
            ),
            (
                AppError::Io {
                    doing: "read the log in",
                    path: "/logs".into(),
                    source: io(std::io::ErrorKind::NotFound),
                },
                json!({"code": "io", "message": "cannot read the log in /logs: entity not found"}),
            ),
            (
                AppError::TokenRefused {
                    server: "https://api.multica.ai/".into(),
                },
                json!({"code": "token_refused", "message": "the server refused the token: check that it is a Multica personal access token for https://api.multica.ai/"}),
            ),
            (
                AppError::ServerUnreachable {
                    server: "http://127.0.0.1:9/".into(),
                    reason: "GET /api/me: cannot connect to the server (refused)".into(),
                },
                json!({"code": "server_unreachable", "message": "cannot reach http://127.0.0.1:9/: GET /api/me: cannot connect to the server (refused); check the address and the connection, then try again"}),
            ),
            (
                AppError::ServerRefused {
                    server: "http://s/".into(),
                    reason: "GET /api/workspaces: 403 forbidden".into(),
                },
                json!({"code": "server_refused", "message": "http://s/ refused the request: GET /api/workspaces: 403 forbidden"}),
            ),
            (
                AppError::BrowserLogin(CallbackError::Bind(io(std::io::ErrorKind::AddrInUse))),
                json!({"code": "browser_login_unavailable", "message": "cannot open a local port for the browser to come back to (address in use); log in with a token instead"}),
            ),
            (
                AppError::BrowserLogin(CallbackError::TimedOut(Duration::from_secs(600))),
                json!({"code": "timed_out", "message": "no sign-in arrived within 10 minutes; start the login again"}),
            ),
            (
                AppError::BrowserLogin(CallbackError::Cancelled),
                json!({"code": "cancelled", "message": "login cancelled"}),
            ),
            (
                AppError::BrowserNotOpened {
                    url: "http://app/login?cli_state=s".into(),
                    reason: "no browser".into(),
                },
                json!({"code": "open_failed", "message": "cannot open the browser (no browser); open http://app/login?cli_state=s yourself, or paste a token"}),
            ),
            (
                AppError::EngineNotRunning,
                json!({"code": "engine_not_running", "message": "the engine is not running; see its state at the top of the window"}),
            ),
            (
                AppError::TaskNotFound("t1".into()),
                json!({"code": "not_found", "message": "task t1 is not among the engine's recent tasks"}),
            ),
            (
                AppError::NoTaskFolder,
                json!({"code": "not_found", "message": "this task has no folder yet"}),
            ),
            (
                AppError::TaskFolderGone("/w/t1".into()),
                json!({"code": "not_found", "message": "/w/t1 is gone: finished tasks' folders are removed after a while (Settings → Keep finished task folders)"}),
            ),
            (
                AppError::NoTokenToImport("/c.json".into()),
                json!({"code": "not_found", "message": "no token in /c.json"}),
            ),
            (
                AppError::NoLogFolder,
                json!({"code": "not_found", "message": "there is no log folder: logging could not start (see the console)"}),
            ),
            (
                AppError::OpenFailed {
                    target: "/w/t1".into(),
                    reason: "no file manager".into(),
                },
                json!({"code": "open_failed", "message": "cannot open /w/t1: no file manager"}),
            ),
            (
                AppError::Clipboard {
                    reason: "no display".into(),
                },
                json!({"code": "clipboard", "message": "cannot copy: no display"}),
            ),
        ];
        for (error, expected) in &cases {
            assert_eq!(json_of(error), *expected, "{error:?}");
        }
        // Every code is reached by at least one of the cases above.
        for code in ErrorCode::ALL {
            assert!(
                cases.iter().any(|(error, _)| error.code() == code),
                "no case for {code:?}"
            );
        }
    }

    #[test]
    fn codes_are_their_documented_names() {
        for code in ErrorCode::ALL {
            assert_eq!(json!(code), json!(code.as_str()));
        }
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are distinct");
    }

    /// The window branches on these names: its type lists exactly the same set.
    #[test]
    fn the_window_knows_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/errors.ts");
        let source = std::fs::read_to_string(&path).expect("ui/src/errors.ts");
        let start = source
            .find("export type ErrorCode =")
            .expect("the ErrorCode type");
        let end = start + source[start..].find(';').expect("the type's end");
        let mut listed: Vec<&str> = source[start..end].split('"').skip(1).step_by(2).collect();
        listed.sort_unstable();
        let mut ours: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        ours.sort_unstable();
        assert_eq!(listed, ours);
    }

    #[test]
    fn api_failures_map_to_refused_token_unreachable_or_refused() {
        let server = "http://s/";
        assert_eq!(
            AppError::from_api(&server, &api_error(401, "invalid token")).code(),
            ErrorCode::TokenRefused
        );
        assert_eq!(
            AppError::from_api(&server, &api_error(503, "maintenance")).code(),
            ErrorCode::ServerUnreachable
        );
        let refused = AppError::from_api(&server, &api_error(403, "not a member"));
        assert_eq!(refused.code(), ErrorCode::ServerRefused);
        assert!(refused.to_string().contains("not a member"), "{refused}");
    }

    #[test]
    fn no_token_reaches_the_window() {
        // A token pasted into the server field comes back inside the URL error.
        let pasted = AppError::ServerUrl(server_url_error("mul_0123456789abcdef"));
        let json = serde_json::to_string(&pasted).expect("json");
        assert!(!json.contains("0123456789abcdef"), "{json}");
        assert!(json.contains("<redacted>"), "{json}");
        // A server that echoes a task token.
        let echoed = AppError::from_api(
            &"http://s/",
            &api_error(400, "bad token mat_abc-DEF_123 for this route"),
        );
        let json = serde_json::to_string(&echoed).expect("json");
        assert!(!json.contains("abc-DEF_123"), "{json}");
    }

    #[test]
    fn redaction_leaves_words_that_only_contain_a_prefix() {
        assert_eq!(redact_tokens("token mul_abc."), "token <redacted>.");
        assert_eq!(
            redact_tokens("\"mat_x\" and mul_y"),
            "\"<redacted>\" and <redacted>"
        );
        assert_eq!(
            redact_tokens("formul_a mul_ smat_x"),
            "formul_a mul_ smat_x"
        );
        assert_eq!(redact_tokens("naïve→mul_z"), "naïve→<redacted>");
        assert_eq!(redact_tokens(""), "");
    }
}
