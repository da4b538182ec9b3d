//! Generates a large log corpus, times our scanner on it, and compares our daily
//! per-model totals with ccusage's JSON output.
//!
//! ```text
//! cargo run --release -p multica-usage --example compare -- generate --dir DIR [--gb 1.0] [--seed 42] [--missing-request-ids]
//! cargo run --release -p multica-usage --example compare -- bench --dir DIR
//! cargo run --release -p multica-usage --example compare -- scan --dir DIR
//! cargo run --release -p multica-usage --example compare -- check --dir DIR --claude CLAUDE.json --codex CODEX.json
//! ```
//!
//! `DIR` gets `claude/projects/…` and `codex/{sessions,archived_sessions}/…`; point
//! `CLAUDE_CONFIG_DIR` at `DIR/claude` and `CODEX_HOME` at `DIR/codex` for ccusage.
//! Dates are UTC on both sides (`ccusage … --timezone UTC`).

#![allow(
    clippy::print_stdout,
    reason = "this binary reports its figures on stdout"
)]
#![allow(clippy::print_stderr, reason = "progress and errors go to stderr")]

mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use multica_usage::{DayZone, LogRoot, LogSource, ScanConfig, Scanner};
use serde_json::Value;
use support::corpus::{CorpusOptions, GeneratedFile, generate};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

