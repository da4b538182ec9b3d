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
pub(crate) enum CallbackError {
    #[error(
        "cannot open a local port for the browser to come back to ({0}); use `multica login --token <token>` instead"
    )]
    Bind(std::io::Error),
    #[error("no sign-in arrived within {} minutes; run `multica login` again", .0.as_secs() / 60)]
    TimedOut(Duration),
    #[error("login cancelled")]
    Cancelled,
}

/// A listener waiting for one browser callback.
#[derive(Debug)]
pub(crate) struct LoginCallback {
    listener: TcpListener,
    state: String,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    token: Option<String>,
    state: Option<String>,
}

struct Pending {
    state: String,
    sender: Mutex<Option<oneshot::Sender<Secret>>>,
}

impl LoginCallback {
    pub(crate) async fn bind() -> Result<Self, CallbackError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(CallbackError::Bind)?;
        // 256 random bits: two v4 UUIDs carry 244 of them, which is plenty.
        let state = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Ok(Self { listener, state })
    }

    pub(crate) fn address(&self) -> Result<SocketAddr, CallbackError> {
        self.listener.local_addr().map_err(CallbackError::Bind)
    }

    /// The URL the web app redirects to.
    pub(crate) fn callback_url(&self) -> Result<String, CallbackError> {
        Ok(format!(
            "http://127.0.0.1:{}/callback",
            self.address()?.port()
        ))
    }

    pub(crate) fn state(&self) -> &str {
        &self.state
    }

    /// Serves until a callback with the right state brings a token, the time is up,
    /// or `cancel` fires.
    pub(crate) async fn wait(
        self,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Secret, CallbackError> {
        let (sender, receiver) = oneshot::channel();
        let pending = Arc::new(Pending {
            state: self.state,
            sender: Mutex::new(Some(sender)),
        });
        let app = Router::new()
            .route("/callback", get(callback))
            .with_state(pending);
        let stop = CancellationToken::new();
        let server = tokio::spawn(
            axum::serve(self.listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let result = tokio::select! {
            token = receiver => token.map_err(|_| CallbackError::Cancelled),
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
    State(pending): State<Arc<Pending>>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(token) = query.token.filter(|t| !t.trim().is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing token").into_response();
    };
    if query.state.as_deref() != Some(pending.state.as_str()) {
        return (StatusCode::BAD_REQUEST, "invalid state parameter").into_response();
    }
    let sender = pending
        .sender
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match sender {
        Some(sender) => {
            let _ = sender.send(Secret::new(token.trim()));
            Html(SIGNED_IN_PAGE).into_response()
        }
        None => (StatusCode::CONFLICT, "this login has already completed").into_response(),
    }
}

const SIGNED_IN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Multica: signed in</title></head><body style=\"font-family:system-ui;margin:4em\">\
<h1>Signed in</h1><p>The <code>multica</code> command line is now logged in. \
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
