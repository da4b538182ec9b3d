//! A scripted model API on 127.0.0.1, so that the real agent CLIs can run offline in
//! tests: they make real requests, run real tools, and print their real event
//! streams, while the answers come from a [`Scenario`].
//!
//! One module per wire dialect: Anthropic Messages (Claude Code), OpenAI
//! Responses (Codex) and OpenAI chat completions (OpenCode). Each reads a
//! [`script::Conversation`] from its requests and renders the dialect-neutral
//! [`script::Reply`].

mod anthropic;
mod openai_chat;
mod openai_responses;
mod script;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

pub use script::filler_text;

/// What the model answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// First turn: a Bash tool call running `command` (with a description); once the
    /// tool result arrives: `final_text`. Requests that offer no Bash tool (side
    /// requests such as titles) get `final_text` too.
    ToolThenAnswer { command: String, final_text: String },
    /// A plain text answer.
    Answer(String),
    /// An answer of exactly `bytes` bytes of ASCII text (see [`filler_text`]), to
    /// make a CLI print a huge line.
    HugeAnswer { bytes: usize },
    /// Accept the request, start the answer, and never finish it.
    Hang,
    /// Reply with this HTTP status and body.
    Error { status: u16, body: String },
}

/// Token counts, as the Anthropic API reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

/// What every answer reports having used, so tests can assert totals: a run's usage
/// for a model is this times the number of answered requests for that model.
pub const RESPONSE_USAGE: Usage = Usage {
    input_tokens: 1_200,
    output_tokens: 48,
    cache_creation_input_tokens: 300,
    cache_read_input_tokens: 2_000,
};

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    /// The parsed JSON body; `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// A conversation turn (`POST …/v1/messages`), not a probe or a token count.
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/v1/messages")
    }

    /// A Responses API turn (`POST …/v1/responses`), as Codex sends them.
    pub fn is_responses(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/v1/responses")
    }

    /// A chat-completions turn (`POST …/v1/chat/completions`), as OpenCode sends them.
    pub fn is_chat_completion(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/v1/chat/completions")
    }

    /// The model the request asked for, if it names one.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }
}

#[derive(Debug)]
struct Shared {
    scenario: Scenario,
    requests: Mutex<Vec<RecordedRequest>>,
    shutdown: CancellationToken,
}

/// A running fake model API. Dropping it stops the server too; [`Self::shutdown`]
/// also waits for it.
#[derive(Debug)]
pub struct FakeModelApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl FakeModelApi {
    /// Serves `scenario` on a free port of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> std::io::Result<FakeModelApi> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), scenario).await
    }

    /// Serves `scenario` on `address` (port 0 picks a free one).
    pub async fn start_on(
        address: SocketAddr,
        scenario: Scenario,
    ) -> std::io::Result<FakeModelApi> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            scenario,
            requests: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let stop = shared.shutdown.clone();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(error) = serving.await {
                debug!(%error, "fake model API stopped with an error");
            }
        });
        Ok(FakeModelApi {
            address,
            shared,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`, what `ANTHROPIC_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The environment that points Claude Code at this server and keeps it from
    /// calling anything else. `HOME` (a throw-away one) and, as root, `IS_SANDBOX=1`
    /// are left to the caller.
    pub fn claude_env(&self) -> Vec<(String, String)> {
        [
            ("ANTHROPIC_BASE_URL", self.base_url().as_str()),
            ("ANTHROPIC_API_KEY", "test"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// A Codex `config.toml` that makes `model` come from this server (the API key
    /// is read from `FAKE_API_KEY`, see [`Self::codex_env`]).
    pub fn codex_config(&self, model: &str) -> String {
        format!(
            "model = \"{model}\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\n\
             name = \"fake\"\nbase_url = \"{}/v1\"\nwire_api = \"responses\"\n\
             env_key = \"FAKE_API_KEY\"\n",
            self.base_url()
        )
    }

    /// The environment [`Self::codex_config`] expects.
    pub fn codex_env(&self) -> Vec<(String, String)> {
        vec![("FAKE_API_KEY".to_owned(), "test".to_owned())]
    }

    /// An `opencode.json` that makes `fake/<model>` come from this server through
    /// OpenCode's openai-compatible provider, and the default model.
    pub fn opencode_config(&self, model: &str) -> String {
        serde_json::json!({
            "$schema": "https://opencode.ai/config.json",
            "provider": {"fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "fake",
                "options": {"baseURL": format!("{}/v1", self.base_url()), "apiKey": "test"},
                "models": {model: {"name": model}},
            }},
            "model": format!("fake/{model}"),
            "autoupdate": false,
            "share": "disabled",
        })
        .to_string()
    }

    /// Stops serving, ends hanging answers, and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            // Connections that a client keeps open must not hold the test up.
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                debug!("fake model API connections still open at shutdown");
            }
        }
    }
}

