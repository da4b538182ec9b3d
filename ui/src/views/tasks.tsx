// Running and recent tasks: issue, agent, status, duration, tokens and cost.

import { useEffect } from "preact/hooks";
import { formatCost, formatDuration, formatTokens, shortId } from "../format";
import { inBrowser, invoke, type TaskSummary } from "../shell";
import { store, useStore } from "../store";
import { attempt } from "./common";

export function taskStatus(task: TaskSummary): string {
  return task.outcome ? task.outcome.status : "running";
}

export function outcomeText(task: TaskSummary): string {
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

/// What goes next to the status: the progress of a running task, why one failed.
function detail(task: TaskSummary): string {
  const text = !task.outcome ? task.progress : task.outcome.status === "failed" ? task.outcome.error : "";
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

export function duration(task: TaskSummary, now: number): string {
  return formatDuration((task.finished_at_unix_ms ?? now) - task.started_at_unix_ms);
}

export function stopTask(taskId: string): void {
  void attempt(() => invoke<boolean>("cancel_task", { taskId }));
}

export function TasksView() {
  const { tasks, status } = useStore();
  useEffect(() => {
    void store.refreshTasks();
  }, []);
  const now = Date.now();
  const names = new Map((status?.workspace_names ?? []).map((w) => [w.id, w.name]));
  return (
    <section id="tasks-view">
      <div class="section-head">
        <h1>Tasks</h1>
      </div>
      {tasks.length === 0 ? (
        <p id="no-tasks">No task yet. Tasks assigned to this computer's agents appear here as they start.</p>
      ) : (
        <table id="tasks" class="grid">
          <thead>
            <tr>
              <th>Issue</th>
              <th>Agent</th>
              <th>Status</th>
              <th>Started</th>
              <th>Duration</th>
              <th class="number">Tokens</th>
              <th class="number">Cost</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tasks.map((task) => (
              <tr key={task.task_id} data-task-id={task.task_id} data-status={taskStatus(task)}>
                <td>
                  <a href={`#/task/${task.task_id}`}>{shortId(task.issue_id)}</a>
                  <small> {names.get(task.workspace_id) ?? ""}</small>
                </td>
                <td>{task.provider}</td>
                <td class="outcome" title={outcomeText(task)}>
                  <span class="pill" data-state={taskStatus(task)}>
                    {taskStatus(task)}
                  </span>
                  {detail(task) && <small> {detail(task)}</small>}
                </td>
                <td>{new Date(task.started_at_unix_ms).toLocaleTimeString()}</td>
                <td>{duration(task, now)}</td>
                <td class="number">{formatTokens(task.total_tokens)}</td>
                <td class="number">{formatCost(task.cost_usd)}</td>
                <td>
                  {!task.outcome && !inBrowser() && (
                    <button class="stop" onClick={() => stopTask(task.task_id)}>
                      Stop
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
