//! Claude Code transcripts: `projects/<project>/<session>.jsonl` and nested
//! `projects/<project>/<session>/subagents/agent-<id>.jsonl`.
//!
//! Rules (after ccusage): only lines carrying `"usage":` are parsed; rows with an
//! empty `sessionId`, `requestId`, `message.id` or `message.model`, or a `version`
//! that is not a version number, are rejected; `<synthetic>` rows are dropped; each
//! row keeps its `message.id`/`requestId`/`isSidechain` for deduplication, which
//! happens across all files in [`crate::ledger`].

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;

use crate::fingerprint;
use crate::parsed::{ParsedBatch, ParsedRecord, parse_timestamp_ms};
use crate::record::{RecordKey, Tokens};

static USAGE_MARKER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""usage":"#));

pub(crate) const MESSAGE_DOMAIN: u8 = 1;
pub(crate) const REQUEST_DOMAIN: u8 = 2;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain", default)]
    is_sidechain: Option<bool>,
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Usage<'a>>,
}

#[derive(Deserialize)]
struct Usage<'a> {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(borrow, default)]
    speed: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

/// Session id used when a line has none: the file name without `.jsonl`.
pub(crate) fn parse_line(line: &[u8], fallback_session: &str, batch: &mut ParsedBatch) {
    if USAGE_MARKER.find(line).is_none() {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<Line<'_>>(line) else {
        return;
    };
    let Some(message) = parsed.message else {
        return;
    };
    let Some(usage) = message.usage else {
        return;
    };
    let Some(timestamp_ms) = parsed.timestamp.as_deref().and_then(parse_timestamp_ms) else {
        return;
    };
    if parsed.version.as_deref().is_some_and(|v| !is_version(v))
        || parsed.session_id.as_deref() == Some("")
        || parsed.request_id.as_deref() == Some("")
        || message.id.as_deref() == Some("")
        || message.model.as_deref() == Some("")
    {
        return;
    }
    let model = message.model.as_deref().unwrap_or("unknown");
    if model == "<synthetic>" {
        return;
    }
    let cache_creation = usage.cache_creation_input_tokens.unwrap_or(0);
    let (five_minutes, one_hour) = match &usage.cache_creation {
        Some(split) => {
            let one_hour = split.ephemeral_1h_input_tokens.unwrap_or(0);
            let five_minutes = match usage.cache_creation_input_tokens {
                Some(total) => total.saturating_sub(one_hour),
                None => split.ephemeral_5m_input_tokens.unwrap_or(0),
            };
            (five_minutes, one_hour)
        }
        None => (cache_creation, 0),
    };
    let tokens = Tokens {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cache_write_5m: five_minutes,
        cache_write_1h: one_hour,
        cache_read: usage.cache_read_input_tokens.unwrap_or(0),
        reasoning: 0,
    };
    let key = match message.id.as_deref() {
        Some(id) => RecordKey::Claude {
            message: fingerprint::of_str(MESSAGE_DOMAIN, id),
            request: parsed
                .request_id
                .as_deref()
                .map(|request| fingerprint::of_str(REQUEST_DOMAIN, request)),
            sidechain: parsed.is_sidechain == Some(true),
        },
        None => RecordKey::Unique,
    };
    let model = if usage.speed.as_deref() == Some("fast") {
        batch.intern(&format!("{model}-fast"))
    } else {
        batch.intern(model)
    };
    let session = batch.intern(parsed.session_id.as_deref().unwrap_or(fallback_session));
    batch.records.push(ParsedRecord {
        key,
        timestamp_ms,
        model,
        session,
        tokens,
    });
}

/// `1.0.83`, `2.0.0-beta`: a version starts with digits and a dot.
fn is_version(text: &str) -> bool {
    let mut parts = text.split('.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> ParsedBatch {
        let mut batch = ParsedBatch::default();
        parse_line(line.as_bytes(), "file-session", &mut batch);
        batch
    }

    #[test]
    fn splits_cache_writes_by_duration() {
        let batch = parse(
            r#"{"type":"assistant","sessionId":"s1","requestId":"req_1","version":"2.0.14","timestamp":"2025-10-01T10:00:00.000Z","message":{"id":"msg_1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":3,"cache_creation_input_tokens":1500,"cache_read_input_tokens":9000,"cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":1000},"output_tokens":42}}}"#,
        );
        let record = batch.records[0];
        assert_eq!(record.tokens.cache_write_5m, 500);
        assert_eq!(record.tokens.cache_write_1h, 1000);
        assert_eq!(record.tokens.total(), 3 + 1500 + 9000 + 42);
        assert_eq!(batch.strings[record.session as usize], "s1");
    }

    #[test]
    fn drops_synthetic_and_invalid_rows() {
        assert!(parse(r#"{"timestamp":"2025-10-01T10:00:00Z","message":{"id":"m","model":"<synthetic>","usage":{"input_tokens":0,"output_tokens":0}}}"#).records.is_empty());
        assert!(parse(r#"{"timestamp":"2025-10-01T10:00:00Z","requestId":"","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}"#).records.is_empty());
        assert!(parse(r#"{"timestamp":"2025-10-01T10:00:00Z","version":"abc","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}"#).records.is_empty());
        assert!(parse(r#"{"timestamp":"nope","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}"#).records.is_empty());
    }

    #[test]
    fn marks_fast_mode_and_falls_back_to_the_file_session() {
        let batch = parse(
            r#"{"timestamp":"2025-10-01T10:00:00Z","message":{"model":"claude-opus-4-6","usage":{"input_tokens":1,"output_tokens":2,"speed":"fast"}}}"#,
        );
        let record = batch.records[0];
        assert_eq!(batch.strings[record.model as usize], "claude-opus-4-6-fast");
        assert_eq!(batch.strings[record.session as usize], "file-session");
        assert_eq!(record.key, RecordKey::Unique);
    }
}
