//! A deterministic generator of realistic Claude Code and Codex logs, shared by the
//! comparison example and the incremental-equals-full property test.
//!
//! Files follow the real layouts and line shapes: Claude Code session transcripts with
//! streamed snapshots of one response (growing `output_tokens`), rows without
//! `requestId`, `/btw` sidechain replays, subagent transcripts under
//! `<session>/subagents/`, `<synthetic>` rows, bulky tool results (some of several MB);
//! Codex rollouts with `session_meta`, `turn_context`, response items, `token_count`
//! events (with and without `last_token_usage`, rate-limit-only ones), subagent
//! rollouts that replay their parent's token history, and archived copies.

#![allow(dead_code, reason = "each user of this module takes what it needs")]

use std::path::PathBuf;

use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct CorpusOptions {
    pub(crate) seed: u64,
    pub(crate) claude_sessions: usize,
    pub(crate) codex_sessions: usize,
    /// Average bytes of bulk (tool results, file contents) per user turn.
    pub(crate) bulk_bytes: usize,
    /// Every n-th session gets one tool result of `huge_bytes`.
    pub(crate) huge_every: usize,
    pub(crate) huge_bytes: usize,
    pub(crate) turns: std::ops::Range<usize>,
    /// Whether some sessions come through a gateway that drops `requestId`.
    pub(crate) missing_request_ids: bool,
}

/// One generated file: its path relative to the corpus root and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct GeneratedFile {
    pub(crate) path: PathBuf,
    pub(crate) bytes: Vec<u8>,
}

const CLAUDE_MODELS: &[&str] = &[
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-20250514",
    "claude-experimental-preview",
];
const CODEX_MODELS: &[&str] = &[
    "gpt-5-codex",
    "gpt-5-codex",
    "gpt-5",
    "gpt-5.1-codex",
    "gpt-next-preview",
];
const WORDS: &[&str] = &[
    "fn", "let", "impl", "struct", "return", "match", "parser", "token", "usage", "config",
    "error", "test", "assert", "value", "cache", "offset", "line", "model", "session", "request",
];

fn line(value: &Value) -> String {
    let mut text = value.to_string();
    text.push('\n');
    text
}

fn bulk(rng: &mut fastrand::Rng, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push_str(WORDS[rng.usize(..WORDS.len())]);
        text.push(if rng.u8(..10) == 0 { '\n' } else { ' ' });
    }
    text
}

fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(..0x1000),
        rng.u64(..1 << 48)
    )
}

/// Start of the generated period: 2025-09-01T00:00:00Z.
const EPOCH_MS: i64 = 1_756_684_800_000;
const DAY_MS: i64 = 86_400_000;

/// Calls `emit` with each file of the corpus, in a fixed order.
pub(crate) fn generate(options: &CorpusOptions, mut emit: impl FnMut(GeneratedFile)) {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    // Interleaved, so any prefix of the stream has both providers in proportion.
    let total = options.claude_sessions + options.codex_sessions;
    let (mut claude, mut codex) = (0, 0);
    for _ in 0..total {
        let mut session_rng = fastrand::Rng::with_seed(rng.u64(..));
        let codex_due = codex * total < (claude + codex + 1) * options.codex_sessions;
        if codex < options.codex_sessions && (codex_due || claude == options.claude_sessions) {
            codex_session(options, codex, &mut session_rng, &mut emit);
            codex += 1;
        } else {
            claude_session(options, claude, &mut session_rng, &mut emit);
            claude += 1;
        }
    }
}

fn usage_value(input: u64, output: u64, write_5m: u64, write_1h: u64, read: u64) -> Value {
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": output,
        "service_tier": "standard"
    })
}

#[allow(clippy::too_many_arguments, reason = "a row has this many fields")]
fn claude_row(
    session: &str,
    cwd: &str,
    sidechain: bool,
    ms: i64,
    kind: &str,
    message: Value,
    request: Option<&str>,
    parent: &str,
    uuid: &str,
) -> Value {
    let mut row = json!({
        "parentUuid": parent,
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.0.14",
        "gitBranch": "main",
        "type": kind,
        "uuid": uuid,
        "timestamp": timestamp(ms),
    });
    row["message"] = message;
    if let Some(request) = request {
        row["requestId"] = json!(request);
    }
    row
}

