//! Clean-up of the workspaces root, with the Go daemon's rules and defaults:
//!
//! - a task directory whose issue is done or cancelled goes once the issue has not
//!   changed for [`GcSettings::issue_ttl`] (24 h);
//! - a task directory nobody can account for (no `.gc_meta.json`, or an issue the
//!   server no longer knows) goes after [`GcSettings::orphan_ttl`] (72 h);
//! - in a task directory kept for an open issue, regenerable build output
//!   (`node_modules`, `.next`, `.turbo`) goes [`GcSettings::artifact_ttl`] (12 h)
//!   after the task finished;
//! - worktrees whose directories are gone are pruned from the cached clones, and a
//!   clone no workspace lists and no task checked out for
//!   [`GcSettings::repo_ttl`] (30 d) goes.
//!
//! A directory in use by a task is never touched: tasks and the collector both
//! hold a directory through [`TaskDirLocks`] before they use or delete it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::disk_usage::{artifact_dirs, file_name, size_of, subdirectories};
use crate::repo_cache::{self, RepoCache};

pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);
pub const DEFAULT_GC_ISSUE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
pub const DEFAULT_GC_ORPHAN_TTL: Duration = Duration::from_secs(72 * 60 * 60);
pub const DEFAULT_GC_ARTIFACT_TTL: Duration = Duration::from_secs(12 * 60 * 60);
pub const DEFAULT_GC_REPO_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
pub const DEFAULT_GC_ARTIFACT_PATTERNS: &[&str] = &["node_modules", ".next", ".turbo"];

/// The file in a task directory that tells the collector whose it is. Same name
/// and fields as the Go daemon's, so directories it left are understood.
pub const GC_META_FILE: &str = ".gc_meta.json";

/// Where the task directories of the engine's own bookkeeping live (not tasks).
const RESERVED_PREFIX: char = '.';

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcSettings {
    pub enabled: bool,
    pub interval: Duration,
    /// Done or cancelled issues' task directories go after this.
    pub issue_ttl: Duration,
    /// Unaccounted-for task directories go after this.
    pub orphan_ttl: Duration,
    /// Build output in kept task directories goes after this (`None`: never).
    pub artifact_ttl: Option<Duration>,
    /// Directory names treated as regenerable build output.
    pub artifact_patterns: Vec<String>,
    /// Cached clones unused this long go (`None`: never).
    pub repo_ttl: Option<Duration>,
}

impl Default for GcSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: DEFAULT_GC_INTERVAL,
            issue_ttl: DEFAULT_GC_ISSUE_TTL,
            orphan_ttl: DEFAULT_GC_ORPHAN_TTL,
            artifact_ttl: Some(DEFAULT_GC_ARTIFACT_TTL),
            artifact_patterns: DEFAULT_GC_ARTIFACT_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            repo_ttl: Some(DEFAULT_GC_REPO_TTL),
        }
    }
}

/// What `.gc_meta.json` records when a task ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcMeta {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub issue_id: String,
    #[serde(default)]
    pub task_id: String,
    pub workspace_id: String,
    pub completed_at: chrono::DateTime<chrono::Utc>,
}

impl GcMeta {
    pub fn for_issue(workspace_id: &str, issue_id: &str, task_id: &str, at: SystemTime) -> Self {
        Self {
            kind: "issue".to_owned(),
            issue_id: issue_id.to_owned(),
            task_id: task_id.to_owned(),
            workspace_id: workspace_id.to_owned(),
            completed_at: at.into(),
        }
    }

    pub fn read(task_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(task_dir.join(GC_META_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, task_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(task_dir.join(GC_META_FILE), text)
    }
}

/// What the server says about an issue, as far as clean-up cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    /// Still being worked on: keep the directory.
    Open,
    /// Done or cancelled, last changed at this time.
    Closed { updated_at: SystemTime },
    /// The server does not know it (deleted, or the workspace is gone).
    Missing,
    /// The server could not be asked; decide nothing now.
    Unknown,
}

/// Where the collector learns issue states (the server, or a test's table).
pub trait IssueStates {
    fn state(
        &self,
        workspace_id: &str,
        issue_id: &str,
    ) -> impl std::future::Future<Output = IssueState> + Send;
}

/// The task directories in use: by a running task, or by the collector while it
/// deletes one. Whoever holds a directory has it to itself.
#[derive(Debug, Default)]
pub struct TaskDirLocks {
    held: Mutex<BTreeSet<PathBuf>>,
}

impl TaskDirLocks {
    /// Holds `dir` until the returned guard drops, or `None` if someone else does.
    pub fn try_hold(self: &Arc<Self>, dir: &Path) -> Option<TaskDirHold> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if !held.insert(dir.to_path_buf()) {
            return None;
        }
        Some(TaskDirHold {
            locks: Arc::clone(self),
            dir: dir.to_path_buf(),
        })
    }

