//! How much disk the workspaces root takes, for `multica daemon disk-usage` and
//! the collector's reports. Sizes are what the files occupy on disk (allocated
//! blocks on Unix, like `du`), symlinks are not followed, and a file that
//! vanishes or cannot be read while measuring is simply not counted.

use std::path::Path;

use serde::Serialize;

use crate::gc::DEFAULT_GC_ARTIFACT_PATTERNS;

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
    /// Of `task_bytes`: build output (`node_modules`, `.next`, `.turbo`) the
    /// collector may drop.
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

/// Measures `root` (`<root>/<workspace>/<task>` and `<root>/.repos/<workspace>/<repo>`).
/// A missing root measures as empty.
pub fn measure(root: &Path) -> DiskUsage {
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
            for (workspace_id, repos) in children(&path) {
                let slot =
                    workspaces
                        .entry(workspace_id.clone())
                        .or_insert_with(|| WorkspaceUsage {
                            workspace_id,
                            ..WorkspaceUsage::default()
                        });
                for (_, repo) in children(&repos) {
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
        for (_, task_dir) in children(&path) {
            slot.task_dirs += 1;
            slot.task_bytes += size_of(&task_dir);
            slot.artifact_bytes += artifact_size(&task_dir.join("workdir"));
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

/// Real subdirectories with their names, sorted.
fn children(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut found: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .collect();
    found.sort();
    found
}

fn artifact_size(work_dir: &Path) -> u64 {
    let mut bytes = 0;
    let mut pending = vec![work_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for (name, child) in children(&dir) {
            if DEFAULT_GC_ARTIFACT_PATTERNS.contains(&name.as_str()) {
                bytes += size_of(&child);
            } else if name != ".git" {
                pending.push(child);
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_root_is_empty() {
        let usage = measure(Path::new("/nonexistent/multica-root"));
        assert_eq!(usage.total_bytes, 0);
        assert!(usage.workspaces.is_empty());
    }
}
