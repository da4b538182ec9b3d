//! Start at login: the OS login item that the autostart plugin manages. It starts
//! the app with [`HIDDEN_FLAG`], in the tray with no window.

use tauri::{AppHandle, Runtime};
use tracing::warn;

/// Given by the login item: start in the tray, no window.
const HIDDEN_FLAG: &str = "--hidden";

/// Started by the login item: in the tray, with no window.
pub fn started_hidden() -> bool {
    std::env::args().any(|arg| arg == HIDDEN_FLAG)
}

/// The autostart plugin, registering the app with [`HIDDEN_FLAG`].
pub(crate) fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::init(
        tauri_plugin_autostart::MacosLauncher::LaunchAgent,
        Some(vec![HIDDEN_FLAG]),
    )
}

/// Adds or removes the login item. A failure is logged, not returned: the
/// settings that asked for it are saved either way, and the next save tries again.
pub(crate) fn set(app: &AppHandle, enabled: bool) {
    use tauri_plugin_autostart::ManagerExt;
    let autostart = app.autolaunch();
    let applied = if enabled {
        autostart.enable()
    } else {
        autostart.disable()
    };
    if let Err(error) = applied {
        warn!(%error, enabled, "cannot change start at login");
    }
}
