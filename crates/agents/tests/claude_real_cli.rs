//! The real Claude Code CLI (installed by scripts/install-agent-clis.sh) driven by
//! the backend against the fake model API on 127.0.0.1: real requests, a real Bash
//! tool call, the real event stream.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use multica_agents::{
    AgentBackend, AgentEvent, ModelUsage, Provider, RunOutcome, RunStatus, backend, detect_version,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use support::{Sandbox, assert_group_gone, finish, real_claude, without_logs};

const COMMAND: &str = "printf 'alpha\\nbeta\\n' && touch ran-by-claude";
const FINAL: &str = "The command printed alpha and beta.";

fn tool_then_answer() -> Scenario {
    Scenario::ToolThenAnswer {
        command: COMMAND.into(),
        final_text: FINAL.into(),
    }
}

fn claude() -> Box<dyn AgentBackend> {
    backend(&Provider::claude())
}

/// `n` answered requests' worth of the fake API's fixed usage, for `model`.
fn usage_of(model: &str, requests: u64) -> ModelUsage {
    ModelUsage {
        model: model.into(),
        input_tokens: requests * RESPONSE_USAGE.input_tokens,
        output_tokens: requests * RESPONSE_USAGE.output_tokens,
        cache_read_tokens: requests * RESPONSE_USAGE.cache_read_input_tokens,
        cache_write_tokens: requests * RESPONSE_USAGE.cache_creation_input_tokens,
        cost_usd: None,
    }
}

fn without_cost(usage: &[ModelUsage]) -> Vec<ModelUsage> {
    usage
        .iter()
        .map(|usage| ModelUsage {
            cost_usd: None,
            ..usage.clone()
        })
        .collect()
}

fn assert_tool_run(events: &[AgentEvent], outcome: &RunOutcome) {
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.output, FINAL);
    assert_eq!(outcome.exit_code, Some(0));
    let events = without_logs(events);
    let [status, session, preamble, tool_use, tool_result, answer] = &events[..] else {
        panic!("unexpected events: {events:#?}");
    };
    assert_eq!(status, &AgentEvent::Status("running".into()));
    assert!(
        matches!(session, AgentEvent::Session(id) if Some(id) == outcome.session_id.as_ref()),
        "the session is told before the turn: {session:?}"
    );
    assert_eq!(preamble, &AgentEvent::Text("I'll run the command.".into()));
    let AgentEvent::ToolUse {
        call_id,
        tool,
        input,
    } = tool_use
    else {
        panic!("a tool call, got {tool_use:?}");
    };
    assert_eq!(tool, "Bash");
    assert_eq!(input["command"], COMMAND);
    assert_eq!(
        tool_result,
        &AgentEvent::ToolResult {
            call_id: call_id.clone(),
            tool: Some("Bash".into()),
            output: "alpha\nbeta".into(),
            is_error: false,
        }
    );
    assert_eq!(answer, &AgentEvent::Text(FINAL.into()));
}

#[tokio::test]
async fn detect_version_of_the_real_cli() {
    let version = detect_version(&real_claude(), Duration::from_secs(30))
        .await
        .expect("claude --version");
    assert!(version.contains("Claude Code"), "{version}");
}

