use std::fmt;

use url::Url;

/// The server's HTTP base URL, normalized as the Go daemon does it: `ws`/`wss`
/// become `http`/`https`, a trailing `/ws` path is removed (users paste the
/// WebSocket URL), and query, fragment and trailing slashes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    #[error("invalid server URL {input:?}: {reason}")]
    Invalid { input: String, reason: String },
    #[error("server URL {input:?} must use ws, wss, http or https")]
    UnsupportedScheme { input: String },
}

impl ServerUrl {
    pub fn parse(raw: &str) -> Result<Self, ServerUrlError> {
        let input = raw.trim();
        let mut url = Url::parse(input).map_err(|error| ServerUrlError::Invalid {
            input: input.to_owned(),
            reason: error.to_string(),
        })?;
        let scheme = match url.scheme() {
            "ws" | "http" => "http",
            "wss" | "https" => "https",
            _ => {
                return Err(ServerUrlError::UnsupportedScheme {
                    input: input.to_owned(),
                });
            }
        };
        // `set_scheme` refuses ws→http on "special" schemes, so rebuild from parts.
        if url.scheme() != scheme {
            let rest = &input[input.find(':').unwrap_or(0)..];
            url = Url::parse(&format!("{scheme}{rest}")).map_err(|error| {
                ServerUrlError::Invalid {
                    input: input.to_owned(),
                    reason: error.to_string(),
                }
            })?;
        }
        if url.path() == "/ws" {
            url.set_path("");
        }
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `path` starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(raw: &str) -> String {
        ServerUrl::parse(raw).expect("valid URL").to_string()
    }

    #[test]
    fn normalizes_like_the_go_daemon() {
        assert_eq!(
            normalized("ws://localhost:8080/ws"),
            "http://localhost:8080"
        );
        assert_eq!(
            normalized("wss://api.multica.ai/ws"),
            "https://api.multica.ai"
        );
        assert_eq!(
            normalized("https://api.multica.ai/"),
            "https://api.multica.ai"
        );
        assert_eq!(
            normalized(" http://h:1/prefix/?a=b#c "),
            "http://h:1/prefix"
        );
        assert_eq!(normalized("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert!(matches!(
            ServerUrl::parse("ftp://x"),
            Err(ServerUrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            ServerUrl::parse("not a url"),
            Err(ServerUrlError::Invalid { .. })
        ));
    }
}
