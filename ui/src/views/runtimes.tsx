// The engine at a glance: its state, the server connection, each workspace's
// runtimes, and the agent CLIs found and not found (with the fix).

import { useEffect, useState } from "preact/hooks";
import { formatRelative } from "../format";
import { inBrowser, invoke, type AppStatus, type Health } from "../shell";
import { store, useStore } from "../store";
import { attempt } from "./common";

/// A runtime the server has not confirmed for this long is shown as late. The
/// server marks runtimes offline after 45 s without a heartbeat.
const LATE_AFTER_MS = 60_000;

/// Redraws every few seconds so "12 s ago" stays true.
function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function RuntimesView() {
  const { status } = useStore();
  const now = useNow();
  if (!status) return <p>Loading…</p>;
  const health = status.health;
  return (
    <section id="runtimes-view">
      <div class="section-head">
        <h1>Runtimes</h1>
        <div class="actions">{!inBrowser() && <PauseButton status={status} />}</div>
      </div>
      <EngineCard status={status} now={now} />
      {health && <Workspaces status={status} health={health} now={now} />}
      {health && <Agents health={health} />}
    </section>
  );
}

function PauseButton(props: { status: AppStatus }) {
  const paused = props.status.paused;
  return (
    <button
      id="pause-button"
      onClick={() =>
        void attempt(async () => {
          await invoke("set_paused", { paused: !paused });
          await store.refreshStatus();
        })
      }
    >
      {paused ? "Resume taking tasks" : "Pause taking new tasks"}
    </button>
  );
}

function EngineCard(props: { status: AppStatus; now: number }) {
  const { status, now } = props;
  const health = status.health;
  const host = status.host;
  let state = host.state as string;
  let reason: string | null = null;
  if (host.state === "retrying") reason = `${host.reason} (retrying in ${host.retry_in_secs} s)`;
  if (host.state === "needs_login") reason = host.reason ?? "Log in to start.";
  if (host.state === "running" && health) {
    state = health.state;
    reason = health.state_reason ?? null;
  }
  return (
    <dl id="engine" class="facts" data-state={state}>
      <dt>Engine</dt>
      <dd>
        <span class="pill" data-state={state}>
          {state}
        </span>
        {status.paused && <span class="pill" data-state="paused">paused</span>}
        {reason && <span class="reason"> {reason}</span>}
      </dd>
      <dt>Server</dt>
      <dd id="server-connection">
        {status.server_url}
        {health && <small> · last answer {formatRelative(health.last_server_contact_unix_ms, now)}</small>}
      </dd>
      {health && (
        <>
          <dt>This computer</dt>
          <dd>
            {health.device_name} · up {health.uptime} · {health.running_tasks} running
          </dd>
        </>
      )}
    </dl>
  );
}

function Workspaces(props: { status: AppStatus; health: Health; now: number }) {
  const { status, health, now } = props;
  const names = new Map(status.workspace_names.map((w) => [w.id, w.name]));
  const versions = new Map(health.agent_clis.map((agent) => [agent.provider, agent.version]));
  if (health.workspaces.length === 0) {
    return (
      <p id="no-workspace">
        No workspace is watched yet. <a href="#/workspaces">Choose the workspaces</a> this computer works for.
      </p>
    );
  }
  return (
    <>
      {health.workspaces.map((workspace) => (
        <div class="workspace" data-workspace-id={workspace.id} key={workspace.id}>
          <h2>{names.get(workspace.id) ?? workspace.id}</h2>
          <table class="grid runtimes">
            <thead>
              <tr>
                <th>Agent</th>
                <th>Version</th>
                <th>Status</th>
                <th>Last heartbeat</th>
                <th>Running</th>
              </tr>
            </thead>
            <tbody>
              {workspace.runtime_details.map((runtime) => {
                const running = health.active_tasks.filter(
                  (task) => task.workspace_id === workspace.id && task.provider === runtime.provider,
                ).length;
                const seen = runtime.last_seen_unix_ms;
                const late = seen === null || now - seen > LATE_AFTER_MS;
                const runtimeState = late ? "late" : "online";
                return (
                  <tr key={runtime.id} data-runtime-id={runtime.id} data-status={runtimeState}>
                    <td>{runtime.provider}</td>
                    <td>{versions.get(runtime.provider) ?? "—"}</td>
                    <td>
                      <span class="pill" data-state={runtimeState}>
                        {late ? "no answer" : "online"}
                      </span>
                    </td>
                    <td>{formatRelative(seen, now)}</td>
                    <td>{running}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}

function Agents(props: { health: Health }) {
  const { health } = props;
  return (
    <>
      <h2>Agents on this computer</h2>
      <ul id="agents" class="rows">
        {health.agent_clis.map((agent) => (
          <li key={agent.provider} data-agent={agent.provider} data-found="yes">
            <b>{agent.provider}</b> {agent.version} <small>{agent.path}</small>
          </li>
        ))}
        {health.agents_missing.map((agent) => (
          <li key={agent.provider} data-agent={agent.provider} data-found="no" class={agent.not_installed ? "missing" : "unusable"}>
            <b>{agent.display_name}</b> {agent.not_installed ? "not installed" : "cannot be used"}
            <div class="fix">
              {agent.reason}.{" "}
              {!inBrowser() && <a href="#/settings">Set its path in Settings → Agents</a>}
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}
