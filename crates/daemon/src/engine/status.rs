//! The `/health` report, gathered from every part of the engine.

use std::time::{Instant, SystemTime};

use crate::agent_set::AgentSet;
use crate::config::DaemonConfig;
use crate::go_duration::format_duration;
use crate::health::{
    HealthAgent, HealthMissingAgent, HealthReport, HealthRuntime, HealthWorkspace,
};
use crate::registry::Registry;
use crate::server::Server;
use crate::task_book::TaskBook;

/// The parts a report reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct StatusSources<'a> {
    pub(super) config: &'a DaemonConfig,
    pub(super) started_at: Instant,
    pub(super) server: &'a Server,
    pub(super) agents: &'a AgentSet,
    pub(super) registry: &'a Registry,
    pub(super) tasks: &'a TaskBook,
}

pub(super) fn health_report(sources: StatusSources<'_>) -> HealthReport {
    let StatusSources {
        config,
        started_at,
        server,
        agents,
        registry,
        tasks,
    } = sources;
    let seen = registry.runtimes_last_seen();
    let workspaces = registry
        .workspaces()
        .into_iter()
        .map(|(id, runtimes)| HealthWorkspace {
            id,
            runtimes: runtimes.iter().map(|r| r.id.clone()).collect(),
            runtime_details: runtimes
                .iter()
                .map(|runtime| HealthRuntime {
                    id: runtime.id.clone(),
                    provider: runtime.provider.to_string(),
                    last_seen_unix_ms: seen.get(&runtime.id).copied().map(unix_ms),
                })
                .collect(),
        })
        .collect();
    let active_tasks = tasks.active();
    let state = server.vitals.state();
    let found = agents.found();
    HealthReport {
        status: "running".to_owned(),
        pid: std::process::id(),
        uptime: format_duration(started_at.elapsed()),
        daemon_id: config.daemon_id.clone(),
        device_name: config.device_name.clone(),
        server_url: config.server_url.to_string(),
        cli_version: config.cli_version.clone(),
        agents: found.iter().map(|a| a.provider.to_string()).collect(),
        workspaces,
        agent_clis: found
            .iter()
            .map(|a| HealthAgent {
                provider: a.provider.to_string(),
                version: a.version.clone(),
                path: a.executable.to_string_lossy().into_owned(),
            })
            .collect(),
        agents_missing: agents
            .skipped()
            .iter()
            .map(|skipped| HealthMissingAgent {
                provider: skipped.provider.to_string(),
                display_name: skipped.provider.display_name().to_owned(),
                not_installed: skipped.not_installed,
                reason: skipped.reason.clone(),
            })
            .collect(),
        last_server_contact_unix_ms: server
            .vitals
            .last_contact_age()
            .and_then(|age| SystemTime::now().checked_sub(age))
            .map(unix_ms),
        running_tasks: active_tasks.len(),
        active_tasks,
        state: state.word().to_owned(),
        state_reason: state.reason().map(str::to_owned),
        paused: tasks.is_paused(),
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
