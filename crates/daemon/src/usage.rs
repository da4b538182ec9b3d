//! Token usage, for the hosts (tray, UI, local API, `multica usage`) and the server:
//!
//! - **per task**, from the agent's own stream: reported with the task (see
//!   `task_runner`) and kept here in a ledger file beside the profile's config, one
//!   JSON line per finished run;
//! - **machine-wide**, from the logs Claude Code and Codex keep (crates/usage, which
//!   counts with ccusage's rules), rescanned incrementally every few minutes and after
//!   each task; the Codex homes of the daemon's own tasks are scanned too;
//! - **seed servers** get full-day totals per (date, provider, model) on
//!   `POST /api/daemon/runtimes/{id}/usage`: in each workspace, to that provider's
//!   runtime (the lowest id when there are several), only the days that changed since
//!   the last upload of this process. Current servers removed the route (their usage
//!   comes per task) and answer 404 once.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Days, Local, NaiveDate, Utc};
use multica_api::wire::RuntimeUsageEntry;
use multica_usage::{
    DailyModelRow, LogRoot, ModelRow, PriceTable, ScanConfig, ScanResult, Scanner, Totals,
    UsageError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{DaemonConfig, Environment};
use crate::engine::Shared;
use crate::events::EngineEvent;

/// The per-task ledger, beside the profile's `config.json`.
pub const TASK_LEDGER_FILE: &str = "task-usage.jsonl";
/// The scanner's incremental cache, beside the profile's `config.json`.
pub const SCAN_CACHE_DIR: &str = "usage-cache";
/// Price overrides read when present, beside the profile's `config.json`.
pub const PRICES_FILE: &str = "prices.json";
/// How often the machine's logs are scanned unless `MULTICA_USAGE_SCAN_INTERVAL` says.
pub const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Scans asked for by finished tasks are at least this far apart.
const MIN_SCAN_GAP: Duration = Duration::from_secs(10);
/// The span the hosts see unless they ask for another.
pub const DEFAULT_REPORT_DAYS: u64 = 30;
/// Rows per runtime-usage request.
const UPLOAD_CHUNK: usize = 500;

/// What the engine scans for machine-wide usage.
#[derive(Debug, Clone, Default)]
pub struct UsageSettings {
    /// The folders of the user's own Claude Code and Codex logs (see
    /// [`multica_usage::default_roots`]). The daemon adds its tasks' Codex homes.
    pub log_roots: Vec<LogRoot>,
    /// How often the logs are scanned; `None` turns the scan (and the seed upload) off.
    pub scan_interval: Option<Duration>,
    /// A price table whose models replace or add to the built-in prices.
    pub prices_file: Option<PathBuf>,
}

impl UsageSettings {
    /// From the environment: the log folders ccusage reads, `MULTICA_USAGE_SCAN_INTERVAL`
    /// (a Go duration, `0` for off) and `MULTICA_PRICES_FILE` (else `prices.json`
    /// beside the config, when it exists).
    pub(crate) fn from_env(
        env: &dyn Environment,
        config_file: &Path,
    ) -> Result<UsageSettings, crate::config::ConfigError> {
        let home = env.home();
        let log_roots = match multica_usage::default_roots(|name| env.var(name), home.as_deref()) {
            Ok(roots) => roots,
            Err(error) => {
                // A wrong CLAUDE_CONFIG_DIR costs the Claude figures, not the daemon.
                warn!(%error, "usage: using the default Claude Code folders");
                multica_usage::default_roots(
                    |name| {
                        (name != "CLAUDE_CONFIG_DIR")
                            .then(|| env.var(name))
                            .flatten()
                    },
                    home.as_deref(),
                )
                .unwrap_or_default()
            }
        };
        let scan_interval =
            match env.var("MULTICA_USAGE_SCAN_INTERVAL") {
                None => Some(DEFAULT_SCAN_INTERVAL),
                Some(raw) if raw.trim() == "0" => None,
                Some(raw) => Some(crate::go_duration::parse_go_duration(&raw).map_err(
                    |source| crate::config::ConfigError::Duration {
                        name: "MULTICA_USAGE_SCAN_INTERVAL",
                        source,
                    },
                )?),
            };
        let prices_file = env
            .var("MULTICA_PRICES_FILE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(config_file.with_file_name(PRICES_FILE)).filter(|p| p.is_file()));
        Ok(UsageSettings {
            log_roots,
            scan_interval,
            prices_file,
        })
    }
}

/// The scan the engine runs, and `multica usage` runs alike so both show the same
/// figures: the user's log folders plus the Codex homes of the daemon's tasks
/// (`<workspaces root>/<workspace>/<task>/codex-home`), the cache beside the config.
pub fn scan_config(config: &DaemonConfig) -> Result<ScanConfig, UsageError> {
    let mut roots = config.usage.log_roots.clone();
    roots.push(LogRoot::nested(
        multica_usage::Provider::Codex,
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

/// One finished run of a task, with the tokens its agent reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUsage {
    pub task_id: String,
    pub issue_id: String,
    pub workspace_id: String,
    pub runtime_id: String,
    /// The agent's id (`claude`, `codex`, …).
    pub agent: String,
    pub finished_at: DateTime<Utc>,
    /// The local calendar day the run finished.
    pub date: NaiveDate,
    /// `completed`, `failed` or `cancelled`.
    pub outcome: String,
    pub models: Vec<TaskModelUsage>,
}

/// A run's tokens of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskModelUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// USD; `None` when neither the agent nor the price table could tell.
    pub cost_usd: Option<f64>,
    /// Where `cost_usd` came from.
    pub cost_from: CostSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The agent CLI said what the run cost (Claude Code, OpenCode).
    Agent,
    /// Priced from the token counts with the price table.
    Prices,
    /// No price known for the model.
    Unknown,
}

impl TaskModelUsage {
    /// The agent's figures; the cost is the agent's own when it told, else priced.
    pub fn from_run(usage: &multica_agents::ModelUsage, prices: &PriceTable) -> TaskModelUsage {
        let priced = || {
            prices.run_cost(
                &usage.model,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens,
            )
        };
        let (cost_usd, cost_from) = match usage.cost_usd {
            Some(cost) if cost > 0.0 => (Some(cost), CostSource::Agent),
            _ => match priced() {
                Some(cost) => (Some(cost), CostSource::Prices),
                None => (None, CostSource::Unknown),
            },
        };
        TaskModelUsage {
            model: usage.model.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cost_usd,
            cost_from,
        }
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }
}

impl TaskUsage {
    pub fn total_tokens(&self) -> u64 {
        self.models.iter().map(TaskModelUsage::total_tokens).sum()
    }

    /// The priced part of the run's cost, `None` when no model of it has a cost.
    pub fn cost_usd(&self) -> Option<f64> {
        self.models
            .iter()
            .filter_map(|model| model.cost_usd)
            .reduce(|a, b| a + b)
    }
}

/// Sums over tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskTotals {
    pub tasks: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub total_tokens: u64,
    /// USD of the models with a cost; see `unpriced_models`.
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
}

impl TaskTotals {
    pub fn of<'a>(tasks: impl IntoIterator<Item = &'a TaskUsage>) -> TaskTotals {
        let mut totals = TaskTotals::default();
        for task in tasks {
            totals.tasks += 1;
            for model in &task.models {
                totals.input_tokens += model.input_tokens;
                totals.output_tokens += model.output_tokens;
                totals.cache_read_tokens += model.cache_read_tokens;
                totals.cache_write_tokens += model.cache_write_tokens;
                totals.total_tokens += model.total_tokens();
                match model.cost_usd {
                    Some(cost) => *totals.cost_usd.get_or_insert(0.0) += cost,
                    None if !totals.unpriced_models.contains(&model.model) => {
                        totals.unpriced_models.push(model.model.clone());
                    }
                    None => {}
                }
            }
        }
        totals
    }
}

/// What a read of the ledger found.
#[derive(Debug, Default)]
pub struct LedgerContents {
    pub records: Vec<TaskUsage>,
    /// Lines that did not parse (a crash mid-write, a newer format): skipped.
    pub skipped_lines: usize,
}

/// Reads a task ledger; a missing file is an empty ledger.
pub fn read_task_ledger(path: &Path) -> std::io::Result<LedgerContents> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LedgerContents::default());
        }
        Err(error) => return Err(error),
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut contents = LedgerContents::default();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<TaskUsage>(&line) {
            Ok(record) => contents.records.push(record),
            Err(_) => contents.skipped_lines += 1,
        }
    }
    Ok(contents)
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
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
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
pub(crate) struct UsageState {
    pub(crate) ledger: TaskLedger,
    latest: Mutex<Option<LatestScan>>,
    /// Asks the scan loop for a scan soon (a task finished).
    pub(crate) wake: Notify,
    prices: PriceTable,
}

