//! The unit the scanner extracts from a log line: one billed model request.

use serde::{Deserialize, Serialize};

/// Which agent CLI wrote a log, and so how it is read. Every record, row and root
/// carries one (as its `provider`: the agent's provider name on the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// Claude Code (`~/.claude/projects/**/*.jsonl`).
    Claude,
    /// OpenAI Codex CLI (`~/.codex/sessions/**/*.jsonl`).
    Codex,
}

impl LogSource {
    /// The provider name the Multica server uses (`claude`, `codex`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Claude => "claude",
            LogSource::Codex => "codex",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            LogSource::Claude => 0,
            LogSource::Codex => 1,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(LogSource::Claude),
            1 => Some(LogSource::Codex),
            _ => None,
        }
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts of one request, in one shape for both providers.
///
/// `input` never contains cached tokens and `output` always contains reasoning, so
/// `input + output + cache_write_5m + cache_write_1h + cache_read` is the billed total
/// and nothing is counted twice. (Codex reports `input_tokens` *including*
/// `cached_input_tokens`; the Codex parser subtracts them.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_write_5m: u64,
    pub(crate) cache_write_1h: u64,
    pub(crate) cache_read: u64,
    /// Informational, already inside `output` (Codex only).
    pub(crate) reasoning: u64,
}

impl Tokens {
    pub(crate) fn total(&self) -> u64 {
        self.prompt().saturating_add(self.output)
    }

    /// Tokens in the prompt of the request; decides the long-context tier.
    pub(crate) fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.cache_read)
    }

    /// Wrapping, so that [`Tokens::sub`] is its exact inverse even for absurd
    /// counts in corrupted logs (running totals never panic and never drift).
    pub(crate) fn add(&mut self, other: &Tokens) {
        self.input = self.input.wrapping_add(other.input);
        self.output = self.output.wrapping_add(other.output);
        self.cache_write_5m = self.cache_write_5m.wrapping_add(other.cache_write_5m);
        self.cache_write_1h = self.cache_write_1h.wrapping_add(other.cache_write_1h);
        self.cache_read = self.cache_read.wrapping_add(other.cache_read);
        self.reasoning = self.reasoning.wrapping_add(other.reasoning);
    }

    pub(crate) fn sub(&mut self, other: &Tokens) {
        self.input = self.input.wrapping_sub(other.input);
        self.output = self.output.wrapping_sub(other.output);
        self.cache_write_5m = self.cache_write_5m.wrapping_sub(other.cache_write_5m);
        self.cache_write_1h = self.cache_write_1h.wrapping_sub(other.cache_write_1h);
        self.cache_read = self.cache_read.wrapping_sub(other.cache_read);
        self.reasoning = self.reasoning.wrapping_sub(other.reasoning);
    }
}

/// Requests whose prompt exceeds this many tokens are billed at long-context rates
/// (Anthropic's rule for Sonnet 4/4.5 with the 1M window: the whole request, input and
/// output, moves to the premium tier). Models without long-context prices ignore it.
pub const LONG_CONTEXT_THRESHOLD: u64 = 200_000;

/// One counted request after parsing, with interned model/session ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub(crate) timestamp_ms: i64,
    pub(crate) model: u32,
    pub(crate) session: u32,
    pub(crate) tokens: Tokens,
}

/// How a record takes part in deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RecordKey {
    /// Counted as is (a Claude line without `message.id`).
    Unique,
    /// Claude: `message.id`, `requestId` (if any) and the sidechain flag, fingerprinted.
    Claude {
        message: u128,
        request: Option<u128>,
        sidechain: bool,
    },
    /// Codex: fingerprint of (timestamp, model, token counts): the same event copied
    /// into a forked or archived rollout counts once.
    Codex(u128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) key: RecordKey,
    pub(crate) entry: Entry,
}