    pub fn is_held(&self, dir: &Path) -> bool {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(dir)
    }
}

#[derive(Debug)]
pub struct TaskDirHold {
    locks: Arc<TaskDirLocks>,
    dir: PathBuf,
}

impl TaskDirHold {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TaskDirHold {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.dir);
    }
}

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Task directories of done or cancelled issues removed.
    pub cleaned: usize,
    /// Unaccounted-for task directories removed.
    pub orphaned: usize,
    /// Task directories left alone because a task was using them.
    pub in_use: usize,
    /// Build-output directories removed from kept task directories.
    pub artifacts_removed: usize,
    /// Cached clones removed.
    pub repos_evicted: usize,
    pub bytes_reclaimed: u64,
}

impl GcReport {
    pub fn did_anything(&self) -> bool {
        self.cleaned + self.orphaned + self.artifacts_removed + self.repos_evicted > 0
    }
}

/// Everything one collection needs.
#[derive(Debug)]
pub struct Collector<'a, S> {
    pub root: &'a Path,
    pub settings: &'a GcSettings,
    pub locks: &'a Arc<TaskDirLocks>,
    pub repos: &'a RepoCache,
    /// Clone URLs per workspace still listed by a registered workspace: never evicted.
    pub listed_repos: &'a BTreeMap<String, Vec<String>>,
    pub issues: &'a S,
}

