//! The app's one window. Closing it destroys the webview (the bulk of the app's
//! memory) while the app stays in the tray; showing it again creates it anew.

use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};
use tracing::error;

const MAIN_WINDOW: &str = "main";

/// Shows (creating it when closed) the window, at `route` when given (`login`,
/// `settings`, `task/<id>`).
pub(crate) fn show(app: &AppHandle, route: Option<&str>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        if let Some(route) = route {
            let _ = window.emit("navigate", route);
        }
        return;
    }
    let url = match route {
        Some(route) => format!("index.html#/{route}"),
        None => "index.html".to_owned(),
    };
    let built = WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App(url.into()))
        .title("Multica")
        .inner_size(980.0, 700.0)
        .min_inner_size(640.0, 480.0)
        .build();
    if let Err(error) = built {
        error!(%error, "cannot open the window");
    }
}
