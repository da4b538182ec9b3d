//! The fake over real HTTP, as a client sees it.

use std::time::Duration;

use fake_model_api::{FakeModelApi, RESPONSE_USAGE, Scenario};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The `data:` payloads of an SSE body, with their event names.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|line| line.strip_prefix("event: "))
                .expect("an event name")
                .to_owned();
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .expect("a data line");
            (name, serde_json::from_str(data).expect("json data"))
        })
        .collect()
}

fn first_turn() -> Value {
    json!({
        "model": "claude-test",
        "stream": true,
        "tools": [{"name": "Bash", "input_schema": {}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "go"}]}],
    })
}

async fn post(api: &FakeModelApi, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", api.base_url()))
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn tool_call_then_answer_decided_by_the_request() {
    let api = FakeModelApi::start(Scenario::ToolThenAnswer {
        command: "echo hi".into(),
        final_text: "It said hi.".into(),
    })
    .await
    .expect("start");

    let response = post(&api, "/v1/messages?beta=true", &first_turn()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    let events = sse_events(&response.text().await.expect("body"));
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }
    let start = &events[0].1;
    assert_eq!(start["message"]["model"], "claude-test");
    assert_eq!(
        start["message"]["usage"]["input_tokens"],
        RESPONSE_USAGE.input_tokens
    );
    let tool_start = events
        .iter()
        .find(|(_, data)| data["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    assert_eq!(tool_start.1["content_block"]["name"], "Bash");
    let tool_id = tool_start.1["content_block"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let input: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
        .collect();
    let input: Value = serde_json::from_str(&input).expect("tool input");
    assert_eq!(input["command"], "echo hi");
    assert!(input["description"].is_string());
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .expect("message_delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        delta.1["usage"]["output_tokens"],
        RESPONSE_USAGE.output_tokens
    );

    // Same conversation with the tool's result appended: the final answer.
    let mut second = first_turn();
    second["messages"] = json!([
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "hi"}]},
    ]);
    let events = sse_events(
        &post(&api, "/v1/messages?beta=true", &second)
            .await
            .text()
            .await
            .expect("body"),
    );
    let text: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "It said hi.");
    assert!(
        events
            .iter()
            .any(|(_, data)| data["delta"]["stop_reason"] == "end_turn")
    );

    // The first request again (a retry, a replay) gets the tool call again: no
    // hidden counter.
    let again = sse_events(
        &post(&api, "/v1/messages", &first_turn())
            .await
            .text()
            .await
            .expect("body"),
    );
    assert!(
        again
            .iter()
            .any(|(_, data)| data["content_block"]["type"] == "tool_use")
    );

    let recorded = api.requests();
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|request| request.is_messages()));
    assert_eq!(recorded[0].query.as_deref(), Some("beta=true"));
    assert_eq!(recorded[0].model(), Some("claude-test"));
    assert_eq!(
        recorded[1].body["messages"].as_array().map(Vec::len),
        Some(3)
    );
    api.shutdown().await;
}

#[tokio::test]
async fn non_streaming_probes_and_token_counts() {
    let api = FakeModelApi::start(Scenario::Answer("Plain.".into()))
        .await
        .expect("start");
    let mut body = first_turn();
    body["stream"] = json!(false);
    let message: Value = post(&api, "/v1/messages", &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(message["type"], "message");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "Plain."}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(
        message["usage"]["output_tokens"],
        RESPONSE_USAGE.output_tokens
    );

    let counted: Value = post(&api, "/v1/messages/count_tokens?beta=true", &body)
        .await
        .json()
        .await
        .expect("json");
    assert!(counted["input_tokens"].as_u64().is_some_and(|n| n > 0));

    let probe = client().get(api.base_url()).send().await.expect("GET /");
    assert_eq!(probe.status(), 404);
    assert_eq!(api.requests()[2].method, "GET");
    api.shutdown().await;
}

#[tokio::test]
async fn errors_are_served_as_scripted() {
    let body =
        json!({"type":"error","error":{"type":"overloaded_error","message":"busy"}}).to_string();
    let api = FakeModelApi::start(Scenario::Error {
        status: 529,
        body: body.clone(),
    })
    .await
    .expect("start");
    let response = post(&api, "/v1/messages", &first_turn()).await;
    assert_eq!(response.status().as_u16(), 529);
    assert_eq!(response.text().await.expect("body"), body);
    api.shutdown().await;
}

#[tokio::test]
async fn huge_answers_have_the_exact_size() {
    let api = FakeModelApi::start(Scenario::HugeAnswer { bytes: 3_000_001 })
        .await
        .expect("start");
    let events = sse_events(
        &post(&api, "/v1/messages", &first_turn())
            .await
            .text()
            .await
            .expect("body"),
    );
    let text: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect();
    assert_eq!(text.len(), 3_000_001);
    assert!(text == fake_model_api::filler_text(3_000_001));
    api.shutdown().await;
}

#[tokio::test]
async fn hanging_answers_start_and_never_finish_until_shutdown() {
    let api = FakeModelApi::start(Scenario::Hang).await.expect("start");
    let mut response = post(&api, "/v1/messages", &first_turn()).await;
    assert_eq!(response.status(), 200);
    let first = response
        .chunk()
        .await
        .expect("chunk")
        .expect("message_start");
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    let mut rest = String::new();
    let waited = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(Some(chunk)) = response.chunk().await {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(waited.is_err(), "the answer never ends");
    assert!(!rest.contains("message_stop"));
    tokio::time::timeout(Duration::from_secs(10), api.shutdown())
        .await
        .expect("shutdown does not wait for the hanging answer");
}
