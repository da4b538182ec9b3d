//! Who the CLI talks to and as whom: the server URL, the workspace, the profile and
//! the token, each from flag > environment > the profile's config file > default,
//! with the Go CLI's names.

use std::path::PathBuf;

use anyhow::{Context, Result};
use multica_api::{Secret, ServerUrl};
use multica_daemon::cli_config::{CliConfig, TASK_CONFIG_ROOT_VAR, cli_config_path};
use multica_daemon::config::DEFAULT_SERVER_URL;
use multica_daemon::{Environment, ProcessEnvironment};
use multica_token_store::{
    ConfigFileStore, KeychainStore, TokenAccount, TokenStore, TokenStoreError,
};

use crate::GlobalOptions;
use crate::failure::{Failure, FailureKind};

/// Where a setting's value came from, for `config show` and `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Flag,
    Env(&'static str),
    ConfigFile,
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag => f.write_str("flag"),
            Self::Env(name) => write!(f, "env {name}"),
            Self::ConfigFile => f.write_str("config file"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// Where the login token is kept. The keychain unless the user opted in to the
/// plain file (`--token-storage file`, `MULTICA_TOKEN_STORAGE=file` or
/// `multica config set token_storage file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TokenStorage {
    Keychain,
    File,
}

impl TokenStorage {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "keychain" => Some(Self::Keychain),
            "file" => Some(Self::File),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Keychain => "keychain",
            Self::File => "file",
        }
    }
}

/// The key of our own setting in `config.json` (the Go CLI ignores it).
pub(crate) const TOKEN_STORAGE_KEY: &str = "token_storage";

/// Where the token in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// `MULTICA_TOKEN`: what the daemon gives agents, and what CI sets.
    Env,
    Keychain,
    /// The profile's config file: opted in, or written by the Go CLI.
    ConfigFile(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env => f.write_str("MULTICA_TOKEN"),
            Self::Keychain => f.write_str("the OS keychain"),
            Self::ConfigFile(path) => write!(f, "{} (plain file)", path.display()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) profile: Option<String>,
    pub(crate) config_path: PathBuf,
    pub(crate) config: CliConfig,
    pub(crate) server_url: ServerUrl,
    pub(crate) server_url_origin: Origin,
    pub(crate) workspace_id: Option<String>,
    pub(crate) workspace_id_origin: Origin,
    pub(crate) token_storage: TokenStorage,
    /// Set when this process runs inside a daemon task (`MULTICA_TASK_ID`).
    pub(crate) agent_id: Option<String>,
    pub(crate) task_id: Option<String>,
}

