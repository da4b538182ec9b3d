// The app's IPC commands and events, typed. The window reaches the Rust core only
// through these; it never sees a token. A failed command rejects with an IpcError
// (`code` and `message`, see errors.ts).

import { IpcError, fromRejection } from "./errors";

export type HostStatus =
  | { state: "needs_login"; reason: string | null }
  | { state: "starting" }
  | { state: "running" }
  | { state: "retrying"; reason: string; retry_in_secs: number }
  | { state: "stopped" };

export interface ActiveTask {
  task_id: string;
  issue_id: string;
  workspace_id: string;
  provider: string;
  started_at_unix: number;
}

export interface HealthRuntime {
  id: string;
  provider: string;
  /// When the server last confirmed it (registration, heartbeat); null: not yet.
  last_seen_unix_ms: number | null;
}

export interface MissingAgent {
  provider: string;
  display_name: string;
  not_installed: boolean;
  /// Why, with the fix.
  reason: string;
}

export interface Health {
  state: string;
  state_reason?: string | null;
  agents: string[];
  agent_clis: { provider: string; version: string; path: string }[];
  agents_missing: MissingAgent[];
  last_server_contact_unix_ms: number | null;
  workspaces: { id: string; runtimes: string[]; runtime_details: HealthRuntime[] }[];
  running_tasks: number;
  active_tasks: ActiveTask[];
  paused: boolean;
  device_name: string;
  server_url: string;
  cli_version: string;
  uptime: string;
}

export interface AppStatus {
  version: string;
  server_url: string;
  profile: string | null;
  host: HostStatus;
  health: Health | null;
  importable_token: boolean;
  paused: boolean;
  workspace_names: { id: string; name: string }[];
}

export interface WorkspaceRow {
  id: string;
  name: string;
  watched: boolean;
}

export interface AppSettings {
  max_concurrent_tasks: number | null;
  workspaces_root: string | null;
  keep_task_dirs_days: number | null;
  start_at_login: boolean;
  notify_on_task_end: boolean;
  log_level: string | null;
}

export interface AgentOverride {
  id: string;
  display_name: string;
  path: string | null;
  model: string | null;
  max_concurrent_tasks: number | null;
  enabled: boolean;
}

export interface TaskSummary {
  task_id: string;
  issue_id: string;
  workspace_id: string;
  runtime_id: string;
  provider: string;
  started_at_unix_ms: number;
  finished_at_unix_ms: number | null;
  progress: string;
  outcome: TaskOutcome | null;
  total_tokens: number | null;
  cost_usd: number | null;
  messages: number;
  messages_dropped: number;
  work_dir: string | null;
}

export type TaskOutcome =
  | { status: "completed"; session_id: string | null }
  | { status: "failed"; error: string }
  | { status: "cancelled" };

export type TaskMessageKind = "text" | "thinking" | "tool_use" | "tool_result" | "error" | "unknown";

export interface TaskMessage {
  seq: number;
  type: TaskMessageKind | string;
  tool?: string | null;
  content?: string | null;
  input?: Record<string, unknown> | null;
  output?: string | null;
}

/// Token counts as the usage scanner adds them up.
export interface Totals {
  input: number;
  output: number;
  cache_creation: number;
  cache_creation_1h: number;
  cache_read: number;
  reasoning: number;
  total: number;
  long_context: number;
  requests: number;
  /// USD; null when no model of it has a price.
  cost: number | null;
  unpriced_models?: string[];
}

/// One model's tokens on one day (machine-wide, from the agents' own logs).
export interface DailyModelRow extends Totals {
  date: string;
  provider: string;
  model: string;
}

export interface ModelRow extends Totals {
  provider: string;
  model: string;
  first_date: string;
  last_date: string;
}

export interface TaskModelUsage {
  model: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: number | null;
  cost_from: "agent" | "prices" | "unknown";
}

/// One run of a task by this machine's engine.
export interface TaskUsage {
  task_id: string;
  issue_id: string;
  workspace_id: string;
  runtime_id: string;
  agent: string;
  finished_at: string;
  date: string;
  outcome: string;
  models: TaskModelUsage[];
}

export interface UsageReport {
  since: string;
  scanned_at: string | null;
  scan_error: string | null;
  machine: {
    total: Totals;
    daily: DailyModelRow[];
    top_models: ModelRow[];
    prices_taken_on: string;
    log_files: number;
  } | null;
  tasks: TaskUsage[];
  task_total: {
    tasks: number;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens: number;
    cache_write_tokens: number;
    total_tokens: number;
    cost_usd: number | null;
    unpriced_models?: string[];
  };
}

export interface LogLine {
  time: string;
  level: "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE" | string;
  text: string;
}

