//! Scanner tests on fixtures shaped like real Claude Code and Codex logs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use multica_usage::{DayZone, LogRoot, LogSource, ScanConfig, ScanResult, Scanner};

#[path = "../examples/support/corpus.rs"]
mod corpus;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn roots(base: &Path) -> Vec<LogRoot> {
    vec![
        LogRoot::claude(base.join("claude/projects")),
        LogRoot::codex(base.join("codex/sessions")),
        LogRoot::codex(base.join("codex/archived_sessions")),
    ]
}

fn config(base: &Path, cache: Option<&Path>) -> ScanConfig {
    let mut config = ScanConfig::new(roots(base));
    config.zone = DayZone::hours(2).expect("valid offset");
    config.cache_dir = cache.map(Path::to_path_buf);
    config
}

fn scan(base: &Path) -> ScanResult {
    Scanner::new(config(base, None)).scan().expect("scan")
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

#[test]
fn claude_fixture_keeps_the_largest_snapshot_drops_replays_and_counts_subagents() {
    let result = scan(&fixtures());
    let daily = result.daily(None);
    let claude: Vec<_> = daily
        .iter()
        .filter(|row| row.provider == LogSource::Claude)
        .collect();
    assert_eq!(claude.len(), 2, "{claude:#?}");

    let first = &claude[0].totals;
    assert_eq!(claude[0].date, date("2025-10-01"));
    assert_eq!(claude[0].model, "claude-sonnet-4-5-20250929");
    // msg_01A1 (3 snapshots, largest output 120) + msg_01A2 + msg_01A3 (no requestId,
    // 2 copies, largest output 50) + subagent msg_01S1 (largest output 90).
    // The sidechain replay of msg_01A2 and the <synthetic> row are not counted.
    assert_eq!(first.requests, 4);
    assert_eq!(first.input, 4 + 6 + 10 + 5);
    assert_eq!(first.output, 120 + 300 + 50 + 90);
    assert_eq!(first.cache_creation, 2000 + 500 + 3000);
    assert_eq!(first.cache_creation_1h, 500);
    assert_eq!(first.cache_read, 10000 + 12000);
    assert_eq!(first.total, 28085);
    // 3 $/M input, 15 output, 3.75 5m writes, 6 1h writes, 0.3 reads.
    let expected = (25.0 * 3.0 + 560.0 * 15.0 + 5000.0 * 3.75 + 500.0 * 6.0 + 22000.0 * 0.3) / 1e6;
    assert!((first.cost.expect("priced") - expected).abs() < 1e-12);

    // 22:00:10Z is 00:00:10 on the next day in UTC+2.
    assert_eq!(claude[1].date, date("2025-10-02"));
    assert_eq!(claude[1].totals.total, 3 + 80 + 15000);

    let sessions = result.sessions(None);
    let session = sessions
        .iter()
        .find(|s| s.provider == LogSource::Claude)
        .expect("claude session");
    assert_eq!(session.session_id, "5c1d7a3e-2b4f-4c8e-9a10-3f2e1d0c9b8a");
    assert_eq!(session.project.as_deref(), Some("-home-me-work-app"));
    assert_eq!(session.totals.total, 28085 + 15083);
}

#[test]
fn codex_fixture_counts_cached_and_reasoning_once_and_skips_replays_and_copies() {
    let result = scan(&fixtures());
    let codex: Vec<_> = result
        .daily(None)
        .into_iter()
        .filter(|row| row.provider == LogSource::Codex)
        .collect();
    assert_eq!(codex.len(), 2, "{codex:#?}");
    let first = &codex[0].totals;
    assert_eq!(codex[0].date, date("2025-09-15"));
    assert_eq!(codex[0].model, "gpt-5-codex");
    assert_eq!(
        (first.input, first.cache_read, first.output, first.reasoning),
        (9000, 3000, 800, 512)
    );
    assert_eq!(first.total, 12800);
    assert_eq!(first.requests, 1, "the archived copy counts once");
    // Day two: the 22:30Z turn (00:30 local), the totals-only turn, and the
    // subagent's own turn; its replay of the parent's three turns is skipped.
    let second = &codex[1].totals;
    assert_eq!(second.requests, 3);
    assert_eq!(second.input, 1000 + 4000 + 2000);
    assert_eq!(second.cache_read, 17000 + 6000 + 4000);
    assert_eq!(second.output, 700 + 400 + 200);
    assert_eq!(second.reasoning, 188 + 100 + 50);
    assert_eq!(second.total, 18700 + 10400 + 6200);
    let sessions = result.sessions(None);
    let codex_session = sessions
        .iter()
        .find(|s| {
            s.session_id
                .ends_with("0199a1b2-6c3d-7e4f-8a9b-0c1d2e3f4a5b")
        })
        .expect("the parent rollout is a session");
    assert_eq!(codex_session.project.as_deref(), Some("/home/me/work/api"));
    let cost = second.cost.expect("gpt-5-codex is priced");
    let expected = (7000.0 * 1.25 + 27000.0 * 0.125 + 1300.0 * 10.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12);
}

#[test]
fn server_rows_are_full_day_totals_per_model() {
    let result = scan(&fixtures());
    let rows = result.runtime_usage_entries(Some(date("2025-10-01")), Some(LogSource::Claude));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].date, "2025-10-01");
    assert_eq!(rows[0].provider, "claude");
    assert_eq!(rows[0].input_tokens, 25);
    assert_eq!(rows[0].output_tokens, 560);
    assert_eq!(rows[0].cache_write_tokens, 5500);
    assert_eq!(rows[0].cache_read_tokens, 22000);
    let json = serde_json::to_value(result.days(None)).expect("serializes");
    assert_eq!(json[0]["date"], "2025-09-15");
    assert!(json[0]["models"][0]["cost"].is_number());
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).expect("open");
    file.write_all(bytes).expect("append");
}