fn claude_session(
    options: &CorpusOptions,
    index: usize,
    rng: &mut fastrand::Rng,
    emit: &mut impl FnMut(GeneratedFile),
) {
    let session = uuid(rng);
    let project = format!("-home-dev-work-project{}", index % 37);
    let cwd = format!("/home/dev/work/project{}", index % 37);
    let model = CLAUDE_MODELS[rng.usize(..CLAUDE_MODELS.len())];
    let no_request_ids = rng.u8(..12) == 0 && options.missing_request_ids;
    let mut ms = EPOCH_MS + rng.i64(0..60 * DAY_MS);
    let mut text = String::new();
    let mut subagent = String::new();
    let mut parent = String::from("null");
    let mut context: u64 = rng.u64(8_000..30_000);
    let turns = rng.usize(options.turns.clone());
    let huge_turn = (options.huge_every > 0 && index % options.huge_every == 0)
        .then(|| rng.usize(..turns.max(1)));
    let mut earlier: Vec<(String, Value)> = Vec::new();
    for turn in 0..turns {
        let user_uuid = uuid(rng);
        let size = if huge_turn == Some(turn) {
            options.huge_bytes
        } else {
            rng.usize(options.bulk_bytes / 4..options.bulk_bytes * 7 / 4 + 1)
        };
        let content = json!([{"tool_use_id": format!("toolu_{turn:04}"), "type": "tool_result", "content": bulk(rng, size)}]);
        text.push_str(&line(&claude_row(
            &session,
            &cwd,
            false,
            ms,
            "user",
            json!({"role": "user", "content": content}),
            None,
            &parent,
            &user_uuid,
        )));
        ms += rng.i64(500..20_000);
        let message_id = format!("msg_01{}", &uuid(rng).replace('-', "")[..22]);
        let request_id = format!("req_011C{}", &uuid(rng).replace('-', "")[..20]);
        let request = (!no_request_ids).then_some(request_id.as_str());
        let write = rng.u64(0..4_000);
        let (write_5m, write_1h) = if rng.bool() { (write, 0) } else { (0, write) };
        let read = context;
        let input = rng.u64(1..40);
        let output = rng.u64(20..2_500);
        let snapshots = rng.usize(1..5);
        let mut last = Value::Null;
        for snapshot in 0..snapshots {
            let shown = if snapshot + 1 == snapshots {
                output
            } else {
                output * (snapshot as u64 + 1) / (snapshots as u64 * 3) + 1
            };
            let body = if snapshot == 0 {
                json!([{"type": "thinking", "thinking": bulk(rng, 300), "signature": "EqQBCkYIBxgCKkA"}])
            } else if snapshot + 1 == snapshots {
                json!([{"type": "tool_use", "id": format!("toolu_{turn:04}"), "name": "Read", "input": {"file_path": format!("{cwd}/src/lib.rs")}}])
            } else {
                json!([{"type": "text", "text": bulk(rng, 400)}])
            };
            let message = json!({
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": body,
                "stop_reason": null, "stop_sequence": null,
                "usage": usage_value(input, shown, write_5m, write_1h, read),
            });
            let row_uuid = uuid(rng);
            let row = claude_row(
                &session,
                &cwd,
                false,
                ms,
                "assistant",
                message.clone(),
                request,
                &parent,
                &row_uuid,
            );
            text.push_str(&line(&row));
            parent = row_uuid;
            ms += rng.i64(100..3_000);
            last = message;
        }
        earlier.push((message_id, last));
        context += write + rng.u64(0..2_000);
        if rng.u8(..25) == 0 {
            // a synthetic row after an interruption
            let message = json!({"id": uuid(rng), "type": "message", "role": "assistant", "model": "<synthetic>",
                "content": [{"type": "text", "text": "No response requested."}], "usage": usage_value(0, 0, 0, 0, 0)});
            text.push_str(&line(&claude_row(
                &session,
                &cwd,
                false,
                ms,
                "assistant",
                message,
                None,
                &parent,
                &uuid(rng),
            )));
        }
        if rng.u8(..20) == 0
            && let Some((_, replayed)) = earlier.get(rng.usize(..earlier.len()))
        {
            // a /btw sidechain replaying an earlier response under a new request id
            let mut replayed = replayed.clone();
            replayed["usage"]["cache_read_input_tokens"] = json!(context * 2);
            let replay_request = format!("req_011CBTW{}", rng.u32(..));
            text.push_str(&line(&claude_row(
                &session,
                &cwd,
                true,
                ms,
                "assistant",
                replayed,
                Some(&replay_request),
                &parent,
                &uuid(rng),
            )));
        }
        if rng.u8(..8) == 0 {
            // a Task subagent with its own transcript
            let sub_message = format!("msg_01{}", &uuid(rng).replace('-', "")[..22]);
            let sub_request = format!("req_011C{}", &uuid(rng).replace('-', "")[..20]);
            for snapshot in 0..2u64 {
                let message = json!({"id": sub_message, "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                    "content": [{"type": "text", "text": bulk(rng, 600)}],
                    "usage": usage_value(rng.u64(1..9), 30 + snapshot * 200, 1_500, 0, 9_000)});
                let mut row = claude_row(
                    &session,
                    &cwd,
                    true,
                    ms + snapshot as i64 * 700,
                    "assistant",
                    message,
                    Some(&sub_request),
                    "null",
                    &uuid(rng),
                );
                row["agentId"] = json!("a1b2c3d4");
                subagent.push_str(&line(&row));
            }
        }
        let gap = if rng.u8(..6) == 0 {
            18 * 3_600_000
        } else {
            600_000
        };
        ms += rng.i64(10_000..gap);
    }
    emit(GeneratedFile {
        path: PathBuf::from(format!("claude/projects/{project}/{session}.jsonl")),
        bytes: text.into_bytes(),
    });
    if !subagent.is_empty() {
        emit(GeneratedFile {
            path: PathBuf::from(format!(
                "claude/projects/{project}/{session}/subagents/agent-a1b2c3d4.jsonl"
            )),
            bytes: subagent.into_bytes(),
        });
    }
}

