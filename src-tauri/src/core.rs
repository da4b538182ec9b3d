//! What the window and the tray ask of the app, without Tauri: who is logged in
//! (the token in the OS keychain, shared with the CLI's `multica login`), which
//! workspaces are watched (the profile's `config.json`, shared with the CLI and read
//! live by the engine), the app's settings, and the hosted engine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multica_api::{Secret, ServerUrl, UserClient};
use multica_daemon::cli_config::{CliConfig, profile_dir};
use multica_daemon::config::DEFAULT_SERVER_URL;
use multica_daemon::{
    ConfigError, ConfigOverrides, DaemonConfig, Environment, HealthReport, ProcessEnvironment,
};
use multica_login::{CallbackSink, LoginCallback};
use multica_token_store::{TokenAccount, TokenStore};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::AppError;
use crate::host::{ConfigSource, EngineHost, HostStatus, StopMode, lock};
use crate::settings::AppSettings;
use crate::tray_model::WorkspaceName;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const USER_AGENT: &str = concat!("multica-desktop/", env!("CARGO_PKG_VERSION"));
/// How long a browser login waits for the user.
const BROWSER_LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Where the app's files are.
#[derive(Debug, Clone)]
pub struct Paths {
    pub profile: Option<String>,
    /// `~/.multica` or `~/.multica/profiles/<name>`.
    pub profile_dir: PathBuf,
    /// The `multica` CLI agents call (its directory goes first on their PATH).
    pub multica_cli: PathBuf,
}

impl Paths {
    pub fn config_file(&self) -> PathBuf {
        self.profile_dir.join("config.json")
    }

    pub fn settings_file(&self) -> PathBuf {
        AppSettings::path_in(&self.profile_dir)
    }

    /// From the environment: `MULTICA_PROFILE`, the home directory, and the CLI that
    /// ships beside the app's binary (`MULTICA_CLI` overrides it).
    pub fn discover(profile: Option<String>) -> Result<Paths, AppError> {
        let env = ProcessEnvironment;
        let home = env.home().ok_or(AppError::NoHome)?;
        let profile = profile
            .or_else(|| env.var("MULTICA_PROFILE"))
            .filter(|name| !name.trim().is_empty());
        let multica_cli = match env.var("MULTICA_CLI") {
            Some(path) => PathBuf::from(path),
            None => bundled_cli().ok_or(AppError::CliMissing)?,
        };
        Ok(Paths {
            profile_dir: profile_dir(&home, profile.as_deref()),
            profile,
            multica_cli,
        })
    }
}

/// `multica` (`multica.exe`) beside the running binary: where the bundle puts it
/// (Tauri's `externalBin`) and where `cargo build` leaves it.
fn bundled_cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let name = if cfg!(windows) {
        "multica.exe"
    } else {
        "multica"
    };
    let cli = exe.parent()?.join(name);
    cli.is_file().then_some(cli)
}

/// What the window shows at the top, and the tray decides from.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub version: &'static str,
    pub server_url: String,
    pub profile: Option<String>,
    pub host: HostStatus,
    pub health: Option<HealthReport>,
    /// A plain-text token in `config.json` (the Go CLI's way) that can be moved to the
    /// keychain.
    pub importable_token: bool,
    pub paused: bool,
    /// The watched workspaces' names (the engine knows only their ids).
    pub workspace_names: Vec<WorkspaceName>,
}

/// How one agent CLI is used: the `agents` section of `config.json`, shared with
/// the CLI and the headless daemon. Unset fields keep the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AgentOverride {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    pub path: Option<String>,
    pub model: Option<String>,
    pub max_concurrent_tasks: Option<usize>,
    pub enabled: bool,
}

/// A workspace of the account, and whether this machine works for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub watched: bool,
}

/// The app's state. One per process.
pub struct AppCore {
    paths: Paths,
    store: Box<dyn TokenStore>,
    settings: Mutex<AppSettings>,
    host: EngineHost,
    /// The server of the current (or last) login.
    server_url: Mutex<ServerUrl>,
    /// A browser login under way: where a deep link's callback goes, and its cancel.
    browser_login: Mutex<Option<(CallbackSink, CancellationToken)>>,
}