fn assistant_line(message: &str, request: &str, output: u64, padding: usize) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s","requestId":"{request}","version":"2.0.14","timestamp":"2025-10-01T08:00:00.000Z","message":{{"id":"{message}","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"{}"}}],"usage":{{"input_tokens":1,"output_tokens":{output}}}}}}}"#,
        "x".repeat(padding)
    ) + "\n"
}

#[test]
fn reads_lines_of_several_megabytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    let huge_tool_result = format!(
        r#"{{"type":"user","sessionId":"s","timestamp":"2025-10-01T07:59:00.000Z","message":{{"role":"user","content":[{{"type":"tool_result","content":"{}"}}]}}}}"#,
        "y".repeat(5 * 1024 * 1024)
    ) + "\n";
    let mut content = huge_tool_result;
    content += &assistant_line("m1", "r1", 10, 5 * 1024 * 1024);
    content += &assistant_line("m2", "r2", 20, 10);
    write(&file, content.as_bytes());
    let total = scan(dir.path()).total(None);
    assert_eq!(total.requests, 2);
    assert_eq!(total.output, 30);
}

#[test]
fn a_truncated_last_line_counts_once_it_completes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = tempfile::tempdir().expect("cache dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    let line = assistant_line("m1", "r1", 42, 100);
    let (head, tail) = line.split_at(line.len() / 2);
    write(&file, assistant_line("m0", "r0", 1, 0).as_bytes());
    append(&file, head.as_bytes());
    let mut scanner = Scanner::new(config(dir.path(), Some(cache.path())));
    assert_eq!(scanner.scan().expect("scan").total(None).output, 1);
    append(&file, tail.as_bytes());
    let result = scanner.scan().expect("scan");
    assert_eq!(result.total(None).output, 43);
    assert_eq!(result.stats.files_read, 1);
    assert_eq!(
        result.stats.bytes_read,
        line.len() as u64,
        "only the completed line is read"
    );
    assert_eq!(result.rows, scan(dir.path()).rows);
}

#[test]
fn a_streamed_copy_appended_later_replaces_the_smaller_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("claude/projects/p/s.jsonl");
    let other = dir.path().join("claude/projects/p/t.jsonl");
    write(&main, assistant_line("m1", "r1", 5, 0).as_bytes());
    let mut scanner = Scanner::new(config(dir.path(), None));
    assert_eq!(scanner.scan().expect("scan").total(None).output, 5);
    append(&main, assistant_line("m1", "r1", 500, 0).as_bytes());
    assert_eq!(scanner.scan().expect("scan").total(None).output, 500);
    // The same response copied into another file does not add up.
    write(&other, assistant_line("m1", "r1", 300, 0).as_bytes());
    let result = scanner.scan().expect("scan");
    assert_eq!(result.total(None).output, 500);
    assert_eq!(result.total(None).requests, 1);
}