export type EngineEvent =
  | { type: "task_claimed"; task_id: string; issue_id: string; workspace_id: string; runtime_id: string; provider: string }
  | { type: "task_progress"; task_id: string; summary: string; step: number; total: number }
  | { type: "task_messages"; task_id: string; messages: TaskMessage[] }
  | { type: "task_finished"; task_id: string; outcome: TaskOutcome }
  | { type: string; [key: string]: unknown };

interface TauriGlobal {
  core: { invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(event: string, handler: (event: { payload: T }) => void): Promise<() => void> };
}

function tauri(): TauriGlobal | undefined {
  return (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;
}

/// Served by the daemon's local API to a browser (a headless machine), not inside
/// the app: read-only, over HTTP.
export function inBrowser(): boolean {
  return tauri() === undefined;
}

export function invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const app = tauri();
  if (!app) return browserInvoke<T>(command, args ?? {});
  return app.core.invoke<T>(command, args).catch((reason: unknown) => {
    throw fromRejection(reason);
  });
}

export function listen<T>(event: string, handler: (payload: T) => void): Promise<() => void> {
  const app = tauri();
  if (app) return app.event.listen<T>(event, (e) => handler(e.payload));
  if (event === "engine-event") return Promise.resolve(followEvents(handler as (payload: unknown) => void));
  return Promise.resolve(() => undefined);
}

// -- in a browser: the local API ----------------------------------------------------

const TOKEN_KEY = "multica.control-token";

/// The control token (`~/.multica/daemon.control`) the user pasted: it unlocks
/// transcripts and live events. Kept for this tab only.
export function controlToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setControlToken(token: string | null): void {
  if (token && token.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

export const READ_ONLY = "Read-only in a browser: do this in the Multica app or with the multica CLI.";
const NEEDS_TOKEN =
  "Paste the control token (the file ~/.multica/daemon.control on the daemon's machine) to read transcripts and follow live.";

function authorization(): Record<string, string> {
  const token = controlToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: authorization() });
  if (response.status === 401) throw new Error(NEEDS_TOKEN);
  if (!response.ok) throw new Error((await response.text()).trim() || `${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/// The app's commands a browser can have: reading only.
export async function browserInvoke<T>(command: string, args: Record<string, unknown>): Promise<T> {
  switch (command) {
    case "app_status": {
      const health = await api<Health>("/health");
      const status: AppStatus = {
        version: health.cli_version,
        server_url: health.server_url,
        profile: null,
        host: { state: "running" },
        health,
        importable_token: false,
        paused: health.paused,
        workspace_names: [],
      };
      return status as T;
    }
    case "recent_tasks":
      return api<T>("/tasks");
    case "task_transcript": {
      const after = typeof args.afterSeq === "number" ? `?after=${args.afterSeq}` : "";
      return api<T>(`/tasks/${encodeURIComponent(String(args.taskId))}/transcript${after}`);
    }
    case "usage":
      return api<T>(args.since ? `/usage?since=${encodeURIComponent(String(args.since))}` : "/usage");
    case "copy_text":
      await navigator.clipboard.writeText(String(args.text ?? ""));
      return undefined as T;
    default:
      throw new IpcError("not_allowed", READ_ONLY);
  }
}

/// Splits server-sent events out of what arrived so far: the `data` of each
/// complete event, and the incomplete rest to keep for the next chunk.
export function parseSse(buffer: string): { data: string[]; rest: string } {
  const data: string[] = [];
  const normalized = buffer.replace(/\r\n/g, "\n");
  let start = 0;
  for (let end = normalized.indexOf("\n\n"); end !== -1; end = normalized.indexOf("\n\n", start)) {
    const lines = normalized
      .slice(start, end)
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    if (lines.length > 0) data.push(lines.join("\n"));
    start = end + 2;
  }
  return { data, rest: normalized.slice(start) };
}

/// Follows `GET /events` (with the control token; EventSource cannot send one),
/// reconnecting with back-off. Without a token there is nothing to follow.
function followEvents(handler: (payload: unknown) => void): () => void {
  let stopped = false;
  const controller = new AbortController();
  void (async () => {
    let delay = 1000;
    while (!stopped && controlToken()) {
      try {
        const response = await fetch("/events", { headers: authorization(), signal: controller.signal });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        delay = 1000;
        // Whatever was missed while away: reload what is shown.
        handler({ type: "lagged", missed: 0 });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const parsed = parseSse(buffer + value);
          buffer = parsed.rest;
          for (const data of parsed.data) {
            try {
              handler(JSON.parse(data));
            } catch {
              // Not JSON: not an event of ours.
            }
          }
        }
      } catch {
        // Reconnect below.
      }
      if (stopped) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}
