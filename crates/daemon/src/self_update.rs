//! How the engine's host updates itself when the server asks (a heartbeat's
//! `pending_update`). The headless daemon has no updater and says so; the desktop
//! app hands its signed updater to the engine.

use std::future::Future;
use std::pin::Pin;

/// Why the host could not update; the text goes to the server as the update's
/// error, so the user sees it in the web app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelfUpdateError(pub String);

/// The host's updater, as the engine calls it.
pub trait SelfUpdater: Send + Sync + std::fmt::Debug {
    /// Gets the update to `target_version` (or the newest the host's channel offers),
    /// verified and ready to install. `Ok` with what was done (the host installs it
    /// once no task runs, and restarts); `Err` with why not.
    fn update(
        &self,
        target_version: String,
    ) -> Pin<Box<dyn Future<Output = Result<String, SelfUpdateError>> + Send + 'static>>;
}
