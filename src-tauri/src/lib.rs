//! The Multica desktop app: the agent daemon's engine hosted in a tray app. The
//! shell holds no business logic: `core` (login, workspaces, settings) and `host`
//! (the supervised engine) do the work; this module starts the app and wires them to
//! Tauri — plugins, deep links, engine events and notifications. The tray, the
//! window, IPC commands, diagnostics and quitting have their own modules.

mod commands;
pub mod core;
mod diagnostics;
pub mod error;
pub mod host;
mod links;
mod login_item;
mod logs;
pub mod settings;
mod shutdown;
mod tray;
pub mod tray_model;
mod updates;
mod window;

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tracing::{error, info, warn};

use crate::core::{AppCore, Paths};

pub use crate::login_item::started_hidden;

/// Runs the app until it quits.
pub fn run() {
    let hidden = started_hidden();
    let app = tauri::Builder::default()
        // First: a second launch only focuses the first instance.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // A second launch may carry a sign-in link (Linux, Windows).
            let core = app.state::<Arc<AppCore>>();
            let linked = args.iter().any(|arg| core.deep_link(arg));
            if !linked {
                window::show(app, None);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(login_item::plugin())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .invoke_handler(commands::handlers())
        .setup(move |app| {
            setup(app.handle(), hidden)?;
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            // Logging may not be set up yet: say it where a person launching it sees it.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Multica could not start: {error}");
            }
            error!(%error, "the app could not start");
            std::process::exit(1);
        }
    };
    app.run(|app, event| match event {
        // The last window closed: the app lives on in the tray, agents keep running.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => info!("Multica quits"),
        _ => {
            let _ = app;
        }
    });
}

fn setup(app: &AppHandle, hidden: bool) -> Result<(), Box<dyn std::error::Error>> {
    let paths = Paths::discover(None)?;
    let settings = settings::AppSettings::load(&paths.settings_file()).unwrap_or_default();
    let log_dir = app
        .path()
        .app_log_dir()
        .unwrap_or_else(|_| paths.profile_dir.join("logs"));
    logs::start(&log_dir, settings.log_level_or_default());
    info!(version = core::VERSION, "Multica desktop starting");
    let store: Box<dyn multica_token_store::TokenStore> =
        Box::new(multica_token_store::KeychainStore::new());
    let core = AppCore::new(paths, store, tauri::async_runtime::handle().inner().clone())?;
    core.host()
        .set_self_updater(Arc::new(updates::AppUpdater { app: app.clone() }));
    app.manage(Arc::clone(&core));

    listen_for_deep_links(app);
    tray::create(app);
    forward_engine_events(app, &core);
    core.start_engine();
    shutdown::stop_on_signals(app);
    updates::start_checking(app);
    if !hidden {
        window::show(app, None);
    }
    Ok(())
}

/// `multica://callback?token=…&state=…` links finish a browser login (where the
/// scheme is registered: bundles register it; macOS delivers it to the running app).
fn listen_for_deep_links(app: &AppHandle) {
    use tauri_plugin_deep_link::DeepLinkExt;
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        let core = handle.state::<Arc<AppCore>>();
        for url in event.urls() {
            core.deep_link(url.as_str());
        }
    });
}

/// Engine events and host status changes go to the window (when open) and redraw
/// the tray; task ends raise a notification when the user asked for them.
fn forward_engine_events(app: &AppHandle, core: &Arc<AppCore>) {
    let mut events = core.host().subscribe();
    let handle = app.clone();
    let notify_core = Arc::clone(core);
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let _ = handle.emit("engine-event", &event);
                    notify_task_end(&handle, &notify_core, &event);
                    if !matches!(
                        event,
                        multica_daemon::EngineEvent::TaskMessages { .. }
                            | multica_daemon::EngineEvent::TaskProgress { .. }
                    ) {
                        tray::redraw(&handle);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let mut status = core.host().watch_status();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        while status.changed().await.is_ok() {
            let current = status.borrow_and_update().clone();
            let _ = handle.emit("host-status", &current);
            tray::redraw(&handle);
        }
    });
    // The engine's own health (online, degraded, offline) changes without events
    // from the host; a slow redraw keeps the tray true.
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            tray::redraw(&handle);
        }
    });
}

fn notify_task_end(app: &AppHandle, core: &AppCore, event: &multica_daemon::EngineEvent) {
    use tauri_plugin_notification::NotificationExt;
    let multica_daemon::EngineEvent::TaskFinished { task_id, outcome } = event else {
        return;
    };
    if !core.settings().notify_on_task_end {
        return;
    }
    let short: String = task_id.chars().take(8).collect();
    let (title, body) = match outcome {
        multica_daemon::TaskOutcome::Completed { .. } => {
            ("Task done".to_owned(), format!("Task {short} completed."))
        }
        multica_daemon::TaskOutcome::Failed { error } => {
            ("Task failed".to_owned(), format!("Task {short}: {error}"))
        }
        multica_daemon::TaskOutcome::Cancelled => (
            "Task cancelled".to_owned(),
            format!("Task {short} was cancelled."),
        ),
    };
    if let Err(error) = app.notification().builder().title(title).body(body).show() {
        warn!(%error, "cannot show a notification");
    }
}