fn env(name: &str) -> Option<String> {
    ProcessEnvironment
        .var(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

impl Settings {
    pub(crate) fn load(globals: &GlobalOptions) -> Result<Self> {
        let profile = globals
            .profile
            .clone()
            .or_else(|| env("MULTICA_PROFILE"))
            .filter(|p| !p.is_empty());
        let home = ProcessEnvironment
            .home()
            .context("cannot find the home directory (set HOME)")?;
        let task_root = env(TASK_CONFIG_ROOT_VAR).map(PathBuf::from);
        let config_path = cli_config_path(&home, task_root.as_deref(), profile.as_deref())?;
        let config = CliConfig::load(&config_path)?;

        let non_empty = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        let (raw_server_url, server_url_origin) = if let Some(url) = &globals.server_url {
            (url.clone(), Origin::Flag)
        } else if let Some(url) = env("MULTICA_SERVER_URL") {
            (url, Origin::Env("MULTICA_SERVER_URL"))
        } else if let Some(url) = non_empty(&config.server_url) {
            (url, Origin::ConfigFile)
        } else {
            (DEFAULT_SERVER_URL.to_owned(), Origin::Default)
        };
        let server_url = ServerUrl::parse(&raw_server_url).map_err(|error| {
            Failure::usage(format!(
                "server URL {raw_server_url:?} ({server_url_origin}): {error}"
            ))
        })?;

        let (workspace_id, workspace_id_origin) = if let Some(id) = &globals.workspace_id {
            (Some(id.trim().to_owned()), Origin::Flag)
        } else if let Some(id) = env("MULTICA_WORKSPACE_ID") {
            (Some(id), Origin::Env("MULTICA_WORKSPACE_ID"))
        } else if let Some(id) = non_empty(&config.workspace_id) {
            (Some(id), Origin::ConfigFile)
        } else {
            (None, Origin::Default)
        };

        let token_storage = match env("MULTICA_TOKEN_STORAGE") {
            Some(raw) => TokenStorage::parse(&raw).ok_or_else(|| {
                Failure::usage(format!(
                    "MULTICA_TOKEN_STORAGE={raw:?}: use `keychain` or `file`"
                ))
            })?,
            None => config
                .other
                .get(TOKEN_STORAGE_KEY)
                .and_then(|value| value.as_str())
                .and_then(TokenStorage::parse)
                .unwrap_or(TokenStorage::Keychain),
        };

        Ok(Self {
            profile,
            config_path,
            config,
            server_url,
            server_url_origin,
            workspace_id,
            workspace_id_origin,
            token_storage,
            agent_id: env("MULTICA_AGENT_ID"),
            task_id: env("MULTICA_TASK_ID"),
        })
    }

    /// The daemon's configuration for these settings (server, profile), as the
    /// commands that read the daemon's files without it running need it.
    pub(crate) fn daemon_config(&self) -> Result<multica_daemon::DaemonConfig> {
        let myself = std::env::current_exe()
            .and_then(|path| path.canonicalize())
            .context("cannot locate the running multica binary")?;
        let overrides = multica_daemon::ConfigOverrides {
            server_url: Some(self.server_url.as_str().to_owned()),
            profile: self.profile.clone(),
            ..multica_daemon::ConfigOverrides::default()
        };
        Ok(multica_daemon::DaemonConfig::load(
            overrides,
            &multica_daemon::ProcessEnvironment,
            myself,
            crate::VERSION,
        )?)
    }

    pub(crate) fn account(&self) -> TokenAccount {
        TokenAccount::new(&self.server_url, self.profile.as_deref())
    }

    pub(crate) fn file_store(&self) -> ConfigFileStore {
        ConfigFileStore::new(&self.config_path)
    }

    /// The store `login` writes to and `logout` clears.
    pub(crate) fn preferred_store(&self) -> Box<dyn TokenStore> {
        match self.token_storage {
            TokenStorage::Keychain => Box::new(KeychainStore::new()),
            TokenStorage::File => Box::new(self.file_store()),
        }
    }

    /// The token to use, and where it came from: `MULTICA_TOKEN`, then the keychain
    /// entry for this profile and server, then the config file (opted in, or left by
    /// the Go CLI). A keychain that cannot be reached is not fatal here: the file may
    /// still hold a token, and the caller reports the keychain problem if not.
    pub(crate) async fn find_token(&self) -> Result<TokenLookup> {
        if let Some(token) = env("MULTICA_TOKEN") {
            return Ok(TokenLookup {
                found: Some((Secret::new(token), TokenSource::Env)),
                keychain_problem: None,
            });
        }
        let account = self.account();
        let file = self.file_store();
        let use_keychain = self.token_storage == TokenStorage::Keychain;
        tokio::task::spawn_blocking(move || -> Result<TokenLookup> {
            let mut keychain_problem = None;
            if use_keychain {
                match KeychainStore::new().load(&account) {
                    Ok(Some(token)) => {
                        return Ok(TokenLookup {
                            found: Some((token, TokenSource::Keychain)),
                            keychain_problem: None,
                        });
                    }
                    Ok(None) => {}
                    Err(error) => keychain_problem = Some(error),
                }
            }
            let found = file
                .load(&account)?
                .map(|token| (token, TokenSource::ConfigFile(file.path().to_owned())));
            Ok(TokenLookup {
                found,
                keychain_problem,
            })
        })
        .await
        .context("the token lookup stopped unexpectedly")?
    }

    /// A token, or a failure that says how to get one.
    pub(crate) async fn require_token(&self) -> Result<(Secret, TokenSource)> {
        if self.task_id.is_some() && env("MULTICA_TOKEN").is_none() {
            // Falling back to the user's own login would make an agent's changes
            // look like the user's.
            return Err(Failure::new(
                FailureKind::Auth,
                "MULTICA_TASK_ID is set but MULTICA_TOKEN is not: inside an agent task the \
                 daemon must provide the token; refusing to act as the logged-in user",
            )
            .into());
        }
        let lookup = self.find_token().await?;
        match (lookup.found, lookup.keychain_problem) {
            (Some(found), _) => Ok(found),
            (None, Some(problem)) => Err(Failure::new(
                FailureKind::Auth,
                format!(
                    "not logged in, and {problem}; start the keychain, or opt in to a plain \
                     file with `multica login --token-storage file`, or set MULTICA_TOKEN"
                ),
            )
            .into()),
            (None, None) => Err(Failure::not_logged_in(self.profile.as_deref()).into()),
        }
    }

    pub(crate) fn require_workspace(&self) -> Result<String, Failure> {
        self.workspace_id.clone().ok_or_else(|| {
            Failure::usage(
                "no workspace chosen: pass --workspace-id, set MULTICA_WORKSPACE_ID, or run \
                 `multica config set workspace_id <id>` (see `multica workspace list`)",
            )
        })
    }
}

#[derive(Debug)]
pub(crate) struct TokenLookup {
    pub(crate) found: Option<(Secret, TokenSource)>,
    pub(crate) keychain_problem: Option<TokenStoreError>,
}
