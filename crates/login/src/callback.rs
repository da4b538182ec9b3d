//! The loopback half of the browser login: a one-shot HTTP listener on 127.0.0.1
//! that the Multica web app redirects to with `?token=…&state=…`. A callback whose
//! `state` is not the one we generated is refused (another page, or another login,
//! must not be able to hand us a token).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use multica_api::Secret;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "cannot open a local port for the browser to come back to ({0}); log in with a token instead"
    )]
    Bind(std::io::Error),
    #[error("no sign-in arrived within {} minutes; start the login again", .0.as_secs() / 60)]
    TimedOut(Duration),
    #[error("login cancelled")]
    Cancelled,
}

/// A listener waiting for one browser callback.
#[derive(Debug)]
pub struct LoginCallback {
    listener: TcpListener,
    pending: Arc<Pending>,
    receiver: oneshot::Receiver<Secret>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    token: Option<String>,
    state: Option<String>,
}

#[derive(Debug)]
struct Pending {
    state: String,
    sender: Mutex<Option<oneshot::Sender<Secret>>>,
}

/// Why a callback was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("missing token")]
    MissingToken,
    #[error("invalid state parameter")]
    WrongState,
    #[error("this login has already completed")]
    AlreadyDone,
}

/// Hands a callback that arrived another way (a `multica://` deep link) to the
/// waiting login, with the same state check. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallbackSink {
    pending: Arc<Pending>,
}

impl CallbackSink {
    pub fn deliver(&self, token: Option<&str>, state: Option<&str>) -> Result<(), Refused> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refused::MissingToken)?;
        if state != Some(self.pending.state.as_str()) {
            return Err(Refused::WrongState);
        }
        let sender = self
            .pending
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(Refused::AlreadyDone)?;
        let _ = sender.send(Secret::new(token));
        Ok(())
    }
}

impl LoginCallback {
    pub async fn bind() -> Result<Self, CallbackError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(CallbackError::Bind)?;
        // 256 random bits: two v4 UUIDs carry 244 of them, which is plenty.
        let state = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let (sender, receiver) = oneshot::channel();
        Ok(Self {
            listener,
            pending: Arc::new(Pending {
                state,
                sender: Mutex::new(Some(sender)),
            }),
            receiver,
        })
    }

    pub fn address(&self) -> Result<SocketAddr, CallbackError> {
        self.listener.local_addr().map_err(CallbackError::Bind)
    }

    /// The URL the web app redirects to.
    pub fn callback_url(&self) -> Result<String, CallbackError> {
        Ok(format!(
            "http://127.0.0.1:{}/callback",
            self.address()?.port()
        ))
    }

    pub fn state(&self) -> &str {
        &self.pending.state
    }

    /// For callbacks that do not come over HTTP (deep links).
    pub fn sink(&self) -> CallbackSink {
        CallbackSink {
            pending: Arc::clone(&self.pending),
        }
    }

    /// Serves until a callback with the right state brings a token, the time is up,
    /// or `cancel` fires.
    pub async fn wait(
        self,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Secret, CallbackError> {
        let app = Router::new()
            .route("/callback", get(callback))
            .with_state(self.sink());
        let stop = CancellationToken::new();
        let server = tokio::spawn(
            axum::serve(self.listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let result = tokio::select! {
            token = self.receiver => token.map_err(|_| CallbackError::Cancelled),
            () = tokio::time::sleep(timeout) => Err(CallbackError::TimedOut(timeout)),
            () = cancel.cancelled() => Err(CallbackError::Cancelled),
        };
        // Let the browser receive its "signed in" page before the listener goes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        let _ = server.await;
        result
    }
}

async fn callback(
    State(sink): State<CallbackSink>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    match sink.deliver(query.token.as_deref(), query.state.as_deref()) {
        Ok(()) => Html(SIGNED_IN_PAGE).into_response(),
        Err(refused @ (Refused::MissingToken | Refused::WrongState)) => {
            (StatusCode::BAD_REQUEST, refused.to_string()).into_response()
        }
        Err(refused @ Refused::AlreadyDone) => {
            (StatusCode::CONFLICT, refused.to_string()).into_response()
        }
    }
}

const SIGNED_IN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Multica: signed in</title></head><body style=\"font-family:system-ui;margin:4em\">\
<h1>Signed in</h1><p>Multica on this computer is now logged in. \
You can close this tab.</p></body></html>";

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_status(url: &str) -> u16 {
        reqwest::get(url).await.expect("request").status().as_u16()
    }

    #[tokio::test]
    async fn wrong_state_is_refused_and_right_state_delivers_the_token() {
        let callback = LoginCallback::bind().await.expect("bind");
        let base = callback.callback_url().expect("url");
        let state = callback.state().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"));
        let waiter = tokio::spawn(callback.wait(Duration::from_secs(10), CancellationToken::new()));

        assert_eq!(
            get_status(&format!("{base}?token=jwt&state=forged")).await,
            400
        );
        assert_eq!(get_status(&format!("{base}?state={state}")).await, 400);
        assert_eq!(
            get_status(&format!("{base}?token=jwt-1&state={state}")).await,
            200
        );

        let token = waiter.await.expect("join").expect("token");
        assert_eq!(token.expose(), "jwt-1");
    }

    #[tokio::test]
    async fn a_deep_link_is_checked_like_the_loopback_callback() {
        let callback = LoginCallback::bind().await.expect("bind");
        let sink = callback.sink();
        let state = callback.state().to_owned();
        let waiter = tokio::spawn(callback.wait(Duration::from_secs(10), CancellationToken::new()));
        assert_eq!(
            sink.deliver(Some("jwt"), Some("forged")),
            Err(Refused::WrongState)
        );
        assert_eq!(sink.deliver(None, Some(&state)), Err(Refused::MissingToken));
        assert_eq!(sink.deliver(Some("jwt-2"), Some(&state)), Ok(()));
        assert_eq!(
            sink.deliver(Some("jwt-3"), Some(&state)),
            Err(Refused::AlreadyDone)
        );
        let token = waiter.await.expect("join").expect("token");
        assert_eq!(token.expose(), "jwt-2");
    }

    #[tokio::test]
    async fn waiting_ends_on_timeout_and_on_cancel() {
        let callback = LoginCallback::bind().await.expect("bind");
        let error = callback
            .wait(Duration::from_millis(50), CancellationToken::new())
            .await
            .expect_err("nobody calls back");
        assert!(matches!(error, CallbackError::TimedOut(_)));

        let callback = LoginCallback::bind().await.expect("bind");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let error = callback
            .wait(Duration::from_secs(60), cancel)
            .await
            .expect_err("cancelled");
        assert!(matches!(error, CallbackError::Cancelled));
    }
}
