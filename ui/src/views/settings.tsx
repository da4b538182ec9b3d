// The app's settings, per-agent settings, and the tools people reach for when
// something is wrong (diagnostics, logs, updates, log out).

import { useState } from "preact/hooks";
import { settingsProblem } from "../errors";
import { invoke, type AgentOverride, type AppSettings } from "../shell";
import { useStore } from "../store";
import { type Theme, currentTheme, setTheme } from "../theme";
import { Section, attempt, flash, useLoad } from "./common";

const optionalNumber = (text: string): number | null => (text.trim() === "" ? null : Number(text));
const numberText = (value: number | null): string => (value === null ? "" : String(value));

export function SettingsView() {
  const { status } = useStore();
  const loaded = useLoad(() => invoke<AppSettings>("get_settings"), []);
  return (
    <div>
      {loaded.state === "loading" && <p>Loading…</p>}
      {loaded.state === "failed" && <p class="error">{loaded.error}</p>}
      {loaded.state === "ready" && <SettingsForm initial={loaded.value} />}
      <AgentsForm />
      <p class="version">
        Multica {status?.version ?? ""} · {status?.server_url ?? ""}
      </p>
    </div>
  );
}

function SettingsForm(props: { initial: AppSettings }) {
  const [settings, setSettings] = useState(props.initial);
  const [maxTasks, setMaxTasks] = useState(numberText(props.initial.max_concurrent_tasks));
  const [keepDays, setKeepDays] = useState(numberText(props.initial.keep_task_dirs_days));
  const [error, setError] = useState("");
  const [theme, setThemeState] = useState<Theme>(currentTheme());
  const save = async () => {
    setError("");
    const next: AppSettings = {
      ...settings,
      max_concurrent_tasks: optionalNumber(maxTasks),
      keep_task_dirs_days: optionalNumber(keepDays),
      workspaces_root: settings.workspaces_root?.trim() || null,
    };
    try {
      await invoke("save_settings", { settings: next });
      flash("Saved. Engine settings apply once no task runs.");
    } catch (e) {
      setError(settingsProblem(e));
    }
  };
  return (
    <Section id="settings" title="Settings">
      <form
        id="settings-form"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <label>
          Tasks at once
          <input id="max-tasks" type="number" min="1" value={maxTasks} onInput={(e) => setMaxTasks(e.currentTarget.value)} />
        </label>
        <label>
          Keep finished task folders (days)
          <input id="keep-days" type="number" min="1" value={keepDays} onInput={(e) => setKeepDays(e.currentTarget.value)} />
        </label>
        <label>
          Task folders
          <input
            id="workspaces-root"
            type="text"
            value={settings.workspaces_root ?? ""}
            onInput={(e) => setSettings({ ...settings, workspaces_root: e.currentTarget.value })}
          />
        </label>
        <label class="check">
          <input
            id="start-at-login"
            type="checkbox"
            checked={settings.start_at_login}
            onChange={(e) => setSettings({ ...settings, start_at_login: e.currentTarget.checked })}
          />{" "}
          Start at login (in the tray)
        </label>
        <label class="check">
          <input
            id="notify"
            type="checkbox"
            checked={settings.notify_on_task_end}
            onChange={(e) => setSettings({ ...settings, notify_on_task_end: e.currentTarget.checked })}
          />{" "}
          Notify when a task ends
        </label>
        <label>
          Log level
          <select
            id="log-level"
            value={settings.log_level ?? "info"}
            onChange={(e) => setSettings({ ...settings, log_level: e.currentTarget.value })}
          >
            {["error", "warn", "info", "debug", "trace"].map((name) => (
              <option value={name}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Appearance
          <select
            id="theme"
            value={theme}
            onChange={(e) => {
              const next = e.currentTarget.value as Theme;
              setTheme(next);
              setThemeState(next);
            }}
          >
            <option value="system">As the system</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <button type="submit">Save</button>
        <p class="error" role="alert">
          {error}
        </p>
      </form>
      <p class="tools">
        <button type="button" onClick={() => void attempt(() => invoke("copy_diagnostics").then(() => flash("Diagnostics copied")))}>
          Copy diagnostics
        </button>{" "}
        <button type="button" onClick={() => void attempt(() => invoke("open_logs_folder"))}>
          Open logs folder
        </button>{" "}
        <button type="button" onClick={() => void invoke("check_for_updates")}>
          Check for updates
        </button>{" "}
        <button
          id="logout"
          type="button"
          onClick={() =>
            void attempt(async () => {
              await invoke("logout", { stopTasks: false });
              location.hash = "#/login";
            })
          }
        >
          Log out
        </button>
      </p>
    </Section>
  );
}

/// Per agent CLI: on or off, its path, its model, its own task limit.
function AgentsForm() {
  const loaded = useLoad(() => invoke<AgentOverride[]>("get_agents"), []);
  if (loaded.state === "loading") return <p>Loading agents…</p>;
  if (loaded.state === "failed") return <p class="error">{loaded.error}</p>;
  return <AgentsTable initial={loaded.value} />;
}

function AgentsTable(props: { initial: AgentOverride[] }) {
  const [agents, setAgents] = useState(props.initial);
  const [error, setError] = useState("");
  const update = (index: number, change: Partial<AgentOverride>) =>
    setAgents(agents.map((agent, i) => (i === index ? { ...agent, ...change } : agent)));
  return (
    <form
      id="agents-form"
      onSubmit={async (event) => {
        event.preventDefault();
        setError("");
        try {
          await invoke("save_agents", { agents });
          flash("Saved. The engine uses them once no task runs.");
        } catch (e) {
          setError(settingsProblem(e));
        }
      }}
    >
      <h2 id="agents-settings">Agents</h2>
      <table id="agents-table">
        <thead>
          <tr>
            <th>Agent</th>
            <th>On</th>
            <th>Path</th>
            <th>Model</th>
            <th>Tasks at once</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((agent, index) => (
            <tr key={agent.id}>
              <td>{agent.display_name}</td>
              <td>
                <input
                  type="checkbox"
                  class="agent-on"
                  data-agent={agent.id}
                  checked={agent.enabled}
                  onChange={(e) => update(index, { enabled: e.currentTarget.checked })}
                />
              </td>
              <td>
                <input
                  type="text"
                  class="agent-path"
                  data-agent={agent.id}
                  placeholder="found on PATH"
                  value={agent.path ?? ""}
                  onInput={(e) => update(index, { path: e.currentTarget.value.trim() || null })}
                />
              </td>
              <td>
                <input
                  type="text"
                  placeholder="the CLI's default"
                  value={agent.model ?? ""}
                  onInput={(e) => update(index, { model: e.currentTarget.value.trim() || null })}
                />
              </td>
              <td>
                <input
                  type="number"
                  min="1"
                  value={numberText(agent.max_concurrent_tasks)}
                  onInput={(e) => update(index, { max_concurrent_tasks: optionalNumber(e.currentTarget.value) })}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="submit">Save agents</button>
      <p class="error" role="alert">
        {error}
      </p>
    </form>
  );
}
