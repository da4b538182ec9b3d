//! The per-profile settings file shared with the Go CLI: `~/.multica/config.json`,
//! or `~/.multica/profiles/<name>/config.json` for a named profile.
//!
//! Fields we do not know are kept and written back untouched, so that running our
//! daemon never erases what another version of the CLI stored there.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedWorkspace {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CliConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workspace_id: String,
    /// Plain-text token written by the Go CLI. Read for compatibility; the keychain
    /// is the preferred home for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watched_workspaces: Vec<WatchedWorkspace>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for CliConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliConfig")
            .field("server_url", &self.server_url)
            .field("workspace_id", &self.workspace_id)
            .field(
                "token",
                &if self.token.is_empty() {
                    "<none>"
                } else {
                    "<redacted>"
                },
            )
            .field("watched_workspaces", &self.watched_workspaces)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliConfigError {
    #[error("MULTICA_TASK_CONFIG_ROOT must be an absolute path, got {}", .0.display())]
    TaskRootNotAbsolute(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({source}); fix or remove it")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CliConfig {
    /// Adds a workspace to the watch list; `false` if it was already there.
    pub fn watch(&mut self, id: &str, name: &str) -> bool {
        if self.watched_workspaces.iter().any(|w| w.id == id) {
            return false;
        }
        self.watched_workspaces.push(WatchedWorkspace {
            id: id.to_owned(),
            name: name.to_owned(),
        });
        true
    }

    /// Removes a workspace from the watch list; `false` if it was not there.
    pub fn unwatch(&mut self, id: &str) -> bool {
        let before = self.watched_workspaces.len();
        self.watched_workspaces.retain(|w| w.id != id);
        before != self.watched_workspaces.len()
    }

    /// A missing file is an empty configuration, as in the Go CLI.
    pub fn load(path: &Path) -> Result<Self, CliConfigError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(CliConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| CliConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes atomically (temp file + rename) with owner-only permissions, because
    /// the file may hold a token.
    pub fn save(&self, path: &Path) -> Result<(), CliConfigError> {
        let write_error = |source| CliConfigError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        fs::create_dir_all(dir).map_err(write_error)?;
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|error| write_error(std::io::Error::other(error)))?;
        json.push(b'\n');
        let mut temp = tempfile::Builder::new()
            .prefix(".config-")
            .suffix(".json.tmp")
            .tempfile_in(dir)
            .map_err(write_error)?;
        temp.write_all(&json).map_err(write_error)?;
        temp.as_file().sync_all().map_err(write_error)?;
        restrict_to_owner(temp.path()).map_err(write_error)?;
        temp.persist(path)
            .map_err(|error| write_error(error.error))?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> std::io::Result<()> {
    // The file lives in the user's profile directory, which Windows already limits
    // to its owner.
    Ok(())
}

/// `~/.multica` for the default profile, `~/.multica/profiles/<name>` otherwise.
pub fn profile_dir(home: &Path, profile: Option<&str>) -> PathBuf {
    match profile {
        None => home.join(".multica"),
        Some(name) => home.join(".multica").join("profiles").join(name),
    }
}

pub fn config_path(home: &Path, profile: Option<&str>) -> PathBuf {
    profile_dir(home, profile).join("config.json")
}

/// Set by the daemon for each agent: the task's own, private profile root.
pub const TASK_CONFIG_ROOT_VAR: &str = "MULTICA_TASK_CONFIG_ROOT";

/// The config file the `multica` CLI reads: inside a daemon task, the task's own
/// (`<task root>/config.json`, `<task root>/profiles/<p>/config.json`), so an
/// agent's `multica` never falls back to the owner's `~/.multica`; else the
/// profile's under `home`.
pub fn cli_config_path(
    home: &Path,
    task_root: Option<&Path>,
    profile: Option<&str>,
) -> Result<PathBuf, CliConfigError> {
    let Some(root) = task_root else {
        return Ok(config_path(home, profile));
    };
    if !root.is_absolute() {
        return Err(CliConfigError::TaskRootNotAbsolute(root.to_owned()));
    }
    Ok(match profile {
        None => root.join("config.json"),
        Some(name) => root.join("profiles").join(name).join("config.json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_a_task_the_cli_reads_the_tasks_own_profile() {
        let home = Path::new("/home/ada");
        let task = Path::new("/w/ws/task1/multica-config");
        assert_eq!(
            cli_config_path(home, None, None).expect("path"),
            home.join(".multica/config.json")
        );
        assert_eq!(
            cli_config_path(home, Some(task), None).expect("path"),
            task.join("config.json")
        );
        assert_eq!(
            cli_config_path(home, Some(task), Some("dev")).expect("path"),
            task.join("profiles/dev/config.json")
        );
        assert!(cli_config_path(home, Some(Path::new("relative")), None).is_err());
    }

    #[test]
    fn go_written_file_round_trips_with_unknown_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"server_url":"https://api.multica.ai","token":"mul_abc",
               "watched_workspaces":[{"id":"w1","name":"One"}],"future_setting":{"x":1}}"#,
        )
        .expect("write");
        let mut config = CliConfig::load(&path).expect("load");
        assert_eq!(config.token, "mul_abc");
        assert!(config.watch("w2", "Two"));
        assert!(!config.watch("w1", "One again"));
        config.save(&path).expect("save");

        let reread: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(reread["future_setting"]["x"], 1);
        assert_eq!(reread["watched_workspaces"][1]["id"], "w2");
        assert_eq!(reread["token"], "mul_abc");
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested").join("config.json");
        CliConfig::default().save(&path).expect("save");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn missing_file_is_empty_and_broken_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = CliConfig::load(&dir.path().join("none.json")).expect("missing is fine");
        assert!(missing.watched_workspaces.is_empty());
        let broken = dir.path().join("broken.json");
        fs::write(&broken, "{not json").expect("write");
        let error = CliConfig::load(&broken).expect_err("broken must fail");
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }

    #[test]
    fn debug_hides_the_token() {
        let config = CliConfig {
            token: "mul_secret".into(),
            ..CliConfig::default()
        };
        assert!(!format!("{config:?}").contains("mul_secret"));
    }

    #[test]
    fn profile_paths_match_the_go_cli() {
        let home = Path::new("/home/u");
        assert_eq!(
            config_path(home, None),
            Path::new("/home/u/.multica/config.json")
        );
        assert_eq!(
            config_path(home, Some("dev")),
            Path::new("/home/u/.multica/profiles/dev/config.json")
        );
    }
}
