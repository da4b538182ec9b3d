//! The workspaces this machine is registered in, with the runtime the server gave
//! each agent CLI there, and what the server last confirmed of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::SystemTime;

use multica_agents::Provider;
use multica_api::wire::RepoRef;
use tokio::sync::Notify;

use crate::sync::lock;

/// A runtime the server gave us for one provider in one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeBinding {
    pub id: String,
    pub workspace_id: String,
    pub provider: Provider,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RegisteredWorkspace {
    pub(crate) runtimes: Vec<RuntimeBinding>,
    pub(crate) repos: Vec<RepoRef>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    workspaces: Mutex<Workspaces>,
    /// When the server last confirmed each runtime (registration or heartbeat), by id.
    runtime_seen: Mutex<BTreeMap<String, SystemTime>>,
    /// The ETag of the last workspace list (current servers).
    workspaces_etag: Mutex<Option<String>>,
    /// Runtimes whose orphans were recovered by this process.
    recovered_runtimes: Mutex<BTreeSet<String>>,
    /// Asks the workspace loop to sync with the server now.
    sync_wanted: Notify,
}

#[derive(Debug, Default)]
struct Workspaces {
    registered: BTreeMap<String, RegisteredWorkspace>,
    /// Workspaces whose registration must be (re)done at the next reconcile.
    stale: BTreeSet<String>,
}

impl Registry {
    pub(crate) fn runtimes(&self) -> Vec<RuntimeBinding> {
        lock(&self.workspaces)
            .registered
            .values()
            .flat_map(|workspace| workspace.runtimes.iter().cloned())
            .collect()
    }

    pub(crate) fn runtime_ids(&self) -> Vec<String> {
        self.runtimes()
            .into_iter()
            .map(|runtime| runtime.id)
            .collect()
    }

    /// Each registered workspace with its runtimes, by id.
    pub(crate) fn workspaces(&self) -> Vec<(String, Vec<RuntimeBinding>)> {
        lock(&self.workspaces)
            .registered
            .iter()
            .map(|(id, workspace)| (id.clone(), workspace.runtimes.clone()))
            .collect()
    }

    /// The repository URLs of each registered workspace.
    pub(crate) fn repo_urls(&self) -> BTreeMap<String, Vec<String>> {
        lock(&self.workspaces)
            .registered
            .iter()
            .map(|(id, workspace)| {
                let urls = workspace
                    .repos
                    .iter()
                    .map(|repo| repo.url.clone())
                    .collect();
                (id.clone(), urls)
            })
            .collect()
    }

    pub(crate) fn registered_count(&self) -> usize {
        lock(&self.workspaces).registered.len()
    }

    pub(crate) fn stale_count(&self) -> usize {
        lock(&self.workspaces).stale.len()
    }

    /// Which of `wanted` need (re)registering, and which registered ones are no
    /// longer wanted.
    pub(crate) fn plan(&self, wanted: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
        let workspaces = lock(&self.workspaces);
        let to_register = wanted
            .iter()
            .filter(|id| !workspaces.registered.contains_key(*id) || workspaces.stale.contains(*id))
            .cloned()
            .collect();
        let to_drop = workspaces
            .registered
            .keys()
            .filter(|id| !wanted.contains(*id))
            .cloned()
            .collect();
        (to_register, to_drop)
    }

    pub(crate) fn insert(&self, workspace_id: &str, registered: RegisteredWorkspace) {
        let mut workspaces = lock(&self.workspaces);
        workspaces.stale.remove(workspace_id);
        workspaces
            .registered
            .insert(workspace_id.to_owned(), registered);
    }

    pub(crate) fn remove(&self, workspace_id: &str) -> Option<RegisteredWorkspace> {
        lock(&self.workspaces).registered.remove(workspace_id)
    }

    /// The workspace is registered again at the next reconcile.
    pub(crate) fn mark_stale(&self, workspace_id: &str) {
        lock(&self.workspaces).stale.insert(workspace_id.to_owned());
    }

