//! Token usage as the engine keeps it for its hosts (tray, window, local API,
//! `multica usage`): the ledger of the daemon's own runs, one JSON line per
//! finished run, and the last scan of the machine's agent logs (crates/usage,
//! which counts with ccusage's rules), put together into one [`UsageReport`].

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Days, Local, NaiveDate, Utc};
use multica_usage::task_runs::{LedgerContents, TaskTotals, TaskUsage, read_task_ledger};
use multica_usage::{
    DailyModelRow, LogRoot, ModelRow, PriceTable, ScanConfig, ScanResult, Totals, UsageError,
};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::warn;

use crate::config::DaemonConfig;
use crate::sync::lock;

/// The per-task ledger, beside the profile's `config.json`.
pub const TASK_LEDGER_FILE: &str = "task-usage.jsonl";
/// The scanner's incremental cache, beside the profile's `config.json`.
pub const SCAN_CACHE_DIR: &str = "usage-cache";
/// The span the hosts see unless they ask for another.
pub const DEFAULT_REPORT_DAYS: u64 = 30;

/// The scan the engine runs, and `multica usage` runs alike so both show the same
/// figures: the user's log folders plus the Codex homes of the daemon's tasks
/// (`<workspaces root>/<workspace>/<task>/codex-home`), the cache beside the config.
pub fn scan_config(config: &DaemonConfig) -> Result<ScanConfig, UsageError> {
    let mut roots = config.usage.log_roots.clone();
    roots.push(LogRoot::nested(
        multica_usage::LogSource::Codex,
        &config.workspaces_root,
        2,
        ["codex-home/sessions", "codex-home/archived_sessions"],
    ));
    let mut scan = ScanConfig::new(roots);
    scan.cache_dir = Some(config.config_file.with_file_name(SCAN_CACHE_DIR));
    scan.prices = prices(config)?;
    Ok(scan)
}

/// The built-in prices with the user's overrides.
pub fn prices(config: &DaemonConfig) -> Result<PriceTable, UsageError> {
    match &config.usage.prices_file {
        Some(path) => PriceTable::with_overrides_from(path),
        None => Ok(PriceTable::built_in()),
    }
}

/// Where the per-task ledger of a config file is.
pub fn task_ledger_path(config_file: &Path) -> PathBuf {
    config_file.with_file_name(TASK_LEDGER_FILE)
}

/// The per-task ledger: appended to by finished tasks, read by the hosts. The file
/// is read once per process; appends go to the file and to memory.
#[derive(Debug)]
pub(crate) struct TaskLedger {
    path: PathBuf,
    records: Mutex<Option<Vec<TaskUsage>>>,
}

impl TaskLedger {
    pub(crate) fn new(path: PathBuf) -> TaskLedger {
        TaskLedger {
            path,
            records: Mutex::new(None),
        }
    }

    fn loaded(&self) -> MutexGuard<'_, Option<Vec<TaskUsage>>> {
        let mut records = lock(&self.records);
        if records.is_none() {
            let contents = read_task_ledger(&self.path).unwrap_or_else(|error| {
                warn!(%error, path = %self.path.display(), "the task usage ledger is unreadable");
                LedgerContents::default()
            });
            if contents.skipped_lines > 0 {
                warn!(
                    skipped = contents.skipped_lines,
                    path = %self.path.display(),
                    "task usage ledger: skipped lines that do not parse"
                );
            }
            *records = Some(contents.records);
        }
        records
    }

    /// Appends one run. The line is written whole or the error says why (a full
    /// disk); the run stays in memory either way.
    pub(crate) fn append(&self, record: TaskUsage) -> std::io::Result<()> {
        let mut records = self.loaded();
        let written = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                file.write_all(&line)?;
                file.flush()
            });
        if let Some(records) = records.as_mut() {
            records.push(record);
        }
        written
    }

    /// The runs that finished on or after `since` (local date), newest first.
    pub(crate) fn since(&self, since: NaiveDate) -> Vec<TaskUsage> {
        let records = self.loaded();
        let mut runs: Vec<TaskUsage> = records
            .iter()
            .flatten()
            .filter(|run| run.date >= since)
            .cloned()
            .collect();
        runs.sort_by_key(|run| std::cmp::Reverse(run.finished_at));
        runs
    }
}

/// The engine's usage state: the last scan and the ledger.
#[derive(Debug)]
pub(crate) struct UsageBook {
    pub(crate) ledger: TaskLedger,
    latest: Mutex<Option<LatestScan>>,
    /// Asks the scan loop for a scan soon (a task finished).
    scan_wanted: Notify,
    prices: PriceTable,
}

#[derive(Debug, Clone)]
pub(crate) struct LatestScan {
    pub(crate) at: DateTime<Utc>,
    pub(crate) outcome: Result<Arc<ScanResult>, String>,
}

impl UsageBook {
    pub(crate) fn new(config: &DaemonConfig) -> UsageBook {
        let prices = prices(config).unwrap_or_else(|error| {
            warn!(%error, "usage: using the built-in prices");
            PriceTable::built_in()
        });
        UsageBook {
            ledger: TaskLedger::new(task_ledger_path(&config.config_file)),
            latest: Mutex::new(None),
            scan_wanted: Notify::new(),
            prices,
        }
    }

    /// Asks for a scan of the agents' logs soon (scans are at least 10 s apart).
    pub(crate) fn want_scan(&self) {
        self.scan_wanted.notify_one();
    }

    pub(crate) async fn scan_wanted(&self) {
        self.scan_wanted.notified().await;
    }

    pub(crate) fn prices(&self) -> &PriceTable {
        &self.prices
    }

    fn latest(&self) -> Option<LatestScan> {
        lock(&self.latest).clone()
    }

