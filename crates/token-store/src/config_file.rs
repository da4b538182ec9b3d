//! The opt-in plain-file store: the `token` field of the profile's `config.json`,
//! which is where the Go CLI keeps it. Everything else in the file is left as it is.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use multica_api::Secret;
use serde_json::{Map, Value};

use crate::{StoreKind, TokenAccount, TokenStore, TokenStoreError};

const TOKEN_FIELD: &str = "token";

/// One token per profile: the file belongs to a profile already, so the account's
/// server is not part of the key (as with the Go CLI).
#[derive(Debug, Clone)]
pub struct ConfigFileStore {
    path: PathBuf,
}

impl ConfigFileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_object(&self) -> Result<Map<String, Value>, TokenStoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(source) => {
                return Err(TokenStoreError::FileRead {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(self.parse_error("not an object".to_owned())),
            Err(error) => Err(self.parse_error(error.to_string())),
        }
    }

    fn parse_error(&self, reason: String) -> TokenStoreError {
        TokenStoreError::FileParse {
            path: self.path.clone(),
            reason,
        }
    }

    fn write_object(&self, object: Map<String, Value>) -> Result<(), TokenStoreError> {
        let mut json = serde_json::to_vec_pretty(&Value::Object(object)).map_err(|error| {
            TokenStoreError::FileWrite {
                path: self.path.clone(),
                source: std::io::Error::other(error),
            }
        })?;
        json.push(b'\n');
        write_private_file(&self.path, &json).map_err(|source| TokenStoreError::FileWrite {
            path: self.path.clone(),
            source,
        })
    }
}

impl TokenStore for ConfigFileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self, _account: &TokenAccount) -> Result<Option<Secret>, TokenStoreError> {
        let object = self.read_object()?;
        Ok(object
            .get(TOKEN_FIELD)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(Secret::new))
    }

    fn save(&self, _account: &TokenAccount, token: &Secret) -> Result<(), TokenStoreError> {
        let mut object = self.read_object()?;
        object.insert(
            TOKEN_FIELD.to_owned(),
            Value::String(token.expose().to_owned()),
        );
        self.write_object(object)
    }

    fn delete(&self, _account: &TokenAccount) -> Result<bool, TokenStoreError> {
        let mut object = self.read_object()?;
        let had_token = object
            .remove(TOKEN_FIELD)
            .is_some_and(|value| value.as_str().is_some_and(|s| !s.trim().is_empty()));
        if had_token {
            self.write_object(object)?;
        }
        Ok(had_token)
    }
}

/// Writes a file that may hold a secret: owner-only permissions from the first byte
/// on disk, and atomically (temp file + rename), so a crash never leaves half a file.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    // tempfile creates the file with mode 0600 on Unix.
    let mut temp = tempfile::Builder::new()
        .prefix(".multica-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use multica_api::ServerUrl;

    use super::*;

    fn account() -> TokenAccount {
        TokenAccount::new(
            &ServerUrl::parse("http://127.0.0.1:1").expect("valid url"),
            None,
        )
    }

    #[test]
    fn keeps_every_other_field_and_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"server_url":"https://x","watched_workspaces":[{"id":"w"}],"later":1}"#,
        )
        .expect("write");
        let store = ConfigFileStore::new(&path);
        assert!(store.load(&account()).expect("load").is_none());

        store
            .save(&account(), &Secret::new("mul_file"))
            .expect("save");
        assert_eq!(
            store
                .load(&account())
                .expect("load")
                .map(|s| s.expose().to_owned()),
            Some("mul_file".to_owned())
        );
        let raw: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(raw["watched_workspaces"][0]["id"], "w");
        assert_eq!(raw["later"], 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        assert!(store.delete(&account()).expect("delete"));
        assert!(!store.delete(&account()).expect("second delete"));
        let raw: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert!(raw.get("token").is_none());
        assert_eq!(raw["server_url"], "https://x");
    }

    #[test]
    fn broken_file_is_a_clear_error_and_stays_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        fs::write(&path, "{oops").expect("write");
        let store = ConfigFileStore::new(&path);
        let error = store
            .save(&account(), &Secret::new("mul_x"))
            .expect_err("must refuse");
        assert!(error.to_string().contains("fix or remove it"), "{error}");
        assert_eq!(fs::read_to_string(&path).expect("read"), "{oops");
    }
}
