//! Looks for agent CLIs again every interval: one installed, updated or removed
//! while the daemon runs is registered (or dropped) without a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::agent_set::{AgentSet, Rediscovery};
use crate::bus::EventBus;
use crate::config::DaemonConfig;
use crate::events::EngineEvent;
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub(crate) struct AgentRediscovery {
    pub(crate) interval: Duration,
    pub(crate) config: Arc<DaemonConfig>,
    pub(crate) agents: Arc<AgentSet>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) bus: Arc<EventBus>,
}

impl AgentRediscovery {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.rediscover().await,
            }
        }
    }

    /// One discovery; a changed set of agents is registered again everywhere (the
    /// workspace loop picks the stale workspaces up).
    async fn rediscover(&self) {
        let (discovery, detection) =
            AgentSet::discover(&self.config.agents, &self.config.discovery).await;
        match self.agents.replace(discovery, detection) {
            Rediscovery::Unchanged => {}
            Rediscovery::NoneLeft => {
                warn!("no agent CLI found any more; keeping the ones registered");
            }
            Rediscovery::Changed { agents } => {
                self.registry.mark_all_stale();
                info!("the set of agent CLIs changed; registering the workspaces again");
                self.bus.emit(EngineEvent::AgentsChanged { agents });
            }
        }
    }
}
