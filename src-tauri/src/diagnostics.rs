//! What a person reaches for when something is wrong, and sends with a bug report:
//! the diagnostics text (versions, paths, agents, state, recent problems) and the
//! logs folder.

use std::sync::Arc;

use tauri::{AppHandle, Manager};
use tracing::warn;

use crate::core::AppCore;
use crate::logs;

/// The diagnostics text: versions, paths, agents, state, recent problems.
pub(crate) fn text(app: &AppHandle) -> String {
    let core = app.state::<Arc<AppCore>>();
    let running = logs::running();
    let recent = running.map(logs::Logs::recent_problems).unwrap_or_default();
    core.diagnostics(running.map(|logs| logs.dir.as_path()), &recent)
}

pub(crate) fn copy(app: &AppHandle) {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    if let Err(error) = app.clipboard().write_text(text(app)) {
        warn!(%error, "cannot copy the diagnostics");
    }
}

pub(crate) fn open_logs_folder(app: &AppHandle) {
    use tauri_plugin_opener::OpenerExt;
    if let Some(dir) = logs::dir()
        && let Err(error) = app.opener().open_path(dir.to_string_lossy(), None::<&str>)
    {
        warn!(%error, "cannot open the logs folder");
    }
}