impl std::fmt::Debug for AppCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCore")
            .field("paths", &self.paths)
            .field("store", &self.store.location())
            .finish_non_exhaustive()
    }
}

impl AppCore {
    /// `runtime` is where the engine runs (the app's async runtime).
    pub fn new(
        paths: Paths,
        store: Box<dyn TokenStore>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<AppCore>, AppError> {
        let settings = AppSettings::load(&paths.settings_file())?;
        let file = CliConfig::load(&paths.config_file())?;
        let raw_url = ProcessEnvironment
            .var("MULTICA_SERVER_URL")
            .or_else(|| Some(file.server_url.clone()).filter(|url| !url.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
        let server_url = ServerUrl::parse(&raw_url).map_err(AppError::ConfiguredServerUrl)?;
        Ok(Arc::new(AppCore {
            paths,
            store,
            settings: Mutex::new(settings),
            host: EngineHost::new(runtime),
            server_url: Mutex::new(server_url),
            browser_login: Mutex::new(None),
        }))
    }

    pub fn host(&self) -> &EngineHost {
        &self.host
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn settings(&self) -> AppSettings {
        lock(&self.settings).clone()
    }

    pub fn server_url(&self) -> ServerUrl {
        lock(&self.server_url).clone()
    }

    fn account(&self) -> TokenAccount {
        TokenAccount::new(&self.server_url(), self.paths.profile.as_deref())
    }

    pub fn status(&self) -> AppStatus {
        // One read of config.json for both what it holds of the token and the names.
        let file = CliConfig::load(&self.paths.config_file()).ok();
        AppStatus {
            version: VERSION,
            server_url: self.server_url().to_string(),
            profile: self.paths.profile.clone(),
            host: self.host.status(),
            health: self.host.engine().map(|engine| engine.health()),
            importable_token: file.as_ref().is_some_and(|file| !file.token.is_empty()),
            paused: self.host.is_paused(),
            workspace_names: file.map(workspace_names).unwrap_or_default(),
        }
    }

    /// The watched workspaces with the names saved when they were switched on.
    pub fn watched_workspace_names(&self) -> Vec<WorkspaceName> {
        CliConfig::load(&self.paths.config_file())
            .map(workspace_names)
            .unwrap_or_default()
    }

    /// Starts the engine with the stored token, or says a login is needed.
    pub fn start_engine(self: &Arc<Self>) {
        match self.store.load(&self.account()) {
            Ok(Some(token)) => self.host.start(self.config_source(), token),
            Ok(None) => self.host.needs_login(None),
            Err(error) => {
                warn!(%error, "cannot read the token from the keychain");
                self.host.needs_login(Some(error.to_string()));
            }
        }
    }

    /// The engine's configuration as the settings say now.
    pub fn config_source(self: &Arc<Self>) -> ConfigSource {
        let core = Arc::clone(self);
        Arc::new(move || core.daemon_config())
    }

    fn daemon_config(&self) -> Result<DaemonConfig, ConfigError> {
        let settings = self.settings();
        let overrides = ConfigOverrides {
            server_url: Some(self.server_url().to_string()),
            profile: self.paths.profile.clone(),
            workspaces_root: settings.workspaces_root.clone(),
            max_concurrent_tasks: settings.max_concurrent_tasks,
            ..ConfigOverrides::default()
        };
        let mut config = DaemonConfig::load(
            overrides,
            &ProcessEnvironment,
            self.paths.multica_cli.clone(),
            VERSION,
        )?;
        if let Some(days) = settings.keep_task_dirs_days {
            config.gc.issue_ttl = Duration::from_secs(days.saturating_mul(24 * 3600));
        }
        Ok(config)
    }

    /// Checks the token with the server, keeps it in the keychain, remembers the
    /// server, and starts the engine. Returns the account's name.
    pub async fn login_with_token(
        self: &Arc<Self>,
        server_url: &str,
        token: Secret,
    ) -> Result<String, AppError> {
        let server = ServerUrl::parse(server_url.trim()).map_err(AppError::ServerUrl)?;
        if token.is_empty() {
            return Err(AppError::EmptyToken);
        }
        let client = UserClient::new(server.clone(), Some(token.clone()), USER_AGENT)
            .map_err(|error| AppError::from_api(&server, &error))?;
        let account = client
            .me()
            .await
            .map_err(|error| AppError::from_api(&server, &error))?;
        self.host
            .stop(StopMode::WaitForTasks, Duration::from_secs(60))
            .await;
        *lock(&self.server_url) = server.clone();
        self.store.save(&self.account(), &token)?;
        let path = self.paths.config_file();
        let mut file = CliConfig::load(&path)?;
        file.server_url = server.to_string();
        file.save(&path)?;
        info!(server = %server, "logged in");
        self.host.start(self.config_source(), token);
        Ok(if account.name.is_empty() {
            account.email
        } else {
            account.name
        })
    }

    /// Signs in through the browser: `open` shows the web app's login page, which
    /// sends the browser back to a loopback callback (or a `multica://` deep link)
    /// with a session; the session is traded for a personal access token, which is
    /// kept as a pasted one would be. Returns the account's name.
    pub async fn login_in_browser<E: std::fmt::Display>(
        self: &Arc<Self>,
        server_url: &str,
        open: impl FnOnce(&str) -> Result<(), E>,
    ) -> Result<String, AppError> {
        let server = ServerUrl::parse(server_url.trim()).map_err(AppError::ServerUrl)?;
        let callback = LoginCallback::bind().await?;
        let configured = CliConfig::load(&self.paths.config_file())?.app_url;
        let app_url = multica_login::app_url(
            &server,
            ProcessEnvironment.var("MULTICA_APP_URL").as_deref(),
            &configured,
        );
        let url = multica_login::login_url(&app_url, &callback).map_err(AppError::WebAppUrl)?;
        let cancel = CancellationToken::new();
        *lock(&self.browser_login) = Some((callback.sink(), cancel.clone()));
        let session = match open(url.as_str()) {
            Ok(()) => callback.wait(BROWSER_LOGIN_TIMEOUT, cancel).await,
            Err(reason) => {
                *lock(&self.browser_login) = None;
                return Err(AppError::BrowserNotOpened {
                    url: url.to_string(),
                    reason: reason.to_string(),
                });
            }
        };
        *lock(&self.browser_login) = None;
        let session = session?;
        let host = ProcessEnvironment
            .hostname()
            .unwrap_or_else(|| "this computer".to_owned());
        let token = multica_login::issue_personal_token(
            &server,
            session,
            &format!("Desktop ({host})"),
            USER_AGENT,
        )
        .await
        .map_err(|error| {
            // Not `from_api`: a 401 here refuses the browser's session, not a token
            // the user gave.
            let server = server.to_string();
            let reason = format!("the server could not issue a token for this app: {error}");
            if error.is_retryable() {
                AppError::ServerUnreachable { server, reason }
            } else {
                AppError::ServerRefused { server, reason }
            }
        })?;
        let name = self.login_with_token(server.as_str(), token).await?;
        let path = self.paths.config_file();
        let mut file = CliConfig::load(&path)?;
        file.app_url = app_url;
        file.save(&path)?;
        Ok(name)
    }

    /// Stops waiting for a browser login.
    pub fn cancel_browser_login(&self) {
        if let Some((_, cancel)) = lock(&self.browser_login).take() {
            cancel.cancel();
        }
    }

    /// A `multica://callback?token=…&state=…` link opened by the browser: handed to
    /// the login under way, which checks its state. `false` when it is not for us.
    pub fn deep_link(&self, link: &str) -> bool {
        let Ok(url) = url::Url::parse(link) else {
            return false;
        };
        if url.scheme() != "multica" {
            return false;
        }
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        let Some((sink, _)) = lock(&self.browser_login).clone() else {
            warn!("a sign-in link arrived, but no login is under way");
            return false;
        };
        match sink.deliver(
            query.get("token").map(String::as_str),
            query.get("state").map(String::as_str),
        ) {
            Ok(()) => true,
            Err(refused) => {
                warn!(%refused, "a sign-in link was refused");
                false
            }
        }
    }

    /// Moves the Go CLI's plain-text token from `config.json` into the keychain and
    /// logs in with it.
    pub async fn import_config_token(self: &Arc<Self>) -> Result<String, AppError> {
        let path = self.paths.config_file();
        let file = CliConfig::load(&path)?;
        if file.token.is_empty() {
            return Err(AppError::NoTokenToImport(path));
        }
        let server = if file.server_url.is_empty() {
            self.server_url().to_string()
        } else {
            file.server_url.clone()
        };
        let name = self
            .login_with_token(&server, Secret::new(file.token.clone()))
            .await?;
        // Only once the keychain holds it: then the plain copy goes.
        let mut file = CliConfig::load(&path)?;
        file.token.clear();
        file.save(&path)?;
        Ok(name)
    }

    /// The folder a recent task's agent works in, to open it. The window names the
    /// task, never a path: only folders the engine reported can be opened.
    pub fn task_folder(&self, task_id: &str) -> Result<PathBuf, AppError> {
        let engine = self.host.engine().ok_or(AppError::EngineNotRunning)?;
        let task = engine
            .recent_tasks()
            .into_iter()
            .find(|task| task.task_id == task_id)
            .ok_or_else(|| AppError::TaskNotFound(task_id.to_owned()))?;
        let work_dir = task.work_dir.ok_or(AppError::NoTaskFolder)?;
        if !work_dir.is_dir() {
            return Err(AppError::TaskFolderGone(work_dir));
        }
        Ok(work_dir)
    }

    /// Stops the engine (running tasks as `mode` says) and forgets the token.
    pub async fn logout(&self, mode: StopMode) -> Result<(), AppError> {
        self.host.stop(mode, Duration::from_secs(120)).await;
        self.store.delete(&self.account())?;
        self.host.needs_login(None);
        info!("logged out");
        Ok(())
    }

    /// The account's workspaces, and which ones this machine watches.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceRow>, AppError> {
        let token = self
            .store
            .load(&self.account())?
            .ok_or(AppError::NotLoggedIn)?;
        let server = self.server_url();
        let client = UserClient::new(server.clone(), Some(token), USER_AGENT)
            .map_err(|error| AppError::from_api(&server, &error))?;
        let listed = client
            .list_workspaces()
            .await
            .map_err(|error| AppError::from_api(&server, &error))?;
        let watched = CliConfig::load(&self.paths.config_file())?.watched_workspaces;
        Ok(workspace_rows(&listed, &watched))
    }

    /// Watches or stops watching a workspace; the engine picks it up within seconds.
    pub fn set_watched(&self, id: &str, name: &str, watched: bool) -> Result<(), AppError> {
        let path = self.paths.config_file();
        let mut file = CliConfig::load(&path)?;
        let changed = if watched {
            file.watch(id, name)
        } else {
            file.unwatch(id)
        };
        if changed {
            file.save(&path)?;
            info!(workspace = id, watched, "workspace watch changed");
        }
        Ok(())
    }

    /// Every built-in agent with what `config.json` says of it.
    pub fn agent_overrides(&self) -> Result<Vec<AgentOverride>, AppError> {
        let file = CliConfig::load(&self.paths.config_file())?;
        let section = file.other.get("agents").and_then(|a| a.as_object());
        Ok(multica_agents::builtin_profiles()
            .into_iter()
            .map(|profile| {
                let entry = section.and_then(|agents| agents.get(&profile.id));
                let text = |key: &str| {
                    entry
                        .and_then(|e| e.get(key))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                };
                AgentOverride {
                    path: text("path"),
                    model: text("model"),
                    max_concurrent_tasks: entry
                        .and_then(|e| e.get("max_concurrent_tasks"))
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok()),
                    enabled: entry
                        .and_then(|e| e.get("enabled"))
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(true),
                    id: profile.id,
                    display_name: profile.display_name,
                }
            })
            .collect())
    }

    /// Writes the agents' overrides into `config.json` (only what differs from the
    /// defaults); the engine uses them from its next start, once no task runs.
    pub fn save_agent_overrides(
        self: &Arc<Self>,
        overrides: &[AgentOverride],
    ) -> Result<(), AppError> {
        let known: Vec<String> = multica_agents::builtin_profiles()
            .into_iter()
            .map(|profile| profile.id)
            .collect();
        let path = self.paths.config_file();
        let mut file = CliConfig::load(&path)?;
        let mut section = file
            .other
            .get("agents")
            .and_then(|a| a.as_object())
            .cloned()
            .unwrap_or_default();
        for agent in overrides {
            if !known.contains(&agent.id) {
                return Err(AppError::UnknownAgent(agent.id.clone()));
            }
            if agent.max_concurrent_tasks == Some(0) {
                return Err(AppError::NoTaskAllowed {
                    agent: agent.display_name.clone(),
                });
            }
            let mut entry = serde_json::Map::new();
            let clean = |value: &Option<String>| {
                value
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| serde_json::Value::String(v.to_owned()))
            };
            if let Some(path) = clean(&agent.path) {
                entry.insert("path".into(), path);
            }
            if let Some(model) = clean(&agent.model) {
                entry.insert("model".into(), model);
            }
            if let Some(max) = agent.max_concurrent_tasks {
                entry.insert("max_concurrent_tasks".into(), max.into());
            }
            if !agent.enabled {
                entry.insert("enabled".into(), false.into());
            }
            if entry.is_empty() {
                section.remove(&agent.id);
            } else {
                section.insert(agent.id.clone(), entry.into());
            }
        }
        if section.is_empty() {
            file.other.remove("agents");
        } else {
            file.other.insert("agents".into(), section.into());
        }
        file.save(&path)?;
        if matches!(self.host.status(), HostStatus::Running)
            && let Ok(Some(token)) = self.store.load(&self.account())
        {
            self.host.restart_when_idle(self.config_source(), token);
        }
        Ok(())
    }

    /// Saves the settings; those the engine reads at start apply once no task runs.
    pub fn save_settings(self: &Arc<Self>, next: AppSettings) -> Result<(), AppError> {
        next.save(&self.paths.settings_file())?;
        let restart = lock(&self.settings).engine_restart_needed(&next);
        *lock(&self.settings) = next;
        if restart
            && matches!(self.host.status(), HostStatus::Running)
            && let Ok(Some(token)) = self.store.load(&self.account())
        {
            self.host.restart_when_idle(self.config_source(), token);
        }
        Ok(())
    }

    /// Versions, paths, agents and state, for a bug report. No secrets.
    pub fn diagnostics(&self, log_dir: Option<&Path>, recent_errors: &[String]) -> String {
        let status = self.status();
        let mut text = format!(
            "Multica desktop {VERSION} on {} {}\nserver: {}\nprofile: {}\nconfig: {}\nmultica CLI: {}\ntoken store: {}\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            status.server_url,
            status.profile.as_deref().unwrap_or("default"),
            self.paths.config_file().display(),
            self.paths.multica_cli.display(),
            self.store.location(),
        );
        if let Some(dir) = log_dir {
            text.push_str(&format!("logs: {}\n", dir.display()));
        }
        text.push_str(&format!("engine: {:?}\n", status.host));
        if let Some(health) = &status.health {
            text.push_str(&format!(
                "state: {}{}\nrunning tasks: {}\nworkspaces: {}\n",
                health.state,
                health
                    .state_reason
                    .as_deref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default(),
                health.running_tasks,
                health.workspaces.len()
            ));
            for agent in &health.agent_clis {
                text.push_str(&format!(
                    "agent {}: {} at {}\n",
                    agent.provider, agent.version, agent.path
                ));
            }
        }
        if !recent_errors.is_empty() {
            text.push_str("recent errors:\n");
            for line in recent_errors {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text
    }
}

/// Rows from the server's list (`[{id, name, …}]`, or `{workspaces: […]}`), plus
/// watched workspaces the list did not include (kept so they can be unwatched).
fn workspace_rows(
    listed: &serde_json::Value,
    watched: &[multica_daemon::cli_config::WatchedWorkspace],
) -> Vec<WorkspaceRow> {
    let items = listed
        .as_array()
        .or_else(|| listed.get("workspaces").and_then(|w| w.as_array()))
        .cloned()
        .unwrap_or_default();
    let mut rows: Vec<WorkspaceRow> = items
        .iter()
        .filter_map(|item| {
            let id = item.get("id")?.as_str()?.to_owned();
            let name = item
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or(&id)
                .to_owned();
            let is_watched = watched.iter().any(|w| w.id == id);
            Some(WorkspaceRow {
                id,
                name,
                watched: is_watched,
            })
        })
        .collect();
    for workspace in watched {
        if !rows.iter().any(|row| row.id == workspace.id) {
            rows.push(WorkspaceRow {
                id: workspace.id.clone(),
                name: workspace.name.clone(),
                watched: true,
            });
        }
    }
    rows
}

fn workspace_names(file: CliConfig) -> Vec<WorkspaceName> {
    file.watched_workspaces
        .into_iter()
        .map(|watched| WorkspaceName {
            id: watched.id,
            name: watched.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use multica_daemon::cli_config::WatchedWorkspace;
    use serde_json::json;

    use super::*;

    #[test]
    fn agent_overrides_round_trip_through_the_config_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths {
            profile: None,
            profile_dir: dir.path().to_owned(),
            multica_cli: dir.path().join("multica"),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let core = AppCore::new(
            paths,
            Box::new(multica_token_store::MemoryStore::new()),
            runtime.handle().clone(),
        )
        .expect("core");
        let mut agents = core.agent_overrides().expect("agents");
        assert!(agents.iter().all(|a| a.enabled && a.path.is_none()));
        let claude = agents
            .iter_mut()
            .find(|a| a.id == "claude")
            .expect("claude");
        claude.path = Some(" /opt/claude ".into());
        claude.max_concurrent_tasks = Some(2);
        let goose = agents.iter_mut().find(|a| a.id == "goose").expect("goose");
        goose.enabled = false;
        core.save_agent_overrides(&agents).expect("saved");

        let file = CliConfig::load(&core.paths().config_file()).expect("config");
        assert_eq!(
            file.other["agents"],
            json!({"claude": {"path": "/opt/claude", "max_concurrent_tasks": 2},
                   "goose": {"enabled": false}})
        );
        // What the daemon reads from it.
        let settings = multica_daemon::agent_config::agent_settings(|_| None, &file)
            .expect("the daemon accepts it");
        let claude = settings
            .iter()
            .find(|s| s.provider.as_str() == "claude")
            .expect("claude");
        assert_eq!(claude.executable, std::path::PathBuf::from("/opt/claude"));
        assert!(settings.iter().all(|s| s.provider.as_str() != "goose"));

        let bad = vec![AgentOverride {
            id: "nope".into(),
            display_name: String::new(),
            path: None,
            model: None,
            max_concurrent_tasks: None,
            enabled: true,
        }];
        let refused = core.save_agent_overrides(&bad).expect_err("unknown agent");
        assert_eq!(refused.code(), crate::error::ErrorCode::InvalidInput);
    }

    #[test]
    fn workspace_rows_mark_the_watched_ones_and_keep_unlisted_watches() {
        let listed = json!([{"id": "a", "name": "Acme"}, {"id": "b"}]);
        let watched = [
            WatchedWorkspace {
                id: "b".into(),
                name: "Beta".into(),
            },
            WatchedWorkspace {
                id: "gone".into(),
                name: "Old".into(),
            },
        ];
        let rows = workspace_rows(&listed, &watched);
        assert_eq!(
            rows,
            [
                WorkspaceRow {
                    id: "a".into(),
                    name: "Acme".into(),
                    watched: false
                },
                WorkspaceRow {
                    id: "b".into(),
                    name: "b".into(),
                    watched: true
                },
                WorkspaceRow {
                    id: "gone".into(),
                    name: "Old".into(),
                    watched: true
                },
            ]
        );
        let wrapped = json!({"workspaces": [{"id": "a", "name": "Acme"}]});
        assert_eq!(workspace_rows(&wrapped, &[]).len(), 1);
    }
}
