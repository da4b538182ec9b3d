// The window: log in, choose workspaces, watch tasks, change settings. Views are
// picked by the URL hash (#/, #/login, #/workspaces, #/settings, #/task/<id>); the
// tray opens the window at one of them. Everything live arrives as events.

import "./style.css";
import {
  invoke,
  listen,
  message,
  type AgentOverride,
  type AppSettings,
  type AppStatus,
  type EngineEvent,
  type HostStatus,
  type TaskMessage,
  type TaskOutcome,
  type TaskSummary,
  type WorkspaceRow,
} from "./shell";

interface TaskRow {
  id: string;
  provider: string;
  workspaceId: string;
  progress: string;
  outcome: TaskOutcome | null;
  messages: TaskMessage[];
  /// The engine's kept transcript was merged in (once per window).
  historyLoaded?: boolean;
}

const tasks = new Map<string, TaskRow>();
let status: AppStatus | null = null;

const view = document.getElementById("view") as HTMLElement;
const stateBadge = document.getElementById("engine-state") as HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function describe(host: HostStatus, paused: boolean): [string, string] {
  switch (host.state) {
    case "needs_login":
      return ["needs_login", host.reason ? `Log in again: ${host.reason}` : "Not logged in"];
    case "starting":
      return ["starting", "Starting…"];
    case "retrying":
      return ["error", `Error: ${host.reason} (retrying in ${host.retry_in_secs} s)`];
    case "stopped":
      return ["stopped", "Stopped"];
    case "running": {
      const health = status?.health;
      if (!health) return ["starting", "Starting…"];
      if (health.state !== "online") {
        return [health.state, `${health.state}${health.state_reason ? `: ${health.state_reason}` : ""}`];
      }
      if (health.running_tasks > 0) return ["working", `Working on ${health.running_tasks}`];
      return [paused ? "paused" : "idle", paused ? "Paused" : "Idle"];
    }
  }
}

/// What the engine remembers of recent tasks, for a window opened after they began.
async function loadRecentTasks(): Promise<void> {
  const recent = await invoke<TaskSummary[]>("recent_tasks");
  for (const summary of [...recent].reverse()) {
    const known = tasks.get(summary.task_id);
    if (known) {
      known.progress = summary.progress;
      known.outcome = known.outcome ?? summary.outcome;
    } else {
      tasks.set(summary.task_id, {
        id: summary.task_id,
        provider: summary.provider,
        workspaceId: summary.workspace_id,
        progress: summary.progress,
        outcome: summary.outcome,
        messages: [],
      });
    }
  }
}

/// Fills in the part of a transcript that happened before the window saw it.
async function loadTranscript(task: TaskRow): Promise<void> {
  const kept = await invoke<TaskMessage[] | null>("task_transcript", { taskId: task.id, afterSeq: null });
  if (!kept) return;
  const seen = new Set(task.messages.map((m) => m.seq));
  const missing = kept.filter((m) => !seen.has(m.seq));
  if (missing.length > 0) {
    task.messages = [...missing, ...task.messages].sort((a, b) => a.seq - b.seq);
  }
}

async function refreshStatus(): Promise<void> {
  status = await invoke<AppStatus>("app_status");
  const [state, text] = describe(status.host, status.paused);
  stateBadge.dataset.state = state;
  stateBadge.textContent = text;
  for (const task of status.health?.active_tasks ?? []) {
    if (!tasks.has(task.task_id)) {
      tasks.set(task.task_id, {
        id: task.task_id,
        provider: task.provider,
        workspaceId: task.workspace_id,
        progress: "running",
        outcome: null,
        messages: [],
      });
    }
  }
}

// -- views --------------------------------------------------------------------

