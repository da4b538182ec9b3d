//! Report types: what a scan returns and the views built from it.
//!
//! All views are computed from [`ScanResult::rows`], the finest grain the scanner keeps:
//! one row per (local date, provider, model, session). They are cheap (no log is read)
//! and serde-serializable for `--output json`, the UI and the server.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use multica_api::wire::RuntimeUsageEntry;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::ledger::Ledger;
use crate::prices::PriceTable;
use crate::record::{LogSource, Tokens};
use crate::strings::Strings;
use crate::zone::date_of_day;

/// Token sums and their cost.
///
/// `input` excludes cache reads and writes for both providers; `output` includes
/// reasoning (`reasoning` is only a breakdown of it); `total` is
/// `input + output + cache_creation + cache_read`. `cost` is `None` when no model in the
/// group has a price; when only some do, it is the priced part and
/// `unpriced_models` names the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub input: u64,
    pub output: u64,
    /// Cache writes (5-minute + 1-hour).
    pub cache_creation: u64,
    pub cache_creation_1h: u64,
    pub cache_read: u64,
    /// Reasoning tokens where known (Codex), already inside `output`.
    pub reasoning: u64,
    pub total: u64,
    /// Tokens of requests billed at long-context rates (prompt over 200k tokens).
    pub long_context: u64,
    /// Counted (deduplicated) model requests.
    pub requests: u64,
    /// USD.
    pub cost: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_creation = self.cache_creation.saturating_add(other.cache_creation);
        self.cache_creation_1h = self
            .cache_creation_1h
            .saturating_add(other.cache_creation_1h);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.reasoning = self.reasoning.saturating_add(other.reasoning);
        self.total = self.total.saturating_add(other.total);
        self.long_context = self.long_context.saturating_add(other.long_context);
        self.requests = self.requests.saturating_add(other.requests);
        self.cost = match (self.cost, other.cost) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        for model in &other.unpriced_models {
            if !self.unpriced_models.contains(model) {
                self.unpriced_models.push(model.clone());
            }
        }
    }

    fn from_tiers(
        standard: &Tokens,
        long_context: &Tokens,
        requests: u64,
        cost: Option<f64>,
        model: &str,
    ) -> Totals {
        let mut both = *standard;
        both.add(long_context);
        Totals {
            input: both.input,
            output: both.output,
            cache_creation: both.cache_write_5m.saturating_add(both.cache_write_1h),
            cache_creation_1h: both.cache_write_1h,
            cache_read: both.cache_read,
            reasoning: both.reasoning,
            total: both.total(),
            long_context: long_context.total(),
            requests,
            cost,
            unpriced_models: if cost.is_none() {
                vec![model.to_owned()]
            } else {
                Vec::new()
            },
        }
    }
}

/// The finest grain: usage of one session with one model on one local date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub date: NaiveDate,
    pub provider: LogSource,
    pub model: String,
    /// Claude Code `sessionId` (subagent logs carry their parent's), or the Codex
    /// rollout file name.
    pub session_id: String,
    /// Claude Code project folder (the encoded working directory), when known.
    pub project: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanStats {
    /// Log files found by the walk.
    pub files: usize,
    /// Files loaded from the cache at process start (first scan only).
    pub cached_files: usize,
    /// Files that had new bytes and were read.
    pub files_read: usize,
    pub bytes_read: u64,
    /// Usage records parsed (before deduplication).
    pub records_read: usize,
    /// Files that could not be opened or read; retried next scan.
    pub unreadable_files: usize,
    pub duration_ms: f64,
}

/// The state of all usage after a scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanResult {
    /// Sorted by date, provider, model, session.
    pub rows: Vec<UsageRow>,
    /// The date of the price table used for `cost`.
    pub prices_taken_on: String,
    pub stats: ScanStats,
}

/// Daily usage of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyModelRow {
    pub date: NaiveDate,
    pub provider: LogSource,
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// One day with its per-model breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayRow {
    pub date: NaiveDate,
    #[serde(flatten)]
    pub totals: Totals,
    pub models: Vec<DailyModelRow>,
}

/// Usage of one model over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    pub provider: LogSource,
    pub model: String,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Usage of one session over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub provider: LogSource,
    pub session_id: String,
    pub project: Option<String>,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    pub models: Vec<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

impl ScanResult {
    pub(crate) fn from_ledger(
        ledger: &Ledger,
        strings: &Strings,
        prices: &PriceTable,
        projects: &FxHashMap<u32, String>,
    ) -> ScanResult {
        let mut costs: FxHashMap<u32, Option<crate::prices::ModelPrice>> = FxHashMap::default();
        let mut rows: Vec<UsageRow> = ledger
            .buckets()
            .map(|(key, bucket)| {
                let model = strings.get(key.model);
                let price = *costs
                    .entry(key.model)
                    .or_insert_with(|| prices.lookup(model));
                let cost = price.map(|price| price.cost(&bucket.standard, &bucket.long_context));
                UsageRow {
                    date: date_of_day(key.day),
                    provider: key.provider,
                    model: model.to_owned(),
                    session_id: strings.get(key.session).to_owned(),
                    project: projects.get(&key.session).cloned(),
                    totals: Totals::from_tiers(
                        &bucket.standard,
                        &bucket.long_context,
                        bucket.requests,
                        cost,
                        model,
                    ),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.date, a.provider, &a.model, &a.session_id).cmp(&(
                b.date,
                b.provider,
                &b.model,
                &b.session_id,
            ))
        });
        ScanResult {
            rows,
            prices_taken_on: prices.taken_on.clone(),
            stats: ScanStats::default(),
        }
    }

