//! Draws the tray from [`crate::tray_model`] and turns its menu clicks into actions.

use std::sync::Arc;
use std::time::Duration;

use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tracing::warn;

use crate::core::AppCore;
use crate::host::StopMode;
use crate::tray_model::{self, MenuEntry, TrayLook, WorkspaceName, ids};

const TRAY_ID: &str = "multica";

fn icon(look: TrayLook) -> Option<Image<'static>> {
    let bytes: &'static [u8] = match look {
        TrayLook::Idle => include_bytes!("../../icons/tray/idle.png"),
        TrayLook::Working(_) => include_bytes!("../../icons/tray/busy.png"),
        TrayLook::Paused => include_bytes!("../../icons/tray/paused.png"),
        TrayLook::Offline => include_bytes!("../../icons/tray/offline.png"),
        TrayLook::NeedsLogin => include_bytes!("../../icons/tray/login.png"),
        TrayLook::Error => include_bytes!("../../icons/tray/error.png"),
    };
    Image::from_bytes(bytes).ok()
}

/// Creates the tray icon. A desktop without a tray (no StatusNotifier host) is
/// not an error: the icon is simply not shown, and the window is the way in.
pub(crate) fn create(app: &AppHandle) {
    let core = app.state::<Arc<AppCore>>();
    let status = core.host().status();
    let look = TrayLook::decide(&status, None);
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip(tray_model::headline(&status, None))
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()));
    if let Some(image) = icon(look) {
        builder = builder.icon(image);
    }
    if let Ok(menu) = build_menu(app, &tray_model::menu(&status, None, &[])) {
        builder = builder.menu(&menu);
    }
    if let Err(error) = builder.build(app) {
        warn!(%error, "no tray icon; use the window");
    }
}

/// Redraws icon, tooltip and menu from the current state.
pub(crate) fn refresh(app: &AppHandle, names: &[WorkspaceName]) {
    let Some(tray): Option<TrayIcon<Wry>> = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let core = app.state::<Arc<AppCore>>();
    let status = core.host().status();
    let health = core.host().engine().map(|engine| engine.health());
    let look = TrayLook::decide(&status, health.as_ref());
    let _ = tray.set_icon(icon(look));
    let _ = tray.set_tooltip(Some(tray_model::headline(&status, health.as_ref())));
    match build_menu(app, &tray_model::menu(&status, health.as_ref(), names)) {
        Ok(menu) => {
            let _ = tray.set_menu(Some(menu));
        }
        Err(error) => warn!(%error, "cannot build the tray menu"),
    }
}

fn build_menu(app: &AppHandle, entries: &[MenuEntry]) -> tauri::Result<Menu<Wry>> {
    let menu = Menu::new(app)?;
    for entry in entries {
        append(app, entry, &|item| menu.append(item))?;
    }
    Ok(menu)
}

fn append(
    app: &AppHandle,
    entry: &MenuEntry,
    add: &dyn Fn(&dyn IsMenuItem<Wry>) -> tauri::Result<()>,
) -> tauri::Result<()> {
    match entry {
        MenuEntry::Label(text) => add(&MenuItem::new(app, text, false, None::<&str>)?),
        MenuEntry::Action { id, text } => {
            add(&MenuItem::with_id(app, id, text, true, None::<&str>)?)
        }
        MenuEntry::Separator => add(&PredefinedMenuItem::separator(app)?),
        MenuEntry::Submenu { text, entries } => {
            let submenu = Submenu::new(app, text, true)?;
            for inner in entries {
                append(app, inner, &|item| submenu.append(item))?;
            }
            add(&submenu)
        }
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    let core = Arc::clone(&app.state::<Arc<AppCore>>());
    match id {
        ids::OPEN => crate::window::show(app, None),
        ids::SETTINGS => crate::window::show(app, Some("settings")),
        ids::TASKS => crate::window::show(app, Some("tasks")),
        ids::USAGE => crate::window::show(app, Some("usage")),
        ids::LOGIN => crate::window::show(app, Some("login")),
        ids::PAUSE => core.host().set_paused(true),
        ids::RESUME => core.host().set_paused(false),
        ids::LOGOUT => {
            tauri::async_runtime::spawn(async move {
                if let Err(error) = core.logout(StopMode::WaitForTasks).await {
                    warn!(%error, "logout failed");
                }
            });
        }
        ids::CHECK_UPDATES => crate::updates::check_now(app, true),
        ids::OPEN_LOGS => {
            if let Err(error) = crate::diagnostics::open_logs_folder(app) {
                warn!(%error, "cannot open the logs folder");
            }
        }
        ids::COPY_DIAGNOSTICS => {
            if let Err(error) = crate::diagnostics::copy(app) {
                warn!(%error, "cannot copy the diagnostics");
            }
        }
        ids::QUIT | ids::QUIT_AFTER_TASKS => crate::shutdown::quit(app, StopMode::WaitForTasks),
        ids::QUIT_STOPPING_TASKS => crate::shutdown::quit(app, StopMode::StopTasks),
        other => {
            if let Some(task_id) = other.strip_prefix(ids::TASK_OPEN) {
                crate::window::show(app, Some(&format!("task/{task_id}")));
            } else if let Some(task_id) = other.strip_prefix(ids::TASK_CANCEL) {
                if let Some(engine) = core.host().engine() {
                    engine.cancel_task(task_id);
                }
            }
        }
    }
    // The menu shows what changed at once (pause, cancel).
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        redraw(&app);
    });
}

/// Redraws the tray with the names of the watched workspaces.
pub(crate) fn redraw(app: &AppHandle) {
    let core = app.state::<Arc<AppCore>>();
    let names = core.watched_workspace_names();
    let app = app.clone();
    // Menus are built on the main thread.
    let _ = app
        .clone()
        .run_on_main_thread(move || refresh(&app, &names));
}
