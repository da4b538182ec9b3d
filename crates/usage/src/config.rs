//! What to scan and where to keep the cache.

use std::path::{Path, PathBuf};

use crate::error::{Result, UsageError};
use crate::prices::PriceTable;
use crate::record::LogSource;
use crate::zone::DayZone;

/// A folder whose `*.jsonl` files are logs of one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRoot {
    pub provider: LogSource,
    pub path: PathBuf,
    pub layout: Layout,
}

/// Where below a root's path the logs are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layout {
    /// Every `*.jsonl` at any depth.
    #[default]
    Tree,
    /// Every `*.jsonl` at any depth of the named `folders` of each directory exactly
    /// `depth` levels below the path, and nothing else: for trees with logs in known
    /// places among much else, such as the daemon's per-task Codex homes
    /// (`<workspaces root>/<workspace>/<task>/codex-home/sessions`) beside the tasks'
    /// checkouts.
    Nested { depth: usize, folders: Vec<PathBuf> },
}

impl LogRoot {
    pub fn claude(path: impl Into<PathBuf>) -> LogRoot {
        LogRoot {
            provider: LogSource::Claude,
            path: path.into(),
            layout: Layout::Tree,
        }
    }

    pub fn codex(path: impl Into<PathBuf>) -> LogRoot {
        LogRoot {
            provider: LogSource::Codex,
            path: path.into(),
            layout: Layout::Tree,
        }
    }

    /// Logs in `folders` of the directories `depth` levels below `path` (see
    /// [`Layout::Nested`]).
    pub fn nested(
        provider: LogSource,
        path: impl Into<PathBuf>,
        depth: usize,
        folders: impl IntoIterator<Item = impl Into<PathBuf>>,
    ) -> LogRoot {
        LogRoot {
            provider,
            path: path.into(),
            layout: Layout::Nested {
                depth,
                folders: folders.into_iter().map(Into::into).collect(),
            },
        }
    }
}

/// Everything a [`Scanner`](crate::Scanner) needs.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Folders to walk; missing folders are skipped silently.
    pub roots: Vec<LogRoot>,
    /// Where the incremental cache lives (created if missing). `None` keeps the
    /// cache in memory only: the first scan of each process reads everything.
    pub cache_dir: Option<PathBuf>,
    /// The zone that decides an event's calendar day.
    pub zone: DayZone,
    /// Prices used for the `cost` fields.
    pub prices: PriceTable,
    /// Worker threads for reading files; 0 means one per available core.
    pub threads: usize,
    /// Keep the usage of log files that disappeared (Claude Code deletes transcripts
    /// after `cleanupPeriodDays`, 30 by default). Safe with moved files: the copies
    /// are deduplicated like any other copy. Default `true`.
    pub keep_deleted_files: bool,
}

impl ScanConfig {
    /// A config for explicit roots, local time, the built-in prices and no cache.
    pub fn new(roots: Vec<LogRoot>) -> ScanConfig {
        ScanConfig {
            roots,
            cache_dir: None,
            zone: DayZone::Local,
            prices: PriceTable::built_in(),
            threads: 0,
            keep_deleted_files: true,
        }
    }

    /// The machine's default log folders (see [`default_roots`]) from the process
    /// environment, with the cache in `cache_dir`.
    pub fn discover(cache_dir: impl Into<PathBuf>) -> Result<ScanConfig> {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from);
        let roots = default_roots(|name| std::env::var(name).ok(), home.as_deref())?;
        let mut config = ScanConfig::new(roots);
        config.cache_dir = Some(cache_dir.into());
        Ok(config)
    }
}

/// The log folders ccusage reads, from an environment lookup and a home directory:
///
/// - Claude Code: every entry of `CLAUDE_CONFIG_DIR` (comma-separated; each must have
///   a `projects/` folder) or else `${XDG_CONFIG_HOME:-~/.config}/claude/projects`
///   and `~/.claude/projects`;
/// - Codex: `${CODEX_HOME:-~/.codex}/sessions` and `…/archived_sessions`.
///
/// Folders reached twice (e.g. through a symlink) are listed once.
pub fn default_roots(
    env: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Vec<LogRoot>> {
    let mut roots = Vec::new();
    match env("CLAUDE_CONFIG_DIR").filter(|value| !value.trim().is_empty()) {
        Some(list) => {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let projects = Path::new(entry).join("projects");
                if !projects.is_dir() {
                    return Err(UsageError::MissingClaudeProjects {
                        path: PathBuf::from(entry),
                    });
                }
                roots.push(LogRoot::claude(projects));
            }
        }
        None => {
            let home = home.ok_or(UsageError::NoHome)?;
            let config_home = env("XDG_CONFIG_HOME")
                .filter(|value| !value.is_empty())
                .map_or_else(|| home.join(".config"), PathBuf::from);
            roots.push(LogRoot::claude(config_home.join("claude").join("projects")));
            roots.push(LogRoot::claude(home.join(".claude").join("projects")));
        }
    }
    let codex_home = match env("CODEX_HOME").filter(|value| !value.trim().is_empty()) {
        Some(path) => PathBuf::from(path),
        None => home.ok_or(UsageError::NoHome)?.join(".codex"),
    };
    roots.push(LogRoot::codex(codex_home.join("sessions")));
    roots.push(LogRoot::codex(codex_home.join("archived_sessions")));

    let mut seen = Vec::new();
    roots.retain(|root| {
        let identity = std::fs::canonicalize(&root.path).unwrap_or_else(|_| root.path.clone());
        if seen.contains(&identity) {
            return false;
        }
        seen.push(identity);
        true
    });
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_comma_separated_claude_config_dir() {
        let first = tempfile::tempdir().expect("temp dir");
        let second = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(first.path().join("projects")).expect("mkdir");
        std::fs::create_dir(second.path().join("projects")).expect("mkdir");
        let list = format!("{}, {}", first.path().display(), second.path().display());
        let roots = default_roots(
            |name| match name {
                "CLAUDE_CONFIG_DIR" => Some(list.clone()),
                "CODEX_HOME" => Some("/nonexistent/codex".into()),
                _ => None,
            },
            None,
        )
        .expect("roots");
        assert_eq!(roots.len(), 4);
        assert_eq!(roots[1], LogRoot::claude(second.path().join("projects")));
        assert_eq!(
            roots[3],
            LogRoot::codex("/nonexistent/codex/archived_sessions")
        );
    }

    #[test]
    fn rejects_a_claude_config_dir_without_projects() {
        let empty = tempfile::tempdir().expect("temp dir");
        let path = empty.path().display().to_string();
        let result = default_roots(
            |name| (name == "CLAUDE_CONFIG_DIR").then(|| path.clone()),
            None,
        );
        assert!(matches!(
            result,
            Err(UsageError::MissingClaudeProjects { .. })
        ));
    }

    #[test]
    fn defaults_to_both_claude_folders_and_codex_home() {
        let roots = default_roots(|_| None, Some(Path::new("/home/u"))).expect("roots");
        let paths: Vec<_> = roots.iter().map(|r| r.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/home/u/.config/claude/projects",
                "/home/u/.claude/projects",
                "/home/u/.codex/sessions",
                "/home/u/.codex/archived_sessions"
            ]
        );
    }
}
