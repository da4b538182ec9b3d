//! Which links the window may open in the system browser. They come from agents'
//! transcripts, which are untrusted: only web and mail links open, never files,
//! other apps' schemes, scripts or the webview itself.

use url::Url;

use crate::error::AppError;

/// The schemes that open.
const OPENABLE: [&str; 3] = ["http", "https", "mailto"];

/// `link` parsed, when it may open; otherwise why not.
pub(crate) fn openable_link(link: &str) -> Result<Url, AppError> {
    let url = Url::parse(link.trim()).map_err(AppError::NotALink)?;
    if !OPENABLE.contains(&url.scheme()) {
        return Err(AppError::LinkNotAllowed {
            scheme: url.scheme().to_owned(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;

    use super::*;

    #[test]
    fn web_and_mail_links_open() {
        for link in [
            "https://multica.ai/docs",
            "http://127.0.0.1:8080/issues/1",
            "mailto:team@example.com",
            " https://example.com/a b ",
        ] {
            assert!(openable_link(link).is_ok(), "{link}");
        }
        assert_eq!(
            openable_link("HTTPS://Example.com")
                .expect("opens")
                .as_str(),
            "https://example.com/"
        );
    }

    #[test]
    fn files_apps_scripts_and_the_webview_do_not() {
        for (link, scheme) in [
            ("file:///etc/passwd", "file"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,<script>", "data"),
            ("tauri://localhost/index.html", "tauri"),
            ("multica://callback?token=x", "multica"),
            ("vscode://file/tmp/x", "vscode"),
            ("smb://host/share", "smb"),
        ] {
            let refused = openable_link(link).expect_err(link);
            assert_eq!(refused.code(), ErrorCode::NotAllowed, "{link}");
            assert!(
                matches!(&refused, AppError::LinkNotAllowed { scheme: s } if s == scheme),
                "{link}: {refused:?}"
            );
        }
        for link in ["", "/relative/path", "not a link", "//host/x"] {
            let refused = openable_link(link).expect_err(link);
            assert_eq!(refused.code(), ErrorCode::InvalidInput, "{link}");
        }
    }
}
