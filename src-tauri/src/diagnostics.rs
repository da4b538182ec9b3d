//! What a person reaches for when something is wrong, and sends with a bug report:
//! the diagnostics text (versions, paths, agents, state, recent problems) and the
//! logs folder.

use std::sync::Arc;

use tauri::{AppHandle, Manager};

use crate::core::AppCore;
use crate::error::AppError;
use crate::logs;

/// The diagnostics text: versions, paths, agents, state, recent problems.
pub(crate) fn text(app: &AppHandle) -> String {
    let core = app.state::<Arc<AppCore>>();
    let running = logs::running();
    let recent = running.map(logs::Logs::recent_problems).unwrap_or_default();
    core.diagnostics(running.map(|logs| logs.dir.as_path()), &recent)
}

/// Puts the diagnostics text on the clipboard.
pub(crate) fn copy(app: &AppHandle) -> Result<(), AppError> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    app.clipboard()
        .write_text(text(app))
        .map_err(|error| AppError::Clipboard {
            reason: error.to_string(),
        })
}

pub(crate) fn open_logs_folder(app: &AppHandle) -> Result<(), AppError> {
    use tauri_plugin_opener::OpenerExt;
    let dir = logs::dir().ok_or(AppError::NoLogFolder)?;
    app.opener()
        .open_path(dir.to_string_lossy(), None::<&str>)
        .map_err(|error| AppError::OpenFailed {
            target: dir.display().to_string(),
            reason: error.to_string(),
        })
}