#[derive(Debug, Clone)]
struct LatestScan {
    at: DateTime<Utc>,
    outcome: Result<Arc<ScanResult>, String>,
}

impl UsageState {
    pub(crate) fn new(config: &DaemonConfig) -> UsageState {
        let prices = prices(config).unwrap_or_else(|error| {
            warn!(%error, "usage: using the built-in prices");
            PriceTable::built_in()
        });
        UsageState {
            ledger: TaskLedger::new(task_ledger_path(&config.config_file)),
            latest: Mutex::new(None),
            wake: Notify::new(),
            prices,
        }
    }

    pub(crate) fn prices(&self) -> &PriceTable {
        &self.prices
    }

    fn latest(&self) -> Option<LatestScan> {
        self.latest
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    fn store(&self, scan: LatestScan) {
        *self
            .latest
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(scan);
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
pub fn parse_since(raw: &str) -> Result<NaiveDate, String> {
    let raw = raw.trim();
    if let Some(days) = raw.strip_suffix('d')
        && let Ok(days) = days.parse::<u64>()
        && days > 0
    {
        return Ok(days_back(days));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("since {raw:?}: use YYYY-MM-DD or a number of days like 7d"))
}

fn days_back(days: u64) -> NaiveDate {
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

/// The short form the event bus carries after each scan that changed something.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageSummary {
    pub today: Totals,
    pub last_30_days: Totals,
}

/// Scans at start, every `scan_interval`, and soon after a task finishes; publishes
/// what changed and uploads it to seed servers.
pub(crate) async fn scan_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let Some(interval) = shared.config.usage.scan_interval else {
        return;
    };
    let config = match scan_config(&shared.config) {
        Ok(config) => config,
        Err(error) => {
            warn!(%error, "usage: using the built-in prices");
            let mut config = match scan_config(&without_prices_file(&shared.config)) {
                Ok(config) => config,
                Err(error) => {
                    warn!(%error, "usage: the machine's logs will not be scanned");
                    return;
                }
            };
            config.prices = PriceTable::built_in();
            config
        }
    };
    let mut scanner = Some(Scanner::new(config));
    let mut uploads = RuntimeUploads::default();
    let mut last_published: Option<UsageSummary> = None;
    // A finished task asks for a scan, but scans stay this far apart.
    let gap = MIN_SCAN_GAP.min(interval);
    loop {
        let started = tokio::time::Instant::now();
        let Some(mut owned) = scanner.take() else {
            return;
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let result = owned.scan();
            (owned, result)
        })
        .await;
        let (returned, result) = match outcome {
            Ok(pair) => pair,
            Err(error) => {
                // The scanner panicked: the supervisor starts the loop again.
                std::panic::resume_unwind(error.into_panic());
            }
        };
        scanner = Some(returned);
        let at = Utc::now();
        match result {
            Ok(result) => {
                debug!(
                    files = result.stats.files,
                    read = result.stats.files_read,
                    ms = result.stats.duration_ms,
                    "usage scan"
                );
                let result = Arc::new(result);
                shared.usage.store(LatestScan {
                    at,
                    outcome: Ok(Arc::clone(&result)),
                });
                let summary = UsageSummary {
                    today: result.total(Some(Local::now().date_naive())),
                    last_30_days: result.total(Some(days_back(DEFAULT_REPORT_DAYS))),
                };
                if last_published.as_ref() != Some(&summary) {
                    shared.emit(EngineEvent::UsageUpdated {
                        summary: summary.clone(),
                    });
                    last_published = Some(summary);
                }
                upload_to_runtimes(&shared, &result, &mut uploads).await;
            }
            Err(error) => {
                warn!(%error, "usage: the scan of the agents' logs failed");
                shared.usage.store(LatestScan {
                    at,
                    outcome: Err(error.to_string()),
                });
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(started + interval) => {}
            () = shared.usage.wake.notified() => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(started + gap) => {}
                }
            }
        }
    }
}

