// The app's IPC commands and events, typed. The window reaches the Rust core only
// through these; it never sees a token.

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

export interface Health {
  state: string;
  state_reason: string | null;
  agents: string[];
  agent_clis: { provider: string; version: string; path: string }[];
  workspaces: { id: string; runtimes: string[] }[];
  running_tasks: number;
  active_tasks: ActiveTask[];
  paused: boolean;
  device_name: string;
}

export interface AppStatus {
  version: string;
  server_url: string;
  profile: string | null;
  host: HostStatus;
  health: Health | null;
  importable_token: boolean;
  paused: boolean;
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
}

export type TaskOutcome =
  | { status: "completed"; session_id: string | null }
  | { status: "failed"; error: string }
  | { status: "cancelled" };

export interface TaskMessage {
  seq: number;
  type: string;
  tool?: string | null;
  content?: string | null;
  input?: unknown;
  output?: string | null;
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

function tauri(): TauriGlobal {
  const global = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;
  if (!global) throw new Error("not running inside the Multica app");
  return global;
}

export function invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  return tauri().core.invoke<T>(command, args);
}

export function listen<T>(event: string, handler: (payload: T) => void): Promise<() => void> {
  return tauri().event.listen<T>(event, (e) => handler(e.payload));
}

/// Errors from commands arrive as strings; anything else becomes one.
export function message(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message;
  return JSON.stringify(error);
}
