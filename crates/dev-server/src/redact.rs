//! Secret masking applied to transcripts and agent comments before they are
//! stored, like the seed server's `pkg/redact`.
//!
//! The seed also masks the server process's own home directory. That rule is left
//! out: this server runs on the developer's machine, where it would rewrite paths
//! a hosted server never sees.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// Go's `\s` is ASCII-only; Rust's is Unicode. These classes keep Go's meaning.
const WS: &str = r"[\t\n\f\r ]";
const NON_WS: &str = r"[^\t\n\f\r ]";

/// Checked in order, each over the output of the previous one.
static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let b = r"(?-u:\b)";
    let sources: Vec<(String, &'static str)> = vec![
        (format!(r"{b}AKIA[0-9A-Z]{{16}}{b}"), "[REDACTED AWS KEY]"),
        (
            format!(
                r"(?i)(?:aws_secret_access_key|secret_?access_?key){WS}*[=:]{WS}*[A-Za-z0-9/+=]{{40}}"
            ),
            "[REDACTED AWS SECRET]",
        ),
        (
            r"(?s)-----BEGIN[A-Z\t\n\f\r ]*PRIVATE KEY-----.*?-----END[A-Z\t\n\f\r ]*PRIVATE KEY-----"
                .to_owned(),
            "[REDACTED PRIVATE KEY]",
        ),
        (
            format!(r"{b}(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{{36,255}}{b}"),
            "[REDACTED GITHUB TOKEN]",
        ),
        (format!(r"{b}sk-[A-Za-z0-9_-]{{20,}}{b}"), "[REDACTED API KEY]"),
        (
            format!(r"{b}xox[bporas]-[A-Za-z0-9\-]{{10,}}{b}"),
            "[REDACTED SLACK TOKEN]",
        ),
        (
            format!(r"{b}glpat-[A-Za-z0-9_-]{{20,}}{b}"),
            "[REDACTED GITLAB TOKEN]",
        ),
        (
            format!(r"{b}ey[A-Za-z0-9_-]{{10,}}\.[A-Za-z0-9_-]{{10,}}\.[A-Za-z0-9_-]{{10,}}{b}"),
            "[REDACTED JWT]",
        ),
        (
            format!(r"(?i){b}Bearer{WS}+[A-Za-z0-9\-._~+/]+=*{b}"),
            "Bearer [REDACTED]",
        ),
        (
            r"(?i)(?:postgres|mysql|mongodb|redis|amqp)(?:ql)?://[^:\t\n\f\r ]+:[^@\t\n\f\r ]+@"
                .to_owned(),
            "[REDACTED CONNECTION STRING]@",
        ),
        (
            format!(
                r"(?i)(?:API_KEY|API_SECRET|SECRET_KEY|SECRET|ACCESS_TOKEN|AUTH_TOKEN|PRIVATE_KEY|DATABASE_URL|DB_PASSWORD|DB_URL|REDIS_URL|PASSWORD|TOKEN){WS}*[=:]{WS}*{NON_WS}+"
            ),
            "[REDACTED CREDENTIAL]",
        ),
    ];
    sources
        .into_iter()
        .map(|(source, replacement)| {
            (
                Regex::new(&source).expect("the redaction patterns are valid"),
                replacement,
            )
        })
        .collect()
});

/// `redact.Text`.
pub(crate) fn text(input: &str) -> String {
    let mut out = input.to_owned();
    for (pattern, replacement) in PATTERNS.iter() {
        if pattern.is_match(&out) {
            // The replacements contain no `$`, so they are literal.
            out = pattern.replace_all(&out, *replacement).into_owned();
        }
    }
    out
}

/// `redact.InputMap`: string values (top level only) pass through [`text`].
pub(crate) fn input_map(input: &Map<String, Value>) -> Map<String, Value> {
    input
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(s) => Value::String(text(s)),
                other => other.clone(),
            };
            (key.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_secret_shapes() {
        assert_eq!(
            text("key sk-abcdefghijklmnopqrstuvwxyz here"),
            "key [REDACTED API KEY] here"
        );
        assert_eq!(text("id AKIAABCDEFGHIJKLMNOP."), "id [REDACTED AWS KEY].");
        assert_eq!(
            text("Authorization: Bearer abc.def"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            text("postgres://me:pw@db/x"),
            "[REDACTED CONNECTION STRING]@db/x"
        );
        assert_eq!(text("PASSWORD=hunter2 rest"), "[REDACTED CREDENTIAL] rest");
        assert_eq!(
            text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"),
            "[REDACTED PRIVATE KEY]"
        );
        assert_eq!(text("nothing to see"), "nothing to see");
    }

    #[test]
    fn input_map_only_touches_strings() {
        let input: Map<String, Value> = serde_json::from_str(
            r#"{"command":"export TOKEN=abc","n":3,"nested":{"TOKEN":"x=y"}}"#,
        )
        .expect("valid");
        let out = input_map(&input);
        assert_eq!(out["command"], "export [REDACTED CREDENTIAL]");
        assert_eq!(out["n"], 3);
        assert_eq!(out["nested"]["TOKEN"], "x=y");
    }
}
