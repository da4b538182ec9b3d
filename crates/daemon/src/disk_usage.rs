//! How much disk the workspaces root takes, for `multica daemon disk-usage` and
//! the collector's reports. Sizes are what the files occupy on disk (allocated
//! blocks on Unix, like `du`), symlinks are not followed, and a file that
//! vanishes or cannot be read while measuring is simply not counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The bytes `path` occupies, recursively.
pub fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = occupied(&meta);
    if !meta.is_dir() {
        return own;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return own;
    };
    own + entries
        .flatten()
        .map(|entry| size_of(&entry.path()))
        .sum::<u64>()
}

#[cfg(unix)]
fn occupied(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn occupied(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// The workspaces root, broken down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    pub root: String,
    pub total_bytes: u64,
    pub task_dirs: usize,
    pub task_bytes: u64,
    /// Of `task_bytes`: build output (by default `node_modules`, `.next`,
    /// `.turbo`) the collector may drop.
    pub artifact_bytes: u64,
    pub cached_repos: usize,
    pub repo_bytes: u64,
    /// Anything else in the root (stray files, other tools' directories).
    pub other_bytes: u64,
    pub workspaces: Vec<WorkspaceUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkspaceUsage {
    pub workspace_id: String,
    /// The name from the config's watch list, when the caller knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub task_dirs: usize,
    pub task_bytes: u64,
    pub artifact_bytes: u64,
    pub cached_repos: usize,
    pub repo_bytes: u64,
    pub total_bytes: u64,
}

/// Measures `root` (`<root>/<workspace>/<task>` and `<root>/.repos/<workspace>/<repo>`);
/// directories named like `artifact_patterns` count as build output (pass the
/// collector's, [`crate::gc::GcSettings::artifact_patterns`]). A missing root
/// measures as empty.
pub fn measure(root: &Path, artifact_patterns: &[String]) -> DiskUsage {
    let mut usage = DiskUsage {
        root: root.display().to_string(),
        ..DiskUsage::default()
    };
    let mut workspaces: std::collections::BTreeMap<String, WorkspaceUsage> =
        std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return usage;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if name == ".repos" && is_dir {
            for repos in subdirectories(&path) {
                let workspace_id = file_name(&repos);
                let slot =
                    workspaces
                        .entry(workspace_id.clone())
                        .or_insert_with(|| WorkspaceUsage {
                            workspace_id,
                            ..WorkspaceUsage::default()
                        });
                for repo in subdirectories(&repos) {
                    slot.cached_repos += 1;
                    slot.repo_bytes += size_of(&repo);
                }
            }
            continue;
        }
        if !is_dir || name.starts_with('.') {
            usage.other_bytes += size_of(&path);
            continue;
        }
        let slot = workspaces
            .entry(name.clone())
            .or_insert_with(|| WorkspaceUsage {
                workspace_id: name,
                ..WorkspaceUsage::default()
            });
        for task_dir in subdirectories(&path) {
            slot.task_dirs += 1;
            slot.task_bytes += size_of(&task_dir);
            slot.artifact_bytes += artifact_dirs(&task_dir.join("workdir"), artifact_patterns)
                .iter()
                .map(|dir| size_of(dir))
                .sum::<u64>();
        }
    }
    for mut workspace in workspaces.into_values() {
        workspace.total_bytes = workspace.task_bytes + workspace.repo_bytes;
        usage.task_dirs += workspace.task_dirs;
        usage.task_bytes += workspace.task_bytes;
        usage.artifact_bytes += workspace.artifact_bytes;
        usage.cached_repos += workspace.cached_repos;
        usage.repo_bytes += workspace.repo_bytes;
        usage.workspaces.push(workspace);
    }
    usage.total_bytes = usage.task_bytes + usage.repo_bytes + usage.other_bytes;
    usage
}

/// The real subdirectories of `dir`, sorted; symlinks are never followed, so a
/// walk cannot leave the tree it was given.
pub(crate) fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    dirs
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The directories under `work_dir` named like one of `patterns` (regenerable
/// build output), without looking inside them or inside `.git`.
pub(crate) fn artifact_dirs(work_dir: &Path, patterns: &[impl AsRef<str>]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![work_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for child in subdirectories(&dir) {
            let name = file_name(&child);
            if patterns.iter().any(|pattern| pattern.as_ref() == name) {
                found.push(child);
            } else if name != ".git" {
                pending.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_root_is_empty() {
        let usage = measure(Path::new("/nonexistent/multica-root"), &[]);
        assert_eq!(usage.total_bytes, 0);
        assert!(usage.workspaces.is_empty());
    }
}
