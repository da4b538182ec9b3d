//! The OS keychain: macOS Keychain, Windows Credential Manager, or the Secret
//! Service (GNOME Keyring, KWallet) on Linux.

use multica_api::Secret;

use crate::{KEYCHAIN_SERVICE, StoreKind, TokenAccount, TokenStore, TokenStoreError};

/// The account `probe` writes and removes again.
const PROBE_ACCOUNT: &str = "multica-keychain-probe";

#[derive(Debug, Clone, Default)]
pub struct KeychainStore {
    _private: (),
}

impl KeychainStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes, reads back and deletes a throw-away entry: `Ok` means tokens can be
    /// kept here. (Merely opening the keychain proves little: a locked or absent
    /// Secret Service fails only on the first real operation.)
    pub fn probe(&self) -> Result<(), TokenStoreError> {
        let entry = entry(PROBE_ACCOUNT)?;
        let value = "probe";
        entry.set_password(value).map_err(into_store_error)?;
        let read = entry.get_password().map_err(into_store_error);
        let _ = entry.delete_credential();
        match read? {
            read if read == value => Ok(()),
            _ => Err(TokenStoreError::KeychainFailed {
                reason: "it returned something else than was stored".to_owned(),
            }),
        }
    }
}

fn entry(account: &str) -> Result<keyring::Entry, TokenStoreError> {
    keyring::Entry::new(KEYCHAIN_SERVICE, account).map_err(into_store_error)
}

impl TokenStore for KeychainStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keychain
    }

    fn location(&self) -> String {
        "the OS keychain".to_owned()
    }

    fn load(&self, account: &TokenAccount) -> Result<Option<Secret>, TokenStoreError> {
        match entry(&account.keychain_account())?.get_password() {
            Ok(token) if token.trim().is_empty() => Ok(None),
            Ok(token) => Ok(Some(Secret::new(token.trim()))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(into_store_error(error)),
        }
    }

    fn save(&self, account: &TokenAccount, token: &Secret) -> Result<(), TokenStoreError> {
        entry(&account.keychain_account())?
            .set_password(token.expose())
            .map_err(into_store_error)
    }

    fn delete(&self, account: &TokenAccount) -> Result<bool, TokenStoreError> {
        match entry(&account.keychain_account())?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(into_store_error(error)),
        }
    }
}

fn into_store_error(error: keyring::Error) -> TokenStoreError {
    match error {
        keyring::Error::PlatformFailure(cause) | keyring::Error::NoStorageAccess(cause) => {
            TokenStoreError::KeychainUnavailable {
                reason: cause.to_string(),
            }
        }
        other => TokenStoreError::KeychainFailed {
            reason: other.to_string(),
        },
    }
}
