//! `multica login`, `logout` and `auth status`.
//!
//! `login` opens the Multica web app, which sends the browser back to a one-shot
//! listener on 127.0.0.1 with a short-lived session token; we trade it for a
//! personal access token (`POST /api/tokens`), as the Go CLI does, check it with
//! `GET /api/me`, and keep it in the OS keychain (or, opted in, the config file).
//! `login --token` skips the browser.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use multica_api::{Secret, ServerUrl, UserClient};
use multica_daemon::cli_config::CliConfig;
use multica_token_store::{ConfigFileStore, StoreKind, TokenStore, TokenStoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, FailureKind};
use crate::output::{self, OutputFormat};
use crate::settings::{Settings, TokenSource, TokenStorage};
use crate::{GlobalOptions, VERSION};

/// How long the browser login waits for the user.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Prefixes of tokens a person can paste: personal access tokens of Multica and
/// Multica Cloud.
const PASTEABLE_PREFIXES: [&str; 2] = ["mul_", "mcn_"];

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Log in with a personal access token instead of the browser. Without a value
    /// the token is read from standard input.
    #[arg(long, value_name = "TOKEN", num_args = 0..=1, default_missing_value = "")]
    token: Option<String>,
    /// Where to keep the token: the OS keychain (default), or the profile's config
    /// file as plain text (owner-only permissions) on machines without a keychain.
    #[arg(long, value_enum)]
    token_storage: Option<TokenStorage>,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
}

pub(crate) async fn login(args: LoginArgs, globals: &GlobalOptions) -> Result<()> {
    let mut settings = Settings::load(globals)?;
    if let Some(storage) = args.token_storage {
        settings.token_storage = storage;
    }
    let client = |token: Secret| user_client(&settings.server_url, token);

    let token = match args.token {
        Some(token) => {
            let token = if token.trim().is_empty() {
                read_token_from_stdin()?
            } else {
                token.trim().to_owned()
            };
            if !PASTEABLE_PREFIXES.iter().any(|p| token.starts_with(p)) {
                return Err(Failure::usage(format!(
                    "that does not look like a personal access token (it should start with {})",
                    PASTEABLE_PREFIXES.join(" or ")
                ))
                .into());
            }
            Secret::new(token)
        }
        None => {
            let session = browser_login(&settings, args.no_browser).await?;
            let host = nix::unistd::gethostname()
                .ok()
                .and_then(|name| name.into_string().ok())
                .unwrap_or_else(|| "unknown".to_owned());
            multica_login::issue_personal_token(
                &settings.server_url,
                session,
                &format!("CLI ({host})"),
                &format!("multica-cli/{VERSION}"),
            )
            .await
            .map_err(|error| {
                Failure::new(
                    FailureKind::Auth,
                    format!(
                        "sign-in did not complete: the server could not issue a token for \
                             the CLI ({}); run `multica login` again",
                        error.message
                    ),
                )
            })?
        }
    };

    let me = client(token.clone())?.me().await.map_err(|error| {
        let mut failure = Failure::from_api(&error, "your account", settings.profile.as_deref());
        if failure.kind == FailureKind::Auth {
            failure.message =
                "the server does not accept that token: check it is valid and not expired"
                    .to_owned();
        }
        failure
    })?;

    let stored_in = store_token(&settings, &token).await?;
    // Remember the server and the app, as the Go CLI does; a new login may be
    // another user, so the chosen workspace is forgotten. Read the file again:
    // storing the token may just have changed it.
    let mut config = CliConfig::load(&settings.config_path)?;
    settings
        .server_url
        .as_str()
        .clone_into(&mut config.server_url);
    config.app_url = app_url(&settings);
    config.workspace_id.clear();
    config.save(&settings.config_path)?;

    output::note(&format!(
        "Logged in to {} as {} ({}).\nToken saved in {stored_in}.",
        settings.server_url.as_str(),
        me.name,
        me.email
    ));
    Ok(())
}

fn user_client(server_url: &ServerUrl, token: Secret) -> Result<UserClient> {
    UserClient::new(
        server_url.clone(),
        Some(token),
        &format!("multica-cli/{VERSION}"),
    )
    .map_err(|error| Failure::from_api(&error, "the server", None).into())
}

fn read_token_from_stdin() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        output::note("Paste your personal access token and press Enter:");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the token from standard input")?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::usage("no token given on standard input").into());
    }
    Ok(token)
}

/// The web app's address (see [`multica_login::app_url`]).
fn app_url(settings: &Settings) -> String {
    multica_login::app_url(
        &settings.server_url,
        std::env::var("MULTICA_APP_URL").ok().as_deref(),
        &settings.config.app_url,
    )
}

async fn browser_login(settings: &Settings, no_browser: bool) -> Result<Secret> {
    let callback = multica_login::LoginCallback::bind().await?;
    let login_url = multica_login::login_url(&app_url(settings), &callback).map_err(|error| {
        Failure::usage(format!("{error}; fix it with `multica config set app_url`"))
    })?;
    let opened = !no_browser && open_browser(login_url.as_str());
    output::note(&if opened {
        format!("Opened your browser to sign in. If it did not open, visit:\n  {login_url}")
    } else {
        format!("Open this URL in a browser on this machine to sign in:\n  {login_url}")
    });
    output::note("Waiting for the sign-in (Ctrl-C to cancel)...");
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let result = callback.wait(LOGIN_TIMEOUT, cancel).await;
    interrupt.abort();
    Ok(result?)
}

