//! Scanner throughput on a generated ~20 MiB corpus: a full scan, a rescan with no
//! changes, and a rescan after appending 64 KiB. The 1 GiB comparison with ccusage is
//! `examples/compare.rs` (see `scripts/compare-ccusage.sh`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multica_usage::{DayZone, LogRoot, ScanConfig, Scanner};

#[path = "../examples/support/corpus.rs"]
mod corpus;

fn config(dir: &Path) -> ScanConfig {
    let mut config = ScanConfig::new(vec![
        LogRoot::claude(dir.join("claude/projects")),
        LogRoot::codex(dir.join("codex/sessions")),
        LogRoot::codex(dir.join("codex/archived_sessions")),
    ]);
    config.zone = DayZone::Utc;
    config
}

fn scans(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = 0u64;
    corpus::generate(
        &corpus::CorpusOptions {
            seed: 7,
            claude_sessions: 90,
            codex_sessions: 30,
            bulk_bytes: 6_000,
            huge_every: 0,
            huge_bytes: 0,
            turns: 4..40,
            missing_request_ids: true,
        },
        |file| {
            let path = dir.path().join(&file.path);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, &file.bytes).expect("write");
            bytes += file.bytes.len() as u64;
        },
    );

    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("full", |b| {
        b.iter(|| Scanner::new(config(dir.path())).scan().expect("scan"));
    });
    group.finish();

    let mut group = c.benchmark_group("rescan");
    let mut scanner = Scanner::new(config(dir.path()));
    scanner.scan().expect("scan");
    group.bench_function("unchanged", |b| b.iter(|| scanner.scan().expect("scan")));

    let target = dir.path().join("bench-append/s.jsonl");
    fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    fs::write(&target, "").expect("create");
    let mut config = config(dir.path());
    config
        .roots
        .push(LogRoot::claude(dir.path().join("bench-append")));
    let mut scanner = Scanner::new(config);
    scanner.scan().expect("scan");
    let mut round = 0u64;
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("append_64KiB", |b| {
        b.iter(|| {
            let mut chunk = String::new();
            while chunk.len() < 64 * 1024 {
                round += 1;
                chunk.push_str(&format!(
                    r#"{{"type":"assistant","sessionId":"s","requestId":"req_{round}","version":"2.0.14","timestamp":"2025-10-30T12:00:00.000Z","message":{{"id":"msg_{round}","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"{}"}}],"usage":{{"input_tokens":7,"cache_read_input_tokens":40000,"output_tokens":420}}}}}}"#,
                    "x".repeat(600)
                ));
                chunk.push('\n');
            }
            OpenOptions::new()
                .append(true)
                .open(&target)
                .and_then(|mut file| file.write_all(chunk.as_bytes()))
                .expect("append");
            scanner.scan().expect("scan")
        });
    });
    group.finish();
}

criterion_group!(benches, scans);
criterion_main!(benches);