    pub(crate) fn store(&self, scan: LatestScan) {
        *lock(&self.latest) = Some(scan);
    }

    /// Everything the UI shows, from `since` (default: the last 30 days).
    pub(crate) fn report(&self, since: Option<NaiveDate>) -> UsageReport {
        let since = since.unwrap_or_else(|| days_back(DEFAULT_REPORT_DAYS));
        let tasks = self.ledger.since(since);
        let task_total = TaskTotals::of(&tasks);
        let latest = self.latest();
        let (machine, scan_error) = match latest.as_ref().map(|scan| &scan.outcome) {
            Some(Ok(result)) => (
                Some(MachineUsage {
                    total: result.total(Some(since)),
                    daily: result.daily(Some(since)),
                    top_models: result.top_models(Some(since), 5),
                    prices_taken_on: result.prices_taken_on.clone(),
                    log_files: result.stats.files,
                }),
                None,
            ),
            Some(Err(error)) => (None, Some(error.clone())),
            None => (None, None),
        };
        UsageReport {
            since,
            scanned_at: latest.map(|scan| scan.at),
            scan_error,
            machine,
            tasks,
            task_total,
        }
    }
}

/// `YYYY-MM-DD`, or `Nd` for the last N days including today.
/// A `since` that is neither a date nor a number of days.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("since {0:?}: use YYYY-MM-DD or a number of days like 7d")]
pub struct BadSince(pub String);

pub fn parse_since(raw: &str) -> Result<NaiveDate, BadSince> {
    let raw = raw.trim();
    if let Some(days) = raw.strip_suffix('d')
        && let Ok(days) = days.parse::<u64>()
        && days > 0
    {
        return Ok(days_back(days));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| BadSince(raw.to_owned()))
}

pub(crate) fn days_back(days: u64) -> NaiveDate {
    let today = Local::now().date_naive();
    today
        .checked_sub_days(Days::new(days.saturating_sub(1)))
        .unwrap_or(today)
}

/// What `GET /usage` answers and [`crate::EngineHandle::usage`] returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    /// The first local day included.
    pub since: NaiveDate,
    /// When the machine's logs were last scanned (`None`: not yet, or scanning is off).
    pub scanned_at: Option<DateTime<Utc>>,
    /// Why the last scan failed, if it did.
    pub scan_error: Option<String>,
    /// The machine's usage from the agents' logs.
    pub machine: Option<MachineUsage>,
    /// The daemon's runs, newest first.
    pub tasks: Vec<TaskUsage>,
    pub task_total: TaskTotals,
}

/// The machine-wide figures of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineUsage {
    pub total: Totals,
    /// Per (date, provider, model), oldest first.
    pub daily: Vec<DailyModelRow>,
    /// The five models with the most tokens.
    pub top_models: Vec<ModelRow>,
    pub prices_taken_on: String,
    pub log_files: usize,
}

#[cfg(test)]
mod tests {
    use multica_usage::task_runs::{CostSource, TaskModelUsage, tasks_by_day};

    use super::*;

    fn run(task: &str, date: &str, model: &str, tokens: u64, cost: Option<f64>) -> TaskUsage {
        TaskUsage {
            task_id: task.into(),
            issue_id: "issue".into(),
            workspace_id: "ws".into(),
            runtime_id: "rt".into(),
            agent: "claude".into(),
            finished_at: format!("{date}T12:00:00Z").parse().expect("time"),
            date: date.parse().expect("date"),
            outcome: "completed".into(),
            models: vec![TaskModelUsage {
                model: model.into(),
                input_tokens: tokens,
                output_tokens: 1,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                cost_usd: cost,
                cost_from: if cost.is_some() {
                    CostSource::Prices
                } else {
                    CostSource::Unknown
                },
            }],
        }
    }

    #[test]
    fn the_ledger_keeps_runs_across_processes_and_skips_broken_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(TASK_LEDGER_FILE);
        let ledger = TaskLedger::new(path.clone());
        ledger
            .append(run("t1", "2026-11-01", "claude-sonnet-4", 10, Some(0.5)))
            .expect("append");
        // A crash mid-write leaves half a line; the next append starts a new one.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"{\"task_id\":\"half\n").expect("write");
        ledger
            .append(run("t2", "2026-11-02", "mystery", 20, None))
            .expect("append");

        let contents = read_task_ledger(&path).expect("read");
        assert_eq!(contents.skipped_lines, 1);
        let ids: Vec<_> = contents
            .records
            .iter()
            .map(|r| r.task_id.as_str())
            .collect();
        assert_eq!(ids, ["t1", "t2"]);

        let again = TaskLedger::new(path);
        let recent = again.since("2026-11-02".parse().expect("date"));
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].task_id, "t2");
        let all = again.since("2026-01-01".parse().expect("date"));
        assert_eq!(all[0].task_id, "t2", "newest first");

        let totals = TaskTotals::of(&all);
        assert_eq!(totals.tasks, 2);
        assert_eq!(totals.total_tokens, 32);
        assert_eq!(totals.cost_usd, Some(0.5));
        assert_eq!(totals.unpriced_models, ["mystery"]);
        let days = tasks_by_day(&all);
        assert_eq!(days.len(), 2);
    }

    #[test]
    fn a_full_disk_is_an_error_and_the_run_stays_in_memory() {
        // Loaded (empty) before: reading /dev/full would never end.
        let ledger = TaskLedger {
            path: PathBuf::from("/dev/full"),
            records: Mutex::new(Some(Vec::new())),
        };
        let error = ledger
            .append(run("t1", "2026-11-01", "m", 1, None))
            .expect_err("a full disk");
        assert!(error.to_string().contains("space"), "{error}");
        assert_eq!(ledger.since("2026-01-01".parse().expect("date")).len(), 1);
    }
}
