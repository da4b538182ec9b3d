//! How the app ends: quitting from the tray or the window (waiting for running tasks
//! or stopping them, as the user chose), and the system's stop signals.

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager};
use tracing::info;

use crate::core::AppCore;
use crate::host::StopMode;

/// Quits: stops the engine as chosen (waiting for running tasks, or stopping
/// them), then ends the process.
pub(crate) fn quit(app: &AppHandle, mode: StopMode) {
    let core = Arc::clone(&app.state::<Arc<AppCore>>());
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        info!(?mode, "quitting");
        core.host().stop(mode, Duration::from_secs(24 * 3600)).await;
        app.exit(0);
    });
}

/// SIGTERM/SIGINT (log-out, shutdown, `kill`): the engine stops gracefully — its
/// shutdown grace lets tasks finish, then their agents are stopped — and the app ends.
pub(crate) fn stop_on_signals(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        multica_daemon::signals::stop_requested().await;
        info!("asked to stop by the system");
        let core = Arc::clone(&app.state::<Arc<AppCore>>());
        core.host()
            .stop(StopMode::WithinGrace, Duration::from_secs(60))
            .await;
        app.exit(0);
    });
}
