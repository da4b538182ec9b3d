//! A store that forgets on exit, for tests and for a one-off token from the
//! environment.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use multica_api::Secret;

use crate::{StoreKind, TokenAccount, TokenStore, TokenStoreError};

#[derive(Debug, Default)]
pub struct MemoryStore {
    tokens: Mutex<HashMap<TokenAccount, Secret>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn load(&self, account: &TokenAccount) -> Result<Option<Secret>, TokenStoreError> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(tokens.get(account).cloned())
    }

    fn save(&self, account: &TokenAccount, token: &Secret) -> Result<(), TokenStoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.insert(account.clone(), token.clone());
        Ok(())
    }

    fn delete(&self, account: &TokenAccount) -> Result<bool, TokenStoreError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(tokens.remove(account).is_some())
    }
}
