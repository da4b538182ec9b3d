//! Throughput of the Claude Code stream-json reading path (line splitting and
//! parsing) on a recorded real transcript of Claude Code 2.1.331, repeated to 4 MiB,
//! plus a transcript dominated by large tool results (the shape of big file reads).
//!
//! `cargo bench -p multica-agents --bench claude_parser -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multica_agents::{ClaudeStreamParser, Line, LineSplitter};

fn recorded_transcript() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude_tool_then_answer.jsonl");
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn repeated(transcript: &[u8], at_least: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(at_least + transcript.len());
    while out.len() < at_least {
        out.extend_from_slice(transcript);
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    out
}

fn large_tool_result() -> Vec<u8> {
    let output = "x".repeat(1024 * 1024);
    let line = serde_json::json!({"type":"user","message":{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"toolu_1","content": output}]}});
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    repeated(&bytes, 4 * 1024 * 1024)
}

fn parse_all(input: &[u8]) -> usize {
    let mut splitter = LineSplitter::default();
    let mut parser = ClaudeStreamParser::new();
    let mut lines = Vec::new();
    let mut events = 0;
    for chunk in input.chunks(64 * 1024) {
        splitter.push(chunk, &mut lines);
        for line in lines.drain(..) {
            if let Line::Complete(bytes) = line {
                events += parser.parse_line(&bytes).events.len();
            }
        }
    }
    events
}

/// The baseline: the same input split with `BufRead::lines` and parsed into
/// untyped `serde_json::Value`s, which is what a naive reader would do.
fn parse_all_untyped(input: &[u8]) -> usize {
    use std::io::BufRead;
    input
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .count()
}

fn bench(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("claude_stream_json");
    for (name, input) in [
        (
            "recorded_transcript",
            repeated(&recorded_transcript(), 4 * 1024 * 1024),
        ),
        ("large_tool_results", large_tool_result()),
    ] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |bencher| {
            bencher.iter(|| parse_all(black_box(&input)))
        });
        group.bench_function(format!("{name}/untyped_baseline"), |bencher| {
            bencher.iter(|| parse_all_untyped(black_box(&input)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
