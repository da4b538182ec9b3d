//! A Claude-compatible stream-json CLI other than Claude Code, driven by nothing
//! but its entry in the built-in table: the real Qwen Code from npm, offline
//! against the fake chat-completions API on 127.0.0.1 (prompt as `-p`, its own
//! shell tool, `--resume`).
#![cfg(unix)]

mod support;

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use multica_agents::{AgentEvent, ModelUsage, Provider, RunSpec, RunStatus, backend};
use tokio_util::sync::CancellationToken;

use support::{Sandbox, finish, real_qwen, without_logs};

const COMMAND: &str = "printf 'alpha\\nbeta\\n' && touch ran-by-qwen";
const FINAL: &str = "The command printed alpha and beta.";

fn spec(sandbox: &Sandbox, api: &FakeModelApi, prompt: &str) -> RunSpec {
    RunSpec {
        executable: real_qwen(),
        env: [
            sandbox.home_env(),
            vec![
                ("OPENAI_BASE_URL".into(), format!("{}/v1", api.base_url())),
                ("OPENAI_API_KEY".into(), "test".into()),
                ("OPENAI_MODEL".into(), "gpt-test".into()),
            ],
        ]
        .concat(),
        ..sandbox.spec(api, prompt)
    }
}

#[tokio::test]
async fn qwen_code_is_driven_by_its_table_entry_and_resumes() {
    let api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: COMMAND.into(),
        final_text: FINAL.into(),
    })
    .await
    .expect("fake model API");
    let sandbox = Sandbox::new();
    let qwen = backend(&Provider::builtin("qwen").expect("qwen is built in"));

    let (events, outcome) = finish(
        qwen.spawn(
            spec(&sandbox, &api, "Run the command."),
            CancellationToken::new(),
        )
        .expect("qwen starts"),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Completed,
        "{outcome:?}\n{events:#?}"
    );
    assert_eq!(outcome.output, FINAL);
    assert!(
        sandbox.work.path().join("ran-by-qwen").exists(),
        "the tool really ran"
    );
    let session = outcome.session_id.clone().expect("a session");
    assert_eq!(
        outcome.usage,
        vec![ModelUsage {
            model: "gpt-test".into(),
            input_tokens: 2 * RESPONSE_USAGE.input_tokens,
            output_tokens: 2 * RESPONSE_USAGE.output_tokens,
            cache_read_tokens: 2 * RESPONSE_USAGE.cache_read_input_tokens,
            cache_write_tokens: 0,
            cost_usd: None,
        }]
    );
    let events = without_logs(&events);
    assert!(
        events.iter().any(|event| matches!(event,
            AgentEvent::ToolUse { tool, input, .. } if tool == "run_shell_command" && input["command"] == COMMAND)),
        "{events:#?}"
    );
    assert!(events.iter().any(|event| matches!(event,
        AgentEvent::ToolResult { output, is_error: false, .. } if output.contains("alpha\nbeta"))));

    let before = api.requests().len();
    let (events, resumed) = finish(
        qwen.spawn(
            RunSpec {
                resume_session_id: Some(session.clone()),
                ..spec(&sandbox, &api, "Run it again.")
            },
            CancellationToken::new(),
        )
        .expect("qwen starts"),
    )
    .await;
    assert_eq!(
        resumed.status,
        RunStatus::Completed,
        "{resumed:?}\n{events:#?}"
    );
    assert_eq!(resumed.session_id.as_deref(), Some(session.as_str()));
    assert!(
        api.requests()[before..]
            .iter()
            .filter(|request| request.is_chat_completion())
            .any(|request| request.body.to_string().contains("Run the command.")),
        "the resumed run carries the first prompt"
    );
}
