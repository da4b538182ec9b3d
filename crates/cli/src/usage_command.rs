//! `multica usage`: how many tokens this machine's agents used, from the logs Claude
//! Code and Codex keep, counted with ccusage's rules (see crates/usage).

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Days, Local, NaiveDate};
use clap::{Args, ValueEnum};
use multica_daemon::cli_config::profile_dir;
use multica_daemon::{Environment, ProcessEnvironment};
use multica_usage::{PriceTable, ScanConfig, ScanResult, Scanner, Totals};
use serde_json::json;

use crate::GlobalOptions;
use crate::failure::Failure;
use crate::output::{self, OutputFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Grouping {
    Day,
    Model,
    Session,
}

#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// From this day on: `YYYY-MM-DD`, or `7d` for the last seven days.
    #[arg(long)]
    since: Option<String>,
    /// How to group the figures.
    #[arg(long, value_enum, default_value_t = Grouping::Day)]
    by: Grouping,
    /// A JSON price table whose models replace or add to the built-in prices.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
}

pub(crate) async fn run(args: UsageArgs, globals: &GlobalOptions) -> Result<()> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let home = ProcessEnvironment
        .home()
        .context("cannot find the home directory (set HOME)")?;
    let cache_dir = profile_dir(&home, globals.profile.as_deref()).join("usage-cache");
    let mut config = ScanConfig::discover(cache_dir).map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(path) = &args.prices {
        config.prices =
            PriceTable::with_overrides_from(path).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let result = tokio::task::spawn_blocking(move || Scanner::new(config).scan())
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

fn json_report(result: &ScanResult, by: Grouping, since: Option<NaiveDate>) -> serde_json::Value {
    let rows = match by {
        Grouping::Day => json!(result.days(since)),
        Grouping::Model => json!(result.by_model(since)),
        Grouping::Session => json!(result.sessions(since)),
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
        Grouping::Session => result
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
        Grouping::Session => ["LAST DAY", "SESSION"],
    };
    let mut headers = first_two.to_vec();
    headers.extend([
        "INPUT",
        "OUTPUT",
        "CACHE WRITE",
        "CACHE READ",
        "TOTAL",
        "COST",
    ]);
    output::table(&headers, &rows);
    if !total.unpriced_models.is_empty() {
        output::note(&format!(
            "No price known for {}: their tokens are counted, their cost is not (add them with --prices).",
            total.unpriced_models.join(", ")
        ));
    }
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

fn parse_since(raw: &str) -> Result<NaiveDate, Failure> {
    let raw = raw.trim();
    if let Some(days) = raw.strip_suffix('d') {
        if let Ok(days) = days.parse::<u64>() {
            return Local::now()
                .date_naive()
                .checked_sub_days(Days::new(days.saturating_sub(1)))
                .ok_or_else(|| Failure::usage(format!("--since {raw}: too far back")));
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        Failure::usage(format!(
            "--since {raw:?}: use YYYY-MM-DD or a number of days like 7d"
        ))
    })
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
            parse_since("2026-05-01").expect("date"),
            NaiveDate::from_ymd_opt(2026, 5, 1).expect("valid")
        );
        assert_eq!(parse_since("1d").expect("today"), Local::now().date_naive());
        assert!(parse_since("last week").is_err());
    }
}