fn codex_usage(input: u64, cached: u64, output: u64, reasoning: u64) -> Value {
    json!({"input_tokens": input, "cached_input_tokens": cached, "output_tokens": output,
        "reasoning_output_tokens": reasoning, "total_tokens": input + output})
}

fn codex_session(
    options: &CorpusOptions,
    index: usize,
    rng: &mut fastrand::Rng,
    emit: &mut impl FnMut(GeneratedFile),
) {
    let id = uuid(rng);
    let model = CODEX_MODELS[rng.usize(..CODEX_MODELS.len())];
    let mut ms = EPOCH_MS + rng.i64(0..60 * DAY_MS);
    let date = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let stem = format!("rollout-{}-{id}", date.format("%Y-%m-%dT%H-%M-%S"));
    let folder = date.format("%Y/%m/%d").to_string();
    let rate_limits = json!({"primary": {"used_percent": 10.0, "window_minutes": 300, "resets_in_seconds": 3600}, "secondary": null});
    let mut text = line(
        &json!({"timestamp": timestamp(ms), "type": "session_meta", "payload": {
        "id": id, "timestamp": timestamp(ms), "cwd": format!("/home/dev/work/api{}", index % 11),
        "originator": "codex_cli_rs", "cli_version": "0.46.0", "instructions": null, "source": "cli"}}),
    );
    let mut totals = (0u64, 0u64, 0u64, 0u64);
    let mut history: Vec<(Value, Value)> = Vec::new();
    let legacy = rng.u8(..6) == 0;
    let turns = rng.usize(options.turns.clone());
    let huge_turn = (options.huge_every > 0 && index % options.huge_every == 1)
        .then(|| rng.usize(..turns.max(1)));
    for turn in 0..turns {
        ms += rng.i64(1_000..30_000);
        text.push_str(&line(&json!({"timestamp": timestamp(ms), "type": "turn_context", "payload": {
            "cwd": "/home/dev/work/api", "approval_policy": "on-request", "sandbox_policy": {"mode": "workspace-write"},
            "model": model, "effort": "medium", "summary": "auto"}})));
        let size = if huge_turn == Some(turn) {
            options.huge_bytes
        } else {
            rng.usize(options.bulk_bytes / 4..options.bulk_bytes * 7 / 4 + 1)
        };
        text.push_str(&line(&json!({"timestamp": timestamp(ms), "type": "response_item", "payload": {
            "type": "function_call_output", "call_id": format!("call_{turn}"), "output": bulk(rng, size)}})));
        text.push_str(&line(&json!({"timestamp": timestamp(ms), "type": "event_msg", "payload": {"type": "token_count", "info": null, "rate_limits": rate_limits}})));
        ms += rng.i64(1_000..60_000);
        let input = rng.u64(2_000..60_000);
        let cached = rng.u64(0..input);
        let output = rng.u64(50..4_000);
        let reasoning = rng.u64(0..output);
        totals = (
            totals.0 + input,
            totals.1 + cached,
            totals.2 + output,
            totals.3 + reasoning,
        );
        let total = codex_usage(totals.0, totals.1, totals.2, totals.3);
        let last = codex_usage(input, cached, output, reasoning);
        let mut info = json!({"total_token_usage": total, "model_context_window": 272000});
        if !legacy {
            info["last_token_usage"] = last.clone();
        }
        text.push_str(&line(&json!({"timestamp": timestamp(ms), "type": "event_msg", "payload": {"type": "token_count", "info": info, "rate_limits": rate_limits}})));
        history.push((total, last));
        let gap = if rng.u8(..8) == 0 {
            20 * 3_600_000
        } else {
            900_000
        };
        ms += rng.i64(5_000..gap);
    }
    let archived = rng.u8(..10) == 0;
    emit(GeneratedFile {
        path: PathBuf::from(format!("codex/sessions/{folder}/{stem}.jsonl")),
        bytes: text.clone().into_bytes(),
    });
    if archived {
        emit(GeneratedFile {
            path: PathBuf::from(format!("codex/archived_sessions/{stem}.jsonl")),
            bytes: text.into_bytes(),
        });
    }
    if rng.u8(..6) == 0 && !history.is_empty() {
        // a spawned subagent: the parent's token history replayed in one second
        let child = uuid(rng);
        let start = ms + 1_000;
        let mut body = line(
            &json!({"timestamp": timestamp(start), "type": "session_meta", "payload": {
            "id": child, "timestamp": timestamp(start), "cwd": "/home/dev/work/api", "originator": "codex_cli_rs",
            "cli_version": "0.46.0", "source": {"subagent": {"thread_spawn": {"parent_thread_id": id, "depth": 1}}}}}),
        );
        body.push_str(&line(&json!({"timestamp": timestamp(start), "type": "turn_context", "payload": {"model": model}})));
        for (total, last) in &history {
            body.push_str(&line(&json!({"timestamp": timestamp(start + 5), "type": "event_msg", "payload": {"type": "token_count",
                "info": {"total_token_usage": total, "last_token_usage": last}, "rate_limits": rate_limits}})));
        }
        let mut child_ms = start + 2_000;
        for _ in 0..rng.usize(1..4) {
            child_ms += rng.i64(2_000..40_000);
            let input = rng.u64(1_000..20_000);
            let cached = rng.u64(0..input);
            let output = rng.u64(20..900);
            totals = (
                totals.0 + input,
                totals.1 + cached,
                totals.2 + output,
                totals.3,
            );
            body.push_str(&line(&json!({"timestamp": timestamp(child_ms), "type": "event_msg", "payload": {"type": "token_count",
                "info": {"total_token_usage": codex_usage(totals.0, totals.1, totals.2, totals.3), "last_token_usage": codex_usage(input, cached, output, 0)},
                "rate_limits": rate_limits}})));
        }
        let child_date = chrono::DateTime::from_timestamp_millis(start).unwrap_or_default();
        emit(GeneratedFile {
            path: PathBuf::from(format!(
                "codex/sessions/{}/rollout-{}-{child}.jsonl",
                child_date.format("%Y/%m/%d"),
                child_date.format("%Y-%m-%dT%H-%M-%S")
            )),
            bytes: body.into_bytes(),
        });
    }
}
