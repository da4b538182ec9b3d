//! Codex rollouts: `$CODEX_HOME/{sessions,archived_sessions}/**/rollout-*.jsonl`.
//!
//! Rules (after ccusage): usage comes from `event_msg` lines with
//! `payload.type == "token_count"`; the turn's delta is `info.last_token_usage`, else
//! the difference of two cumulative `info.total_token_usage`; all-zero deltas are
//! skipped. `input_tokens` *includes* `cached_input_tokens` and `output_tokens`
//! *includes* `reasoning_output_tokens`, so input is stored without the cached part and
//! reasoning is only informational. The model comes from the event, else the last
//! `turn_context`, else `gpt-5`. A subagent rollout (`thread_spawn` in its first 16 KiB)
//! starts with the parent's token history replayed under one timestamp second; that
//! burst is skipped. Events copied into forked or archived rollouts are deduplicated
//! across files on (timestamp, model, counts) in [`crate::ledger`].

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;

use crate::fingerprint::Fingerprint;
use crate::parsed::{ParsedBatch, ParsedRecord, parse_timestamp_ms};
use crate::record::{RecordKey, Tokens};

static TOKEN_COUNT_MARKER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(br#""token_count""#));
static TURN_CONTEXT_MARKER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(br#""turn_context""#));
static THREAD_SPAWN_MARKER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"thread_spawn"));

/// How many leading bytes of a rollout are searched for `thread_spawn`.
pub(crate) const SUBAGENT_PROBE_BYTES: u64 = 16 * 1024;
const FALLBACK_MODEL: &str = "gpt-5";
const EVENT_DOMAIN: u8 = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct RawUsage {
    #[serde(default)]
    pub(crate) input_tokens: u64,
    #[serde(default, alias = "cache_read_input_tokens")]
    pub(crate) cached_input_tokens: u64,
    #[serde(default)]
    pub(crate) output_tokens: u64,
    #[serde(default)]
    pub(crate) reasoning_output_tokens: u64,
    #[serde(default)]
    pub(crate) total_tokens: u64,
}

impl RawUsage {
    fn minus(&self, previous: Option<&RawUsage>) -> RawUsage {
        let Some(previous) = previous else {
            return *self;
        };
        RawUsage {
            input_tokens: self.input_tokens.saturating_sub(previous.input_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_sub(previous.cached_input_tokens),
            output_tokens: self.output_tokens.saturating_sub(previous.output_tokens),
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .saturating_sub(previous.reasoning_output_tokens),
            total_tokens: self.total_tokens.saturating_sub(previous.total_tokens),
        }
    }

    fn is_zero(&self) -> bool {
        self.input_tokens == 0
            && self.cached_input_tokens == 0
            && self.output_tokens == 0
            && self.reasoning_output_tokens == 0
    }
}

/// Per-file parser state, persisted so appended lines continue where the last
/// scan stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CodexState {
    pub(crate) previous_totals: Option<RawUsage>,
    pub(crate) current_model: Option<String>,
    /// Working directory from the last `turn_context` (the session view's project).
    pub(crate) cwd: Option<String>,
    /// Second (`YYYY-MM-DDTHH:MM:SS`) of a subagent's replayed parent history.
    pub(crate) replay_second: Option<[u8; 19]>,
    pub(crate) skipping_replay: bool,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    info: Option<Info<'a>>,
}

#[derive(Deserialize)]
struct Info<'a> {
    #[serde(default)]
    total_token_usage: Option<RawUsage>,
    #[serde(default)]
    last_token_usage: Option<RawUsage>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model_name: Option<Cow<'a, str>>,
}

/// Whether the first bytes of a rollout mark it as a spawned subagent.
pub(crate) fn is_subagent_probe(head: &[u8]) -> bool {
    THREAD_SPAWN_MARKER.find(head).is_some()
}

/// For the replay probe: the timestamp second of a token event that carries usage.
pub(crate) fn usage_event_second(line: &[u8]) -> Option<[u8; 19]> {
    TOKEN_COUNT_MARKER.find(line)?;
    let parsed = serde_json::from_slice::<Line<'_>>(line).ok()?;
    let payload = parsed.payload.as_ref()?;
    if parsed.kind.as_deref() != Some("event_msg") || payload.kind.as_deref() != Some("token_count")
    {
        return None;
    }
    let info = payload.info.as_ref()?;
    if info.last_token_usage.is_none() && info.total_token_usage.is_none() {
        return None;
    }
    second_of(parsed.timestamp.as_deref()?)
}

fn second_of(timestamp: &str) -> Option<[u8; 19]> {
    timestamp.as_bytes().get(..19)?.try_into().ok()
}