function loginView(): HTMLElement {
  const server = el("input", { id: "server-url", type: "url", value: status?.server_url ?? "" });
  const token = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "mul_…" });
  const error = el("p", { id: "login-error", class: "error", role: "alert" });
  const button = el("button", { id: "login-button", type: "submit" }, "Log in with the token");
  const browser = el("button", { id: "browser-login", type: "button" }, "Sign in with the browser");
  const form = el(
    "form",
    { id: "login-form" },
    el("h1", {}, "Log in to Multica"),
    el("label", {}, "Server", server),
    el("p", {}, "Sign in on the Multica web page, which then sends this app a token:"),
    browser,
    el("p", {}, "Or paste a personal access token (Multica → Settings → Tokens):"),
    el("label", {}, "Token", token),
    button,
    error,
    el("p", {}, el("small", {}, "The token is kept in this computer's keychain, shared with the multica CLI.")),
  );
  browser.addEventListener("click", async () => {
    browser.disabled = true;
    error.textContent = "";
    const waiting = el("p", { id: "browser-waiting" }, "Waiting for the sign-in in your browser… ");
    const cancel = el("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => invoke("cancel_browser_login"));
    waiting.append(cancel);
    form.append(waiting);
    try {
      const name = await invoke<string>("login_in_browser", { serverUrl: server.value });
      location.hash = "#/workspaces";
      flash(`Logged in as ${name}`);
    } catch (e) {
      error.textContent = message(e);
    } finally {
      waiting.remove();
      browser.disabled = false;
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const name = await invoke<string>("login_with_token", { serverUrl: server.value, token: token.value });
      token.value = "";
      location.hash = "#/workspaces";
      flash(`Logged in as ${name}`);
    } catch (e) {
      error.textContent = message(e);
    } finally {
      button.disabled = false;
    }
  });
  if (status?.importable_token) {
    const importButton = el("button", { id: "import-token", type: "button" }, "Use the token of the multica CLI");
    importButton.addEventListener("click", async () => {
      try {
        const name = await invoke<string>("import_config_token");
        flash(`Logged in as ${name}; the token moved to the keychain`);
        location.hash = "#/workspaces";
      } catch (e) {
        error.textContent = message(e);
      }
    });
    form.append(el("p", {}, "A token saved by the multica CLI was found in its config file."), importButton);
  }
  return form;
}

async function workspacesView(): Promise<HTMLElement> {
  const section = el("section", { id: "workspaces" }, el("h1", {}, "Workspaces"));
  section.append(el("p", {}, "This computer takes tasks from the workspaces you switch on."));
  const list = el("ul", { id: "workspace-list", class: "rows" });
  section.append(list);
  try {
    const rows = await invoke<WorkspaceRow[]>("list_workspaces");
    if (rows.length === 0) list.append(el("li", {}, "No workspace in this account."));
    for (const row of rows) {
      const toggle = el("input", { type: "checkbox", "data-id": row.id, class: "watch" });
      toggle.checked = row.watched;
      toggle.addEventListener("change", async () => {
        try {
          await invoke("set_workspace_watched", { id: row.id, name: row.name, watched: toggle.checked });
          flash(toggle.checked ? `Watching ${row.name}` : `Stopped watching ${row.name}`);
        } catch (e) {
          toggle.checked = !toggle.checked;
          flash(message(e), true);
        }
      });
      list.append(el("li", {}, el("label", {}, toggle, ` ${row.name}`)));
    }
  } catch (e) {
    list.append(el("li", { class: "error" }, message(e)));
  }
  return section;
}

function outcomeText(task: TaskRow): string {
  if (!task.outcome) return task.progress;
  switch (task.outcome.status) {
    case "completed":
      return "completed";
    case "failed":
      return `failed: ${task.outcome.error}`;
    case "cancelled":
      return "cancelled";
  }
}

function overviewView(): HTMLElement {
  const section = el("section", { id: "overview" });
  const health = status?.health;
  if (status?.host.state === "needs_login") {
    section.append(el("p", {}, "Not logged in. "), link("#/login", "Log in"));
    return section;
  }
  const paused = status?.paused ?? false;
  const pause = el("button", { id: "pause-button" }, paused ? "Resume taking tasks" : "Pause taking new tasks");
  pause.addEventListener("click", async () => {
    await invoke("set_paused", { paused: !paused });
    await render();
  });
  section.append(el("h1", {}, "Overview"), pause);
  if (health) {
    const agents = el("ul", { id: "agents", class: "rows" });
    for (const agent of health.agent_clis) {
      agents.append(el("li", {}, `${agent.provider} ${agent.version}`, el("small", {}, ` ${agent.path}`)));
    }
    section.append(el("h2", {}, "Agents on this computer"), agents);
    const runtimes = el("ul", { id: "runtimes", class: "rows" });
    for (const workspace of health.workspaces) {
      runtimes.append(
        el("li", { "data-workspace-id": workspace.id }, `${workspace.id}: ${workspace.runtimes.length} runtime(s)`),
      );
    }
    if (health.workspaces.length === 0) runtimes.append(el("li", {}, "No workspace watched yet. "), link("#/workspaces", "Choose"));
    section.append(el("h2", {}, "Runtimes"), runtimes);
  }
  const list = el("ul", { id: "tasks", class: "rows" });
  const ordered = [...tasks.values()].reverse();
  if (ordered.length === 0) list.append(el("li", {}, "No task yet."));
  for (const task of ordered) {
    const state = task.outcome ? task.outcome.status : "running";
    const row = el(
      "li",
      { "data-task-id": task.id, "data-status": state },
      link(`#/task/${task.id}`, `Task ${task.id.slice(0, 8)}`),
      ` ${task.provider} — `,
      el("span", { class: "outcome" }, outcomeText(task)),
    );
    if (!task.outcome) {
      const stop = el("button", { class: "stop" }, "Stop");
      stop.addEventListener("click", () => invoke("cancel_task", { taskId: task.id }));
      row.append(" ", stop);
    }
    list.append(row);
  }
  section.append(el("h2", {}, "Tasks"), list);
  return section;
}