#[test]
fn a_file_that_shrank_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    let two = assistant_line("m1", "r1", 5, 0) + &assistant_line("m2", "r2", 7, 0);
    write(&file, two.as_bytes());
    let mut scanner = Scanner::new(config(dir.path(), None));
    assert_eq!(scanner.scan().expect("scan").total(None).output, 12);
    write(&file, assistant_line("m3", "r3", 1, 0).as_bytes());
    assert_eq!(scanner.scan().expect("scan").total(None).output, 1);
}

#[test]
fn a_new_process_resumes_from_the_cache_without_reading_logs() {
    let cache = tempfile::tempdir().expect("cache dir");
    let first = Scanner::new(config(&fixtures(), Some(cache.path())))
        .scan()
        .expect("scan");
    assert!(first.stats.files_read >= 5);
    let second = Scanner::new(config(&fixtures(), Some(cache.path())))
        .scan()
        .expect("scan");
    assert_eq!(second.stats.files_read, 0);
    assert_eq!(second.stats.cached_files, first.stats.files);
    assert_eq!(second.rows, first.rows);
}

#[test]
fn unknown_models_have_tokens_but_no_cost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    let line =
        assistant_line("m1", "r1", 5, 0).replace("claude-sonnet-4-5-20250929", "claude-future-9");
    write(&file, line.as_bytes());
    let result = scan(dir.path());
    let models = result.by_model(None);
    assert_eq!(models[0].model, "claude-future-9");
    assert_eq!(models[0].totals.output, 5);
    assert_eq!(models[0].totals.cost, None);
    assert_eq!(result.total(None).unpriced_models, ["claude-future-9"]);
}

