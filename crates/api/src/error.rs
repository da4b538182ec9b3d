use std::fmt;

/// How a failed request should be treated by its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// 404. See [`ApiError::is_workspace_not_found`] for the membership case.
    NotFound,
    /// 401: the token is missing, malformed, revoked or expired.
    Unauthorized,
    /// 403: the token is valid but may not do this.
    Forbidden,
    /// The request does not fit the resource's state: a 400 "no rows in result set"
    /// (start/complete/fail on a task that moved on) or a 409.
    Conflict,
    /// Any other 4xx: the request itself is wrong; retrying will not help.
    Rejected,
    /// Transport failures, timeouts, 5xx, 408 and 429: worth retrying later.
    Retryable,
    /// A success status whose body is not what the contract promises.
    Malformed,
}

/// A failed call to the Multica server, with enough context to act on and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub method: &'static str,
    /// The request path, without the server's base URL or query.
    pub path: String,
    /// `None` for transport failures.
    pub status: Option<u16>,
    /// The server's `error` text, or a description of what went wrong locally.
    pub message: String,
}

impl ApiError {
    pub fn is_retryable(&self) -> bool {
        self.kind == ApiErrorKind::Retryable
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ApiErrorKind::NotFound
    }

    /// The membership failure of register and the workspace routes: a 404 whose body
    /// says "workspace not found" (compared case-insensitively, as the Go daemon does).
    pub fn is_workspace_not_found(&self) -> bool {
        self.kind == ApiErrorKind::NotFound
            && self
                .message
                .to_ascii_lowercase()
                .contains("workspace not found")
    }

    pub fn is_unauthorized(&self) -> bool {
        self.kind == ApiErrorKind::Unauthorized
    }

    pub fn is_conflict(&self) -> bool {
        self.kind == ApiErrorKind::Conflict
    }

    pub(crate) fn transport(method: &'static str, path: &str, error: &reqwest::Error) -> Self {
        let message = if error.is_timeout() {
            "the server did not answer in time".to_owned()
        } else if error.is_connect() {
            format!("cannot connect to the server ({})", root_cause(error))
        } else {
            format!("request failed ({})", root_cause(error))
        };
        Self {
            kind: ApiErrorKind::Retryable,
            method,
            path: path.to_owned(),
            status: None,
            message,
        }
    }

    /// A call that did not finish within its own time limit.
    pub(crate) fn timeout(method: &'static str, path: &str) -> Self {
        Self {
            kind: ApiErrorKind::Retryable,
            method,
            path: path.to_owned(),
            status: None,
            message: "the server did not answer in time".to_owned(),
        }
    }

    /// The server has no such route (chi's plain `404 page not found`): an older
    /// server, to be spoken to the older way. A 404 about a missing *thing*
    /// (`task not found`) is not this.
    pub fn is_route_missing(&self) -> bool {
        self.status == Some(404) && self.message == "404 page not found"
    }

    /// A 2xx whose body is not what the contract promises: whether the request
    /// took effect is unknown.
    pub fn is_malformed(&self) -> bool {
        self.kind == ApiErrorKind::Malformed
    }

    pub(crate) fn from_status(
        method: &'static str,
        path: &str,
        status: u16,
        message: String,
    ) -> Self {
        Self {
            kind: classify_status(status, &message),
            method,
            path: path.to_owned(),
            status: Some(status),
            message,
        }
    }

    pub(crate) fn malformed(method: &'static str, path: &str, status: u16, detail: String) -> Self {
        Self {
            kind: ApiErrorKind::Malformed,
            method,
            path: path.to_owned(),
            status: Some(status),
            message: detail,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.status) {
            (ApiErrorKind::Malformed, Some(status)) => write!(
                f,
                "{} {}: the server answered {status} with an unexpected body: {}",
                self.method, self.path, self.message
            ),
            (_, Some(status)) => {
                write!(
                    f,
                    "{} {}: {status} {}",
                    self.method, self.path, self.message
                )?;
                match self.kind {
                    ApiErrorKind::Unauthorized => {
                        f.write_str(" (the token was refused: run `multica login` again)")
                    }
                    _ => Ok(()),
                }
            }
            (_, None) => write!(f, "{} {}: {}", self.method, self.path, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

fn classify_status(status: u16, message: &str) -> ApiErrorKind {
    match status {
        401 => ApiErrorKind::Unauthorized,
        403 => ApiErrorKind::Forbidden,
        404 => ApiErrorKind::NotFound,
        408 | 429 => ApiErrorKind::Retryable,
        409 => ApiErrorKind::Conflict,
        // Seed servers answer a state-machine miss with 400 and Postgres' text.
        400 if message.contains("no rows in result set") => ApiErrorKind::Conflict,
        500..=599 => ApiErrorKind::Retryable,
        _ => ApiErrorKind::Rejected,
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Reads the server's error text from a body: `{"error": "..."}` whatever the
/// content type (auth errors are JSON sent as text/plain), else the trimmed text.
pub(crate) fn error_message_from_body(body: &[u8]) -> String {
    if let Ok(parsed) = serde_json::from_slice::<crate::wire::ErrorBody>(body)
        && !parsed.error.is_empty()
    {
        return parsed.error;
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        "(empty body)".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_plain_json_body_is_read_leniently() {
        let body = b"{\"error\":\"invalid token\"}\n";
        assert_eq!(error_message_from_body(body), "invalid token");
    }

    #[test]
    fn non_json_body_is_kept_as_text() {
        assert_eq!(error_message_from_body(b"  bad gateway \n"), "bad gateway");
        assert_eq!(error_message_from_body(b""), "(empty body)");
    }

    #[test]
    fn statuses_are_classified() {
        let kind = |status, message: &str| classify_status(status, message);
        assert_eq!(kind(404, "task not found"), ApiErrorKind::NotFound);
        assert_eq!(kind(401, "invalid token"), ApiErrorKind::Unauthorized);
        assert_eq!(
            kind(400, "complete task: no rows in result set"),
            ApiErrorKind::Conflict
        );
        assert_eq!(kind(409, "already running"), ApiErrorKind::Conflict);
        assert_eq!(kind(400, "invalid request body"), ApiErrorKind::Rejected);
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(kind(status, ""), ApiErrorKind::Retryable, "{status}");
        }
    }

    #[test]
    fn workspace_not_found_is_detected_case_insensitively() {
        let error = ApiError::from_status("POST", "/x", 404, "Workspace Not Found".into());
        assert!(error.is_workspace_not_found());
        let other = ApiError::from_status("POST", "/x", 404, "task not found".into());
        assert!(!other.is_workspace_not_found());
        assert!(other.is_not_found());
    }
}