function taskView(id: string): HTMLElement {
  const task = tasks.get(id);
  const section = el("section", { id: "task", "data-task-id": id }, el("h1", {}, `Task ${id.slice(0, 8)}`));
  if (!task) {
    section.append(el("p", {}, "This task is no longer among the recent ones; its transcript is on the issue."));
    return section;
  }
  section.append(el("p", { class: "outcome" }, outcomeText(task)));
  const log = el("ol", { id: "transcript" });
  for (const entry of task.messages) {
    const text = entry.content || entry.output || (entry.tool ? `${entry.tool}` : "");
    log.append(el("li", { "data-kind": entry.type }, el("b", {}, entry.type), " ", text));
  }
  section.append(log);
  return section;
}

async function settingsView(): Promise<HTMLElement> {
  const settings = await invoke<AppSettings>("get_settings");
  const number = (id: string, value: number | null) =>
    el("input", { id, type: "number", min: "1", value: value === null ? "" : String(value) });
  const maxTasks = number("max-tasks", settings.max_concurrent_tasks);
  const keepDays = number("keep-days", settings.keep_task_dirs_days);
  const root = el("input", { id: "workspaces-root", type: "text", value: settings.workspaces_root ?? "" });
  const login = el("input", { id: "start-at-login", type: "checkbox" });
  login.checked = settings.start_at_login;
  const notify = el("input", { id: "notify", type: "checkbox" });
  notify.checked = settings.notify_on_task_end;
  const level = el("select", { id: "log-level" });
  for (const name of ["error", "warn", "info", "debug", "trace"]) {
    const option = el("option", { value: name }, name);
    option.selected = (settings.log_level ?? "info") === name;
    level.append(option);
  }
  const error = el("p", { class: "error", role: "alert" });
  const form = el(
    "form",
    { id: "settings-form" },
    el("h1", {}, "Settings"),
    el("label", {}, "Tasks at once", maxTasks),
    el("label", {}, "Keep finished task folders (days)", keepDays),
    el("label", {}, "Task folders", root),
    el("label", { class: "check" }, login, " Start at login (in the tray)"),
    el("label", { class: "check" }, notify, " Notify when a task ends"),
    el("label", {}, "Log level", level),
    el("button", { type: "submit" }, "Save"),
    error,
  );
  const optional = (input: HTMLInputElement) => (input.value.trim() === "" ? null : Number(input.value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const next: AppSettings = {
      max_concurrent_tasks: optional(maxTasks),
      keep_task_dirs_days: optional(keepDays),
      workspaces_root: root.value.trim() === "" ? null : root.value.trim(),
      start_at_login: login.checked,
      notify_on_task_end: notify.checked,
      log_level: level.value,
    };
    try {
      await invoke("save_settings", { settings: next });
      flash("Saved. Engine settings apply once no task runs.");
    } catch (e) {
      error.textContent = message(e);
    }
  });
  const tools = el("p", { class: "tools" });
  for (const [text, command] of [
    ["Copy diagnostics", "copy_diagnostics"],
    ["Open logs folder", "open_logs_folder"],
    ["Check for updates", "check_for_updates"],
  ] as const) {
    const button = el("button", { type: "button" }, text);
    button.addEventListener("click", () => invoke(command));
    tools.append(button, " ");
  }
  const logout = el("button", { id: "logout", type: "button" }, "Log out");
  logout.addEventListener("click", async () => {
    await invoke("logout", { stopTasks: false });
    location.hash = "#/login";
  });
  tools.append(logout);
  form.append(tools, el("p", { class: "version" }, `Multica ${status?.version ?? ""} · ${status?.server_url ?? ""}`));
  const page = el("div", {}, form, await agentsForm());
  return page;
}