#[tokio::test]
async fn the_real_cli_runs_a_tool_and_answers() {
    let api = FakeModelApi::start(tool_then_answer())
        .await
        .expect("fake API");
    let sandbox = Sandbox::new();
    let run = claude()
        .spawn(
            sandbox.spec(&api, "Run the check and tell me what it printed."),
            CancellationToken::new(),
        )
        .expect("spawn claude");
    let pgid = run.pid.expect("pid");
    let (events, outcome) = finish(run).await;
    assert_tool_run(&events, &outcome);
    assert!(
        sandbox.work.path().join("ran-by-claude").exists(),
        "the tool really ran, in the work dir"
    );

    let session = outcome.session_id.clone().expect("a session id");
    assert_eq!(session.len(), 36, "a UUID: {session}");
    // The session is stored under the throw-away HOME.
    let projects = sandbox.home.path().join(".claude/projects");
    let stored = std::fs::read_dir(&projects)
        .expect("projects dir")
        .filter_map(Result::ok)
        .any(|project| project.path().join(format!("{session}.jsonl")).exists());
    assert!(stored, "session file under {}", projects.display());

    // Usage: the two answered requests, totalled per model by the CLI.
    let requests: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|request| request.is_messages())
        .collect();
    assert_eq!(requests.len(), 2, "the tool call and the final answer");
    let model = requests[0].model().expect("model").to_owned();
    assert_eq!(without_cost(&outcome.usage), vec![usage_of(&model, 2)]);
    assert!(outcome.usage[0].cost_usd.is_some_and(|cost| cost > 0.0));
    // The prompt reached the model (the CLI adds context messages of its own).
    assert!(
        requests[0].body["messages"]
            .to_string()
            .contains("Run the check and tell me what it printed."),
        "{}",
        requests[0].body["messages"]
    );
    api.shutdown().await;
    assert_group_gone(pgid, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn resuming_keeps_the_session_and_counts_only_the_new_run() {
    let api = FakeModelApi::start(tool_then_answer())
        .await
        .expect("fake API");
    let sandbox = Sandbox::new();
    let (_, first) = finish(
        claude()
            .spawn(sandbox.spec(&api, "First."), CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    assert_eq!(first.status, RunStatus::Completed, "{first:?}");
    let session = first.session_id.clone().expect("session");
    let first_requests = api.requests().len();

    let mut spec = sandbox.spec(&api, "Again, please.");
    spec.resume_session_id = Some(session.clone());
    let (events, second) = finish(
        claude()
            .spawn(spec, CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    assert_tool_run(&events, &second);
    assert_eq!(second.session_id.as_deref(), Some(session.as_str()));

    // The resumed conversation replays the first one.
    let resumed: Vec<_> = api.requests()[first_requests..]
        .iter()
        .filter(|request| request.is_messages())
        .cloned()
        .collect();
    assert_eq!(resumed.len(), 2);
    let history = resumed[0].body["messages"].as_array().map_or(0, Vec::len);
    assert!(history > 3, "history replayed: {history} messages");
    let model = resumed[0].model().expect("model").to_owned();
    // The CLI's per-model totals cover the whole session (four requests by now);
    // the outcome counts this run's two only.
    assert_eq!(second.usage, vec![usage_of(&model, 2)]);
    api.shutdown().await;
}

#[tokio::test]
async fn resuming_an_unknown_session_fails_clearly() {
    let api = FakeModelApi::start(tool_then_answer())
        .await
        .expect("fake API");
    let sandbox = Sandbox::new();
    let mut spec = sandbox.spec(&api, "Continue.");
    spec.resume_session_id = Some("00000000-0000-4000-8000-000000000000".into());
    let (_, outcome) = finish(
        claude()
            .spawn(spec, CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "claude reported an error: No conversation found with session ID: \
             00000000-0000-4000-8000-000000000000"
        )
    );
    assert!(outcome.usage.is_empty());
    api.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_hanging_run_ends_its_whole_process_group() {
    let api = FakeModelApi::start(Scenario::Hang).await.expect("fake API");
    let sandbox = Sandbox::new();
    let cancel = CancellationToken::new();
    let run = claude()
        .spawn(sandbox.spec(&api, "Wait forever."), cancel.clone())
        .expect("spawn");
    let pgid = run.pid.expect("pid");
    let events = run.events;
    // Cancel once the model request is in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !api.requests().iter().any(|request| request.is_messages()) {
        assert!(Instant::now() < deadline, "claude never called the model");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled_at = Instant::now();
    cancel.cancel();
    let (_, outcome) = finish(multica_agents::AgentRun {
        events,
        outcome: run.outcome,
        pid: Some(pgid),
    })
    .await;
    assert_eq!(outcome.status, RunStatus::Cancelled, "{outcome:?}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(8),
        "stopped within the grace periods, took {:?}",
        cancelled_at.elapsed()
    );
    assert!(outcome.session_id.is_some(), "the init line was read");
    assert_group_gone(pgid, Duration::from_secs(3)).await;
    api.shutdown().await;
}

#[tokio::test]
async fn a_model_api_error_fails_the_run_with_its_message() {
    let api = FakeModelApi::start(Scenario::Error {
        status: 400,
        body: json!({"type":"error","error":{"type":"invalid_request_error","message":"scripted failure"}})
            .to_string(),
    })
    .await
    .expect("fake API");
    let sandbox = Sandbox::new();
    let (events, outcome) = finish(
        claude()
            .spawn(sandbox.spec(&api, "Fail."), CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    let error = outcome.error.expect("an error");
    assert!(error.starts_with("claude reported an error: "), "{error}");
    assert!(error.contains("400"), "{error}");
    assert!(error.contains("scripted failure"), "{error}");
    assert!(events.iter().any(
        |event| matches!(event, AgentEvent::Error(text) if text.contains("scripted failure"))
    ));
    api.shutdown().await;
}

#[tokio::test]
async fn a_twenty_megabyte_answer_arrives_whole() {
    let bytes = 20_000_000;
    let api = FakeModelApi::start(Scenario::HugeAnswer { bytes })
        .await
        .expect("fake API");
    let sandbox = Sandbox::new();
    let (events, outcome) = finish(
        claude()
            .spawn(sandbox.spec(&api, "Say a lot."), CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.output.len(), bytes);
    assert!(outcome.output == fake_model_api::filler_text(bytes));
    let texts: Vec<usize> = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::Text(text) => Some(text.len()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec![bytes]);
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, AgentEvent::Error(_))),
        "no line was skipped"
    );
    api.shutdown().await;
}

#[tokio::test]
async fn the_root_refusal_is_a_clear_failure() {
    let api = FakeModelApi::start(Scenario::Answer("hi".into()))
        .await
        .expect("fake API");
    let sandbox = Sandbox::new();
    let mut spec = sandbox.spec(&api, "Hello.");
    // Overrides the IS_SANDBOX=1 of the sandbox (and of scripts/test.sh).
    spec.env.push(("IS_SANDBOX".into(), "0".into()));
    let (_, outcome) = finish(
        claude()
            .spawn(spec, CancellationToken::new())
            .expect("spawn"),
    )
    .await;
    if running_as_root() {
        assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
        assert_eq!(outcome.exit_code, Some(1));
        let error = outcome.error.expect("an error");
        assert!(error.contains("root/sudo privileges"), "{error}");
        assert!(error.contains("IS_SANDBOX=1"), "{error}");
    } else {
        // Not root: nothing to refuse.
        assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
        assert_eq!(outcome.output, "hi");
    }
    api.shutdown().await;
}

/// `/proc/self` belongs to the effective user of the process looking at it.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}