pub(crate) fn parse_line(
    line: &[u8],
    session: &str,
    state: &mut CodexState,
    batch: &mut ParsedBatch,
) {
    let is_token_count = TOKEN_COUNT_MARKER.find(line).is_some();
    if !is_token_count && TURN_CONTEXT_MARKER.find(line).is_none() {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<Line<'_>>(line) else {
        return;
    };
    let Some(payload) = parsed.payload.as_ref() else {
        return;
    };
    match parsed.kind.as_deref() {
        Some("turn_context") => {
            if let Some(model) = payload.model.as_deref().filter(|m| !m.is_empty()) {
                state.current_model = Some(model.to_owned());
            }
            if let Some(cwd) = payload.cwd.as_deref().filter(|cwd| !cwd.is_empty()) {
                state.cwd = Some(cwd.to_owned());
            }
            return;
        }
        Some("event_msg") if payload.kind.as_deref() == Some("token_count") => {}
        _ => return,
    }
    let Some(timestamp) = parsed.timestamp.as_deref() else {
        return;
    };
    let info = payload.info.as_ref();
    if state.skipping_replay
        && let Some(replay_second) = state.replay_second
    {
        if second_of(timestamp) == Some(replay_second) {
            if let Some(totals) = info.and_then(|info| info.total_token_usage) {
                state.previous_totals = Some(totals);
            }
            return;
        }
        state.skipping_replay = false;
    }
    let Some(timestamp_ms) = parse_timestamp_ms(timestamp) else {
        return;
    };
    let totals = info.and_then(|info| info.total_token_usage);
    let delta = info
        .and_then(|info| info.last_token_usage)
        .or_else(|| totals.map(|totals| totals.minus(state.previous_totals.as_ref())));
    if let Some(totals) = totals {
        state.previous_totals = Some(totals);
    }
    let Some(delta) = delta else {
        return;
    };
    if delta.is_zero() {
        return;
    }
    let event_model = payload
        .model
        .as_deref()
        .or_else(|| info.and_then(|info| info.model.as_deref()))
        .or_else(|| info.and_then(|info| info.model_name.as_deref()))
        .filter(|model| !model.is_empty());
    if let Some(model) = event_model {
        state.current_model = Some(model.to_owned());
    }
    let model = event_model
        .or(state.current_model.as_deref())
        .unwrap_or(FALLBACK_MODEL);
    let cached = delta.cached_input_tokens.min(delta.input_tokens);
    let total = if delta.total_tokens > 0 {
        delta.total_tokens
    } else {
        delta.input_tokens.saturating_add(delta.output_tokens)
    };
    let fingerprint = Fingerprint::new(EVENT_DOMAIN)
        .u64(timestamp_ms as u64)
        .str(model)
        .u64(delta.input_tokens)
        .u64(cached)
        .u64(delta.output_tokens)
        .u64(delta.reasoning_output_tokens)
        .u64(total)
        .finish();
    let tokens = Tokens {
        input: delta.input_tokens - cached,
        output: delta.output_tokens,
        cache_write_5m: 0,
        cache_write_1h: 0,
        cache_read: cached,
        reasoning: delta.reasoning_output_tokens,
    };
    let model = batch.intern(model);
    let session = batch.intern(session);
    batch.records.push(ParsedRecord {
        key: RecordKey::Codex(fingerprint),
        timestamp_ms,
        model,
        session,
        tokens,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_cached_input_inside_input_and_reasoning_inside_output() {
        let mut state = CodexState::default();
        let mut batch = ParsedBatch::default();
        parse_line(
            br#"{"timestamp":"2025-09-15T10:00:00.000Z","type":"turn_context","payload":{"cwd":"/w","model":"gpt-5-codex"}}"#,
            "s",
            &mut state,
            &mut batch,
        );
        parse_line(
            br#"{"timestamp":"2025-09-15T10:00:05.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":328894,"cached_input_tokens":300000,"output_tokens":3071,"reasoning_output_tokens":960,"total_tokens":331965},"last_token_usage":null,"model_context_window":272000}}}"#,
            "s",
            &mut state,
            &mut batch,
        );
        let record = batch.records[0];
        assert_eq!(record.tokens.input, 28894);
        assert_eq!(record.tokens.cache_read, 300000);
        assert_eq!(record.tokens.output, 3071);
        assert_eq!(record.tokens.reasoning, 960);
        assert_eq!(record.tokens.total(), 331965);
        assert_eq!(batch.strings[record.model as usize], "gpt-5-codex");
    }

    #[test]
    fn derives_deltas_from_totals_and_skips_rate_limit_only_events() {
        let mut state = CodexState::default();
        let mut batch = ParsedBatch::default();
        for line in [
            r#"{"timestamp":"2025-09-15T10:00:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":10,"reasoning_output_tokens":0,"total_tokens":110}}}}"#,
            r#"{"timestamp":"2025-09-15T10:00:01Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"used_percent":1.0}}}}"#,
            r#"{"timestamp":"2025-09-15T10:00:02Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":250,"cached_input_tokens":80,"output_tokens":30,"reasoning_output_tokens":5,"total_tokens":280}}}}"#,
            r#"{"timestamp":"2025-09-15T10:00:03Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":250,"cached_input_tokens":80,"output_tokens":30,"reasoning_output_tokens":5,"total_tokens":280}}}}"#,
        ] {
            parse_line(line.as_bytes(), "s", &mut state, &mut batch);
        }
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.records[1].tokens.input, 70);
        assert_eq!(batch.records[1].tokens.cache_read, 80);
        assert_eq!(batch.records[1].tokens.output, 20);
        assert_eq!(batch.strings[batch.records[0].model as usize], "gpt-5");
    }
}