fn without_prices_file(config: &DaemonConfig) -> DaemonConfig {
    let mut config = config.clone();
    config.usage.prices_file = None;
    config
}

/// What this process has uploaded, per runtime: the seed server replaces a day's
/// row, so a day is sent again only when its figures changed.
#[derive(Debug, Default)]
struct RuntimeUploads {
    sent: HashMap<String, HashMap<(String, String, String), RuntimeUsageEntry>>,
}

/// The runtime of each (workspace, provider) that gets the provider's usage: the
/// one whose agent id is the provider's, the lowest id when there are several.
fn upload_targets(shared: &Shared) -> Vec<(String, multica_usage::Provider)> {
    let registry = shared.registry();
    let mut targets = Vec::new();
    for workspace in registry.workspaces.values() {
        for provider in [
            multica_usage::Provider::Claude,
            multica_usage::Provider::Codex,
        ] {
            let runtime = workspace
                .runtimes
                .iter()
                .filter(|runtime| runtime.provider.as_str() == provider.as_str())
                .map(|runtime| runtime.id.as_str())
                .min();
            if let Some(runtime) = runtime {
                targets.push((runtime.to_owned(), provider));
            }
        }
    }
    targets
}

async fn upload_to_runtimes(shared: &Shared, result: &ScanResult, uploads: &mut RuntimeUploads) {
    if !shared.features.runtime_usage.worth_trying() {
        return;
    }
    for (runtime_id, provider) in upload_targets(shared) {
        let sent = uploads.sent.entry(runtime_id.clone()).or_default();
        let changed: Vec<RuntimeUsageEntry> = result
            .runtime_usage_entries(None, Some(provider))
            .into_iter()
            .filter(|entry| sent.get(&entry_key(entry)) != Some(entry))
            .collect();
        for chunk in changed.chunks(UPLOAD_CHUNK) {
            let answer = shared.client.report_runtime_usage(&runtime_id, chunk).await;
            if shared.features.runtime_usage.learn(&answer) {
                info!("the server takes usage per task only; runtime usage uploads stop");
                return;
            }
            match answer {
                Ok(()) => {
                    for entry in chunk {
                        sent.insert(entry_key(entry), entry.clone());
                    }
                }
                Err(error) => {
                    // The next scan sends what is still unsent.
                    debug!(%error, runtime_id, "runtime usage upload failed");
                    break;
                }
            }
        }
    }
}