impl Drop for FakeModelApi {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    debug!(%method, %uri, "fake model API request");
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_owned),
            body: body.clone(),
        });

    if method != Method::POST {
        return not_found();
    }
    if path.ends_with("/v1/messages/count_tokens") {
        return json_response(StatusCode::OK, &anthropic::count_tokens(&body));
    }
    if path.ends_with("/v1/messages") {
        return anthropic_messages(&shared, &body);
    }
    if path.ends_with("/v1/responses") {
        return openai_responses(&shared, &body);
    }
    if path.ends_with("/v1/chat/completions") {
        return openai_chat(&shared, &body);
    }
    not_found()
}

fn openai_chat(shared: &Shared, body: &Value) -> Response {
    let conversation = openai_chat::conversation(body);
    let id = openai_chat::completion_id(&conversation);
    let model = openai_chat::model(body);
    match shared.scenario.reply(&conversation) {
        script::Reply::Error { status, body } => error_response(status, body),
        script::Reply::Hang => hanging_stream(shared, vec![openai_chat::opening(&id, &model)]),
        script::Reply::Turn { blocks, stop } => {
            let events = openai_chat::stream_events(&id, &model, &blocks, stop);
            let stream = futures::stream::iter(events).map(Ok::<_, std::convert::Infallible>);
            sse_response(Body::from_stream(stream))
        }
    }
}

fn openai_responses(shared: &Shared, body: &Value) -> Response {
    let conversation = openai_responses::conversation(body);
    let id = openai_responses::response_id(&conversation);
    let model = openai_responses::model(body);
    match shared.scenario.reply(&conversation) {
        script::Reply::Error { status, body } => error_response(status, body),
        script::Reply::Hang => hanging_stream(shared, vec![openai_responses::created(&id, &model)]),
        script::Reply::Turn { blocks, .. } => {
            let events = openai_responses::stream_events(&id, &model, &blocks);
            let stream = futures::stream::iter(events).map(Ok::<_, std::convert::Infallible>);
            sse_response(Body::from_stream(stream))
        }
    }
}

fn error_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Sends `start`, then nothing more while the server runs; ends (unfinished) at
/// shutdown so that graceful shutdown does not wait forever.
fn hanging_stream(shared: &Shared, start: Vec<Bytes>) -> Response {
    let stop = shared.shutdown.clone();
    let hanging = futures::stream::once(async move {
        stop.cancelled_owned().await;
        Bytes::new()
    });
    let stream = futures::stream::iter(start)
        .chain(hanging)
        .map(Ok::<_, std::convert::Infallible>);
    sse_response(Body::from_stream(stream))
}

fn anthropic_messages(shared: &Shared, body: &Value) -> Response {
    let conversation = anthropic::conversation(body);
    let id = anthropic::message_id(&conversation);
    let model = anthropic::model(body);
    match shared.scenario.reply(&conversation) {
        script::Reply::Error { status, body } => error_response(status, body),
        script::Reply::Hang => hanging_stream(
            shared,
            vec![anthropic::message_start(&id, &model), anthropic::ping()],
        ),
        script::Reply::Turn { blocks, stop } if anthropic::wants_stream(body) => {
            let events = anthropic::stream_events(&id, &model, &blocks, stop);
            let stream = futures::stream::iter(events).map(Ok::<_, std::convert::Infallible>);
            sse_response(Body::from_stream(stream))
        }
        script::Reply::Turn { blocks, stop } => json_response(
            StatusCode::OK,
            &anthropic::message(&id, &model, &blocks, stop),
        ),
    }
}

fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &anthropic::error_body("not_found_error", "Not found"),
    )
}
