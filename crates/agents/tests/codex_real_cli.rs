//! The real Codex CLI (`codex app-server`, installed by
//! scripts/install-agent-clis.sh) driven by the backend against the fake model API
//! on 127.0.0.1: real Responses requests, a real shell tool call, the real
//! JSON-RPC notifications.
#![cfg(unix)]

mod support;

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use multica_agents::{AgentEvent, LogLevel, ModelUsage, Provider, RunStatus, backend};
use tokio_util::sync::CancellationToken;

use support::{Sandbox, finish, without_logs};

const COMMAND: &str = "printf 'alpha\\nbeta\\n' && touch ran-by-codex";
const FINAL: &str = "The command printed alpha and beta.";

async fn api() -> FakeModelApi {
    FakeModelApi::start(Scenario::ToolThenAnswer {
        command: COMMAND.into(),
        final_text: FINAL.into(),
    })
    .await
    .expect("fake model API")
}

/// What `requests` answered requests of the fake API add up to, as Codex counts.
fn usage_of(requests: u64) -> Vec<ModelUsage> {
    vec![ModelUsage {
        model: "gpt-test".into(),
        input_tokens: requests * RESPONSE_USAGE.input_tokens,
        output_tokens: requests * RESPONSE_USAGE.output_tokens,
        cache_read_tokens: requests * RESPONSE_USAGE.cache_read_input_tokens,
        cache_write_tokens: 0,
        cost_usd: None,
    }]
}

#[tokio::test]
async fn codex_runs_a_shell_tool_and_answers_then_resumes_its_thread() {
    let api = api().await;
    let sandbox = Sandbox::new();
    let codex = backend(&Provider::codex());

    let run = codex
        .spawn(
            sandbox.codex_spec(&api, "Run the command."),
            CancellationToken::new(),
        )
        .expect("codex starts");
    let (events, outcome) = finish(run).await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.output, FINAL);
    assert!(
        sandbox.work.path().join("ran-by-codex").exists(),
        "the tool really ran"
    );
    let thread = outcome
        .session_id
        .clone()
        .expect("the thread id is the session");
    assert_eq!(outcome.usage, usage_of(2));

    let events = without_logs(&events);
    let [status, preamble, tool_use, tool_result, answer] = &events[..] else {
        panic!("unexpected events: {events:#?}");
    };
    assert_eq!(status, &AgentEvent::Status("running".into()));
    assert_eq!(preamble, &AgentEvent::Text("I'll run the command.".into()));
    let AgentEvent::ToolUse {
        call_id,
        tool,
        input,
    } = tool_use
    else {
        panic!("a tool call, got {tool_use:?}");
    };
    assert_eq!(tool, "shell");
    assert!(
        input["command"]
            .as_str()
            .is_some_and(|c| c.contains(COMMAND)),
        "{input}"
    );
    assert_eq!(
        tool_result,
        &AgentEvent::ToolResult {
            call_id: call_id.clone(),
            tool: Some("shell".into()),
            output: "alpha\nbeta\n".into(),
            is_error: false,
        }
    );
    assert_eq!(answer, &AgentEvent::Text(FINAL.into()));

    // The next task of the issue continues the thread; only its own requests count.
    let resumed = codex
        .spawn(
            multica_agents::RunSpec {
                resume_session_id: Some(thread.clone()),
                ..sandbox.codex_spec(&api, "Run it again.")
            },
            CancellationToken::new(),
        )
        .expect("codex starts");
    let (_, outcome) = finish(resumed).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(outcome.session_id.as_deref(), Some(thread.as_str()));
    assert_eq!(outcome.usage, usage_of(2));
    let last = api
        .requests()
        .into_iter()
        .rev()
        .find(|request| request.is_responses())
        .expect("a responses request");
    let history = last.body["input"].to_string();
    assert!(
        history.contains("Run the command."),
        "the old turn is in the history"
    );
}

#[tokio::test]
async fn a_session_codex_no_longer_has_starts_a_fresh_thread() {
    let api = api().await;
    let sandbox = Sandbox::new();
    let gone = "01a20f37-0000-7000-8000-000000000000";
    let run = backend(&Provider::codex())
        .spawn(
            multica_agents::RunSpec {
                resume_session_id: Some(gone.into()),
                ..sandbox.codex_spec(&api, "Run the command.")
            },
            CancellationToken::new(),
        )
        .expect("codex starts");
    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    let session = outcome.session_id.expect("a new thread");
    assert_ne!(session, gone);
    assert!(
        events.iter().any(|event| matches!(event,
            AgentEvent::Log { level: LogLevel::Warn, message } if message.contains("could not resume"))),
        "{events:#?}"
    );
}

#[tokio::test]
async fn a_model_api_error_fails_the_run_with_codexs_message() {
    let api = FakeModelApi::start(Scenario::Error {
        status: 400,
        body: r#"{"error":{"message":"model gpt-test is not allowed","type":"invalid_request_error"}}"#.into(),
    })
    .await
    .expect("fake model API");
    let sandbox = Sandbox::new();
    let run = backend(&Provider::codex())
        .spawn(sandbox.codex_spec(&api, "Hi."), CancellationToken::new())
        .expect("codex starts");
    let (_, outcome) = finish(run).await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    let error = outcome.error.expect("an error");
    assert!(error.contains("not allowed"), "{error}");
}
