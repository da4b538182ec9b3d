//! Why a task failed, in the words today's Multica server acts on
//! (`failure_reason`): it retries `timeout`, `runtime_offline`,
//! `runtime_recovery`, `codex_semantic_inactivity`, `skill_bundle_unavailable`
//! and a provider's network error in a new task that resumes the session, and
//! never resumes a session a "poisoned" reason names. The classifier follows
//! upstream's (`server/internal/taskfailure/classify.go`, `daemon/poisoned.go`)
//! rule for rule, so a failure gets the same reason from us as from the Go
//! daemon. Seed servers ignore the field.

/// One value of the server's failure taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The claimed task's runtime is not one of ours.
    RuntimeOffline,
    /// A previous process of this daemon died while the task ran.
    RuntimeRecovery,
    /// The wall clock (`MULTICA_AGENT_TIMEOUT`) or the preparation budget ran out.
    Timeout,
    /// The idle or tool watchdog stopped an agent that went silent.
    IdleWatchdog,
    /// The daemon stopped, or its user stopped the task, while the agent worked.
    Cancelled,
    /// The agent's answer is its iteration-limit notice, not a result.
    IterationLimit,
    /// The agent's answer is a tool-format fallback notice, not a result.
    AgentFallbackMessage,
    /// The model API refused the conversation itself: it cannot be resumed.
    ApiInvalidRequest,
    ContextOverflow,
    MissingConfig,
    ProviderAuthOrAccess,
    ProviderQuotaLimit,
    ProviderCapacityOrRateLimit,
    ProviderServerError,
    ProviderNetwork,
    ModelNotFoundOrUnavailable,
    EmptyOrUnparseableOutput,
    AgentTimeout,
    RuntimeMissingExecutable,
    RuntimeVersionUnsupported,
    ProcessFailure,
    Unknown,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuntimeOffline => "runtime_offline",
            Self::RuntimeRecovery => "runtime_recovery",
            Self::Timeout => "timeout",
            Self::IdleWatchdog => "idle_watchdog",
            Self::Cancelled => "cancelled",
            Self::IterationLimit => "iteration_limit",
            Self::AgentFallbackMessage => "agent_fallback_message",
            Self::ApiInvalidRequest => "api_invalid_request",
            Self::ContextOverflow => "agent_error.context_overflow",
            Self::MissingConfig => "agent_error.missing_config",
            Self::ProviderAuthOrAccess => "agent_error.provider_auth_or_access",
            Self::ProviderQuotaLimit => "agent_error.provider_quota_limit",
            Self::ProviderCapacityOrRateLimit => "agent_error.provider_capacity_or_rate_limit",
            Self::ProviderServerError => "agent_error.provider_server_error",
            Self::ProviderNetwork => "agent_error.provider_network",
            Self::ModelNotFoundOrUnavailable => "agent_error.model_not_found_or_unavailable",
            Self::EmptyOrUnparseableOutput => "agent_error.empty_or_unparseable_output",
            Self::AgentTimeout => "agent_error.agent_timeout",
            Self::RuntimeMissingExecutable => "agent_error.runtime_missing_executable",
            Self::RuntimeVersionUnsupported => "agent_error.runtime_version_unsupported",
            Self::ProcessFailure => "agent_error.process_failure",
            Self::Unknown => "agent_error.unknown",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longer answers are real results even when they quote a notice.
const NOTICE_MAX_LEN: usize = 320;

