//! Signed updates (tauri-plugin-updater): checked a minute after start and every
//! six hours, downloaded in the background, verified against the minisign public
//! key in `tauri.conf.json`, and installed once no task runs — never in the middle
//! of an agent's work. Debug builds may point at another endpoint, key and install
//! target with `MULTICA_UPDATE_ENDPOINT` / `MULTICA_UPDATE_PUBKEY` /
//! `MULTICA_UPDATE_EXECUTABLE` (for the updater test).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use multica_daemon::self_update::SelfUpdateError;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};
use tracing::{info, warn};

use crate::core::AppCore;
use crate::host::StopMode;

const FIRST_CHECK: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(6 * 3600);

/// One check or install at a time.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Why an update was not checked for, downloaded or installed. The window hears it
/// as [`UpdateStatus::Failed`]; the server, when it asked for the update.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    #[error("MULTICA_UPDATE_ENDPOINT is not a URL: {0}")]
    Endpoint(url::ParseError),
    #[error("the updater cannot be set up: {0}")]
    Setup(tauri_plugin_updater::Error),
    #[error("cannot check for updates: {0}")]
    Check(tauri_plugin_updater::Error),
    /// The download failed, or its signature did not match the app's key.
    #[error("the update to {version} was refused: {source}")]
    Download {
        version: String,
        source: tauri_plugin_updater::Error,
    },
    #[error("installing {version} failed: {source}")]
    Install {
        version: String,
        source: tauri_plugin_updater::Error,
    },
}

/// What the window is told as an update goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum UpdateStatus {
    Checking,
    UpToDate,
    Downloading {
        version: String,
    },
    /// Downloaded and verified; installs when no task runs.
    WaitingForTasks {
        version: String,
    },
    Installing {
        version: String,
    },
    Failed {
        error: String,
    },
}

fn tell(app: &AppHandle, status: &UpdateStatus) {
    let _ = app.emit("update-status", status);
}

pub(crate) fn start_checking(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_CHECK).await;
        loop {
            if let Err(error) = check_and_install(&app).await {
                warn!(%error, "update check failed");
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

/// A check now (the tray's "Check for updates"); the window hears how it went.
pub(crate) fn check_now(app: &AppHandle, user_asked: bool) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(error) = check_and_install(&app).await {
            warn!(%error, user_asked, "update check failed");
            tell(
                &app,
                &UpdateStatus::Failed {
                    error: error.to_string(),
                },
            );
        }
    });
}

fn updater(app: &AppHandle) -> Result<tauri_plugin_updater::Updater, UpdateError> {
    let mut builder = app.updater_builder();
    if cfg!(debug_assertions) {
        if let Ok(endpoint) = std::env::var("MULTICA_UPDATE_ENDPOINT") {
            let url = endpoint.parse().map_err(UpdateError::Endpoint)?;
            builder = builder.endpoints(vec![url]).map_err(UpdateError::Setup)?;
        }
        if let Ok(key) = std::env::var("MULTICA_UPDATE_PUBKEY") {
            builder = builder.pubkey(key);
        }
        // What an install replaces, so that a test does not replace its own binary.
        if let Ok(path) = std::env::var("MULTICA_UPDATE_EXECUTABLE") {
            builder = builder.executable_path(path);
        }
    }
    builder.build().map_err(UpdateError::Setup)
}

/// Checks; when there is an update, downloads and verifies it, waits until no task
/// runs, stops the engine and installs (then the app restarts).
pub(crate) async fn check_and_install(app: &AppHandle) -> Result<Option<String>, UpdateError> {
    match download_verified(app).await? {
        Some((update, bytes)) => {
            let version = update.version.clone();
            install_when_idle(app, &update, bytes).await?;
            Ok(Some(version))
        }
        None => Ok(None),
    }
}

/// The newest update, downloaded and its signature verified; `None` when up to date
/// (or another check is under way).
async fn download_verified(app: &AppHandle) -> Result<Option<(Update, Vec<u8>)>, UpdateError> {
    if BUSY.swap(true, Ordering::SeqCst) {
        return Ok(None);
    }
    let result = download_verified_inner(app).await;
    BUSY.store(false, Ordering::SeqCst);
    result
}

async fn download_verified_inner(
    app: &AppHandle,
) -> Result<Option<(Update, Vec<u8>)>, UpdateError> {
    tell(app, &UpdateStatus::Checking);
    let update: Option<Update> = updater(app)?.check().await.map_err(UpdateError::Check)?;
    let Some(update) = update else {
        tell(app, &UpdateStatus::UpToDate);
        return Ok(None);
    };
    let version = update.version.clone();
    info!(%version, "update available; downloading");
    tell(
        app,
        &UpdateStatus::Downloading {
            version: version.clone(),
        },
    );
    // The signature is verified here: a tampered download is an error.
    let bytes = update
        .download(|_, _| {}, || {})
        .await
        .map_err(|source| UpdateError::Download { version, source })?;
    Ok(Some((update, bytes)))
}

async fn install_when_idle(
    app: &AppHandle,
    update: &Update,
    bytes: Vec<u8>,
) -> Result<(), UpdateError> {
    let version = update.version.clone();
    tell(
        app,
        &UpdateStatus::WaitingForTasks {
            version: version.clone(),
        },
    );
    let core = Arc::clone(&app.state::<Arc<AppCore>>());
    core.host()
        .stop(StopMode::WaitForTasks, Duration::from_secs(24 * 3600))
        .await;
    tell(
        app,
        &UpdateStatus::Installing {
            version: version.clone(),
        },
    );
    if let Err(source) = update.install(bytes) {
        // Not installed: the engine comes back as it was.
        core.start_engine();
        return Err(UpdateError::Install { version, source });
    }
    info!(%version, "update installed; restarting");
    app.restart();
}

/// The server's update requests (a runtime's `pending_update`) take the same way:
/// download and verify now, report, install once no task runs.
#[derive(Debug)]
pub(crate) struct AppUpdater {
    pub(crate) app: AppHandle,
}

impl multica_daemon::self_update::SelfUpdater for AppUpdater {
    fn update(
        &self,
        target_version: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SelfUpdateError>> + Send>>
    {
        let app = self.app.clone();
        Box::pin(async move {
            let downloaded = download_verified(&app)
                .await
                .map_err(|error| SelfUpdateError(error.to_string()))?;
            match downloaded {
                Some((update, bytes)) => {
                    let version = update.version.clone();
                    let installer = app.clone();
                    tauri::async_runtime::spawn(async move {
                        if let Err(error) = install_when_idle(&installer, &update, bytes).await {
                            warn!(%error, "the requested update was not installed");
                        }
                    });
                    Ok(format!(
                        "Multica {version} (asked for {target_version}) is downloaded and verified; it installs once no task runs"
                    ))
                }
                None => Err(SelfUpdateError(format!(
                    "no update to {target_version} is published for this app, or one is already being installed"
                ))),
            }
        })
    }
}
