//! The daemon's own runs: one record per finished task run with the tokens its
//! agent reported, kept as JSON lines in a ledger file (`task-usage.jsonl` beside
//! the profile's config) that `multica usage --by task` and the window read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::prices::PriceTable;

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
    /// A model's figures for one run; the cost is the agent's own when it told
    /// (`reported_cost_usd`), else priced from the tokens with `prices`.
    pub fn priced(
        model: &str,
        tokens: TokenCounts,
        reported_cost_usd: Option<f64>,
        prices: &PriceTable,
    ) -> TaskModelUsage {
        let (cost_usd, cost_from) = match reported_cost_usd {
            Some(cost) if cost > 0.0 => (Some(cost), CostSource::Agent),
            _ => match prices.run_cost(
                model,
                tokens.input,
                tokens.output,
                tokens.cache_write,
                tokens.cache_read,
            ) {
                Some(cost) => (Some(cost), CostSource::Prices),
                None => (None, CostSource::Unknown),
            },
        };
        TaskModelUsage {
            model: model.to_owned(),
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_read_tokens: tokens.cache_read,
            cache_write_tokens: tokens.cache_write,
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

/// One run's tokens of one model, as its agent counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
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
