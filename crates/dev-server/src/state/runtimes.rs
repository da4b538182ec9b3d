//! Runtimes: registration, heartbeats, deregistration, usage, and the in-memory
//! ping and update stores.

use chrono::{DateTime, NaiveDate, Utc};
use multica_api::wire;
use serde_json::json;
use uuid::Uuid;

use super::{Runtime, RuntimeAction, State, Usage, UsageKey};
use crate::go;
use crate::views::{AdminError, RuntimeActionView, UsageRecord};

/// One runtime of a registration (`DaemonRegisterRequest.runtimes[]` plus the
/// daemon-level fields it is combined with).
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeInput {
    pub(crate) daemon_id: Option<String>,
    pub(crate) device_name: String,
    pub(crate) cli_version: String,
    pub(crate) name: String,
    /// The `type` field: the provider key.
    pub(crate) provider: String,
    pub(crate) version: String,
    pub(crate) status: String,
}

/// What a heartbeat hands back besides `{"status":"ok"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeartbeatOutcome {
    pub(crate) ping_id: Option<String>,
    /// `(id, target_version)`.
    pub(crate) update: Option<(String, String)>,
}

/// One usage entry of `POST /runtimes/{id}/usage`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageInput {
    pub(crate) date: String,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cache_read_tokens: i64,
    pub(crate) cache_write_tokens: i64,
}

/// `time.Parse("2006-01-02", s)`: exactly four, two and two digits.
pub(crate) fn parse_go_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

fn random_hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

