//! IPC commands for the window: thin wrappers over `core` and the engine handle.
//! No command returns a token: the window never sees one. Every failure is an
//! [`AppError`], which the window receives as `{code, message}`.

// Tauri hands commands their arguments (state, handles, strings) by value.
#![allow(clippy::needless_pass_by_value)]

use std::sync::Arc;

use multica_api::Secret;
use tauri::{AppHandle, State};

use crate::core::{AgentOverride, AppCore, AppStatus, WorkspaceRow};
use crate::error::AppError;
use crate::host::StopMode;
use crate::settings::AppSettings;

type Core<'a> = State<'a, Arc<AppCore>>;

pub(crate) fn handlers() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_status,
        login_with_token,
        login_in_browser,
        cancel_browser_login,
        import_config_token,
        logout,
        list_workspaces,
        set_workspace_watched,
        get_settings,
        get_agents,
        save_agents,
        save_settings,
        set_paused,
        cancel_task,
        recent_tasks,
        task_transcript,
        usage,
        open_task_folder,
        log_lines,
        copy_text,
        open_link,
        diagnostics,
        copy_diagnostics,
        open_logs_folder,
        check_for_updates,
        quit,
    ]
}

#[tauri::command]
fn app_status(core: Core<'_>) -> AppStatus {
    core.status()
}

/// Checks the pasted token with the server and keeps it in the OS keychain.
#[tauri::command]
async fn login_with_token(
    core: Core<'_>,
    server_url: String,
    token: String,
) -> Result<String, AppError> {
    core.login_with_token(&server_url, Secret::new(token)).await
}

/// Opens the system browser on the web app's sign-in; resolves once signed in.
#[tauri::command]
async fn login_in_browser(
    app: AppHandle,
    core: Core<'_>,
    server_url: String,
) -> Result<String, AppError> {
    use tauri_plugin_opener::OpenerExt;
    core.login_in_browser(&server_url, |url| app.opener().open_url(url, None::<&str>))
        .await
}

#[tauri::command]
fn cancel_browser_login(core: Core<'_>) {
    core.cancel_browser_login();
}

#[tauri::command]
async fn import_config_token(core: Core<'_>) -> Result<String, AppError> {
    core.import_config_token().await
}

#[tauri::command]
async fn logout(core: Core<'_>, stop_tasks: bool) -> Result<(), AppError> {
    let mode = if stop_tasks {
        StopMode::StopTasks
    } else {
        StopMode::WaitForTasks
    };
    core.logout(mode).await
}

#[tauri::command]
async fn list_workspaces(core: Core<'_>) -> Result<Vec<WorkspaceRow>, AppError> {
    core.workspaces().await
}

#[tauri::command]
fn set_workspace_watched(
    core: Core<'_>,
    id: String,
    name: String,
    watched: bool,
) -> Result<(), AppError> {
    core.set_watched(&id, &name, watched)
}

#[tauri::command]
fn get_settings(core: Core<'_>) -> AppSettings {
    core.settings()
}

#[tauri::command]
fn get_agents(core: Core<'_>) -> Result<Vec<AgentOverride>, AppError> {
    core.agent_overrides()
}

/// Agent paths, models, limits and switches: used from the engine's next start,
/// once no task runs.
#[tauri::command]
fn save_agents(core: Core<'_>, agents: Vec<AgentOverride>) -> Result<(), AppError> {
    core.save_agent_overrides(&agents)
}

/// Saves the settings and applies what can be applied now: start at login, the
/// log level; the engine's own settings once no task runs.
#[tauri::command]
fn save_settings(app: AppHandle, core: Core<'_>, settings: AppSettings) -> Result<(), AppError> {
    core.save_settings(settings.clone())?;
    crate::login_item::set(&app, settings.start_at_login);
    crate::logs::set_level(settings.log_level_or_default());
    Ok(())
}

#[tauri::command]
fn set_paused(app: AppHandle, core: Core<'_>, paused: bool) {
    core.host().set_paused(paused);
    crate::tray::redraw(&app);
}