/// The reason for an error text: the first rule that matches, as upstream's
/// classifier orders them; `Unknown` when none does.
pub fn classify(error: &str) -> FailureReason {
    use FailureReason as R;
    let text = error.trim().to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
    let both = |a: &str, b: &str| text.contains(a) && text.contains(b);
    if text.is_empty() {
        return R::Unknown;
    }
    if any(&[
        "context length",
        "context_length_exceeded",
        "maximum context",
        "prompt is too long",
        "context size has been exceeded",
        "context window limit",
        "model_context_window_exceeded",
    ]) || both("token", "limit")
    {
        return R::ContextOverflow;
    }
    if any(&[
        "missing environment variable",
        "no llm provider configured",
        "no provider configured",
    ]) || both("missing", "api_key")
        || both("api key", "required")
    {
        return R::MissingConfig;
    }
    if has_status(&text, |code| code == 401 || code == 403)
        || any(&[
            "unauthorized",
            "login required",
            "not logged in",
            "please login again",
            "refresh token",
            "invalid api key",
            "access token",
            "subscription access",
            "does not have access",
            "you may not have access",
        ])
    {
        return R::ProviderAuthOrAccess;
    }
    if has_status(&text, |code| code == 402)
        || any(&[
            "insufficient_balance",
            "balance is too low",
            "monthly usage limit",
            "usage limit",
            "you've hit your limit",
            "you\u{2019}ve hit your limit",
            "credits",
            "quota",
        ])
    {
        return R::ProviderQuotaLimit;
    }
    if has_status(&text, |code| code == 429 || code == 529)
        || any(&["rate limit", "overloaded", "no capacity available"])
    {
        return R::ProviderCapacityOrRateLimit;
    }
    if any(&[
        "server had an error",
        "provider returned error",
        "internal error",
        "service unavailable",
        "bad gateway",
    ]) || has_status(&text, |code| (500..600).contains(&code))
    {
        return R::ProviderServerError;
    }
    if any(&[
        "stream disconnected",
        "opencode stream ended",
        "connection closed",
        "mid-response",
        "error sending request",
        "unable to connect",
        "dial tcp",
        "connection refused",
        "connectionrefused",
        "dns",
        "i/o timeout",
        "deadline exceeded",
        "timeout exceeded while awaiting",
    ]) {
        return R::ProviderNetwork;
    }
    if both("model", "not found")
        || any(&[
            "unknown model",
            "selected model",
            "http 404",
            "404 page not found",
        ])
    {
        return R::ModelNotFoundOrUnavailable;
    }
    if any(&["returned empty output", "returned no parseable output"]) {
        return R::EmptyOrUnparseableOutput;
    }
    if any(&["timed out after"]) {
        return R::AgentTimeout;
    }
    if any(&["executable not found", "exec format error"]) {
        return R::RuntimeMissingExecutable;
    }
    if any(&[
        "below the minimum supported version",
        "requires a newer version",
    ]) {
        return R::RuntimeVersionUnsupported;
    }
    if any(&[
        "exit status",
        "signal",
        "panic",
        "sigsegv",
        "process exited",
        "start codex:",
        "pipe has been ended",
        "file already closed",
        "initialize failed",
    ]) {
        return R::ProcessFailure;
    }
    R::Unknown
}

/// A "completed" run whose whole answer is a notice that the session is spent
/// (iteration limit, a fallback message, a full context window): a failure, and
/// the session must not be resumed.
pub fn poisoned_answer(output: &str) -> Option<FailureReason> {
    let text = output.trim().to_lowercase();
    if text.is_empty() || text.len() > NOTICE_MAX_LEN {
        return None;
    }
    let both = |a: &str, b: &str| text.contains(a) && text.contains(b);
    if both("prompt is too long", "cannot be compacted")
        || both("conversation too long", "press esc twice")
        || both("compaction failed", "reduced below the context limit")
    {
        return Some(FailureReason::ContextOverflow);
    }
    if text.contains("i reached the iteration limit") {
        return Some(FailureReason::IterationLimit);
    }
    if text.contains("put your final update inside the content string") {
        return Some(FailureReason::AgentFallbackMessage);
    }
    None
}

