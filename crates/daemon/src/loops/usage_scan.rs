//! Scans the machine's agent logs (crates/usage, ccusage's rules) at start, every
//! `scan_interval` and soon after a task finishes; publishes what changed, and
//! gives seed servers their full-day totals per (date, provider, model) on
//! `POST /api/daemon/runtimes/{id}/usage`: in each workspace, to that provider's
//! runtime (the lowest id when there are several). Current servers removed the
//! route (their usage comes per task) and answer 404 once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, Utc};
use multica_api::wire::RuntimeUsageEntry;
use multica_usage::{LogSource, PriceTable, ScanResult, Scanner};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::bus::EventBus;
use crate::config::DaemonConfig;
use crate::events::{EngineEvent, UsageSummary};
use crate::registry::Registry;
use crate::server::Server;
use crate::usage_book::{DEFAULT_REPORT_DAYS, LatestScan, UsageBook, days_back, scan_config};

/// Scans asked for by finished tasks are at least this far apart.
const MIN_SCAN_GAP: Duration = Duration::from_secs(10);
/// Rows per runtime-usage request.
const UPLOAD_CHUNK: usize = 500;

#[derive(Debug, Clone)]
pub(crate) struct UsageScan {
    pub(crate) config: Arc<DaemonConfig>,
    pub(crate) server: Arc<Server>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) usage: Arc<UsageBook>,
    pub(crate) bus: Arc<EventBus>,
}

impl UsageScan {
    pub(crate) async fn run(self, stop: CancellationToken) {
        let Some(interval) = self.config.usage.scan_interval else {
            return;
        };
        let config = match scan_config(&self.config) {
            Ok(config) => config,
            Err(error) => {
                warn!(%error, "usage: using the built-in prices");
                let mut config = match scan_config(&without_prices_file(&self.config)) {
                    Ok(config) => config,
                    Err(error) => {
                        warn!(%error, "usage: the machine's logs will not be scanned");
                        return;
                    }
                };
                config.prices = PriceTable::built_in();
                config
            }
        };
        let mut scanner = Some(Scanner::new(config));
        let mut uploads = RuntimeUploads::default();
        let mut last_published: Option<UsageSummary> = None;
        // A finished task asks for a scan, but scans stay this far apart.
        let gap = MIN_SCAN_GAP.min(interval);
        loop {
            let started = tokio::time::Instant::now();
            let Some(mut owned) = scanner.take() else {
                return;
            };
            let outcome = tokio::task::spawn_blocking(move || {
                let result = owned.scan();
                (owned, result)
            })
            .await;
            let (returned, result) = match outcome {
                Ok(pair) => pair,
                Err(error) => {
                    // The scanner panicked: `supervise` starts the loop again.
                    std::panic::resume_unwind(error.into_panic());
                }
            };
            scanner = Some(returned);
            let at = Utc::now();
            match result {
                Ok(result) => {
                    debug!(
                        files = result.stats.files,
                        read = result.stats.files_read,
                        ms = result.stats.duration_ms,
                        "usage scan"
                    );
                    let result = Arc::new(result);
                    self.usage.store(LatestScan {
                        at,
                        outcome: Ok(Arc::clone(&result)),
                    });
                    let summary = UsageSummary {
                        today: result.total(Some(Local::now().date_naive())),
                        last_30_days: result.total(Some(days_back(DEFAULT_REPORT_DAYS))),
                    };
                    if last_published.as_ref() != Some(&summary) {
                        self.bus.emit(EngineEvent::UsageUpdated {
                            summary: summary.clone(),
                        });
                        last_published = Some(summary);
                    }
                    self.upload_to_runtimes(&result, &mut uploads).await;
                }
                Err(error) => {
                    warn!(%error, "usage: the scan of the agents' logs failed");
                    self.usage.store(LatestScan {
                        at,
                        outcome: Err(error.to_string()),
                    });
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(started + interval) => {}
                () = self.usage.scan_wanted() => {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep_until(started + gap) => {}
                    }
                }
            }
        }
    }
}

fn without_prices_file(config: &DaemonConfig) -> DaemonConfig {
    let mut config = config.clone();
    config.usage.prices_file = None;
    config
}

/// What this process has uploaded, per runtime: the seed server replaces a day's
/// row, so a day is sent again only when its figures changed.
#[derive(Debug, Default)]
struct RuntimeUploads {
    sent: HashMap<String, HashMap<(String, String, String), RuntimeUsageEntry>>,
}

/// The runtime of each (workspace, agent whose logs are scanned) that gets those
/// logs' usage: the one whose provider is that agent, the lowest id when there
/// are several.
fn upload_targets(registry: &Registry) -> Vec<(String, LogSource)> {
    let mut targets = Vec::new();
    for (_, runtimes) in registry.workspaces() {
        for source in [LogSource::Claude, LogSource::Codex] {
            let runtime = runtimes
                .iter()
                .filter(|runtime| runtime.provider.as_str() == source.as_str())
                .map(|runtime| runtime.id.as_str())
                .min();
            if let Some(runtime) = runtime {
                targets.push((runtime.to_owned(), source));
            }
        }
    }
    targets
}

impl UsageScan {
    /// Seed servers: full-day totals per (date, provider, model) to each provider's
    /// runtime, only the days that changed since the last upload of this process.
    async fn upload_to_runtimes(&self, result: &ScanResult, uploads: &mut RuntimeUploads) {
        let features = &self.server.features;
        if !features.runtime_usage.worth_trying() {
            return;
        }
        for (runtime_id, source) in upload_targets(&self.registry) {
            let sent = uploads.sent.entry(runtime_id.clone()).or_default();
            let changed: Vec<RuntimeUsageEntry> = result
                .runtime_usage_entries(None, Some(source))
                .into_iter()
                .filter(|entry| sent.get(&entry_key(entry)) != Some(entry))
                .collect();
            for chunk in changed.chunks(UPLOAD_CHUNK) {
                let answer = self
                    .server
                    .client
                    .report_runtime_usage(&runtime_id, chunk)
                    .await;
                if features.runtime_usage.learn(&answer) {
                    info!("the server takes usage per task only; runtime usage uploads stop");
                    return;
                }
                match answer {
                    Ok(()) => {
                        for entry in chunk {
                            sent.insert(entry_key(entry), entry.clone());
                        }
                    }
                    Err(error) => {
                        // The next scan sends what is still unsent.
                        debug!(%error, runtime_id, "runtime usage upload failed");
                        break;
                    }
                }
            }
        }
    }
}

fn entry_key(entry: &RuntimeUsageEntry) -> (String, String, String) {
    (
        entry.date.clone(),
        entry.provider.clone(),
        entry.model.clone(),
    )
}