/// Per agent CLI: on or off, its path, its model, its own task limit.
async function agentsForm(): Promise<HTMLElement> {
  const agents = await invoke<AgentOverride[]>("get_agents");
  const table = el("table", { id: "agents-table" });
  table.append(el("tr", {}, el("th", {}, "Agent"), el("th", {}, "On"), el("th", {}, "Path"), el("th", {}, "Model"), el("th", {}, "Tasks at once")));
  const rows = agents.map((agent) => {
    const on = el("input", { type: "checkbox", "data-agent": agent.id, class: "agent-on" });
    on.checked = agent.enabled;
    const path = el("input", { type: "text", value: agent.path ?? "", placeholder: "found on PATH" });
    const model = el("input", { type: "text", value: agent.model ?? "", placeholder: "the CLI's default" });
    const max = el("input", { type: "number", min: "1", value: agent.max_concurrent_tasks === null ? "" : String(agent.max_concurrent_tasks) });
    table.append(el("tr", {}, el("td", {}, agent.display_name), el("td", {}, on), el("td", {}, path), el("td", {}, model), el("td", {}, max)));
    return { agent, on, path, model, max };
  });
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { id: "agents-form" }, el("h2", {}, "Agents"), table, el("button", { type: "submit" }, "Save agents"), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const next: AgentOverride[] = rows.map(({ agent, on, path, model, max }) => ({
      ...agent,
      enabled: on.checked,
      path: path.value.trim() || null,
      model: model.value.trim() || null,
      max_concurrent_tasks: max.value.trim() === "" ? null : Number(max.value),
    }));
    try {
      await invoke("save_agents", { agents: next });
      flash("Saved. The engine uses them once no task runs.");
    } catch (e) {
      error.textContent = message(e);
    }
  });
  return form;
}

function link(href: string, text: string): HTMLAnchorElement {
  return el("a", { href }, text);
}

function flash(text: string, isError = false): void {
  const note = el("div", { class: isError ? "flash error" : "flash", role: "status" }, text);
  document.body.append(note);
  setTimeout(() => note.remove(), 4000);
}

// -- routing and events ---------------------------------------------------------

let rendering = Promise.resolve();

async function renderNow(): Promise<void> {
  await refreshStatus();
  const route = location.hash.replace(/^#\/?/, "");
  let next: HTMLElement;
  if (status?.host.state === "needs_login" && route !== "settings") next = loginView();
  else if (route === "login") next = loginView();
  else if (route === "workspaces") next = await workspacesView();
  else if (route === "settings") next = await settingsView();
  else if (route.startsWith("task/")) {
    const id = route.slice("task/".length);
    await loadRecentTasks();
    const task = tasks.get(id);
    if (task && !task.historyLoaded) {
      await loadTranscript(task);
      task.historyLoaded = true;
    }
    next = taskView(id);
  } else {
    await loadRecentTasks();
    next = overviewView();
  }
  view.replaceChildren(next);
}

function render(): Promise<void> {
  rendering = rendering.then(renderNow).catch((e) => {
    view.replaceChildren(el("p", { class: "error" }, message(e)));
  });
  return rendering;
}

function onEngineEvent(event: EngineEvent): void {
  const route = location.hash.replace(/^#\/?/, "");
  switch (event.type) {
    case "task_claimed": {
      const claimed = event as Extract<EngineEvent, { type: "task_claimed" }>;
      tasks.set(claimed.task_id, {
        id: claimed.task_id,
        provider: claimed.provider,
        workspaceId: claimed.workspace_id,
        progress: "claimed",
        outcome: null,
        messages: [],
      });
      break;
    }
    case "task_progress": {
      const progress = event as Extract<EngineEvent, { type: "task_progress" }>;
      const task = tasks.get(progress.task_id);
      if (task) task.progress = progress.summary;
      break;
    }
    case "task_messages": {
      const batch = event as Extract<EngineEvent, { type: "task_messages" }>;
      tasks.get(batch.task_id)?.messages.push(...batch.messages);
      if (route !== `task/${batch.task_id}`) return;
      break;
    }
    case "task_finished": {
      const finished = event as Extract<EngineEvent, { type: "task_finished" }>;
      const task = tasks.get(finished.task_id);
      if (task) task.outcome = finished.outcome;
      break;
    }
    case "workspace_registered":
    case "workspace_dropped":
    case "state_changed":
    case "paused_changed":
      break;
    default:
      return;
  }
  // Settings and login forms are not redrawn under the user's hands.
  if (route === "settings" || route === "login" || route === "workspaces") return;
  void render();
}

window.addEventListener("hashchange", () => void render());
void listen<EngineEvent>("engine-event", onEngineEvent);
// A status change redraws the overview; other views only when logging in or out
// changes what they can show (a form is not redrawn under the user's hands).
let loggedIn: boolean | null = null;
void listen<HostStatus>("host-status", (host) => {
  const now = host.state !== "needs_login";
  const route = location.hash.replace(/^#\/?/, "");
  if (now !== loggedIn || route === "" || route.startsWith("task/")) void render();
  loggedIn = now;
});
void listen<string>("navigate", (route) => {
  location.hash = `#/${route}`;
});
void render();
