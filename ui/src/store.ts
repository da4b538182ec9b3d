// What the window knows: the app's status, recent tasks and their transcripts. It
// is fed by the Rust core's events (no polling) and by a few commands when a view
// opens; views subscribe and redraw at most every 16 ms, however fast events
// arrive.

import { useEffect, useState } from "preact/hooks";
import { invoke, listen, type AppStatus, type EngineEvent, type HostStatus, type TaskMessage, type TaskOutcome, type TaskSummary } from "./shell";
import { TranscriptBuffer } from "./transcript";

/// Transcripts kept in the window at once (the newest tasks' ones).
const KEPT_TRANSCRIPTS = 20;

class Store {
  status: AppStatus | null = null;
  /// Newest first.
  tasks: TaskSummary[] = [];
  transcripts = new Map<string, TranscriptBuffer>();
  /// Bumped when the machine's usage figures changed (the usage view reloads).
  usageVersion = 0;
  /// Bumped on every change; views compare it.
  version = 0;
  private listeners = new Set<() => void>();
  private pending: ReturnType<typeof setTimeout> | undefined;
  private loadingTasks: Promise<void> | null = null;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /// Tells subscribers at most once per frame's worth of time. A timer, not
  /// requestAnimationFrame: a hidden or covered window gets no frames, and its state
  /// must still be current when it shows again.
  changed(): void {
    this.version++;
    if (this.pending !== undefined) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      for (const listener of this.listeners) listener();
    }, 16);
  }

  async refreshStatus(): Promise<void> {
    this.status = await invoke<AppStatus>("app_status");
    this.changed();
  }

  /// The engine's recent tasks; concurrent calls share one request.
  refreshTasks(): Promise<void> {
    this.loadingTasks ??= invoke<TaskSummary[]>("recent_tasks")
      .then((tasks) => {
        this.tasks = tasks;
        this.changed();
      })
      .finally(() => {
        this.loadingTasks = null;
      });
    return this.loadingTasks;
  }

  task(id: string): TaskSummary | undefined {
    return this.tasks.find((task) => task.task_id === id);
  }

  transcript(id: string): TranscriptBuffer {
    let buffer = this.transcripts.get(id);
    if (!buffer) {
      buffer = new TranscriptBuffer();
      this.transcripts.set(id, buffer);
      // Maps keep insertion order: the first keys are the oldest.
      while (this.transcripts.size > KEPT_TRANSCRIPTS) {
        const oldest = this.transcripts.keys().next().value;
        if (oldest === undefined) break;
        this.transcripts.delete(oldest);
      }
    }
    return buffer;
  }

  /// Fills in what the engine kept of a transcript before the window saw it.
  async loadTranscript(id: string): Promise<void> {
    const kept = await invoke<TaskMessage[] | null>("task_transcript", { taskId: id, afterSeq: null });
    if (kept && kept.length > 0) {
      this.transcript(id).add(kept);
      this.changed();
    }
  }

  onEngineEvent(event: EngineEvent): void {
    switch (event.type) {
      case "task_claimed": {
        const claimed = event as Extract<EngineEvent, { type: "task_claimed" }>;
        this.tasks = [
          {
            task_id: claimed.task_id,
            issue_id: claimed.issue_id,
            workspace_id: claimed.workspace_id,
            runtime_id: claimed.runtime_id,
            provider: claimed.provider,
            started_at_unix_ms: Date.now(),
            finished_at_unix_ms: null,
            progress: "claimed",
            outcome: null,
            total_tokens: null,
            cost_usd: null,
            messages: 0,
            messages_dropped: 0,
            work_dir: null,
          },
          ...this.tasks.filter((task) => task.task_id !== claimed.task_id),
        ];
        void this.refreshStatus();
        break;
      }
      case "task_progress": {
        const progress = event as Extract<EngineEvent, { type: "task_progress" }>;
        const task = this.task(progress.task_id);
        if (task) task.progress = progress.summary;
        break;
      }
      case "task_messages": {
        const batch = event as Extract<EngineEvent, { type: "task_messages" }>;
        this.transcript(batch.task_id).add(batch.messages);
        const task = this.task(batch.task_id);
        if (task) task.messages += batch.messages.length;
        break;
      }
      case "task_finished": {
        const finished = event as Extract<EngineEvent, { type: "task_finished" }>;
        const task = this.task(finished.task_id);
        if (task) {
          task.outcome = finished.outcome as TaskOutcome;
          task.finished_at_unix_ms = Date.now();
        }
        void this.refreshTasks();
        void this.refreshStatus();
        break;
      }
      case "task_work_dir":
      case "task_usage":
        void this.refreshTasks();
        return;
      case "usage_updated":
        this.usageVersion++;
        break;
      // The stream fell behind or (in a browser) reconnected: reload what is shown.
      case "lagged":
        void this.refreshTasks();
        void this.refreshStatus();
        this.usageVersion++;
        break;
      case "workspace_registered":
      case "workspace_dropped":
      case "workspace_registration_failed":
      case "state_changed":
      case "paused_changed":
      case "agents_changed":
        void this.refreshStatus();
        return;
      default:
        return;
    }
    this.changed();
  }
}

export const store = new Store();

/// Redraws the calling component when the store changes.
export function useStore(): Store {
  const [, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), []);
  return store;
}

/// Starts listening to the core; `onHost` hears login state changes.
export function connect(onHost: (host: HostStatus) => void, onNavigate: (route: string) => void): void {
  void listen<EngineEvent>("engine-event", (event) => store.onEngineEvent(event));
  void listen<HostStatus>("host-status", (host) => {
    void store.refreshStatus().then(() => onHost(host));
  });
  void listen<string>("navigate", onNavigate);
}
