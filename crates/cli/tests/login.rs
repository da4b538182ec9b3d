//! `multica login` (token and browser flows), `auth status`, `logout`, and where the
//! token ends up: the OS keychain (the test script provides a private one), or the
//! opted-in config file.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use multica_dev_server::{DevServer, DevServerConfig, UserWithToken};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

fn multica() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multica"))
}

fn keychain_required() -> bool {
    std::env::var("MULTICA_REQUIRE_KEYCHAIN").is_ok_and(|v| v == "1")
}

fn command(home: &Path, server: &DevServer, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(multica());
    command
        .args(args)
        .env("HOME", home)
        .env("MULTICA_SERVER_URL", server.base_url())
        .env_remove("MULTICA_TOKEN")
        .env_remove("MULTICA_TOKEN_STORAGE")
        .env_remove("MULTICA_WORKSPACE_ID")
        .env_remove("MULTICA_TASK_ID")
        .env_remove("MULTICA_APP_URL")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    command
}

async fn run(home: &Path, server: &DevServer, args: &[&str]) -> Output {
    command(home, server, args)
        .output()
        .await
        .expect("run multica")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn setup() -> (DevServer, UserWithToken, tempfile::TempDir) {
    let server = DevServer::start(DevServerConfig::default())
        .await
        .expect("dev server");
    let user = server.admin().create_user("Lin", "lin@example.com");
    (server, user, tempfile::tempdir().expect("home"))
}

fn config(home: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(home.join(".multica/config.json")).expect("config"))
        .expect("json")
}

#[tokio::test]
async fn token_login_goes_to_the_keychain_and_replaces_a_plain_text_token() {
    if !keychain_required() {
        // Needs the private keychain of scripts/with-test-keychain.sh.
        return;
    }
    let (server, user, home) = setup().await;
    // A Go CLI left its token in plain text.
    let file = home.path().join(".multica/config.json");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, format!(r#"{{"token":"{}","kept":1}}"#, user.token)).expect("write");
    let status = run(
        home.path(),
        &server,
        &["auth", "status", "--output", "json"],
    )
    .await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert!(
        status["token_source"]
            .as_str()
            .is_some_and(|s| s.contains("plain file"))
    );

    let login = run(home.path(), &server, &["login", "--token", &user.token]).await;
    assert!(login.status.success(), "{}", text(&login.stderr));
    let said = text(&login.stderr);
    assert!(
        said.contains("lin@example.com") && said.contains("OS keychain"),
        "{said}"
    );
    assert!(!said.contains(&user.token), "token printed");
    let saved = config(home.path());
    assert!(
        saved.get("token").is_none(),
        "plain-text token removed: {saved}"
    );
    assert_eq!(saved["kept"], 1);
    assert_eq!(saved["server_url"], server.base_url().as_str());

    let status = run(home.path(), &server, &["auth", "status"]).await;
    let table = text(&status.stdout);
    assert!(table.contains("Lin (lin@example.com)"), "{table}");
    assert!(table.contains("OS keychain"), "{table}");
    assert!(!table.contains(&user.token), "token printed: {table}");

    let logout = run(home.path(), &server, &["logout"]).await;
    assert!(logout.status.success());
    assert!(text(&logout.stderr).contains("keychain"));
    let status = run(home.path(), &server, &["auth", "status"]).await;
    assert_eq!(status.status.code(), Some(3));
}

#[tokio::test]
async fn opted_in_file_storage_is_private_and_bad_tokens_are_refused() {
    let (server, user, home) = setup().await;
    let login = run(
        home.path(),
        &server,
        &["login", "--token", &user.token, "--token-storage", "file"],
    )
    .await;
    assert!(login.status.success(), "{}", text(&login.stderr));
    let file = home.path().join(".multica/config.json");
    assert_eq!(config(home.path())["token"], user.token.as_str());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let status = command(
        home.path(),
        &server,
        &["auth", "status", "--output", "json"],
    )
    .env("MULTICA_TOKEN_STORAGE", "file")
    .output()
    .await
    .expect("run");
    assert!(status.status.success(), "{}", text(&status.stderr));

    let not_a_token = run(home.path(), &server, &["login", "--token", "hello"]).await;
    assert_eq!(not_a_token.status.code(), Some(2));
    let refused = run(
        home.path(),
        &server,
        &[
            "login",
            "--token",
            "mul_not_valid",
            "--token-storage",
            "file",
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert_eq!(config(home.path())["token"], user.token.as_str(), "kept");

    let logout = command(home.path(), &server, &["logout"])
        .env("MULTICA_TOKEN_STORAGE", "file")
        .output()
        .await
        .expect("run");
    assert!(logout.status.success());
    assert!(config(home.path()).get("token").is_none());
}

#[tokio::test]
async fn browser_login_round_trip_through_the_loopback_callback() {
    let (server, user, home) = setup().await;
    let mut child = command(
        home.path(),
        &server,
        &["login", "--no-browser", "--token-storage", "file"],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let login_url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
        panic!("no URL printed");
    })
    .await
    .expect("URL in time");
    assert!(login_url.contains("/login?cli_callback="), "{login_url}");

    // A forged callback (wrong state) is refused and the login keeps waiting.
    let callback = url::Url::parse(&login_url)
        .expect("url")
        .query_pairs()
        .find(|(key, _)| key == "cli_callback")
        .map(|(_, value)| value.into_owned())
        .expect("callback");
    let forged = reqwest::get(format!("{callback}?token=mul_forged&state=wrong"))
        .await
        .expect("forged request");
    assert_eq!(forged.status().as_u16(), 400);

    // The "browser": the dev server signs the user in and redirects to the callback.
    let page = reqwest::get(&login_url).await.expect("sign in");
    assert!(page.status().is_success(), "{}", page.status());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("login finishes")
        .expect("wait");
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    };
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("lin@example.com")),
        "{rest:?}"
    );

    // The stored token is a new personal access token, not the browser session.
    let stored = config(home.path())["token"]
        .as_str()
        .expect("token stored")
        .to_owned();
    assert!(stored.starts_with("mul_"));
    assert_ne!(stored, user.token);
    let status = command(
        home.path(),
        &server,
        &["auth", "status", "--output", "json"],
    )
    .env("MULTICA_TOKEN_STORAGE", "file")
    .output()
    .await
    .expect("run");
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["user"]["email"], "lin@example.com");
}
