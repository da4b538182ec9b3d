//! The agent CLIs this machine has: found by the last discovery, with the ones
//! configured but unusable (and why), and the search path and login-shell
//! variables agents are started with.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use multica_agents::Provider;
use tracing::{debug, info, warn};

use crate::agent_config::AgentSetting;
use crate::agent_detection::{DetectedAgent, Detection, SkippedAgent, detect_agents};
use crate::discovery::{Discovery, DiscoveryInputs, discover};
use crate::sync::lock;

#[derive(Debug)]
pub(crate) struct AgentSet {
    found: Mutex<Arc<Vec<DetectedAgent>>>,
    skipped: Mutex<Arc<Vec<SkippedAgent>>>,
    discovery: Mutex<Arc<Discovery>>,
}

/// What a discovery changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rediscovery {
    Unchanged,
    /// Nothing usable any more; the agents found before are kept.
    NoneLeft,
    /// A different set of agents (installed, updated or removed).
    Changed {
        agents: Vec<String>,
    },
}

impl AgentSet {
    /// Looks for the configured agent CLIs (the login shell's PATH and install
    /// dirs included) and asks each for its version.
    pub(crate) async fn discover(
        settings: &[AgentSetting],
        inputs: &DiscoveryInputs,
    ) -> (Discovery, Detection) {
        let discovery = discover(inputs).await;
        let detection = detect_agents(settings, discovery.joined_path().as_deref()).await;
        for skipped in &detection.skipped {
            if skipped.not_installed {
                debug!(provider = %skipped.provider, reason = %skipped.reason, "agent CLI not installed");
            } else {
                warn!(provider = %skipped.provider, reason = %skipped.reason, "agent CLI cannot be used");
            }
        }
        (discovery, detection)
    }

    pub(crate) fn new(discovery: Discovery, detection: Detection) -> Self {
        log_found(&detection.found);
        Self {
            found: Mutex::new(Arc::new(detection.found)),
            skipped: Mutex::new(Arc::new(detection.skipped)),
            discovery: Mutex::new(Arc::new(discovery)),
        }
    }

    pub(crate) fn found(&self) -> Arc<Vec<DetectedAgent>> {
        Arc::clone(&lock(&self.found))
    }

    pub(crate) fn skipped(&self) -> Arc<Vec<SkippedAgent>> {
        Arc::clone(&lock(&self.skipped))
    }

    pub(crate) fn discovery(&self) -> Arc<Discovery> {
        Arc::clone(&lock(&self.discovery))
    }

    pub(crate) fn agent_for(&self, provider: &Provider) -> Option<DetectedAgent> {
        self.found()
            .iter()
            .find(|agent| agent.provider == *provider)
            .cloned()
    }

    pub(crate) fn provider_names(&self) -> Vec<String> {
        self.found()
            .iter()
            .map(|agent| agent.provider.to_string())
            .collect()
    }

    /// Takes in a new discovery: the search path and the unusable agents always,
    /// the usable ones when they changed and are not all gone.
    pub(crate) fn replace(&self, discovery: Discovery, detection: Detection) -> Rediscovery {
        *lock(&self.discovery) = Arc::new(discovery);
        *lock(&self.skipped) = Arc::new(detection.skipped);
        if same_agents(&detection.found, &self.found()) {
            return Rediscovery::Unchanged;
        }
        if detection.found.is_empty() {
            return Rediscovery::NoneLeft;
        }
        log_found(&detection.found);
        let agents = detection
            .found
            .iter()
            .map(|agent| agent.provider.to_string())
            .collect();
        *lock(&self.found) = Arc::new(detection.found);
        Rediscovery::Changed { agents }
    }
}

fn log_found(found: &[DetectedAgent]) {
    for agent in found {
        info!(provider = %agent.provider, version = %agent.version, path = %agent.executable.display(), "agent CLI found");
    }
}

/// The same CLIs at the same paths and versions.
fn same_agents(a: &[DetectedAgent], b: &[DetectedAgent]) -> bool {
    let identity = |agents: &[DetectedAgent]| -> Vec<(String, PathBuf, String)> {
        agents
            .iter()
            .map(|agent| {
                (
                    agent.provider.to_string(),
                    agent.executable.clone(),
                    agent.version.clone(),
                )
            })
            .collect()
    };
    identity(a) == identity(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claude(version: &str) -> DetectedAgent {
        DetectedAgent {
            provider: Provider::claude(),
            executable: PathBuf::from("/bin/claude"),
            version: version.into(),
            model: None,
        }
    }

    fn found(agents: Vec<DetectedAgent>) -> Detection {
        Detection {
            found: agents,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn a_new_version_is_a_change_and_an_empty_discovery_keeps_the_agents() {
        let set = AgentSet::new(Discovery::default(), found(vec![claude("1.0")]));
        assert_eq!(
            set.replace(Discovery::default(), found(vec![claude("1.0")])),
            Rediscovery::Unchanged
        );
        assert_eq!(
            set.replace(Discovery::default(), found(vec![claude("1.1")])),
            Rediscovery::Changed {
                agents: vec!["claude".into()]
            }
        );
        assert_eq!(set.found()[0].version, "1.1");
        assert_eq!(
            set.replace(Discovery::default(), found(Vec::new())),
            Rediscovery::NoneLeft
        );
        assert_eq!(set.found().len(), 1, "the last agents are kept");
    }
}