/// Grows a generated corpus in random slices (cutting lines anywhere), scanning after
/// every step — sometimes from a new process that only has the cache — and checks
/// each result against a full scan of the same bytes.
#[test]
fn incremental_scans_equal_a_full_scan() {
    for seed in 1..=8 {
        let mut files = Vec::new();
        corpus::generate(
            &corpus::CorpusOptions {
                seed,
                claude_sessions: 14,
                codex_sessions: 10,
                bulk_bytes: 300,
                huge_every: 0,
                huge_bytes: 0,
                turns: 2..9,
                missing_request_ids: true,
            },
            |file| files.push(file),
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = tempfile::tempdir().expect("cache dir");
        let mut written = vec![0usize; files.len()];
        let mut rng = fastrand::Rng::with_seed(seed * 7919);
        let mut scanner = Scanner::new(config(dir.path(), Some(cache.path())));
        let mut steps = 0;
        while written
            .iter()
            .zip(&files)
            .any(|(done, file)| *done < file.bytes.len())
        {
            for (index, file) in files.iter().enumerate() {
                if written[index] == file.bytes.len() || rng.u8(..3) == 0 {
                    continue;
                }
                let remaining = file.bytes.len() - written[index];
                let take = if rng.bool() {
                    remaining
                } else {
                    rng.usize(1..=remaining)
                };
                let path = dir.path().join(&file.path);
                let slice = &file.bytes[written[index]..written[index] + take];
                if written[index] == 0 {
                    write(&path, slice);
                } else {
                    append(&path, slice);
                }
                written[index] += take;
            }
            steps += 1;
            if rng.u8(..4) == 0 {
                scanner = Scanner::new(config(dir.path(), Some(cache.path())));
            }
            let incremental = scanner.scan().expect("incremental scan");
            let full = scan(dir.path());
            assert_eq!(incremental.rows, full.rows, "seed {seed}, step {steps}");
        }
        let full = scan(dir.path());
        assert!(full.total(None).requests > 50, "the corpus has usage");
        assert!(steps > 2);
    }
}

/// Corrupted logs (flipped bytes, cut lines, binary noise) never panic the scanner.
#[test]
fn corrupted_logs_do_not_panic() {
    let mut rng = fastrand::Rng::with_seed(99);
    let sources: Vec<PathBuf> = [
        "claude/projects/-home-me-work-app/5c1d7a3e-2b4f-4c8e-9a10-3f2e1d0c9b8a.jsonl",
        "codex/sessions/2025/09/16/rollout-2025-09-16T01-10-00-0199a1b2-9d8e-7f6a-8b5c-4d3e2f1a0b9c.jsonl",
    ]
    .iter()
    .map(|relative| fixtures().join(relative))
    .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    for round in 0..40 {
        for (index, source) in sources.iter().enumerate() {
            let mut bytes = fs::read(source).expect("fixture");
            for _ in 0..rng.usize(1..20) {
                let at = rng.usize(..bytes.len());
                bytes[at] = match rng.u8(..4) {
                    0 => b'"',
                    1 => b'\n',
                    2 => b'9',
                    _ => rng.u8(..),
                };
            }
            bytes.truncate(rng.usize(1..=bytes.len()));
            let folder = if index == 0 {
                "claude/projects/p"
            } else {
                "codex/sessions"
            };
            write(
                &dir.path().join(folder).join(format!("f{round}.jsonl")),
                &bytes,
            );
        }
    }
    let result = scan(dir.path());
    assert!(result.total(None).requests > 0, "intact lines still count");
}

/// Anthropic bills a request whose prompt exceeds 200k tokens entirely at the
/// long-context rates (input, output and cache alike).
#[test]
fn a_long_context_request_is_billed_at_premium_rates_as_a_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    let long = r#"{"type":"assistant","sessionId":"s","requestId":"r1","version":"2.0.14","timestamp":"2025-10-01T08:00:00.000Z","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":1000,"cache_read_input_tokens":250000,"cache_creation_input_tokens":0,"output_tokens":1000}}}"#;
    let short = long
        .replace("250000", "150000")
        .replace("\"m1\"", "\"m2\"")
        .replace("\"r1\"", "\"r2\"");
    write(&file, format!("{long}\n{short}\n").as_bytes());
    let total = scan(dir.path()).total(None);
    assert_eq!(total.long_context, 252_000);
    let premium = (1000.0 * 6.0 + 250_000.0 * 0.6 + 1000.0 * 22.5) / 1e6;
    let standard = (1000.0 * 3.0 + 150_000.0 * 0.3 + 1000.0 * 15.0) / 1e6;
    assert!((total.cost.expect("priced") - (premium + standard)).abs() < 1e-12);
}

#[test]
fn a_file_whose_mtime_went_back_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    write(&file, assistant_line("m1", "r1", 5, 0).as_bytes());
    let mut scanner = Scanner::new(config(dir.path(), None));
    assert_eq!(scanner.scan().expect("scan").total(None).output, 5);
    // Restored from a backup: longer, but older.
    let restored = assistant_line("m7", "r7", 70, 0) + &assistant_line("m8", "r8", 8, 0);
    write(&file, restored.as_bytes());
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
    assert_eq!(scanner.scan().expect("scan").total(None).output, 78);
}

#[test]
fn deleted_logs_keep_counting_unless_asked_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = tempfile::tempdir().expect("cache dir");
    let file = dir.path().join("claude/projects/p/s.jsonl");
    write(&file, assistant_line("m1", "r1", 5, 0).as_bytes());
    let mut keeping = Scanner::new(config(dir.path(), Some(cache.path())));
    assert_eq!(keeping.scan().expect("scan").total(None).output, 5);
    fs::remove_file(&file).expect("delete");
    assert_eq!(keeping.scan().expect("scan").total(None).output, 5);
    // A new process still has it, from the cache.
    let mut reloaded = Scanner::new(config(dir.path(), Some(cache.path())));
    assert_eq!(reloaded.scan().expect("scan").total(None).output, 5);

    let mut dropping_config = config(dir.path(), Some(cache.path()));
    dropping_config.keep_deleted_files = false;
    let mut dropping = Scanner::new(dropping_config);
    assert_eq!(dropping.scan().expect("scan").total(None).requests, 0);

    // A cache shared with other roots does not leak their files into this scan.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let other = Scanner::new(config(elsewhere.path(), Some(cache.path())))
        .scan()
        .expect("scan");
    assert_eq!(other.total(None).requests, 0);
}
