//! The whole browser sign-in against the dev server's `/login` page, with an HTTP
//! client in the browser's place: the session comes back to the loopback callback
//! and is traded for a personal access token that the server accepts.

use std::time::Duration;

use multica_api::{ServerUrl, UserClient};
use multica_dev_server::{DevServer, DevServerConfig};
use multica_login::{LoginCallback, issue_personal_token, login_url};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_browser_sign_in_ends_with_a_personal_token() {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let seed = server.seed_demo();
    let url = ServerUrl::parse(&server.base_url()).expect("url");
    let callback = LoginCallback::bind().await.expect("bind");
    let start = login_url(url.as_str(), &callback).expect("login url");
    let waiting = tokio::spawn(callback.wait(Duration::from_secs(20), CancellationToken::new()));
    // The "browser": follows the page's redirect to our callback.
    let page = reqwest::get(start.as_str()).await.expect("browser");
    assert!(page.status().is_success(), "{}", page.status());
    let session = waiting.await.expect("join").expect("session");

    let token = issue_personal_token(&url, session, "Desktop (test)", "multica-test")
        .await
        .expect("personal token");
    assert!(
        token.expose().starts_with("mul_"),
        "a personal access token"
    );
    let me = UserClient::new(url, Some(token), "multica-test")
        .expect("client")
        .me()
        .await
        .expect("accepted");
    assert_eq!(me.email, seed.user.email);
}