struct Args {
    command: String,
    values: BTreeMap<String, String>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut raw = std::env::args().skip(1);
        let command = raw
            .next()
            .ok_or("usage: compare <generate|bench|scan|check> --dir DIR …")?;
        let mut values = BTreeMap::new();
        let rest: Vec<String> = raw.collect();
        let mut index = 0;
        while index < rest.len() {
            let key = rest[index].trim_start_matches("--").to_owned();
            match rest.get(index + 1).filter(|value| !value.starts_with("--")) {
                Some(value) => {
                    values.insert(key, value.clone());
                    index += 2;
                }
                None => {
                    values.insert(key, String::from("true"));
                    index += 1;
                }
            }
        }
        Ok(Args { command, values })
    }

    fn dir(&self) -> Result<PathBuf> {
        Ok(PathBuf::from(
            self.values.get("dir").ok_or("--dir is required")?,
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    match args.command.as_str() {
        "generate" => generate_corpus(&args),
        "bench" => bench(&args.dir()?),
        "scan" => scan_once(&args.dir()?),
        "rescan-loop" => rescan_loop(&args.dir()?),
        "check" => check(&args),
        other => Err(format!("unknown command {other}").into()),
    }
}

fn options(seed: u64, sessions: usize, missing_request_ids: bool) -> CorpusOptions {
    CorpusOptions {
        seed,
        claude_sessions: sessions * 3 / 4,
        codex_sessions: sessions / 4,
        bulk_bytes: 6_000,
        huge_every: 97,
        huge_bytes: 5 * 1024 * 1024,
        turns: 4..40,
        missing_request_ids,
    }
}

fn generate_corpus(args: &Args) -> Result<()> {
    let dir = args.dir()?;
    let gigabytes: f64 = args.get("gb").unwrap_or("1.0").parse()?;
    let seed: u64 = args.get("seed").unwrap_or("42").parse()?;
    let missing = args.get("missing-request-ids").is_some();
    // Calibrate the session count on a sample, then generate the whole corpus.
    let mut sample_bytes = 0usize;
    generate(&options(seed ^ 0x5eed, 200, missing), |file| {
        sample_bytes += file.bytes.len()
    });
    let target = (gigabytes * 1024.0 * 1024.0 * 1024.0) as usize;
    // Generous count; generation stops once the target size is written.
    let sessions = (target as f64 / sample_bytes as f64 * 200.0 * 1.5).ceil() as usize;
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let started = Instant::now();
    let (mut files, mut bytes) = (0usize, 0usize);
    let mut failure: Option<std::io::Error> = None;
    generate(&options(seed, sessions, missing), |file: GeneratedFile| {
        if failure.is_some() || bytes >= target {
            return;
        }
        let path = dir.join(&file.path);
        let written = path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&path, &file.bytes));
        match written {
            Ok(()) => {
                files += 1;
                bytes += file.bytes.len();
            }
            Err(error) => failure = Some(error),
        }
    });
    if let Some(error) = failure {
        return Err(error.into());
    }
    println!(
        "generated {files} files, {:.2} GiB (seed {seed}) in {:.1} s under {}",
        bytes as f64 / (1u64 << 30) as f64,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

fn config(dir: &Path, cache: Option<&Path>) -> ScanConfig {
    let mut config = ScanConfig::new(vec![
        LogRoot::claude(dir.join("claude/projects")),
        LogRoot::codex(dir.join("codex/sessions")),
        LogRoot::codex(dir.join("codex/archived_sessions")),
    ]);
    config.zone = DayZone::Utc;
    config.cache_dir = cache.map(Path::to_path_buf);
    config
}

fn peak_rss_mib() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn directory_size(path: &Path) -> u64 {
    walk_files(path)
        .iter()
        .filter_map(|file| fs::metadata(file).ok())
        .map(|m| m.len())
        .sum()
}

fn walk_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// About 1 MiB of realistic new Claude Code lines (tool results and streamed replies).
fn one_mebibyte_of_lines(round: usize) -> String {
    let mut text = String::new();
    let mut turn = 0;
    while text.len() < 1024 * 1024 {
        let filler = "cargo test --workspace passes; ".repeat(260);
        text.push_str(&format!(
            r#"{{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/home/dev/work/bench","sessionId":"bench-session","version":"2.0.14","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_b{round}_{turn}","type":"tool_result","content":"{filler}"}}]}},"uuid":"u{round}-{turn}","timestamp":"2025-10-30T12:00:00.000Z"}}"#
        ));
        text.push('\n');
        for output in [3, 90, 420] {
            text.push_str(&format!(
                r#"{{"parentUuid":"u{round}-{turn}","isSidechain":false,"userType":"external","cwd":"/home/dev/work/bench","sessionId":"bench-session","version":"2.0.14","type":"assistant","requestId":"req_bench_{round}_{turn}","message":{{"id":"msg_bench_{round}_{turn}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"Done with step {turn}."}}],"stop_reason":null,"usage":{{"input_tokens":7,"cache_creation_input_tokens":900,"cache_read_input_tokens":40000,"output_tokens":{output}}}}},"uuid":"a{round}-{turn}-{output}","timestamp":"2025-10-30T12:00:01.000Z"}}"#
            ));
            text.push('\n');
        }
        turn += 1;
    }
    text
}

fn bench(dir: &Path) -> Result<()> {
    let corpus_bytes = directory_size(dir);
    let corpus_files = walk_files(dir).len();
    println!(
        "corpus: {corpus_files} files, {:.2} GiB at {}",
        corpus_bytes as f64 / (1u64 << 30) as f64,
        dir.display()
    );
    let cache = dir.with_extension("usage-cache");
    if cache.exists() {
        fs::remove_dir_all(&cache)?;
    }

    let started = Instant::now();
    let full = Scanner::new(config(dir, None)).scan()?;
    let no_cache = started.elapsed();
    println!(
        "full scan, no cache:            {:>9.1} ms  ({:.0} MiB/s, {} records, {} rows)",
        no_cache.as_secs_f64() * 1000.0,
        full.stats.bytes_read as f64 / (1 << 20) as f64 / no_cache.as_secs_f64(),
        full.stats.records_read,
        full.rows.len()
    );

    let mut scanner = Scanner::new(config(dir, Some(&cache)));
    let started = Instant::now();
    let first = scanner.scan()?;
    println!(
        "full scan, writing the cache:   {:>9.1} ms  (cache {:.1} MiB)",
        started.elapsed().as_secs_f64() * 1000.0,
        directory_size(&cache) as f64 / (1 << 20) as f64
    );
    assert_eq!(first.rows, full.rows, "cached and uncached scans agree");

    let started = Instant::now();
    let unchanged = scanner.scan()?;
    println!(
        "rescan, nothing changed:        {:>9.1} ms  ({} files checked)",
        started.elapsed().as_secs_f64() * 1000.0,
        unchanged.stats.files
    );

    let started = Instant::now();
    let reloaded = Scanner::new(config(dir, Some(&cache))).scan()?;
    println!(
        "new process, cache load + scan: {:>9.1} ms  ({} files read)",
        started.elapsed().as_secs_f64() * 1000.0,
        reloaded.stats.files_read
    );
    assert_eq!(reloaded.rows, full.rows, "the cache reproduces the scan");

    let target = walk_files(&dir.join("claude/projects"))
        .into_iter()
        .find(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .ok_or("no Claude file in the corpus")?;
    let mut timings = Vec::new();
    for round in 0..5 {
        let lines = one_mebibyte_of_lines(round);
        OpenOptions::new()
            .append(true)
            .open(&target)?
            .write_all(lines.as_bytes())?;
        let started = Instant::now();
        let result = scanner.scan()?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        timings.push(elapsed);
        println!(
            "append {:.2} MiB, rescan:        {:>9.1} ms  ({} file read, {} bytes, {} records)",
            lines.len() as f64 / (1 << 20) as f64,
            elapsed,
            result.stats.files_read,
            result.stats.bytes_read,
            result.stats.records_read
        );
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "append 1 MiB + rescan, median:  {:>9.1} ms",
        timings[timings.len() / 2]
    );
    let after = scanner.scan()?;
    let fresh = Scanner::new(config(dir, None)).scan()?;
    assert_eq!(
        after.rows, fresh.rows,
        "incremental equals a full scan after appends"
    );
    println!("incremental result == full rescan: yes");
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
    fs::remove_dir_all(&cache)?;
    Ok(())
}

/// Repeated rescans without changes, for profiling the fixed cost of a scan.
fn rescan_loop(dir: &Path) -> Result<()> {
    let mut scanner = Scanner::new(config(dir, None));
    scanner.scan()?;
    let started = Instant::now();
    let rounds: u32 = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    for _ in 0..rounds {
        scanner.scan()?;
    }
    println!(
        "rescan without changes: {:.1} ms on average",
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
    );
    Ok(())
}

fn scan_once(dir: &Path) -> Result<()> {
    let started = Instant::now();
    let result = Scanner::new(config(dir, None)).scan()?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "scan: {:.3} s, {} files, {:.2} GiB, {} records, peak RSS {:.0} MiB",
        elapsed,
        result.stats.files,
        result.stats.bytes_read as f64 / (1u64 << 30) as f64,
        result.stats.records_read,
        peak_rss_mib()
    );
    Ok(())
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Counts {
    input: u64,
    output: u64,
    cache_creation: u64,
    cache_read: u64,
    cost: f64,
}

fn number(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// (date, model) → counts from ccusage's `claude daily --json --breakdown` and
/// `codex daily --json` outputs.
fn ccusage_rows(claude: &Value, codex: &Value) -> BTreeMap<(String, String), Counts> {
    let mut rows = BTreeMap::new();
    for day in claude["daily"].as_array().into_iter().flatten() {
        let date = day["date"].as_str().unwrap_or_default().to_owned();
        for model in day["modelBreakdowns"].as_array().into_iter().flatten() {
            let name = model["modelName"].as_str().unwrap_or_default().to_owned();
            rows.insert(
                (date.clone(), name),
                Counts {
                    input: number(model, "inputTokens"),
                    output: number(model, "outputTokens"),
                    cache_creation: number(model, "cacheCreationTokens"),
                    cache_read: number(model, "cacheReadTokens"),
                    cost: model["cost"].as_f64().unwrap_or(0.0),
                },
            );
        }
    }
    for day in codex["daily"].as_array().into_iter().flatten() {
        let date = day["date"].as_str().unwrap_or_default().to_owned();
        let Some(models) = day["models"].as_object() else {
            continue;
        };
        for (name, model) in models {
            rows.insert(
                (date.clone(), name.clone()),
                Counts {
                    input: number(model, "inputTokens"),
                    output: number(model, "outputTokens"),
                    cache_creation: number(model, "cacheCreationTokens"),
                    cache_read: number(model, "cacheReadTokens"),
                    // Per-model cost is not in ccusage's Codex JSON.
                    cost: f64::NAN,
                },
            );
        }
    }
    rows
}

fn check(args: &Args) -> Result<()> {
    let dir = args.dir()?;
    let claude: Value = serde_json::from_slice(&fs::read(
        args.get("claude").ok_or("--claude FILE is required")?,
    )?)?;
    let codex: Value = serde_json::from_slice(&fs::read(
        args.get("codex").ok_or("--codex FILE is required")?,
    )?)?;
    let theirs = ccusage_rows(&claude, &codex);
    let result = Scanner::new(config(&dir, None)).scan()?;
    let mut ours = BTreeMap::new();
    for row in result.daily(None) {
        ours.insert(
            (row.date.format("%Y-%m-%d").to_string(), row.model.clone()),
            (
                row.provider,
                Counts {
                    input: row.totals.input,
                    output: row.totals.output,
                    cache_creation: row.totals.cache_creation,
                    cache_read: row.totals.cache_read,
                    cost: row.totals.cost.unwrap_or(f64::NAN),
                },
            ),
        );
    }
    let keys: std::collections::BTreeSet<_> = ours.keys().chain(theirs.keys()).cloned().collect();
    let (mut same, mut different) = (0usize, 0usize);
    let mut totals = [(0u64, 0u64); 2];
    let (mut our_cost, mut their_cost) = (0.0f64, 0.0f64);
    for key in &keys {
        let mine = ours.get(key);
        let other = theirs.get(key);
        let (provider, mine_counts) =
            mine.map_or((None, Counts::default()), |(p, c)| (Some(*p), *c));
        let other_counts = other.copied().unwrap_or_default();
        let index = usize::from(provider == Some(LogSource::Codex) || key.1.starts_with("gpt"));
        let sum = |c: &Counts| c.input + c.output + c.cache_creation + c.cache_read;
        totals[index].0 += sum(&mine_counts);
        totals[index].1 += sum(&other_counts);
        if mine_counts.cost.is_finite() && other_counts.cost.is_finite() {
            our_cost += mine_counts.cost;
            their_cost += other_counts.cost;
        }
        let equal = mine.is_some()
            && other.is_some()
            && (
                mine_counts.input,
                mine_counts.output,
                mine_counts.cache_creation,
                mine_counts.cache_read,
            ) == (
                other_counts.input,
                other_counts.output,
                other_counts.cache_creation,
                other_counts.cache_read,
            );
        if equal {
            same += 1;
        } else {
            different += 1;
            if different <= 15 {
                println!(
                    "differs {} {}: ours {mine_counts:?} ccusage {other_counts:?}",
                    key.0, key.1
                );
            }
        }
    }
    println!(
        "daily per-model rows: {} compared, {same} identical, {different} different",
        keys.len()
    );
    println!(
        "claude tokens: ours {} ccusage {}",
        totals[0].0, totals[0].1
    );
    println!(
        "codex tokens:  ours {} ccusage {}",
        totals[1].0, totals[1].1
    );
    println!(
        "claude cost of models priced on both sides: ours ${our_cost:.2} ccusage ${their_cost:.2} ({:+.3}%)",
        (our_cost - their_cost) / their_cost * 100.0
    );
    Ok(())
}
