//! Browser sign-in to Multica, shared by `multica login` and the desktop app: a
//! one-shot loopback listener ([`LoginCallback`]) that the web app's `/login` page
//! sends the browser back to with a session token and our state, the URL that
//! starts it ([`login_url`]), and the personal access token the session is traded
//! for ([`issue_personal_token`]), which is what gets stored.

mod callback;

use multica_api::{ApiError, Secret, ServerUrl, UserClient};

pub use callback::{CallbackError, CallbackSink, LoginCallback, Refused};

/// The cloud's API server and the web app that signs in for it.
pub const CLOUD_SERVER_URL: &str = "https://api.multica.ai";
pub const CLOUD_APP_URL: &str = "https://multica.ai";
/// Lifetime of the personal access token a browser login creates (as the Go CLI).
pub const TOKEN_LIFETIME_DAYS: u32 = 90;

/// The web app's address: `explicit` (`MULTICA_APP_URL`), else `configured` (the
/// config's `app_url`), else the cloud's pairing, else the server itself
/// (self-hosted and dev servers serve both).
pub fn app_url(server: &ServerUrl, explicit: Option<&str>, configured: &str) -> String {
    if let Some(url) = explicit.map(str::trim).filter(|url| !url.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    if !configured.trim().is_empty() {
        return configured.trim().trim_end_matches('/').to_owned();
    }
    if server.as_str() == CLOUD_SERVER_URL {
        return CLOUD_APP_URL.to_owned();
    }
    server.as_str().to_owned()
}

/// Why the login page's address could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoginUrlError {
    #[error("the web app address {app_url:?} is not a URL ({source})")]
    AppUrl {
        app_url: String,
        source: url::ParseError,
    },
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// `<app>/login?cli_callback=…&cli_state=…`: the page that signs the user in and
/// sends the browser back to `callback`.
pub fn login_url(app_url: &str, callback: &LoginCallback) -> Result<url::Url, LoginUrlError> {
    let mut url =
        url::Url::parse(&format!("{app_url}/login")).map_err(|source| LoginUrlError::AppUrl {
            app_url: app_url.to_owned(),
            source,
        })?;
    let back = callback.callback_url()?;
    url.query_pairs_mut()
        .append_pair("cli_callback", &back)
        .append_pair("cli_state", callback.state());
    Ok(url)
}

/// Trades the browser's short-lived session for a personal access token named
/// `name` (e.g. "Desktop (my-laptop)"), valid [`TOKEN_LIFETIME_DAYS`].
pub async fn issue_personal_token(
    server: &ServerUrl,
    session: Secret,
    name: &str,
    user_agent: &str,
) -> Result<Secret, ApiError> {
    let client = UserClient::new(server.clone(), Some(session), user_agent)?;
    let created = client
        .create_personal_access_token(name, TOKEN_LIFETIME_DAYS)
        .await?;
    Ok(created.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_url_prefers_what_was_said_then_the_cloud_pairing() {
        let cloud = ServerUrl::parse(CLOUD_SERVER_URL).expect("url");
        let own = ServerUrl::parse("http://127.0.0.1:8080").expect("url");
        assert_eq!(app_url(&cloud, None, ""), CLOUD_APP_URL);
        assert_eq!(app_url(&own, None, ""), "http://127.0.0.1:8080");
        assert_eq!(
            app_url(&own, None, "https://app.example/"),
            "https://app.example"
        );
        assert_eq!(
            app_url(
                &own,
                Some(" https://other.example/ "),
                "https://app.example"
            ),
            "https://other.example"
        );
    }
}