fn entry_key(entry: &RuntimeUsageEntry) -> (String, String, String) {
    (
        entry.date.clone(),
        entry.provider.clone(),
        entry.model.clone(),
    )
}

/// Groups runs by local date (oldest first) for `multica usage --by day` of tasks.
pub fn tasks_by_day(tasks: &[TaskUsage]) -> BTreeMap<NaiveDate, TaskTotals> {
    let mut days: BTreeMap<NaiveDate, Vec<&TaskUsage>> = BTreeMap::new();
    for task in tasks {
        days.entry(task.date).or_default().push(task);
    }
    days.into_iter()
        .map(|(date, runs)| (date, TaskTotals::of(runs)))
        .collect()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_run_is_priced_by_its_agent_first_then_by_the_table() {
        let prices = PriceTable::built_in();
        let usage = multica_agents::ModelUsage {
            model: "claude-sonnet-4-20250514".into(),
            input_tokens: 1_000_000,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: None,
        };
        let priced = TaskModelUsage::from_run(&usage, &prices);
        assert_eq!(priced.cost_from, CostSource::Prices);
        assert!(priced.cost_usd.is_some_and(|cost| cost > 0.0));

        let told = TaskModelUsage::from_run(
            &multica_agents::ModelUsage {
                cost_usd: Some(0.25),
                ..usage.clone()
            },
            &prices,
        );
        assert_eq!(
            (told.cost_usd, told.cost_from),
            (Some(0.25), CostSource::Agent)
        );

        let unknown = TaskModelUsage::from_run(
            &multica_agents::ModelUsage {
                model: "mystery".into(),
                ..usage
            },
            &prices,
        );
        assert_eq!(
            (unknown.cost_usd, unknown.cost_from),
            (None, CostSource::Unknown)
        );
    }
}
