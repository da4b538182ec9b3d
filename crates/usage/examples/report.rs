//! Prints this machine's token usage as JSON, the way `multica usage --output json`
//! is meant to.
//!
//! ```text
//! cargo run -p multica-usage --example report -- [--by day|model|session|server] [--since YYYY-MM-DD] [--cache DIR]
//! ```
//!
//! Roots come from `CLAUDE_CONFIG_DIR` / `~/.claude` / `~/.config/claude` and
//! `CODEX_HOME` / `~/.codex`; without `--cache` nothing is persisted.

#![allow(clippy::print_stdout, reason = "this binary's output is the report")]
#![allow(clippy::print_stderr, reason = "errors go to stderr")]

use chrono::NaiveDate;
use multica_usage::{ScanConfig, Scanner};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let since: Option<NaiveDate> = value("--since").map(|text| text.parse()).transpose()?;
    let cache = match value("--cache") {
        Some(dir) => dir.into(),
        None => std::env::temp_dir().join(format!("multica-usage-report-{}", std::process::id())),
    };
    let mut config = ScanConfig::discover(&cache)?;
    if value("--cache").is_none() {
        config.cache_dir = None;
    }
    let result = Scanner::new(config).scan()?;
    let json = match value("--by").as_deref().unwrap_or("day") {
        "day" => serde_json::to_string_pretty(&result.days(since))?,
        "model" => serde_json::to_string_pretty(&result.by_model(since))?,
        "session" => serde_json::to_string_pretty(&result.sessions(since))?,
        "server" => serde_json::to_string_pretty(&result.runtime_usage_entries(since, None))?,
        other => {
            return Err(format!("--by {other}: expected day, model, session or server").into());
        }
    };
    println!("{json}");
    eprintln!(
        "{} files, {} read, {:.1} ms; prices of {}",
        result.stats.files,
        result.stats.files_read,
        result.stats.duration_ms,
        result.prices_taken_on
    );
    Ok(())
}
