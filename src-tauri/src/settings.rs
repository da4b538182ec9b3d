//! The app's own settings, in `app-settings.json` beside the profile's `config.json`
//! (which keeps what the CLI shares: server, watched workspaces, per-agent paths and
//! models). Values left unset fall through to the daemon's env and defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) const FILE_NAME: &str = "app-settings.json";
/// The log level when the settings name none.
const DEFAULT_LOG_LEVEL: &str = "info";

/// What the Settings window edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// Tasks that run at once (the daemon's default when unset).
    pub max_concurrent_tasks: Option<usize>,
    /// Where task directories go (the daemon's default when unset).
    pub workspaces_root: Option<PathBuf>,
    /// Days a finished issue's task directories are kept (the daemon's default when unset).
    pub keep_task_dirs_days: Option<u64>,
    /// Start hidden in the tray at login.
    pub start_at_login: bool,
    /// A desktop notification when a task completes or fails.
    pub notify_on_task_end: bool,
    /// `error`, `warn`, `info`, `debug` or `trace` (default `info`).
    pub log_level: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid settings ({source}); fix or remove it")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl AppSettings {
    pub(crate) fn path_in(profile_dir: &Path) -> PathBuf {
        profile_dir.join(FILE_NAME)
    }

    /// A missing file is the defaults.
    pub(crate) fn load(path: &Path) -> Result<AppSettings, SettingsError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SettingsError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(AppSettings::default())
            }
            Err(source) => Err(SettingsError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        if self.max_concurrent_tasks == Some(0) {
            return Err(SettingsError::Invalid(
                "at least one task must be allowed to run".into(),
            ));
        }
        if let Some(level) = &self.log_level
            && !["error", "warn", "info", "debug", "trace"].contains(&level.as_str())
        {
            return Err(SettingsError::Invalid(format!(
                "log level {level:?}: use error, warn, info, debug or trace"
            )));
        }
        if let Some(root) = &self.workspaces_root
            && !root.is_absolute()
        {
            return Err(SettingsError::Invalid(format!(
                "the workspaces folder must be an absolute path, not {}",
                root.display()
            )));
        }
        Ok(())
    }

    /// Written whole (temp file + rename), so a crash never leaves half a file.
    pub(crate) fn save(&self, path: &Path) -> Result<(), SettingsError> {
        self.validate()?;
        let write = |path: &Path| -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer_pretty(&mut file, self).map_err(std::io::Error::other)?;
            file.persist(path).map_err(|error| error.error)?;
            Ok(())
        };
        write(path).map_err(|source| SettingsError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The log level to use: the one chosen, else [`DEFAULT_LOG_LEVEL`].
    pub(crate) fn log_level_or_default(&self) -> &str {
        self.log_level.as_deref().unwrap_or(DEFAULT_LOG_LEVEL)
    }

    /// Whether going from `self` to `next` needs the engine started again (its
    /// configuration is read at start); the other settings apply at once.
    pub(crate) fn engine_restart_needed(&self, next: &AppSettings) -> bool {
        self.max_concurrent_tasks != next.max_concurrent_tasks
            || self.workspaces_root != next.workspaces_root
            || self.keep_task_dirs_days != next.keep_task_dirs_days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_a_missing_file_as_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = AppSettings::path_in(dir.path());
        assert_eq!(
            AppSettings::load(&path).expect("defaults"),
            AppSettings::default()
        );
        let settings = AppSettings {
            max_concurrent_tasks: Some(3),
            start_at_login: true,
            log_level: Some("debug".into()),
            ..AppSettings::default()
        };
        settings.save(&path).expect("save");
        assert_eq!(AppSettings::load(&path).expect("load"), settings);
    }

    #[test]
    fn refuses_what_cannot_work() {
        let zero = AppSettings {
            max_concurrent_tasks: Some(0),
            ..AppSettings::default()
        };
        assert!(zero.validate().is_err());
        let level = AppSettings {
            log_level: Some("loud".into()),
            ..AppSettings::default()
        };
        assert!(
            level
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("loud")
        );
        let relative = AppSettings {
            workspaces_root: Some("work".into()),
            ..AppSettings::default()
        };
        assert!(relative.validate().is_err());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = AppSettings::path_in(dir.path());
        std::fs::write(&path, "{ not json").expect("write");
        assert!(matches!(
            AppSettings::load(&path),
            Err(SettingsError::Parse { .. })
        ));
    }

    #[test]
    fn the_log_level_defaults_to_info() {
        assert_eq!(AppSettings::default().log_level_or_default(), "info");
        let chosen = AppSettings {
            log_level: Some("debug".into()),
            ..AppSettings::default()
        };
        assert_eq!(chosen.log_level_or_default(), "debug");
    }

    #[test]
    fn only_engine_settings_need_a_restart() {
        let base = AppSettings::default();
        let notify = AppSettings {
            notify_on_task_end: true,
            start_at_login: true,
            ..AppSettings::default()
        };
        assert!(!base.engine_restart_needed(&notify));
        let more = AppSettings {
            max_concurrent_tasks: Some(8),
            ..AppSettings::default()
        };
        assert!(base.engine_restart_needed(&more));
    }
}