/// An agent error saying the model API refused the conversation itself (an
/// oversized image, a malformed body): every resume would be refused the same way.
pub fn poisoned_error(error: &str) -> Option<FailureReason> {
    let text = error.to_lowercase();
    let refused = text.contains("invalid_request_error") && has_status(&text, |code| code == 400);
    let oversized_image = text.contains("image dimensions exceed max allowed size")
        && text.contains("image.source.base64.data");
    (refused || oversized_image).then_some(FailureReason::ApiInvalidRequest)
}

/// Whether the text holds a three-digit status code `wanted` accepts, standing
/// alone (not inside a longer number).
fn has_status(text: &str, wanted: impl Fn(u16) -> bool) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 3)
        .filter_map(|run| run.parse::<u16>().ok())
        .any(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureReason as R;

    #[test]
    fn errors_are_classified_as_upstream_orders_its_rules() {
        let cases = [
            ("", R::Unknown),
            ("prompt is too long: 210000 tokens", R::ContextOverflow),
            ("token limit reached", R::ContextOverflow),
            (
                "Missing environment variable ANTHROPIC_API_KEY",
                R::MissingConfig,
            ),
            ("API Error: 401 unauthorized", R::ProviderAuthOrAccess),
            (
                "Invalid API key · Please run /login",
                R::ProviderAuthOrAccess,
            ),
            ("HTTP 402 payment required", R::ProviderQuotaLimit),
            (
                "You\u{2019}ve hit your limit · resets 5pm",
                R::ProviderQuotaLimit,
            ),
            (
                "API Error: 529 overloaded_error",
                R::ProviderCapacityOrRateLimit,
            ),
            ("rate limit exceeded", R::ProviderCapacityOrRateLimit),
            ("API Error: 503 upstream", R::ProviderServerError),
            ("stream disconnected before completion", R::ProviderNetwork),
            (
                "error sending request for url (https://api)",
                R::ProviderNetwork,
            ),
            ("model claude-9 not found", R::ModelNotFoundOrUnavailable),
            ("claude returned empty output", R::EmptyOrUnparseableOutput),
            ("codex timed out after 2h", R::AgentTimeout),
            ("exec format error", R::RuntimeMissingExecutable),
            (
                "requires a newer version of node",
                R::RuntimeVersionUnsupported,
            ),
            ("the agent exited: exit status 1", R::ProcessFailure),
            ("something else entirely", R::Unknown),
        ];
        for (text, reason) in cases {
            assert_eq!(classify(text), reason, "{text:?}");
        }
    }

    #[test]
    fn status_codes_count_only_standing_alone() {
        assert_eq!(classify("request 14015 failed"), R::Unknown);
        assert_eq!(classify("id 4291: rejected"), R::Unknown);
        assert_eq!(classify("status=429"), R::ProviderCapacityOrRateLimit);
    }

    #[test]
    fn a_short_notice_instead_of_an_answer_is_poisoned_a_long_answer_is_not() {
        assert_eq!(
            poisoned_answer("I reached the iteration limit and stopped."),
            Some(R::IterationLimit)
        );
        assert_eq!(
            poisoned_answer("Please put your final update inside the content string."),
            Some(R::AgentFallbackMessage)
        );
        assert_eq!(
            poisoned_answer("Prompt is too long and cannot be compacted."),
            Some(R::ContextOverflow)
        );
        let long = format!(
            "Done. {} I reached the iteration limit once.",
            "x".repeat(400)
        );
        assert_eq!(poisoned_answer(&long), None);
        assert_eq!(poisoned_answer("Fixed the bug and opened a PR."), None);
    }

    #[test]
    fn a_refused_conversation_is_poisoned() {
        let refused = r#"API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"Could not process image"}}"#;
        assert_eq!(poisoned_error(refused), Some(R::ApiInvalidRequest));
        assert_eq!(poisoned_error("API Error: 429 rate_limit_error"), None);
    }

    #[test]
    fn every_reason_has_its_wire_name() {
        assert_eq!(R::Timeout.as_str(), "timeout");
        assert_eq!(
            R::ProviderNetwork.to_string(),
            "agent_error.provider_network"
        );
    }
}
