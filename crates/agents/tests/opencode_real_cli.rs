//! The real OpenCode CLI (`opencode run --format json`, installed by
//! scripts/install-agent-clis.sh) driven by the backend against the fake model API
//! on 127.0.0.1: real chat-completions requests, a real `bash` tool call, its real
//! JSON events.
#![cfg(unix)]

mod support;

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use multica_agents::{AgentEvent, ModelUsage, Provider, RunStatus, backend};
use tokio_util::sync::CancellationToken;

use support::{Sandbox, finish, without_logs};

const COMMAND: &str = "printf 'alpha\\nbeta\\n' && touch ran-by-opencode";
const FINAL: &str = "The command printed alpha and beta.";

async fn api(scenario: Scenario) -> FakeModelApi {
    FakeModelApi::start(scenario).await.expect("fake model API")
}

fn tool_then_answer() -> Scenario {
    Scenario::ToolThenAnswer {
        command: COMMAND.into(),
        final_text: FINAL.into(),
    }
}

/// The end of OpenCode's own log in the sandbox, to explain a failure.
fn opencode_log(sandbox: &Sandbox) -> String {
    let dir = sandbox.home.path().join(".local/share/opencode/log");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    let start = text.len().saturating_sub(4000);
    text.get(start..).unwrap_or_default().to_owned()
}

/// Two answered requests per run (the tool call, then the answer), as OpenCode
/// counts them: cached input apart from input.
fn usage_of_one_run() -> Vec<ModelUsage> {
    vec![ModelUsage {
        model: "fake/gpt-test".into(),
        input_tokens: 2 * RESPONSE_USAGE.input_tokens,
        output_tokens: 2 * RESPONSE_USAGE.output_tokens,
        cache_read_tokens: 2 * RESPONSE_USAGE.cache_read_input_tokens,
        cache_write_tokens: 0,
        cost_usd: None,
    }]
}

#[tokio::test]
async fn opencode_runs_a_shell_tool_and_answers_then_resumes_its_session() {
    let api = api(tool_then_answer()).await;
    let sandbox = Sandbox::new();
    let opencode = backend(&Provider::opencode());
    let spec = || multica_agents::RunSpec {
        model: Some("fake/gpt-test".into()),
        ..sandbox.opencode_spec(&api, "Run the command.")
    };

    let (events, outcome) = finish(
        opencode
            .spawn(spec(), CancellationToken::new())
            .expect("opencode starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.output, FINAL);
    assert!(
        sandbox.work.path().join("ran-by-opencode").exists(),
        "the tool really ran"
    );
    assert_eq!(outcome.usage, usage_of_one_run());
    let session = outcome.session_id.clone().expect("a session id");
    assert!(session.starts_with("ses_"), "{session}");

    let events = without_logs(&events);
    let [preamble, tool_use, tool_result, answer] = &events[..] else {
        panic!("unexpected events: {events:#?}");
    };
    assert_eq!(preamble, &AgentEvent::Text("I'll run the command.".into()));
    assert!(
        matches!(tool_use, AgentEvent::ToolUse { tool, input, .. } if tool == "bash" && input["command"] == COMMAND),
        "{tool_use:?}"
    );
    assert!(
        matches!(tool_result, AgentEvent::ToolResult { output, is_error: false, .. } if output == "alpha\nbeta\n"),
        "{tool_result:?}"
    );
    assert_eq!(answer, &AgentEvent::Text(FINAL.into()));

    // The next run continues the same session: OpenCode sends the history along.
    let before = api.requests().len();
    let (events, resumed) = finish(
        opencode
            .spawn(
                multica_agents::RunSpec {
                    resume_session_id: Some(session.clone()),
                    prompt: "Run it again.".into(),
                    ..spec()
                },
                CancellationToken::new(),
            )
            .expect("opencode starts"),
    )
    .await;
    assert_eq!(
        resumed.status,
        RunStatus::Completed,
        "{resumed:?}\n{events:#?}"
    );
    assert_eq!(resumed.session_id.as_deref(), Some(session.as_str()));
    let replayed = api.requests()[before..]
        .iter()
        .filter(|request| request.is_chat_completion())
        .any(|request| request.body.to_string().contains("Run the command."));
    assert!(
        replayed,
        "the resumed run carries the first prompt in its history"
    );
}

#[tokio::test]
async fn a_session_opencode_no_longer_has_falls_back_to_a_fresh_one() {
    let api = api(tool_then_answer()).await;
    let sandbox = Sandbox::new();
    let (events, outcome) = finish(
        backend(&Provider::opencode())
            .spawn(
                multica_agents::RunSpec {
                    resume_session_id: Some("ses_gone".into()),
                    ..sandbox.opencode_spec(&api, "Run the command.")
                },
                CancellationToken::new(),
            )
            .expect("opencode starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    assert_ne!(outcome.session_id.as_deref(), Some("ses_gone"));
    assert!(
        events.iter().any(
            |event| matches!(event, AgentEvent::Status(text) if text.contains("fresh session"))
        )
    );
}

#[tokio::test]
async fn an_api_error_fails_the_run_with_the_providers_message() {
    let api = api(Scenario::Error {
        status: 400,
        body: r#"{"error":{"message":"scripted failure","type":"invalid_request_error"}}"#.into(),
    })
    .await;
    let sandbox = Sandbox::new();
    let (events, outcome) = finish(
        backend(&Provider::opencode())
            .spawn(
                sandbox.opencode_spec(&api, "Hello"),
                CancellationToken::new(),
            )
            .expect("opencode starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Failed,
        "{outcome:?}\n{events:#?}"
    );
    let error = outcome.error.expect("an error");
    assert!(
        error.contains("scripted failure"),
        "{error}\nrequests: {:?}\n{}",
        api.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>(),
        opencode_log(&sandbox)
    );
    assert!(events.contains(&AgentEvent::Error("APIError: scripted failure".into())));
}
