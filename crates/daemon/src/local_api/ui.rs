//! `GET /ui/…`: the window's built files, for a browser on a headless machine.

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiState, LocalApiError};

/// What the window served at `/ui/` may do: only our own script, no remote content,
/// talk to this API only.
const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /ui/…`: the window's built files, for a browser on a headless machine. The
/// page reads the open routes; transcripts and live events need the control token,
/// which the user pastes into it once; nothing there changes anything.
pub(super) async fn ui_file(
    State(state): State<ApiState>,
    path: Option<UrlPath<String>>,
) -> Result<Response, LocalApiError> {
    let Some(dir) = state.ui_dir.as_deref() else {
        return Err(LocalApiError::NotFound(
            "the window is not served here".into(),
        ));
    };
    let wanted = path.map_or_else(String::new, |UrlPath(path)| path);
    let relative = if wanted.is_empty() {
        "index.html"
    } else {
        wanted.as_str()
    };
    // Only plain names below the folder: no `..`, no absolute paths, no hidden files.
    let safe = Path::new(relative).components().all(|component| {
        matches!(component, std::path::Component::Normal(name)
            if !name.to_string_lossy().starts_with('.'))
    });
    if !safe {
        return Err(LocalApiError::NotFound("not found".into()));
    }
    let file = dir.join(relative);
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(_) if relative == "index.html" => {
            return Err(LocalApiError::NotFound(format!(
                "the window's files are not at {}: build them (scripts/build-ui.sh) and set MULTICA_UI_DIR to ui/dist",
                dir.display()
            )));
        }
        Err(_) => return Err(LocalApiError::NotFound("not found".into())),
    };
    let content_type = match file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, UI_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response())
}
