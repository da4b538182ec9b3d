use std::fmt;
use std::str::FromStr;

/// The agent CLIs this crate can drive.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Claude,
    Codex,
}

impl Provider {
    pub fn all() -> &'static [Provider] {
        &[Provider::Claude, Provider::Codex]
    }

    /// The key the server knows the provider by.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Codex => "codex",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Claude => "Claude",
            Provider::Codex => "Codex",
        }
    }

    /// The command looked up on PATH when no path is configured.
    pub fn default_executable(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Codex => "codex",
        }
    }

    /// `CLAUDE` for `MULTICA_CLAUDE_PATH` and `MULTICA_CLAUDE_MODEL`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Provider::Claude => "CLAUDE",
            Provider::Codex => "CODEX",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent provider {0:?} (known: {known})", known = known_names())]
pub struct UnknownProvider(pub String);

fn known_names() -> String {
    Provider::all()
        .iter()
        .map(|provider| provider.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let wanted = value.trim();
        Provider::all()
            .iter()
            .copied()
            .find(|provider| provider.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownProvider(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for provider in Provider::all() {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(*provider));
            assert_eq!(provider.to_string(), provider.as_str());
        }
        assert_eq!(" Claude ".parse::<Provider>(), Ok(Provider::Claude));
        let unknown = "gemini".parse::<Provider>().expect_err("unknown provider");
        assert_eq!(
            unknown.to_string(),
            "unknown agent provider \"gemini\" (known: claude, codex)"
        );
    }

    #[test]
    fn claude_names() {
        let claude = Provider::Claude;
        assert_eq!(claude.display_name(), "Claude");
        assert_eq!(claude.default_executable(), "claude");
        assert_eq!(claude.env_prefix(), "CLAUDE");
    }
}