/// Starts the desktop's browser; `false` if there is none to start.
fn open_browser(url: &str) -> bool {
    let command = if cfg!(target_os = "macos") {
        Some(("open", vec![url]))
    } else if cfg!(windows) {
        Some(("cmd", vec!["/C", "start", "", url]))
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some(("xdg-open", vec![url]))
    } else {
        None
    };
    command.is_some_and(|(program, args)| {
        std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// Saves the token where the user wants it; returns where that is, in words.
/// With the keychain, a plain-text token left in the config file (by the Go CLI or
/// an earlier opt-in) is removed: it is replaced, and should not linger on disk.
async fn store_token(settings: &Settings, token: &Secret) -> Result<String> {
    let store = settings.preferred_store();
    let account = settings.account();
    let file = ConfigFileStore::new(&settings.config_path);
    let token = token.clone();
    let storage = settings.token_storage;
    tokio::task::spawn_blocking(move || -> Result<String> {
        store.save(&account, &token).map_err(|error| match error {
            TokenStoreError::KeychainUnavailable { .. }
            | TokenStoreError::KeychainFailed { .. } => Failure::new(
                FailureKind::General,
                format!(
                    "cannot save the token: {error}. Start a keychain (on Linux: \
                         gnome-keyring or KWallet), or keep it in a plain file readable only \
                         by you: `multica login --token-storage file`"
                ),
            ),
            other => Failure::new(
                FailureKind::General,
                format!("cannot save the token: {other}"),
            ),
        })?;
        if storage == TokenStorage::Keychain && store.kind() == StoreKind::Keychain {
            if let Ok(true) = file.delete(&account) {
                return Ok(format!(
                    "{} (the plain-text token in {} was removed)",
                    store.location(),
                    file.location()
                ));
            }
        }
        Ok(store.location())
    })
    .await
    .context("saving the token stopped unexpectedly")?
}

pub(crate) async fn logout(globals: &GlobalOptions) -> Result<()> {
    let settings = Settings::load(globals)?;
    let account = settings.account();
    let file = settings.file_store();
    let keychain_in_use = settings.token_storage == TokenStorage::Keychain;
    let (from_keychain, from_file) = tokio::task::spawn_blocking(move || {
        let from_keychain = if keychain_in_use {
            multica_token_store::KeychainStore::new().delete(&account)
        } else {
            Ok(false)
        };
        (from_keychain, file.delete(&account))
    })
    .await
    .context("logging out stopped unexpectedly")?;
    let mut removed = Vec::new();
    match from_keychain {
        Ok(true) => removed.push("the OS keychain".to_owned()),
        Ok(false) => {}
        Err(error) => output::note(&format!("Could not check the keychain: {error}")),
    }
    if from_file? {
        removed.push(settings.config_path.display().to_string());
    }
    if removed.is_empty() {
        output::note(&format!(
            "No stored token for {} (profile {}).",
            settings.server_url.as_str(),
            settings.profile.as_deref().unwrap_or("default")
        ));
    } else {
        output::note(&format!(
            "Logged out: token removed from {}.",
            removed.join(" and ")
        ));
    }
    if std::env::var_os("MULTICA_TOKEN").is_some() {
        output::note("MULTICA_TOKEN is still set in this environment and will keep being used.");
    }
    Ok(())
}

pub(crate) async fn status(globals: &GlobalOptions) -> Result<()> {
    let settings = Settings::load(globals)?;
    let (token, source) = settings.require_token().await?;
    let me = user_client(&settings.server_url, token.clone())?
        .me()
        .await
        .map_err(|error| Failure::from_api(&error, "your account", settings.profile.as_deref()))?;
    let source_text = source.to_string();
    let shown_token = match source {
        // An agent's token is its task's: never echo any of it.
        TokenSource::Env if settings.task_id.is_some() => "(task token)".to_owned(),
        _ => token_hint(token.expose()),
    };
    match globals.output {
        OutputFormat::Json => output::json(&json!({
            "server_url": settings.server_url.as_str(),
            "profile": settings.profile,
            "user": me.raw,
            "token_source": source_text,
        })),
        OutputFormat::Table => {
            output::table(
                &["", ""],
                &[
                    vec![
                        "Server:".to_owned(),
                        settings.server_url.as_str().to_owned(),
                    ],
                    vec!["User:".to_owned(), format!("{} ({})", me.name, me.email)],
                    vec![
                        "Token:".to_owned(),
                        format!("{shown_token} from {source_text}"),
                    ],
                ],
            );
            Ok(())
        }
    }
}

/// Enough of a token to tell two apart, never enough to use: the prefix and the
/// last four characters.
fn token_hint(token: &str) -> String {
    let prefix: String = token.chars().take_while(|c| *c != '_').collect();
    let count = token.chars().count();
    if count < 16 {
        return format!("{prefix}_…");
    }
    let tail: String = token.chars().skip(count - 4).collect();
    format!("{prefix}_…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hints_never_show_the_secret_part() {
        assert_eq!(token_hint("mul_0123456789abcdefWXYZ"), "mul_…WXYZ");
        assert_eq!(token_hint("mul_short"), "mul_…");
    }
}
