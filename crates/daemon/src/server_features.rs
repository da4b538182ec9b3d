//! Which parts of the current server protocol (contract Part B) the server
//! offers, learned as the daemon goes: a route is tried until the server answers
//! it with 404, and from then on the seed's way is used. Nothing is probed up
//! front, so an old server costs one 404 per feature. A feature starts unknown
//! (0), and is then present or missing.

use std::sync::atomic::{AtomicU8, Ordering};

use multica_api::ApiError;

const PRESENT: u8 = 1;
const MISSING: u8 = 2;

/// One optional route of the server.
#[derive(Debug, Default)]
pub struct Feature(AtomicU8);

impl Feature {
    /// Not known to be missing: worth trying.
    pub fn worth_trying(&self) -> bool {
        self.0.load(Ordering::Relaxed) != MISSING
    }

    pub fn is_present(&self) -> bool {
        self.0.load(Ordering::Relaxed) == PRESENT
    }

    /// Records what a call of the route tells about it; returns `true` when the
    /// answer means the server does not have the route (then the caller falls
    /// back to the seed's way).
    pub fn learn<T>(&self, result: &Result<T, ApiError>) -> bool {
        match result {
            Ok(_) => {
                self.0.store(PRESENT, Ordering::Relaxed);
                false
            }
            Err(error) if error.is_route_missing() => {
                self.0.store(MISSING, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }
}

/// Whether the server mints a token for each task (`mat_…`). Nothing asks it:
/// a claim that carried one, or a working batch claim (newer than task tokens),
/// tells.
#[derive(Debug, Default)]
pub struct TaskTokens(std::sync::atomic::AtomicBool);

impl TaskTokens {
    pub fn seen(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn known(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl ServerFeatures {
    /// The server gives each task its own token, so a task without one must not
    /// run with the user's.
    pub fn issues_task_tokens(&self) -> bool {
        self.task_tokens.known() || self.batch_claim.is_present()
    }
}

/// The optional routes the engine uses.
#[derive(Debug, Default)]
pub struct ServerFeatures {
    pub batch_claim: Feature,
    pub cancel_ack: Feature,
    pub task_usage: Feature,
    pub recover_orphans: Feature,
    pub daemon_workspaces: Feature,
    pub token_renewal: Feature,
    /// Pinning a running task's session (`/tasks/{id}/session`).
    pub session_pin: Feature,
    pub task_tokens: TaskTokens,
    /// The seed's machine-wide usage upload, removed from current servers.
    pub runtime_usage: Feature,
}
