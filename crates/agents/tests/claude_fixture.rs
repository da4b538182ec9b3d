//! The parser on a recorded real transcript: Claude Code 2.1.331 against the fake
//! model API's ToolThenAnswer scenario (command `printf 'alpha\nbeta\n'`), exactly as
//! the backend drives it (stream-json in and out).

use std::path::Path;

use fake_model_api::RESPONSE_USAGE;
use multica_agents::{AgentEvent, ClaudeStreamParser, Line, LineSplitter, ModelUsage};
use serde_json::json;

const SESSION: &str = "8535824f-249e-475a-84e7-c185de180bb5";
const MODEL: &str = "claude-opus-5-5";
const FINAL: &str = "The command printed alpha and beta.";

fn fixture() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude_tool_then_answer.jsonl");
    std::fs::read(&path).expect("the recorded transcript")
}

/// Feeds the transcript in chunks of `chunk` bytes, as a pipe would deliver it.
fn parse_in_chunks(chunk: usize) -> (ClaudeStreamParser, Vec<AgentEvent>, usize) {
    let mut splitter = LineSplitter::default();
    let mut parser = ClaudeStreamParser::new();
    let mut events = Vec::new();
    let mut lines = Vec::new();
    let mut finished = 0;
    let bytes = fixture();
    for piece in bytes.chunks(chunk) {
        splitter.push(piece, &mut lines);
    }
    splitter.finish(&mut lines);
    for line in lines {
        let Line::Complete(line) = line else {
            panic!("no line of the fixture is too long");
        };
        let parsed = parser.parse_line(&line);
        assert!(parsed.control_request.is_none());
        finished += usize::from(parsed.finished);
        events.extend(parsed.events);
    }
    (parser, events, finished)
}

#[test]
fn the_recorded_run_becomes_the_expected_events() {
    let (_, events, finished) = parse_in_chunks(64 * 1024);
    assert_eq!(finished, 1, "one result line");
    assert_eq!(
        events,
        vec![
            AgentEvent::Status("running".into()),
            AgentEvent::Session("8535824f-249e-475a-84e7-c185de180bb5".into()),
            AgentEvent::Text("I'll run the command.".into()),
            AgentEvent::ToolUse {
                call_id: "toolu_fake_0002".into(),
                tool: "Bash".into(),
                input: json!({
                    "command": "printf 'alpha\\nbeta\\n'",
                    "description": "Run the scripted command"
                }),
            },
            AgentEvent::ToolResult {
                call_id: "toolu_fake_0002".into(),
                tool: Some("Bash".into()),
                output: "alpha\nbeta".into(),
                is_error: false,
            },
            AgentEvent::Text(FINAL.into()),
        ]
    );
}

#[test]
fn the_recorded_run_has_its_session_result_and_usage() {
    let (parser, _, _) = parse_in_chunks(64 * 1024);
    assert_eq!(parser.session_id(), Some(SESSION));
    assert_eq!(parser.model(), Some(MODEL));
    assert_eq!(parser.final_text(), Some(FINAL));
    assert!(!parser.final_is_error());
    assert_eq!(parser.final_subtype(), Some("success"));

    // Two answered requests (the tool call, the final answer), each reporting the
    // fake API's fixed usage.
    let usage = parser.usage_for_run(false);
    assert_eq!(usage.len(), 1);
    let ModelUsage {
        model,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        cost_usd,
    } = usage[0].clone();
    assert_eq!(model, MODEL);
    assert_eq!(input_tokens, 2 * RESPONSE_USAGE.input_tokens);
    assert_eq!(output_tokens, 2 * RESPONSE_USAGE.output_tokens);
    assert_eq!(
        cache_read_tokens,
        2 * RESPONSE_USAGE.cache_read_input_tokens
    );
    assert_eq!(
        cache_write_tokens,
        2 * RESPONSE_USAGE.cache_creation_input_tokens
    );
    assert!(cost_usd.is_some_and(|cost| cost > 0.0));

    // As a resumed run it would count the result line's own usage, which for this
    // first run is the same.
    let resumed = parser.usage_for_run(true);
    assert_eq!(resumed[0].input_tokens, input_tokens);
    assert_eq!(resumed[0].output_tokens, output_tokens);
    assert_eq!(resumed[0].cost_usd, None);
}

#[test]
fn chunk_boundaries_do_not_matter() {
    let (_, whole, _) = parse_in_chunks(1 << 20);
    for chunk in [1, 7, 100, 4096] {
        let (parser, events, finished) = parse_in_chunks(chunk);
        assert_eq!(events, whole, "chunks of {chunk} bytes");
        assert_eq!(finished, 1);
        assert_eq!(parser.session_id(), Some(SESSION));
    }
}

#[test]
fn a_truncated_transcript_degrades_gracefully() {
    // The CLI killed mid-line: the partial last line is a warning, not a panic.
    let bytes = fixture();
    let cut = &bytes[..bytes.len() - 500];
    let mut splitter = LineSplitter::default();
    let mut lines = Vec::new();
    splitter.push(cut, &mut lines);
    splitter.finish(&mut lines);
    let mut parser = ClaudeStreamParser::new();
    let mut warnings = 0;
    for line in lines {
        let Line::Complete(line) = line else {
            continue;
        };
        warnings += parser
            .parse_line(&line)
            .events
            .iter()
            .filter(|event| matches!(event, AgentEvent::Log { .. }))
            .count();
    }
    assert_eq!(warnings, 1);
    assert!(!parser.has_result());
    assert_eq!(parser.session_id(), Some(SESSION));
}

/// Qwen Code 0.24.4 copies the format (recorded against the fake chat API): the
/// same parser reads it, usage comes from the result's `usage` (Qwen counts cached
/// tokens inside `input_tokens`; they are taken out).
#[test]
fn a_recorded_qwen_code_run_reads_the_same_way() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/qwen_stream_json_tool_then_answer.jsonl");
    let text = std::fs::read_to_string(&path).expect("the recorded transcript");
    let mut parser = ClaudeStreamParser::new();
    let mut events = Vec::new();
    for line in text.lines() {
        events.extend(parser.parse_line(line.as_bytes()).events);
    }
    assert!(events.iter().any(|event| matches!(event,
        AgentEvent::ToolUse { tool, .. } if tool == "run_shell_command")));
    assert!(events.iter().any(|event| matches!(event,
        AgentEvent::ToolResult { output, is_error: false, .. } if output.starts_with("hi-from-tool"))));
    assert_eq!(parser.final_text(), Some("All done."));
    assert_eq!(
        parser.usage_for_run(false),
        vec![ModelUsage {
            model: "gpt-test".into(),
            input_tokens: 2 * RESPONSE_USAGE.input_tokens,
            output_tokens: 2 * RESPONSE_USAGE.output_tokens,
            cache_read_tokens: 2 * RESPONSE_USAGE.cache_read_input_tokens,
            cache_write_tokens: 0,
            cost_usd: None,
        }]
    );
}