    pub(crate) fn mark_all_stale(&self) {
        let mut workspaces = lock(&self.workspaces);
        let ids: Vec<String> = workspaces.registered.keys().cloned().collect();
        workspaces.stale.extend(ids);
    }

    /// The server forgot a runtime: its workspace is registered again. Returns
    /// the workspace, `None` when the runtime is not ours.
    pub(crate) fn runtime_gone(&self, runtime_id: &str) -> Option<String> {
        let mut workspaces = lock(&self.workspaces);
        let workspace = workspaces
            .registered
            .iter()
            .find(|(_, workspace)| workspace.runtimes.iter().any(|r| r.id == runtime_id))
            .map(|(id, _)| id.clone())?;
        workspaces.stale.insert(workspace.clone());
        Some(workspace)
    }

    /// The server just confirmed these runtimes.
    pub(crate) fn runtimes_seen<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let now = SystemTime::now();
        let mut seen = lock(&self.runtime_seen);
        for id in ids {
            seen.insert(id.to_owned(), now);
        }
    }

    /// When the server last confirmed each runtime it confirmed in this process.
    pub(crate) fn runtimes_last_seen(&self) -> BTreeMap<String, SystemTime> {
        lock(&self.runtime_seen).clone()
    }

    pub(crate) fn workspaces_etag(&self) -> Option<String> {
        lock(&self.workspaces_etag).clone()
    }

    pub(crate) fn set_workspaces_etag(&self, etag: Option<String>) {
        *lock(&self.workspaces_etag) = etag;
    }

    /// `true` the first time it is asked for a runtime in this process.
    pub(crate) fn first_recovery_of(&self, runtime_id: &str) -> bool {
        lock(&self.recovered_runtimes).insert(runtime_id.to_owned())
    }

    pub(crate) fn want_sync(&self) {
        self.sync_wanted.notify_one();
    }

    pub(crate) async fn sync_wanted(&self) {
        self.sync_wanted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(runtime_ids: &[&str], workspace_id: &str) -> RegisteredWorkspace {
        RegisteredWorkspace {
            runtimes: runtime_ids
                .iter()
                .map(|id| RuntimeBinding {
                    id: (*id).into(),
                    workspace_id: workspace_id.into(),
                    provider: Provider::claude(),
                })
                .collect(),
            repos: Vec::new(),
        }
    }

    #[test]
    fn the_plan_registers_new_and_stale_workspaces_and_drops_unwanted_ones() {
        let registry = Registry::default();
        registry.insert("a", workspace(&["ra"], "a"));
        registry.insert("b", workspace(&["rb"], "b"));
        let wanted: BTreeSet<String> = ["b".to_owned(), "c".to_owned()].into();
        assert_eq!(
            registry.plan(&wanted),
            (vec!["c".to_owned()], vec!["a".to_owned()])
        );
        registry.mark_stale("b");
        assert_eq!(registry.stale_count(), 1);
        assert_eq!(
            registry.plan(&wanted).0,
            vec!["b".to_owned(), "c".to_owned()]
        );
        registry.insert("b", workspace(&["rb2"], "b"));
        assert_eq!(
            registry.stale_count(),
            0,
            "registering clears the stale mark"
        );
    }

    #[test]
    fn a_gone_runtime_marks_its_workspace_stale() {
        let registry = Registry::default();
        registry.insert("a", workspace(&["r1", "r2"], "a"));
        assert_eq!(registry.runtime_gone("r2").as_deref(), Some("a"));
        assert_eq!(registry.runtime_gone("unknown"), None);
        assert_eq!(registry.stale_count(), 1);
        assert_eq!(
            registry.runtime_ids(),
            vec!["r1".to_owned(), "r2".to_owned()]
        );
    }

    #[test]
    fn orphans_are_recovered_once_per_runtime() {
        let registry = Registry::default();
        assert!(registry.first_recovery_of("r"));
        assert!(!registry.first_recovery_of("r"));
    }
}
