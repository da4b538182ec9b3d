//! `multica usage`: how many tokens this machine's agents used. By day, model or
//! session from the logs Claude Code and Codex keep, counted with ccusage's rules
//! (see crates/usage), including the Codex homes of the daemon's tasks; by task from
//! the daemon's own ledger of its runs. The daemon need not run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use multica_daemon::DaemonConfig;
use multica_daemon::usage_book as usage;
use multica_usage::task_runs::{TaskTotals, TaskUsage, read_task_ledger};
use multica_usage::{PriceTable, ScanResult, Scanner, Totals};
use serde_json::json;

use crate::GlobalOptions;
use crate::failure::Failure;
use crate::output::{self, OutputFormat};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Grouping {
    Day,
    Model,
    Session,
    /// The daemon's runs, with the tokens each agent reported.
    Task,
}

#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// From this day on: `YYYY-MM-DD`, or `7d` for the last seven days.
    #[arg(long)]
    since: Option<String>,
    /// How to group the figures.
    #[arg(long, value_enum, default_value_t = Grouping::Day)]
    by: Grouping,
    /// A JSON price table whose models replace or add to the built-in prices
    /// (default: `prices.json` beside the profile's config, when it exists).
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
}

pub(crate) async fn run(args: UsageArgs, globals: &GlobalOptions) -> Result<()> {
    let since = args
        .since
        .as_deref()
        .map(usage::parse_since)
        .transpose()
        .map_err(|message| Failure::usage(format!("--{message}")))?;
    let mut config = Settings::load(globals)?.daemon_config()?;
    if let Some(path) = &args.prices {
        config.usage.prices_file = Some(path.clone());
    }
    if args.by == Grouping::Task {
        return show_tasks(&config, since, globals.output);
    }
    let scan = usage::scan_config(&config).map_err(|e| Failure::usage(e.to_string()))?;
    let result = tokio::task::spawn_blocking(move || Scanner::new(scan).scan())
        .await
        .context("the usage scan stopped unexpectedly")??;
    match globals.output {
        OutputFormat::Json => output::json(&json_report(&result, args.by, since)),
        OutputFormat::Table => {
            print_table(&result, args.by, since);
            Ok(())
        }
    }
}