    fn rows_since(&self, since: Option<NaiveDate>) -> impl Iterator<Item = &UsageRow> {
        self.rows
            .iter()
            .filter(move |row| since.is_none_or(|since| row.date >= since))
    }

    /// Totals per (date, provider, model), sorted by date, provider, model.
    pub fn daily(&self, since: Option<NaiveDate>) -> Vec<DailyModelRow> {
        let mut groups: BTreeMap<(NaiveDate, LogSource, &str), Totals> = BTreeMap::new();
        for row in self.rows_since(since) {
            groups
                .entry((row.date, row.provider, row.model.as_str()))
                .or_default()
                .add(&row.totals);
        }
        groups
            .into_iter()
            .map(|((date, provider, model), totals)| DailyModelRow {
                date,
                provider,
                model: model.to_owned(),
                totals,
            })
            .collect()
    }

    /// One row per date with all models summed and the per-model breakdown.
    pub fn days(&self, since: Option<NaiveDate>) -> Vec<DayRow> {
        let mut days: Vec<DayRow> = Vec::new();
        for row in self.daily(since) {
            match days.last_mut() {
                Some(day) if day.date == row.date => {
                    day.totals.add(&row.totals);
                    day.models.push(row);
                }
                _ => days.push(DayRow {
                    date: row.date,
                    totals: row.totals.clone(),
                    models: vec![row],
                }),
            }
        }
        days
    }

    /// Totals per (provider, model), most expensive first (unpriced models last,
    /// by total tokens).
    pub fn by_model(&self, since: Option<NaiveDate>) -> Vec<ModelRow> {
        let mut groups: BTreeMap<(LogSource, &str), ModelRow> = BTreeMap::new();
        for row in self.rows_since(since) {
            let entry = groups
                .entry((row.provider, row.model.as_str()))
                .or_insert_with(|| ModelRow {
                    provider: row.provider,
                    model: row.model.clone(),
                    first_date: row.date,
                    last_date: row.date,
                    totals: Totals::default(),
                });
            entry.first_date = entry.first_date.min(row.date);
            entry.last_date = entry.last_date.max(row.date);
            entry.totals.add(&row.totals);
        }
        let mut models: Vec<ModelRow> = groups.into_values().collect();
        models.sort_by(|a, b| {
            let cost = |row: &ModelRow| row.totals.cost.unwrap_or(-1.0);
            cost(b)
                .total_cmp(&cost(a))
                .then(b.totals.total.cmp(&a.totals.total))
        });
        models
    }

    /// The `count` most expensive models.
    pub fn top_models(&self, since: Option<NaiveDate>, count: usize) -> Vec<ModelRow> {
        let mut models = self.by_model(since);
        models.truncate(count);
        models
    }

    /// Totals per session, most recent first.
    pub fn sessions(&self, since: Option<NaiveDate>) -> Vec<SessionRow> {
        let mut groups: BTreeMap<(LogSource, &str), SessionRow> = BTreeMap::new();
        for row in self.rows_since(since) {
            let entry = groups
                .entry((row.provider, row.session_id.as_str()))
                .or_insert_with(|| SessionRow {
                    provider: row.provider,
                    session_id: row.session_id.clone(),
                    project: row.project.clone(),
                    first_date: row.date,
                    last_date: row.date,
                    models: Vec::new(),
                    totals: Totals::default(),
                });
            entry.first_date = entry.first_date.min(row.date);
            entry.last_date = entry.last_date.max(row.date);
            if !entry.models.contains(&row.model) {
                entry.models.push(row.model.clone());
            }
            entry.totals.add(&row.totals);
        }
        let mut sessions: Vec<SessionRow> = groups.into_values().collect();
        sessions.sort_by(|a, b| {
            b.last_date
                .cmp(&a.last_date)
                .then(a.session_id.cmp(&b.session_id))
        });
        sessions
    }

    /// Totals over everything since `since`.
    pub fn total(&self, since: Option<NaiveDate>) -> Totals {
        let mut totals = Totals::default();
        for row in self.rows_since(since) {
            totals.add(&row.totals);
        }
        totals
    }

    /// The rows `POST /api/daemon/runtimes/{id}/usage` takes: full-day totals per
    /// (date, provider, model), for `provider` only when given. The server replaces a
    /// day's row on each upload, so always send whole days (`since` is a date).
    /// `input_tokens` excludes cache reads/writes for both providers;
    /// `cache_write_tokens` is 5-minute + 1-hour writes.
    pub fn runtime_usage_entries(
        &self,
        since: Option<NaiveDate>,
        provider: Option<LogSource>,
    ) -> Vec<RuntimeUsageEntry> {
        self.daily(since)
            .into_iter()
            .filter(|row| provider.is_none_or(|provider| row.provider == provider))
            .map(|row| RuntimeUsageEntry {
                date: row.date.format("%Y-%m-%d").to_string(),
                provider: row.provider.as_str().to_owned(),
                model: row.model,
                input_tokens: row.totals.input,
                output_tokens: row.totals.output,
                cache_read_tokens: row.totals.cache_read,
                cache_write_tokens: row.totals.cache_creation,
            })
            .collect()
    }

    /// Distinct models without a price in the table.
    pub fn unpriced_models(&self) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|row| row.totals.cost.is_none())
            .map(|row| row.model.as_str())
            .collect()
    }
}
