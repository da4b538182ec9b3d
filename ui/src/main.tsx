// The window: runtimes, tasks and their live transcripts, usage, the log, settings,
// login and workspaces. Views are picked by the URL hash (#/, #/tasks,
// #/task/<id>, #/usage, #/logs, #/settings, #/workspaces, #/login); the tray opens
// the window at one of them. Everything live arrives as events from the core.

import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { readableError } from "./format";
import { type AppStatus, type HostStatus, controlToken, inBrowser, invoke, setControlToken } from "./shell";
import { connect, store, useStore } from "./store";
import { applyTheme } from "./theme";
import { LoginView, WorkspacesView } from "./views/account";
import { flash } from "./views/common";
import { LogsView } from "./views/logs";
import { RuntimesView } from "./views/runtimes";
import { SettingsView } from "./views/settings";
import { TaskView } from "./views/task";
import { TasksView } from "./views/tasks";
import { UsageView } from "./views/usage";

function currentRoute(): string {
  return location.hash.replace(/^#\/?/, "");
}

function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

/// The badge in the header: one word and the reason, like the tray's first line.
export function describe(status: AppStatus | null): [state: string, text: string] {
  if (!status) return ["starting", "…"];
  const host: HostStatus = status.host;
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
      const health = status.health;
      if (!health) return ["starting", "Starting…"];
      if (health.state !== "online") {
        return [health.state, `${health.state}${health.state_reason ? `: ${health.state_reason}` : ""}`];
      }
      if (health.running_tasks > 0) return ["working", `Working on ${health.running_tasks}`];
      return status.paused ? ["paused", "Paused"] : ["idle", "Idle"];
    }
  }
}

type NavEntry = [href: string, text: string, routes: (route: string) => boolean];
const READING: NavEntry[] = [
  ["#/", "Runtimes", (r) => r === ""],
  ["#/tasks", "Tasks", (r) => r === "tasks" || r.startsWith("task/")],
  ["#/usage", "Usage", (r) => r === "usage"],
];
/// Only in the app: the log is the app's, and the rest changes things.
const IN_THE_APP: NavEntry[] = [
  ["#/logs", "Log", (r) => r === "logs"],
  ["#/workspaces", "Workspaces", (r) => r === "workspaces"],
  ["#/settings", "Settings", (r) => r === "settings"],
];
const NAV = inBrowser() ? READING : [...READING, ...IN_THE_APP];

/// In a browser: read-only, and transcripts and live updates need the control token.
function BrowserBanner() {
  const [token, setToken] = useState("");
  const unlocked = controlToken() !== null;
  return (
    <div id="browser-banner" class="banner">
      Read-only view of the daemon on this machine.{" "}
      {unlocked ? (
        <button type="button" onClick={() => (setControlToken(null), location.reload())}>
          Forget the control token
        </button>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            setControlToken(token);
            location.reload();
          }}
        >
          Paste the control token (<code>~/.multica/daemon.control</code>) to read transcripts and follow live:{" "}
          <input id="control-token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />{" "}
          <button type="submit">Use</button>
        </form>
      )}
    </div>
  );
}

function App() {
  const route = useRoute();
  const { status } = useStore();
  const [state, text] = describe(status);
  const needsLogin = status?.host.state === "needs_login";
  let view;
  if (!status) view = <p>Starting…</p>;
  else if (inBrowser() && !NAV.some(([, , active]) => active(route))) view = <RuntimesView />;
  else if ((needsLogin && route !== "settings" && route !== "logs") || route === "login") view = <LoginView />;
  else if (route === "workspaces") view = <WorkspacesView />;
  else if (route === "settings") view = <SettingsView />;
  else if (route === "logs") view = <LogsView />;
  else if (route === "usage") view = <UsageView />;
  else if (route === "tasks") view = <TasksView />;
  else if (route.startsWith("task/")) view = <TaskView id={decodeURIComponent(route.slice("task/".length))} />;
  else view = <RuntimesView />;
  return (
    <>
      <header id="top">
        <span class="brand">Multica</span>
        <nav>
          {NAV.map(([href, label, active]) => (
            <a href={href} class={active(route) ? "active" : ""} aria-current={active(route) ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span id="engine-state" class="state" data-state={state} title={text}>
          {text}
        </span>
      </header>
      {inBrowser() && <BrowserBanner />}
      <main id="view">{view}</main>
    </>
  );
}

// Links in transcripts open in the system browser (checked again by the core),
// never inside the window.
document.addEventListener("click", (event) => {
  const link = (event.target as Element | null)?.closest?.("a[data-href]");
  if (!link) return;
  event.preventDefault();
  const url = link.getAttribute("data-href");
  if (url) void invoke("open_link", { url }).catch((error: unknown) => flash(readableError(error), true));
});

applyTheme();
connect(
  () => void store.refreshTasks(),
  (route) => {
    location.hash = `#/${route}`;
  },
);
const root = document.getElementById("app");
if (root) render(<App />, root);
store.refreshStatus().catch((error: unknown) => {
  root?.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: readableError(error) }));
});
void store.refreshTasks().catch(() => undefined);