/// `--by task`: the daemon's ledger of its runs.
fn show_tasks(config: &DaemonConfig, since: Option<NaiveDate>, format: OutputFormat) -> Result<()> {
    let path = usage::task_ledger_path(&config.config_file);
    let ledger =
        read_task_ledger(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut runs: Vec<TaskUsage> = ledger
        .records
        .into_iter()
        .filter(|run| since.is_none_or(|since| run.date >= since))
        .collect();
    runs.sort_by_key(|run| run.finished_at);
    let total = TaskTotals::of(&runs);
    let prices: PriceTable = usage::prices(config).map_err(|e| Failure::usage(e.to_string()))?;
    match format {
        OutputFormat::Json => output::json(&json!({
            "since": since,
            "by": "task",
            "rows": runs,
            "total": total,
            "skipped_lines": ledger.skipped_lines,
        })),
        OutputFormat::Table => {
            let mut rows: Vec<Vec<String>> = runs
                .iter()
                .map(|run| {
                    let models: Vec<&str> = run.models.iter().map(|m| m.model.as_str()).collect();
                    let mut row = vec![
                        run.date.to_string(),
                        short(&run.task_id),
                        run.agent.clone(),
                        models.join(", "),
                        run.outcome.clone(),
                    ];
                    row.extend(task_figures(&TaskTotals::of([run])));
                    row
                })
                .collect();
            let mut last = vec![
                "TOTAL".to_owned(),
                format!("{} runs", total.tasks),
                String::new(),
                String::new(),
                String::new(),
            ];
            last.extend(task_figures(&total));
            rows.push(last);
            let mut headers = vec!["DATE", "TASK", "AGENT", "MODELS", "RESULT"];
            headers.extend(FIGURE_HEADERS);
            output::table(&headers, &rows);
            note_unpriced(&total.unpriced_models);
            if ledger.skipped_lines > 0 {
                output::note(&format!(
                    "{} unreadable lines of {} were skipped.",
                    ledger.skipped_lines,
                    path.display()
                ));
            }
            output::note(&format!(
                "Tokens as each agent reported them; costs from the agent where it tells, else from prices as of {}.",
                prices.taken_on
            ));
            Ok(())
        }
    }
}

/// The columns of the figures, after each view's own first columns.
const FIGURE_HEADERS: [&str; 6] = [
    "INPUT",
    "OUTPUT",
    "CACHE WRITE",
    "CACHE READ",
    "TOTAL",
    "COST",
];

fn note_unpriced(models: &[String]) {
    if !models.is_empty() {
        output::note(&format!(
            "No price known for {}: their tokens are counted, their cost is not (add them with --prices).",
            models.join(", ")
        ));
    }
}

fn short(task_id: &str) -> String {
    task_id.chars().take(8).collect()
}

fn task_figures(totals: &TaskTotals) -> Vec<String> {
    let cost = match (totals.cost_usd, totals.unpriced_models.is_empty()) {
        (Some(cost), true) => format!("${cost:.2}"),
        (Some(cost), false) => format!("${cost:.2} + ?"),
        (None, _) => "?".to_owned(),
    };
    vec![
        thousands(totals.input_tokens),
        thousands(totals.output_tokens),
        thousands(totals.cache_write_tokens),
        thousands(totals.cache_read_tokens),
        thousands(totals.total_tokens),
        cost,
    ]
}

// `--by task` is answered from the ledger before any scan; the scan's views below
// treat it like `--by session`, the closest view of the logs.

fn json_report(result: &ScanResult, by: Grouping, since: Option<NaiveDate>) -> serde_json::Value {
    let rows = match by {
        Grouping::Day => json!(result.days(since)),
        Grouping::Model => json!(result.by_model(since)),
        Grouping::Session | Grouping::Task => json!(result.sessions(since)),
    };
    json!({
        "since": since,
        "by": format!("{by:?}").to_lowercase(),
        "rows": rows,
        "total": result.total(since),
        "prices_taken_on": result.prices_taken_on,
        "stats": result.stats,
    })
}

fn print_table(result: &ScanResult, by: Grouping, since: Option<NaiveDate>) {
    let figures = |totals: &Totals| {
        vec![
            thousands(totals.input),
            thousands(totals.output),
            thousands(totals.cache_creation),
            thousands(totals.cache_read),
            thousands(totals.total),
            cost(totals),
        ]
    };
    let mut rows: Vec<Vec<String>> = match by {
        Grouping::Day => result
            .days(since)
            .iter()
            .map(|day| {
                let models: Vec<&str> = day.models.iter().map(|m| m.model.as_str()).collect();
                let mut row = vec![day.date.to_string(), models.join(", ")];
                row.extend(figures(&day.totals));
                row
            })
            .collect(),
        Grouping::Model => result
            .by_model(since)
            .iter()
            .map(|model| {
                let mut row = vec![model.provider.as_str().to_owned(), model.model.clone()];
                row.extend(figures(&model.totals));
                row
            })
            .collect(),
        Grouping::Session | Grouping::Task => result
            .sessions(since)
            .iter()
            .map(|session| {
                let mut row = vec![
                    session.last_date.to_string(),
                    format!("{} {}", session.provider.as_str(), session.session_id),
                ];
                row.extend(figures(&session.totals));
                row
            })
            .collect(),
    };
    let total = result.total(since);
    let mut last = vec!["TOTAL".to_owned(), String::new()];
    last.extend(figures(&total));
    rows.push(last);
    let first_two = match by {
        Grouping::Day => ["DATE", "MODELS"],
        Grouping::Model => ["AGENT", "MODEL"],
        Grouping::Session | Grouping::Task => ["LAST DAY", "SESSION"],
    };
    let mut headers = first_two.to_vec();
    headers.extend(FIGURE_HEADERS);
    output::table(&headers, &rows);
    note_unpriced(&total.unpriced_models);
    output::note(&format!(
        "Prices as of {}. {} log files, {} read now.",
        result.prices_taken_on, result.stats.files, result.stats.files_read
    ));
}

/// `$1.23`; `?` when no model of the group has a price; `$1.23 + ?` when some lack one.
fn cost(totals: &Totals) -> String {
    match (totals.cost, totals.unpriced_models.is_empty()) {
        (Some(cost), true) => format!("${cost:.2}"),
        (Some(cost), false) => format!("${cost:.2} + ?"),
        (None, _) => "?".to_owned(),
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        let priced = Totals {
            cost: Some(1.5),
            ..Totals::default()
        };
        assert_eq!(cost(&priced), "$1.50");
        assert_eq!(cost(&Totals::default()), "?");
    }

    #[test]
    fn since_takes_dates_and_day_counts() {
        assert_eq!(
            usage::parse_since("2026-05-01").expect("date"),
            NaiveDate::from_ymd_opt(2026, 5, 1).expect("valid")
        );
        assert_eq!(
            usage::parse_since("1d").expect("today"),
            chrono::Local::now().date_naive()
        );
        assert!(usage::parse_since("last week").is_err());
    }
}
