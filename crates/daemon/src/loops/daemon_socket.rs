//! The current server's daemon socket (`GET /api/daemon/ws?runtime_ids=…`): it
//! says `daemon:task_available` the moment a task is queued for one of our
//! runtimes (the claim loop wakes at once instead of at its next poll) and takes
//! heartbeats, which then need no HTTP request. Reconnects with jittered back-off
//! from 1 s to 30 s; a server without the socket (404 at the handshake) is left
//! to HTTP polling and heartbeats, as the seed server is.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::registry::Registry;
use crate::server::Server;
use crate::task_book::TaskBook;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often the socket checks whether the set of runtimes changed.
const RUNTIME_CHECK: Duration = Duration::from_secs(1);

enum Session {
    Stopped,
    NotOffered,
    RuntimesChanged,
    Lost(String),
}

#[derive(Debug, Clone)]
pub(crate) struct DaemonSocket {
    pub(crate) heartbeat_interval: Duration,
    pub(crate) server: Arc<Server>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) tasks: Arc<TaskBook>,
}

impl DaemonSocket {
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::starting_at(FIRST_RETRY).capped_at(MAX_RETRY);
        loop {
            let runtime_ids = self.registry.runtime_ids();
            if runtime_ids.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RUNTIME_CHECK) => continue,
                }
            }
            match self.connect_and_serve(&runtime_ids, &shutdown).await {
                Session::Stopped => return,
                Session::NotOffered => {
                    info!("the server has no daemon socket; polling for tasks");
                    return;
                }
                Session::RuntimesChanged => {
                    backoff.reset();
                    continue;
                }
                Session::Lost(reason) => {
                    self.server.vitals.socket_lost();
                    let delay = backoff.next_delay();
                    debug!(%reason, retry_in = ?delay, "daemon socket lost");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    async fn connect_and_serve(
        &self,
        runtime_ids: &[String],
        shutdown: &CancellationToken,
    ) -> Session {
        let url = socket_url(self.server.client.server().as_str(), runtime_ids);
        let mut request = match url.as_str().into_client_request() {
            Ok(request) => request,
            Err(error) => return Session::Lost(error.to_string()),
        };
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", self.server.token.expose()))
        {
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let connected = tokio::select! {
            () = shutdown.cancelled() => return Session::Stopped,
            connected = tokio_tungstenite::connect_async(request) => connected,
        };
        let mut socket = match connected {
            Ok((socket, _)) => socket,
            Err(WsError::Http(response)) if response.status().as_u16() == 404 => {
                return Session::NotOffered;
            }
            Err(error) => return Session::Lost(error.to_string()),
        };
        debug!(runtimes = runtime_ids.len(), "daemon socket connected");
        // Tasks may have been queued while the socket was down.
        self.tasks.want_claims();
        let mut heartbeat = tokio::time::interval(self.heartbeat_interval);
        let mut runtime_check = tokio::time::interval(RUNTIME_CHECK);
        runtime_check.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = socket.close(None).await;
                    return Session::Stopped;
                }
                _ = heartbeat.tick() => {
                    for runtime_id in runtime_ids {
                        let beat = json!({"type": "daemon:heartbeat", "payload": {"runtime_id": runtime_id}});
                        if let Err(error) = socket.send(Message::Text(beat.to_string().into())).await {
                            return Session::Lost(error.to_string());
                        }
                    }
                }
                _ = runtime_check.tick() => {
                    let mut now = self.registry.runtime_ids();
                    let mut before = runtime_ids.to_vec();
                    now.sort();
                    before.sort();
                    if now != before {
                        let _ = socket.close(None).await;
                        return Session::RuntimesChanged;
                    }
                }
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_message(&text),
                    Some(Ok(Message::Close(_))) | None => return Session::Lost("closed by the server".to_owned()),
                    Some(Err(error)) => return Session::Lost(error.to_string()),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    fn on_message(&self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            warn!("unreadable message on the daemon socket");
            return;
        };
        let payload = message.get("payload").unwrap_or(&Value::Null);
        let runtime_id = payload.get("runtime_id").and_then(Value::as_str);
        match message
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "daemon:task_available" => self.tasks.want_claims(),
            "daemon:heartbeat_ack" => {
                if payload.get("runtime_gone").and_then(Value::as_bool) == Some(true) {
                    let runtime_id = runtime_id.unwrap_or_default();
                    if self.registry.runtime_gone(runtime_id).is_some() {
                        warn!(%runtime_id, "runtime unknown to the server; registering again");
                    }
                } else {
                    self.server.vitals.socket_acked();
                    // An ack may name its runtime; one without a name covers them all.
                    match runtime_id {
                        Some(runtime_id) => self.registry.runtimes_seen([runtime_id]),
                        None => {
                            let ids = self.registry.runtime_ids();
                            self.registry.runtimes_seen(ids.iter().map(String::as_str));
                        }
                    }
                }
            }
            "daemon:workspaces_changed" => self.registry.want_sync(),
            other => debug!(kind = other, "daemon socket message ignored"),
        }
    }
}

/// `http://host/x` → `ws://host/x/api/daemon/ws?runtime_ids=a,b`.
fn socket_url(server: &str, runtime_ids: &[String]) -> String {
    let base = if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        server.to_owned()
    };
    format!("{base}/api/daemon/ws?runtime_ids={}", runtime_ids.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_urls_follow_the_server_scheme() {
        assert_eq!(
            socket_url("https://multica.example/base", &["a".into(), "b".into()]),
            "wss://multica.example/base/api/daemon/ws?runtime_ids=a,b"
        );
        assert_eq!(
            socket_url("http://127.0.0.1:8080", &["a".into()]),
            "ws://127.0.0.1:8080/api/daemon/ws?runtime_ids=a"
        );
    }
}
