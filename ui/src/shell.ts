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

