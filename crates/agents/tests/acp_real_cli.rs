//! The generic ACP backend against a real ACP agent: `claude-agent-acp` (the
//! Agent Client Protocol adapter for Claude Code, from npm), declared the way a
//! user declares a custom runtime, running offline against the fake Anthropic API
//! on 127.0.0.1. A real tool call, real `session/update` notifications, real
//! usage, and a resumed session through `session/load`.
#![cfg(unix)]

mod support;

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use multica_agents::{AgentEvent, AgentProfile, Protocol, Provider, RunSpec, RunStatus, backend};
use tokio_util::sync::CancellationToken;

use support::{Sandbox, finish, real_claude_acp, without_logs};

const COMMAND: &str = "printf 'alpha\\nbeta\\n' && touch ran-over-acp";
const FINAL: &str = "The command printed alpha and beta.";

/// All it takes to drive an ACP agent: one profile.
fn claude_over_acp() -> Provider {
    Provider::custom(AgentProfile::new(
        "claude-acp",
        "Claude (ACP)",
        Protocol::Acp,
        "claude-agent-acp",
    ))
}

fn spec(sandbox: &Sandbox, api: &FakeModelApi, prompt: &str) -> RunSpec {
    RunSpec {
        executable: real_claude_acp(),
        ..sandbox.spec(api, prompt)
    }
}

#[tokio::test]
async fn an_acp_agent_runs_a_tool_answers_and_resumes_its_session() {
    let api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: COMMAND.into(),
        final_text: FINAL.into(),
    })
    .await
    .expect("fake model API");
    let sandbox = Sandbox::new();
    let acp = backend(&claude_over_acp());

    let (events, outcome) = finish(
        acp.spawn(
            spec(&sandbox, &api, "Run the command."),
            CancellationToken::new(),
        )
        .expect("the agent starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    assert_eq!(outcome.output, FINAL);
    assert!(
        sandbox.work.path().join("ran-over-acp").exists(),
        "the tool really ran"
    );
    let session = outcome.session_id.clone().expect("a session id");

    let events = without_logs(&events);
    let tool_use = events
        .iter()
        .find_map(|event| match event {
            AgentEvent::ToolUse { tool, input, .. } => Some((tool.clone(), input.clone())),
            _ => None,
        })
        .expect("a tool call");
    assert_eq!(tool_use.0, "Bash");
    assert_eq!(
        tool_use.1["command"], COMMAND,
        "the input, filled in by updates"
    );
    assert!(
        events.iter().any(|event| matches!(event,
            AgentEvent::ToolResult { output, is_error: false, .. } if output.contains("alpha\nbeta"))),
        "{events:#?}"
    );
    assert!(
        events.contains(&AgentEvent::Text(FINAL.into())),
        "{events:#?}"
    );
    let usage = &outcome.usage[0];
    assert_eq!(usage.input_tokens, 2 * RESPONSE_USAGE.input_tokens);
    assert_eq!(usage.output_tokens, 2 * RESPONSE_USAGE.output_tokens);
    assert_eq!(
        usage.cache_read_tokens,
        2 * RESPONSE_USAGE.cache_read_input_tokens
    );

    // The next run loads the session: the agent replays it (not shown again) and
    // sends the whole history to the model.
    let before = api.requests().len();
    let (events, resumed) = finish(
        acp.spawn(
            RunSpec {
                resume_session_id: Some(session.clone()),
                ..spec(&sandbox, &api, "Run it again.")
            },
            CancellationToken::new(),
        )
        .expect("the agent starts"),
    )
    .await;
    assert_eq!(
        resumed.status,
        RunStatus::Completed,
        "{resumed:?}\n{events:#?}"
    );
    assert_eq!(resumed.session_id.as_deref(), Some(session.as_str()));
    let texts: Vec<&AgentEvent> = events
        .iter()
        .filter(|event| matches!(event, AgentEvent::Text(_)))
        .collect();
    assert!(
        texts.len() <= 3,
        "the replayed history is not shown: {texts:#?}"
    );
    let with_history = api.requests()[before..]
        .iter()
        .filter(|request| request.is_messages())
        .any(|request| request.body.to_string().contains("Run the command."));
    assert!(with_history, "the resumed run carries the first prompt");
}

#[tokio::test]
async fn a_session_the_agent_cannot_load_falls_back_to_a_new_one() {
    let api = FakeModelApi::start(Scenario::Answer("Fresh.".into()))
        .await
        .expect("fake model API");
    let sandbox = Sandbox::new();
    let (events, outcome) = finish(
        backend(&claude_over_acp())
            .spawn(
                RunSpec {
                    resume_session_id: Some("00000000-0000-4000-8000-000000000000".into()),
                    ..spec(&sandbox, &api, "Hello")
                },
                CancellationToken::new(),
            )
            .expect("the agent starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    // The adapter adds a notice of its own after the answer.
    assert!(outcome.output.starts_with("Fresh."), "{}", outcome.output);
    assert_ne!(
        outcome.session_id.as_deref(),
        Some("00000000-0000-4000-8000-000000000000")
    );
}