#[tauri::command]
fn cancel_task(core: Core<'_>, task_id: String) -> bool {
    core.host()
        .engine()
        .is_some_and(|engine| engine.cancel_task(&task_id))
}

/// The engine's recent tasks, newest first (empty while it is not running).
#[tauri::command]
fn recent_tasks(core: Core<'_>) -> Vec<multica_daemon::history::TaskSummary> {
    core.host()
        .engine()
        .map(|engine| engine.recent_tasks())
        .unwrap_or_default()
}

/// What the engine keeps of a task's transcript after `after_seq`.
#[tauri::command]
fn task_transcript(
    core: Core<'_>,
    task_id: String,
    after_seq: Option<u64>,
) -> Option<Vec<multica_api::wire::TaskMessage>> {
    core.host()
        .engine()
        .and_then(|engine| engine.transcript(&task_id, after_seq))
}

/// Token usage from `since` (`YYYY-MM-DD` or `7d`; default: the last 30 days).
#[tauri::command]
fn usage(
    core: Core<'_>,
    since: Option<String>,
) -> Result<Option<multica_daemon::usage_book::UsageReport>, AppError> {
    let since = since
        .as_deref()
        .map(multica_daemon::usage_book::parse_since)
        .transpose()
        .map_err(AppError::Since)?;
    Ok(core.host().engine().map(|engine| engine.usage(since)))
}

/// Opens the folder a recent task's agent works in. The window names the task, never
/// a path: only folders the engine reported can be opened.
#[tauri::command]
fn open_task_folder(app: AppHandle, core: Core<'_>, task_id: String) -> Result<(), AppError> {
    use tauri_plugin_opener::OpenerExt;
    let work_dir = core.task_folder(&task_id)?;
    app.opener()
        .open_path(work_dir.to_string_lossy(), None::<&str>)
        .map_err(|error| AppError::OpenFailed {
            target: work_dir.display().to_string(),
            reason: error.to_string(),
        })
}

/// The newest lines of the app's log that match the window's filter.
#[tauri::command]
fn log_lines(query: crate::logs::LogQuery) -> Result<Vec<crate::logs::LogLine>, AppError> {
    let Some(dir) = crate::logs::dir() else {
        return Ok(Vec::new());
    };
    crate::logs::tail(&dir, &query).map_err(|source| AppError::Io {
        doing: "read the log in",
        path: dir,
        source,
    })
}

/// Opens a link from a transcript in the system browser, if the link policy
/// ([`crate::links`]) lets it: agent output is untrusted.
#[tauri::command]
fn open_link(app: AppHandle, url: String) -> Result<(), AppError> {
    use tauri_plugin_opener::OpenerExt;
    let parsed = crate::links::openable_link(&url)?;
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|error| AppError::OpenFailed {
            target: parsed.to_string(),
            reason: error.to_string(),
        })
}

/// Puts what the window chose (a transcript, a message, log lines) on the clipboard.
#[tauri::command]
fn copy_text(app: AppHandle, text: String) -> Result<(), AppError> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    app.clipboard()
        .write_text(text)
        .map_err(|error| AppError::Clipboard {
            reason: error.to_string(),
        })
}

#[tauri::command]
fn diagnostics(app: AppHandle) -> String {
    crate::diagnostics::text(&app)
}

#[tauri::command]
fn copy_diagnostics(app: AppHandle) -> Result<(), AppError> {
    crate::diagnostics::copy(&app)
}

#[tauri::command]
fn open_logs_folder(app: AppHandle) -> Result<(), AppError> {
    crate::diagnostics::open_logs_folder(&app)
}

#[tauri::command]
fn check_for_updates(app: AppHandle) {
    crate::updates::check_now(&app, true);
}

#[tauri::command]
fn quit(app: AppHandle, stop_tasks: bool) {
    let mode = if stop_tasks {
        StopMode::StopTasks
    } else {
        StopMode::WaitForTasks
    };
    crate::shutdown::quit(&app, mode);
}
