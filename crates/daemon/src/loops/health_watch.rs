//! Works out the engine's state every few seconds (see [`crate::health::assess`])
//! and publishes it whenever it changes.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::bus::EventBus;
use crate::events::{EngineEvent, EngineState};
use crate::health::{Elsewhere, assess};
use crate::outbox::Outbox;
use crate::registry::Registry;
use crate::server::Server;

const EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(crate) struct HealthWatch {
    pub(crate) heartbeat_interval: Duration,
    pub(crate) server: Arc<Server>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) bus: Arc<EventBus>,
}

impl HealthWatch {
    pub(crate) async fn run(self, stop: CancellationToken) {
        loop {
            let state = assess(&self.server.vitals.observe(Elsewhere {
                quiet_limit: self.heartbeat_interval * 3,
                registered_workspaces: self.registry.registered_count(),
                stale_workspaces: self.registry.stale_count(),
                reports_waiting: self.outbox.waiting(),
            }));
            if self.server.vitals.set_state(&state) {
                match &state {
                    EngineState::Online => info!("engine online"),
                    EngineState::Degraded(reason) => warn!(%reason, "engine degraded"),
                    EngineState::Offline(reason) => warn!(%reason, "engine offline"),
                    EngineState::Starting => {}
                }
                self.bus.emit(EngineEvent::StateChanged { state });
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    }
}