impl State {
    /// `UpsertAgentRuntime` with the field derivations of `DaemonRegister`. The key is
    /// `(workspace_id, daemon_id, provider)`; a NULL daemon ID never conflicts.
    pub(crate) fn upsert_runtime(
        &mut self,
        workspace_id: Uuid,
        input: &RuntimeInput,
        now: DateTime<Utc>,
    ) -> Runtime {
        let provider = match input.provider.trim() {
            "" => "unknown".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        let device = input.device_name.trim();
        let name = match input.name.trim() {
            "" if device.is_empty() => provider.clone(),
            "" => format!("{provider} ({device})"),
            trimmed => trimmed.to_owned(),
        };
        let device_info = match (device.is_empty(), input.version.is_empty()) {
            (false, false) => format!("{device} · {}", input.version),
            (true, false) => input.version.clone(),
            _ => device.to_owned(),
        };
        let online = input.status != "offline";
        let metadata = json!({"version": input.version, "cli_version": input.cli_version});
        let daemon_id = input.daemon_id.clone().filter(|d| !d.is_empty());

        let existing = daemon_id.as_ref().and_then(|daemon| {
            self.runtimes
                .values()
                .find(|r| {
                    r.workspace_id == workspace_id
                        && r.daemon_id.as_ref() == Some(daemon)
                        && r.provider == provider
                })
                .map(|r| r.id)
        });
        if let Some(id) = existing
            && let Some(runtime) = self.runtimes.get_mut(&id)
        {
            runtime.name = name;
            runtime.runtime_mode = "local".to_owned();
            runtime.online = online;
            runtime.device_info = device_info;
            runtime.metadata = metadata;
            runtime.last_seen_at = Some(now);
            runtime.updated_at = now;
            return runtime.clone();
        }
        let id = Uuid::new_v4();
        let seq = self.next_seq();
        let runtime = Runtime {
            id,
            seq,
            workspace_id,
            daemon_id,
            name,
            runtime_mode: "local".to_owned(),
            provider,
            online,
            device_info,
            metadata,
            last_seen_at: Some(now),
            created_at: now,
            updated_at: now,
        };
        self.runtimes.insert(id, runtime.clone());
        runtime
    }

    /// `SetAgentRuntimeOffline` for each known ID; unknown ones are skipped. Tasks
    /// are left alone (the sweeper deals with them).
    pub(crate) fn deregister(&mut self, runtime_ids: &[String], now: DateTime<Utc>) -> usize {
        let mut changed = 0;
        for text in runtime_ids {
            let Some(runtime) = go::parse_uuid(text).and_then(|id| self.runtimes.get_mut(&id))
            else {
                tracing::debug!(runtime_id = %text, "deregister: runtime not found");
                continue;
            };
            runtime.online = false;
            runtime.updated_at = now;
            changed += 1;
        }
        changed
    }

    /// `UpdateAgentRuntimeHeartbeat`, then the pending ping and update pops. `None`
    /// when the runtime does not exist (the handler's 500 `heartbeat failed`).
    pub(crate) fn heartbeat(
        &mut self,
        runtime_id: &str,
        now: DateTime<Utc>,
    ) -> Option<HeartbeatOutcome> {
        let runtime = go::parse_uuid(runtime_id).and_then(|id| self.runtimes.get_mut(&id))?;
        runtime.online = true;
        runtime.last_seen_at = Some(now);
        runtime.updated_at = now;

        let ping_id = Self::pop_pending(&mut self.pings, runtime_id, now);
        let update = Self::pop_pending(&mut self.updates, runtime_id, now).map(|id| {
            let target = self
                .updates
                .get(&id)
                .and_then(|u| u.target_version.clone())
                .unwrap_or_default();
            (id, target)
        });
        Some(HeartbeatOutcome { ping_id, update })
    }

    /// The oldest `pending` action of the runtime (compared as the string the
    /// daemon sent, like the seed's stores), flipped to `running`.
    fn pop_pending(
        store: &mut std::collections::HashMap<String, RuntimeAction>,
        runtime_id: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let action = store
            .values_mut()
            .filter(|a| a.runtime_id == runtime_id && a.status == "pending")
            .min_by_key(|a| (a.created_at, a.seq))?;
        action.status = "running".to_owned();
        action.updated_at = now;
        Some(action.id.clone())
    }

    /// `UpsertRuntimeUsage` per entry: counters are replaced, not added. Entries with
    /// a bad date are skipped; an unknown runtime stores nothing (the insert's
    /// foreign key fails and the error is ignored).
    pub(crate) fn record_usage(
        &mut self,
        runtime_id: &str,
        entries: &[UsageInput],
        now: DateTime<Utc>,
    ) -> usize {
        let Some(runtime_id) =
            go::parse_uuid(runtime_id).filter(|id| self.runtimes.contains_key(id))
        else {
            return 0;
        };
        let mut stored = 0;
        for entry in entries {
            let Some(date) = parse_go_date(&entry.date) else {
                continue;
            };
            let key = UsageKey {
                runtime_id,
                date,
                provider: entry.provider.clone(),
                model: entry.model.clone(),
            };
            let created_at = self.usage.get(&key).map_or(now, |u| u.created_at);
            self.usage.insert(
                key,
                Usage {
                    input_tokens: entry.input_tokens,
                    output_tokens: entry.output_tokens,
                    cache_read_tokens: entry.cache_read_tokens,
                    cache_write_tokens: entry.cache_write_tokens,
                    created_at,
                    updated_at: now,
                },
            );
            stored += 1;
        }
        stored
    }

    pub(crate) fn usage_records(&self, runtime_id: Option<Uuid>) -> Vec<UsageRecord> {
        let mut rows: Vec<(&UsageKey, &Usage)> = self
            .usage
            .iter()
            .filter(|(key, _)| runtime_id.is_none_or(|id| key.runtime_id == id))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows.into_iter()
            .map(|(key, usage)| UsageRecord {
                runtime_id: key.runtime_id.to_string(),
                date: key.date.format("%Y-%m-%d").to_string(),
                provider: key.provider.clone(),
                model: key.model.clone(),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_read_tokens: usage.cache_read_tokens,
                cache_write_tokens: usage.cache_write_tokens,
                created_at: go::format_time(usage.created_at),
                updated_at: go::format_time(usage.updated_at),
            })
            .collect()
    }

    /// `AgentRuntimeResponse`.
    pub(crate) fn runtime_view(runtime: &Runtime) -> wire::AgentRuntime {
        wire::AgentRuntime {
            id: runtime.id.to_string(),
            workspace_id: runtime.workspace_id.to_string(),
            daemon_id: runtime.daemon_id.clone(),
            name: runtime.name.clone(),
            runtime_mode: runtime.runtime_mode.clone(),
            provider: runtime.provider.clone(),
            status: if runtime.online { "online" } else { "offline" }.to_owned(),
            device_info: runtime.device_info.clone(),
            metadata: go::as_go_any(&runtime.metadata),
            last_seen_at: runtime.last_seen_at.map(go::format_time),
            created_at: go::format_time(runtime.created_at),
            updated_at: go::format_time(runtime.updated_at),
        }
    }

    pub(crate) fn runtimes_sorted(&self) -> Vec<&Runtime> {
        let mut runtimes: Vec<&Runtime> = self.runtimes.values().collect();
        runtimes.sort_by_key(|r| (r.created_at, r.seq));
        runtimes
    }

    // -- pings and updates ---------------------------------------------------

    fn require_runtime(&self, runtime_id: &str) -> Result<Uuid, AdminError> {
        go::parse_uuid(runtime_id)
            .filter(|id| self.runtimes.contains_key(id))
            .ok_or_else(|| AdminError::not_found("runtime", runtime_id))
    }

    /// `PingStore.Create` (what `POST /api/runtimes/{id}/ping` does).
    pub(crate) fn create_ping(
        &mut self,
        runtime_id: &str,
        now: DateTime<Utc>,
    ) -> Result<RuntimeActionView, AdminError> {
        let runtime_id = self.require_runtime(runtime_id)?.to_string();
        let expiry = self.rules.ping_expiry;
        self.pings.retain(|_, p| now - p.created_at <= expiry);
        let action = self.new_action(runtime_id, None, now);
        self.pings.insert(action.id.clone(), action.clone());
        Ok(self.ping_view(&action, now))
    }

    /// `UpdateStore.Create` (what `POST /api/runtimes/{id}/update` does): 409 while
    /// another update of the runtime is pending or running.
    pub(crate) fn create_update(
        &mut self,
        runtime_id: &str,
        target_version: &str,
        now: DateTime<Utc>,
    ) -> Result<RuntimeActionView, AdminError> {
        let runtime_id = self.require_runtime(runtime_id)?.to_string();
        if target_version.is_empty() {
            return Err(AdminError::Invalid("target_version is required".into()));
        }
        let expiry = self.rules.update_expiry;
        self.updates.retain(|_, u| now - u.created_at <= expiry);
        if self
            .updates
            .values()
            .any(|u| u.runtime_id == runtime_id && (u.status == "pending" || u.status == "running"))
        {
            return Err(AdminError::Conflict(
                "an update is already in progress for this runtime".into(),
            ));
        }
        let action = self.new_action(runtime_id, Some(target_version.to_owned()), now);
        self.updates.insert(action.id.clone(), action.clone());
        Ok(self.update_view(&action, now))
    }

    fn new_action(
        &mut self,
        runtime_id: String,
        target_version: Option<String>,
        now: DateTime<Utc>,
    ) -> RuntimeAction {
        RuntimeAction {
            id: random_hex_id(),
            runtime_id,
            status: "pending".to_owned(),
            target_version,
            output: String::new(),
            error: String::new(),
            duration_ms: 0,
            seq: self.next_seq(),
            created_at: now,
            updated_at: now,
        }
    }

    /// `ReportPingResult`: `completed` completes, anything else fails; unknown IDs
    /// are ignored.
    pub(crate) fn ping_result(
        &mut self,
        ping_id: &str,
        status: &str,
        output: &str,
        error: &str,
        duration_ms: i64,
        now: DateTime<Utc>,
    ) {
        if let Some(ping) = self.pings.get_mut(ping_id) {
            if status == "completed" {
                "completed".clone_into(&mut ping.status);
                output.clone_into(&mut ping.output);
            } else {
                "failed".clone_into(&mut ping.status);
                error.clone_into(&mut ping.error);
            }
            ping.duration_ms = duration_ms;
            ping.updated_at = now;
        }
    }

    /// `ReportUpdateResult`. `Err(())` for a status other than `running`,
    /// `completed` or `failed`.
    pub(crate) fn update_result(
        &mut self,
        update_id: &str,
        status: &str,
        output: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ()> {
        match status {
            "running" => Ok(()),
            "completed" | "failed" => {
                if let Some(update) = self.updates.get_mut(update_id) {
                    status.clone_into(&mut update.status);
                    if status == "completed" {
                        output.clone_into(&mut update.output);
                    } else {
                        error.clone_into(&mut update.error);
                    }
                    update.updated_at = now;
                }
                Ok(())
            }
            _ => Err(()),
        }
    }

    /// A ping as `GET /api/runtimes/{id}/ping/{pingId}` shows it: a `pending` one
    /// older than the ping timeout reads as `timeout`.
    pub(crate) fn ping_view(&self, ping: &RuntimeAction, now: DateTime<Utc>) -> RuntimeActionView {
        let mut view = action_view(ping);
        if ping.status == "pending" && now - ping.created_at > self.rules.ping_timeout {
            view.status = "timeout".to_owned();
            view.error = format!(
                "daemon did not respond within {} seconds",
                self.rules.ping_timeout.num_seconds()
            );
        }
        view
    }

    /// An update as the UI reads it: `pending` or `running` past the update timeout
    /// reads as `timeout`.
    pub(crate) fn update_view(
        &self,
        update: &RuntimeAction,
        now: DateTime<Utc>,
    ) -> RuntimeActionView {
        let mut view = action_view(update);
        if (update.status == "pending" || update.status == "running")
            && now - update.created_at > self.rules.update_timeout
        {
            view.status = "timeout".to_owned();
            view.error = format!(
                "update did not complete within {} seconds",
                self.rules.update_timeout.num_seconds()
            );
        }
        view
    }
}

fn action_view(action: &RuntimeAction) -> RuntimeActionView {
    RuntimeActionView {
        id: action.id.clone(),
        runtime_id: action.runtime_id.clone(),
        status: action.status.clone(),
        target_version: action.target_version.clone(),
        output: action.output.clone(),
        error: action.error.clone(),
        duration_ms: action.duration_ms,
        created_at: go::format_time(action.created_at),
        updated_at: go::format_time(action.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::World;

    #[test]
    fn upsert_keeps_the_id_per_daemon_and_provider() {
        let mut world = World::new();
        let input = RuntimeInput {
            daemon_id: Some("host".into()),
            device_name: " laptop ".into(),
            cli_version: "0.1.0".into(),
            name: String::new(),
            provider: " claude ".into(),
            version: "2.1".into(),
            status: String::new(),
        };
        let again = world
            .state
            .upsert_runtime(world.workspace, &input, world.now);
        assert_eq!(again.id, world.runtime);
        assert_eq!(again.name, "claude (laptop)");
        assert_eq!(again.device_info, "laptop · 2.1");
        assert!(again.online);

        let codex = world.state.upsert_runtime(
            world.workspace,
            &RuntimeInput {
                provider: "codex".into(),
                ..input.clone()
            },
            world.now,
        );
        assert_ne!(codex.id, world.runtime);

        let unknown = world.state.upsert_runtime(
            world.workspace,
            &RuntimeInput {
                provider: String::new(),
                status: "offline".into(),
                ..input
            },
            world.now,
        );
        assert_eq!(unknown.provider, "unknown");
        assert!(!unknown.online);
    }

    #[test]
    fn heartbeat_of_unknown_runtime_fails() {
        let mut world = World::new();
        assert_eq!(world.state.heartbeat("nope", world.now), None);
        assert_eq!(
            world
                .state
                .heartbeat(&Uuid::new_v4().to_string(), world.now),
            None
        );
        assert!(
            world
                .state
                .heartbeat(&world.runtime.to_string(), world.now)
                .is_some()
        );
    }

    #[test]
    fn heartbeat_pops_pending_actions_once() {
        let mut world = World::new();
        let runtime = world.runtime.to_string();
        let ping = world.state.create_ping(&runtime, world.now).expect("ping");
        let update = world
            .state
            .create_update(&runtime, "v1.2.3", world.now)
            .expect("update");
        assert!(matches!(
            world.state.create_update(&runtime, "v1.2.4", world.now),
            Err(AdminError::Conflict(_))
        ));
        let outcome = world.state.heartbeat(&runtime, world.now).expect("known");
        assert_eq!(outcome.ping_id, Some(ping.id.clone()));
        assert_eq!(outcome.update, Some((update.id.clone(), "v1.2.3".into())));
        let next = world.state.heartbeat(&runtime, world.now).expect("known");
        assert_eq!(next, HeartbeatOutcome::default());

        world
            .state
            .ping_result(&ping.id, "completed", "pong", "", 12, world.now);
        assert_eq!(world.state.pings[&ping.id].status, "completed");
        assert_eq!(
            world
                .state
                .update_result(&update.id, "bogus", "", "", world.now),
            Err(())
        );
        world
            .state
            .update_result(&update.id, "failed", "", "boom", world.now)
            .expect("valid status");
        assert_eq!(world.state.updates[&update.id].error, "boom");
    }

    #[test]
    fn usage_replaces_counters_and_skips_bad_dates() {
        let mut world = World::new();
        let runtime = world.runtime.to_string();
        let entry = |tokens| UsageInput {
            date: "2026-04-07".into(),
            provider: "claude".into(),
            model: "sonnet".into(),
            input_tokens: tokens,
            ..UsageInput::default()
        };
        world.state.record_usage(&runtime, &[entry(10)], world.now);
        world.state.record_usage(&runtime, &[entry(7)], world.now);
        let bad = UsageInput {
            date: "2026-4-7".into(),
            ..entry(1)
        };
        assert_eq!(world.state.record_usage(&runtime, &[bad], world.now), 0);
        let rows = world.state.usage_records(None);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].input_tokens, 7);
        assert_eq!(
            world
                .state
                .record_usage(&Uuid::new_v4().to_string(), &[entry(1)], world.now),
            0
        );
    }

    #[test]
    fn go_dates_are_strict() {
        assert!(parse_go_date("2026-04-07").is_some());
        assert!(parse_go_date("2026-02-30").is_none());
        assert!(parse_go_date("2026-4-07").is_none());
        assert!(parse_go_date("2026-04-07T00:00:00Z").is_none());
    }
}
