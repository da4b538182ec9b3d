//! Where the Multica login token lives.
//!
//! The CLI's `login` and the desktop app share one keychain entry per (profile,
//! server): service `multica`, account `<profile>@<server url>`. Machines without a
//! usable keychain can opt in to a plain file: the profile's `config.json`, the
//! place the Go CLI has always kept its token, written with owner-only permissions.
//! Tests use [`MemoryStore`].
//!
//! Every call may block (a keychain can wait for the user to unlock it), so async
//! callers run them on a blocking thread.

mod config_file;
mod keychain;
mod memory;

use std::fmt;

use multica_api::{Secret, ServerUrl};

pub use config_file::{ConfigFileStore, write_private_file};
pub use keychain::KeychainStore;
pub use memory::MemoryStore;

/// The keychain service name shared by the CLI and the desktop app.
pub const KEYCHAIN_SERVICE: &str = "multica";

/// Whose token: one per profile and server, so a dev server's token never reaches
/// production and two profiles never overwrite each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenAccount {
    profile: Option<String>,
    server_url: String,
}

impl TokenAccount {
    pub fn new(server_url: &ServerUrl, profile: Option<&str>) -> Self {
        Self {
            profile: profile.filter(|p| !p.is_empty()).map(str::to_owned),
            server_url: server_url.as_str().to_owned(),
        }
    }

    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The keychain's account name, e.g. `default@https://api.multica.ai`.
    pub fn keychain_account(&self) -> String {
        format!(
            "{}@{}",
            self.profile.as_deref().unwrap_or("default"),
            self.server_url
        )
    }
}

impl fmt::Display for TokenAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keychain_account())
    }
}

/// Which kind of place holds a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keychain,
    File,
    Memory,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keychain => "keychain",
            Self::File => "file",
            Self::Memory => "memory",
        })
    }
}

/// A place that keeps one token per account.
pub trait TokenStore: Send + Sync + fmt::Debug {
    fn kind(&self) -> StoreKind;
    /// Where the token is, in words a person understands ("the OS keychain",
    /// "/home/me/.multica/config.json").
    fn location(&self) -> String;
    fn load(&self, account: &TokenAccount) -> Result<Option<Secret>, TokenStoreError>;
    fn save(&self, account: &TokenAccount, token: &Secret) -> Result<(), TokenStoreError>;
    /// `true` when a token was there and is now gone.
    fn delete(&self, account: &TokenAccount) -> Result<bool, TokenStoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    /// No keychain can be reached (no Secret Service on the session bus, locked and
    /// no way to prompt, …). The fix is to start one, or to opt in to the file.
    #[error("the OS keychain is not available: {reason}")]
    KeychainUnavailable { reason: String },
    /// The keychain answered, but refused or failed the operation.
    #[error("the OS keychain failed: {reason}")]
    KeychainFailed { reason: String },
    #[error("cannot read {path}: {source}")]
    FileRead {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a JSON object ({reason}); fix or remove it")]
    FileParse {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    FileWrite {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_separate_profiles_and_servers() {
        let prod = ServerUrl::parse("https://api.multica.ai").expect("valid url");
        let dev = ServerUrl::parse("http://127.0.0.1:8080").expect("valid url");
        assert_eq!(
            TokenAccount::new(&prod, None).keychain_account(),
            "default@https://api.multica.ai"
        );
        assert_eq!(
            TokenAccount::new(&dev, Some("dev")).keychain_account(),
            "dev@http://127.0.0.1:8080"
        );
        assert_eq!(
            TokenAccount::new(&prod, Some("")),
            TokenAccount::new(&prod, None)
        );
    }
}
