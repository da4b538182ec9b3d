//! Machine-wide token usage from the logs that Claude Code and Codex keep on disk,
//! scanned incrementally.
//!
//! ```no_run
//! use multica_usage::{ScanConfig, Scanner};
//!
//! # fn main() -> Result<(), multica_usage::UsageError> {
//! // ~/.claude/projects, ~/.config/claude/projects (or $CLAUDE_CONFIG_DIR),
//! // ~/.codex/{sessions,archived_sessions} (or $CODEX_HOME), cache in the given dir.
//! let config = ScanConfig::discover("/home/me/.cache/multica")?;
//! let mut scanner = Scanner::new(config);
//! let result = scanner.scan()?; // first scan: reads everything (or loads the cache)
//! let result = scanner.scan()?; // later scans: only the bytes appended since
//! for row in result.daily(None) {
//!     println!("{} {} {} {} {:?}", row.date, row.provider, row.model, row.totals.total, row.totals.cost);
//! }
//! let upload = result.runtime_usage_entries(None, None); // POST …/runtimes/{id}/usage rows
//! # let _ = upload; Ok(()) }
//! ```
//!
//! # The API
//!
//! - [`ScanConfig`] — roots ([`LogRoot`]; [`ScanConfig::discover`] / [`default_roots`]
//!   find the machine's), `cache_dir`, the [`DayZone`] that decides each event's day,
//!   the [`PriceTable`] ([`PriceTable::built_in`], [`PriceTable::with_overrides_from`]),
//!   worker `threads`, `keep_deleted_files`.
//! - [`Scanner::new`] + [`Scanner::scan`] → [`ScanResult`]: rows per (local date,
//!   provider, model, session) plus [`ScanStats`]. Synchronous; call it from
//!   `spawn_blocking` in async code.
//! - Views on a [`ScanResult`], each with an optional `since` date:
//!   [`daily`](ScanResult::daily) (date, provider, model), [`days`](ScanResult::days)
//!   (per date with a model breakdown), [`by_model`](ScanResult::by_model),
//!   [`top_models`](ScanResult::top_models), [`sessions`](ScanResult::sessions),
//!   [`total`](ScanResult::total), and
//!   [`runtime_usage_entries`](ScanResult::runtime_usage_entries) — the
//!   `RuntimeUsageEntry` rows the server's runtime-usage endpoint takes.
//!   Every type is `Serialize`.
//!
//! # Counting rules
//!
//! The rules are ccusage's (the reference tool), made exact under incremental scans:
//!
//! - **Claude Code**: all `*.jsonl` under each `projects/` folder at any depth, so
//!   `<session>/subagents/agent-*.jsonl` count. Only lines containing `"usage":` are
//!   parsed (a `memchr` pre-filter). Claude Code writes several snapshots of one
//!   streamed response with growing `output_tokens`: copies with the same `message.id`
//!   and `requestId` (or the same `message.id` when `requestId` is missing) count once,
//!   with the largest token total. Sidechain rows replaying a message that has a
//!   non-sidechain row are dropped; real subagent rows count. `<synthetic>` rows and
//!   rows with empty ids are dropped. Cache writes keep the 5-minute/1-hour split.
//! - **Codex**: `token_count` events; the delta is `last_token_usage`, else the
//!   difference of `total_token_usage`. Cached input is inside `input_tokens` and is
//!   reported as `cache_read` only (input is the non-cached part); reasoning is inside
//!   output and reported separately only as a breakdown. A subagent rollout's replayed
//!   parent history is skipped, and an event copied into another rollout (fork,
//!   archive) counts once.
//! - Each event goes to the day of its own timestamp in the configured zone.
//! - Lines may be of any length; a last line still being written is read once it is
//!   complete.
//!
//! # Incremental cache
//!
//! Per file the cache keeps size, mtime, the offset after the last complete line, the
//! Codex parser state and the file's extracted records (one per response after in-file
//! deduplication). Deduplication across files is recomputed from the records and is
//! independent of reading order, so any sequence of incremental scans gives the same
//! result as one full scan of the same bytes (a property test checks exactly that). A
//! file that shrank or whose mtime went back is read again from the start. The cache
//! is split into 64 shards, each written atomically; a scan rewrites only the shards
//! whose files changed. A shard that does not decode (crash, older format) is ignored
//! and its files are read again, so the cache heals itself. Cached files outside the
//! configured roots are ignored. Deleted log files keep counting (Claude Code deletes
//! old transcripts) unless `keep_deleted_files` is off; a moved file is deduplicated
//! like any copy.
//!
//! Finding changes is cheap too: directory listings are cached in memory by the
//! directory's mtime (re-read when it changes or changed within the last 2 s), and
//! the per-file `stat` calls run on all cores. A scan in which nothing changed
//! returns the previous result without rebuilding it.
//!
//! # Sessions and projects
//!
//! [`ScanResult::sessions`] lists usage per session with a `project`: for Claude Code
//! the project folder (its working directory with `/` and `.` turned into `-`), for
//! Codex the `cwd` of the rollout's `turn_context`. That is what maps usage to a
//! Multica task: a task's work directory identifies its sessions. Tasks that run Codex
//! with a private `CODEX_HOME` are counted only if that home is under a root; the
//! daemon adds its tasks' homes with one [`Layout::Nested`] root.

//! # Cost
//!
//! [`PriceTable`] holds USD per million tokens for input, output, 5-minute and 1-hour
//! cache writes, cache reads, optional long-context rates (requests whose prompt
//! exceeds [`LONG_CONTEXT_THRESHOLD`] tokens) and a fast-mode multiplier. The table is
//! compiled in (its date is [`PriceTable::taken_on`]); a user JSON file of the same
//! shape adds or replaces models. Models without a price get `cost: None`.

mod cache;
mod claude;
mod codex;
mod config;
mod error;
mod file_state;
mod fingerprint;
mod ledger;
mod lines;
mod parsed;
mod prices;
mod record;
mod report;
mod scanner;
mod strings;
pub mod task_runs;
mod walk;
mod zone;

pub use config::{Layout, LogRoot, ScanConfig, default_roots};
pub use error::{Result, UsageError};
pub use prices::{ModelPrice, PriceTable, TierPrice};
pub use record::{LONG_CONTEXT_THRESHOLD, LogSource};
pub use report::{
    DailyModelRow, DayRow, ModelRow, ScanResult, ScanStats, SessionRow, Totals, UsageRow,
};
pub use scanner::Scanner;
pub use zone::DayZone;
