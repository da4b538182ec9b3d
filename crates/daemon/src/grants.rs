//! Who may ask the daemon's local API for what: a running task's bearer token
//! (given to that task's agent only, valid inside its directory while it runs)
//! and the user's control token (in a file only the user can read).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use multica_api::Secret;

use crate::sync::lock;

/// What a task's bearer token allows: acting inside that task's directory.
#[derive(Debug, Clone)]
pub(crate) struct TaskGrant {
    pub(crate) task_id: String,
    pub(crate) workspace_id: String,
    pub(crate) agent_name: String,
    /// `<root>/<workspace>/<task8>`; checkouts must land below it.
    pub(crate) task_dir: PathBuf,
}

/// The bearer tokens of running tasks. A token lives exactly as long as its task.
#[derive(Debug, Default)]
pub(crate) struct TaskGrants {
    by_token: Mutex<HashMap<String, TaskGrant>>,
}

impl TaskGrants {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, TaskGrant>> {
        lock(&self.by_token)
    }

    /// A new random token for the task; dropping the [`GrantGuard`] revokes it.
    pub(crate) fn issue(self: &Arc<Self>, grant: TaskGrant) -> GrantGuard {
        let token = random_token("mlt");
        self.lock().insert(token.clone(), grant);
        GrantGuard {
            grants: Arc::clone(self),
            token: Secret::new(token),
        }
    }

    pub(crate) fn find(&self, token: &str) -> Option<TaskGrant> {
        self.lock().get(token).cloned()
    }
}

/// Revokes a task's token when the task ends, however it ends.
#[derive(Debug)]
pub(crate) struct GrantGuard {
    grants: Arc<TaskGrants>,
    token: Secret,
}

impl GrantGuard {
    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }
}

impl Drop for GrantGuard {
    fn drop(&mut self) {
        self.grants.lock().remove(self.token.expose());
    }
}

/// 244 random bits from the OS generator (two v4 UUIDs), with a prefix that tells
/// what the token is for.
fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The token that lets `multica daemon stop` (and the desktop app) ask this daemon
/// to stop over HTTP, which works on every OS. It is written, readable by the user
/// only, next to the pid file, and removed when the daemon stops.
#[derive(Debug)]
pub struct ControlToken {
    token: Secret,
    file: PathBuf,
}

impl ControlToken {
    /// Where the daemon of a config file keeps its control token.
    pub fn file_for(config_file: &Path) -> PathBuf {
        config_file.with_file_name("daemon.control")
    }

    pub(crate) fn create(config_file: &Path) -> std::io::Result<Self> {
        let token = Secret::new(random_token("mdc"));
        let file = Self::file_for(config_file);
        multica_token_store::write_private_file(&file, token.expose().as_bytes())?;
        Ok(Self { token, file })
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.token
    }

    /// Removes the token file: the daemon is stopping and takes no more requests.
    pub(crate) fn retire(&self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Drop for ControlToken {
    fn drop(&mut self) {
        self.retire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_end_with_their_guard() {
        let grants = Arc::new(TaskGrants::default());
        let guard = grants.issue(TaskGrant {
            task_id: "t".into(),
            workspace_id: "w".into(),
            agent_name: "a".into(),
            task_dir: PathBuf::from("/tmp"),
        });
        let token = guard.token().expose().to_owned();
        assert!(token.starts_with("mlt_") && token.len() > 60);
        assert!(grants.find(&token).is_some());
        drop(guard);
        assert!(grants.find(&token).is_none());
    }
}
