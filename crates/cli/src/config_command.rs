//! `multica config show|set`: the profile's settings file, which the Go CLI shares.

use anyhow::Result;
use clap::{Args, Subcommand};
use multica_api::ServerUrl;
use multica_daemon::config::health_port_for_profile;
use serde_json::{Value, json};

use crate::GlobalOptions;
use crate::failure::Failure;
use crate::output::{self, OutputFormat};
use crate::settings::{Settings, TOKEN_STORAGE_KEY, TokenStorage};

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Show the settings in effect and where each comes from (never the token).
    Show,
    /// Change a setting in the profile's config file; an empty value removes it.
    ///
    /// Keys: server_url, app_url, workspace_id, token_storage (keychain|file).
    Set {
        /// One of server_url, app_url, workspace_id, token_storage.
        key: String,
        /// The new value ("" to remove the setting).
        value: String,
    },
}

pub(crate) async fn run(args: ConfigArgs, globals: &GlobalOptions) -> Result<()> {
    let settings = Settings::load(globals)?;
    match args.action {
        ConfigAction::Show => show(&settings, globals.output).await,
        ConfigAction::Set { key, value } => set(settings, &key, &value),
    }
}

async fn show(settings: &Settings, format: OutputFormat) -> Result<()> {
    let lookup = settings.find_token().await?;
    let token = match (&lookup.found, &lookup.keychain_problem) {
        (Some((_, source)), _) => format!("set ({source})"),
        (None, Some(problem)) => format!("not set ({problem})"),
        (None, None) => "not set".to_owned(),
    };
    let watched: Vec<&str> = settings
        .config
        .watched_workspaces
        .iter()
        .map(|w| w.id.as_str())
        .collect();
    let health_port = health_port_for_profile(settings.profile.as_deref());
    match format {
        OutputFormat::Json => output::json(&json!({
            "profile": settings.profile,
            "config_file": settings.config_path,
            "server_url": settings.server_url.as_str(),
            "server_url_source": settings.server_url_origin.to_string(),
            "app_url": settings.config.app_url,
            "workspace_id": settings.workspace_id,
            "workspace_id_source": settings.workspace_id_origin.to_string(),
            "token_storage": settings.token_storage.as_str(),
            "token": token,
            "watched_workspaces": watched,
            "daemon_health_port": health_port,
        })),
        OutputFormat::Table => {
            let rows = vec![
                vec![
                    "profile".to_owned(),
                    settings
                        .profile
                        .clone()
                        .unwrap_or_else(|| "default".to_owned()),
                ],
                vec![
                    "config file".to_owned(),
                    settings.config_path.display().to_string(),
                ],
                vec![
                    "server_url".to_owned(),
                    format!(
                        "{} ({})",
                        settings.server_url.as_str(),
                        settings.server_url_origin
                    ),
                ],
                vec!["app_url".to_owned(), settings.config.app_url.clone()],
                vec![
                    "workspace_id".to_owned(),
                    match &settings.workspace_id {
                        Some(id) => format!("{id} ({})", settings.workspace_id_origin),
                        None => String::new(),
                    },
                ],
                vec![
                    "token_storage".to_owned(),
                    settings.token_storage.as_str().to_owned(),
                ],
                vec!["token".to_owned(), token],
                vec!["watched workspaces".to_owned(), watched.join(", ")],
                vec!["daemon health port".to_owned(), health_port.to_string()],
            ];
            output::table(&["SETTING", "VALUE"], &rows);
            Ok(())
        }
    }
}

fn set(settings: Settings, key: &str, value: &str) -> Result<()> {
    let value = value.trim();
    let mut config = settings.config;
    match key {
        "server_url" => {
            if !value.is_empty() {
                ServerUrl::parse(value)
                    .map_err(|error| Failure::usage(format!("server_url {value:?}: {error}")))?;
            }
            config.server_url = value.to_owned();
        }
        "app_url" => {
            if !value.is_empty() {
                url::Url::parse(value)
                    .map_err(|error| Failure::usage(format!("app_url {value:?}: {error}")))?;
            }
            value.trim_end_matches('/').clone_into(&mut config.app_url);
        }
        "workspace_id" => value.clone_into(&mut config.workspace_id),
        TOKEN_STORAGE_KEY => {
            if value.is_empty() {
                config.other.remove(TOKEN_STORAGE_KEY);
            } else {
                let storage = TokenStorage::parse(value).ok_or_else(|| {
                    Failure::usage(format!("token_storage {value:?}: use `keychain` or `file`"))
                })?;
                config.other.insert(
                    TOKEN_STORAGE_KEY.to_owned(),
                    Value::String(storage.as_str().to_owned()),
                );
            }
        }
        "token" => {
            return Err(Failure::usage(
                "the token is not a plain setting: use `multica login --token <token>`",
            )
            .into());
        }
        other => {
            return Err(Failure::usage(format!(
                "unknown setting {other:?}: use server_url, app_url, workspace_id or token_storage"
            ))
            .into());
        }
    }
    config.save(&settings.config_path)?;
    let shown = if value.is_empty() { "(removed)" } else { value };
    output::note(&format!(
        "{key} = {shown}  [{}]",
        settings.config_path.display()
    ));
    Ok(())
}