impl<S: IssueStates + Sync> Collector<'_, S> {
    /// One pass over the workspaces root, judged as of `now`.
    pub async fn collect(&self, now: SystemTime) -> GcReport {
        let mut report = GcReport::default();
        for workspace_dir in subdirectories(self.root) {
            if is_reserved(&workspace_dir) {
                continue;
            }
            self.collect_workspace(&workspace_dir, now, &mut report)
                .await;
        }
        self.collect_repos(now, &mut report).await;
        report
    }

    async fn collect_workspace(
        &self,
        workspace_dir: &Path,
        now: SystemTime,
        report: &mut GcReport,
    ) {
        let workspace_id = file_name(workspace_dir);
        // One question per issue, however many task directories it has.
        let mut states: BTreeMap<String, IssueState> = BTreeMap::new();
        for task_dir in subdirectories(workspace_dir) {
            let Some(hold) = self.locks.try_hold(&task_dir) else {
                report.in_use += 1;
                continue;
            };
            let verdict = match GcMeta::read(&task_dir) {
                Some(meta) if !meta.issue_id.trim().is_empty() => {
                    let state = match states.get(&meta.issue_id) {
                        Some(state) => *state,
                        None => {
                            let state = self.issues.state(&workspace_id, &meta.issue_id).await;
                            states.insert(meta.issue_id.clone(), state);
                            state
                        }
                    };
                    self.judge_issue_dir(&meta, state, now)
                }
                _ => {
                    if older_than(modified(&task_dir), now, self.settings.orphan_ttl) {
                        Verdict::Orphan
                    } else {
                        Verdict::Keep
                    }
                }
            };
            match verdict {
                Verdict::Keep => {}
                Verdict::Clean | Verdict::Orphan => match remove_dir(&task_dir).await {
                    Ok(bytes) => {
                        info!(dir = %task_dir.display(), bytes, reason = ?verdict, "gc: removed task directory");
                        report.bytes_reclaimed += bytes;
                        if verdict == Verdict::Clean {
                            report.cleaned += 1;
                        } else {
                            report.orphaned += 1;
                        }
                    }
                    Err(error) => {
                        warn!(dir = %task_dir.display(), %error, "gc: could not remove task directory");
                    }
                },
                Verdict::DropArtifacts => {
                    let (removed, bytes) = remove_artifacts(
                        &task_dir.join("workdir"),
                        &self.settings.artifact_patterns,
                    )
                    .await;
                    report.artifacts_removed += removed;
                    report.bytes_reclaimed += bytes;
                }
            }
            drop(hold);
        }
        // An emptied workspace directory goes too (it is re-created on demand).
        if std::fs::read_dir(workspace_dir).is_ok_and(|mut entries| entries.next().is_none()) {
            let _ = std::fs::remove_dir(workspace_dir);
        }
    }

    fn judge_issue_dir(&self, meta: &GcMeta, state: IssueState, now: SystemTime) -> Verdict {
        let completed_at = SystemTime::from(meta.completed_at);
        match state {
            IssueState::Closed { updated_at }
                if older_than(updated_at, now, self.settings.issue_ttl) =>
            {
                Verdict::Clean
            }
            IssueState::Missing if older_than(completed_at, now, self.settings.orphan_ttl) => {
                Verdict::Orphan
            }
            IssueState::Open | IssueState::Closed { .. } => match self.settings.artifact_ttl {
                Some(ttl) if older_than(completed_at, now, ttl) => Verdict::DropArtifacts,
                _ => Verdict::Keep,
            },
            IssueState::Missing | IssueState::Unknown => Verdict::Keep,
        }
    }

    async fn collect_repos(&self, now: SystemTime, report: &mut GcReport) {
        for workspace_dir in subdirectories(self.repos.root()) {
            let workspace_id = file_name(&workspace_dir);
            let listed: BTreeSet<String> = self
                .listed_repos
                .get(&workspace_id)
                .into_iter()
                .flatten()
                .map(|url| repo_cache::bare_dir_name(url))
                .collect();
            for bare in subdirectories(&workspace_dir) {
                if is_reserved(&bare) {
                    continue;
                }
                let keep = listed.contains(&file_name(&bare));
                let last_used = repo_cache::last_used(&bare).unwrap_or_else(|| modified(&bare));
                let expired = self
                    .settings
                    .repo_ttl
                    .is_some_and(|ttl| !keep && older_than(last_used, now, ttl));
                match self.repos.prune_and_maybe_evict(&bare, expired).await {
                    Ok(Some(bytes)) => {
                        info!(repo = %bare.display(), bytes, "gc: removed an unused cached clone");
                        report.repos_evicted += 1;
                        report.bytes_reclaimed += bytes;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        warn!(repo = %bare.display(), %error, "gc: repository maintenance failed")
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    Clean,
    Orphan,
    DropArtifacts,
}

fn older_than(at: SystemTime, now: SystemTime, ttl: Duration) -> bool {
    now.duration_since(at).is_ok_and(|age| age >= ttl)
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| SystemTime::now())
}

fn is_reserved(path: &Path) -> bool {
    file_name(path).starts_with(RESERVED_PREFIX)
}

/// Deletes `dir` off the async threads (a task directory can hold a large tree)
/// and returns the bytes it occupied.
async fn remove_dir(dir: &Path) -> std::io::Result<u64> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let bytes = size_of(&dir);
        std::fs::remove_dir_all(&dir).map(|()| bytes)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Removes every directory under `work_dir` named like a pattern (without going
/// into `.git` or following symlinks); returns how many and the bytes freed.
async fn remove_artifacts(work_dir: &Path, patterns: &[String]) -> (usize, u64) {
    let work_dir = work_dir.to_path_buf();
    let patterns = patterns.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut removed = 0;
        let mut bytes = 0;
        for dir in artifact_dirs(&work_dir, &patterns) {
            let size = size_of(&dir);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    debug!(dir = %dir.display(), size, "gc: removed build output");
                    removed += 1;
                    bytes += size;
                }
                Err(error) => {
                    warn!(dir = %dir.display(), %error, "gc: could not remove build output")
                }
            }
        }
        (removed, bytes)
    })
    .await
    .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_cannot_be_held_twice() {
        let locks = Arc::new(TaskDirLocks::default());
        let dir = Path::new("/tmp/ws/task");
        let first = locks.try_hold(dir).expect("free");
        assert!(locks.try_hold(dir).is_none());
        assert!(locks.is_held(dir));
        drop(first);
        assert!(locks.try_hold(dir).is_some());
    }
}
