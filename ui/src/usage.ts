// What the usage view draws, computed from a `UsageReport`: a chart of tokens per
// day by model and tables per model, provider, agent and task. Sums follow the Rust
// side (`multica_usage::Totals`) so the window and `multica usage` never disagree:
// tokens are `total` as the scanner counted them, and a cost is the sum of the known
// costs, null only when none is known.

import type { DailyModelRow, UsageReport } from "./shell";

export type Range = "7d" | "30d" | "90d" | "all";

/// The `since` argument of the `usage` command for a range. "all" cannot be left
/// out, since the backend then takes 30 days: ten years stands for everything.
export function sinceFor(range: Range): string {
  return range === "all" ? "3650d" : range;
}

export interface UsageSeries {
  /// `${provider}/${model}`, or "other".
  key: string;
  label: string;
  /// Tokens per day, one per entry of `days`.
  values: number[];
  /// USD per day: the known part; null when none is known, which includes days
  /// without tokens (the chart draws nothing there anyway).
  costs: (number | null)[];
}

export interface DailySeries {
  /// "YYYY-MM-DD", every calendar day of the range, oldest first.
  days: string[];
  /// The biggest models first, then "other" when there are more models than shown.
  series: UsageSeries[];
  /// The largest day's total over all series: the chart's scale.
  max: number;
}

export interface ModelUsage {
  provider: string;
  model: string;
  total: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cost: number | null;
}

export interface ProviderUsage {
  provider: string;
  total: number;
  cost: number | null;
}

export interface AgentUsage {
  agent: string;
  tasks: number;
  total: number;
  cost: number | null;
}

export interface TaskUsageRow {
  taskId: string;
  issueId: string;
  agent: string;
  date: string;
  outcome: string;
  total: number;
  cost: number | null;
}

export const OTHER_KEY = "other";

/// Tokens per day and model from `report.since` to the later of `today` (the local
/// date, passed in to keep this pure) and the last day with data, with days
/// without data as 0. The `topN` models with the most tokens get a series each; the
/// rest share one "other" series, so every token of the report is drawn.
export function dailySeries(report: UsageReport, today: string, topN = 5): DailySeries {
  const rows = (report.machine?.daily ?? []).filter((row) => dayNumber(row.date) !== null);
  const rowDays = rows.map((row) => dayNumber(row.date) as number);
  // Rows outside [since, today] would be a backend or clock oddity, but their
  // tokens still count toward the totals, so the range widens to hold them.
  const since = dayNumber(report.since);
  const end = dayNumber(today);
  let first = since ?? end ?? Infinity;
  let last = end ?? since ?? -Infinity;
  for (const day of rowDays) {
    first = Math.min(first, day);
    last = Math.max(last, day);
  }
  if (!Number.isFinite(first)) return { days: [], series: [], max: 0 }; // no date at all
  last = Math.max(first, last); // `since` after `today`: one day
  const days: string[] = [];
  for (let day = first; day <= last; day++) days.push(dayString(day));

  const ranked = rankModels(rows);
  const series = ranked
    .slice(0, Math.max(0, Math.floor(topN)))
    .map((model): UsageSeries => ({
      key: model.key,
      label: ranked.some((other) => other.model === model.model && other.key !== model.key)
        ? `${model.model} (${model.provider})` // the same model name from two providers
        : model.model,
      values: new Array<number>(days.length).fill(0),
      costs: new Array<number | null>(days.length).fill(null),
    }));
  if (ranked.length > series.length) {
    series.push({
      key: OTHER_KEY,
      label: "Other models",
      values: new Array<number>(days.length).fill(0),
      costs: new Array<number | null>(days.length).fill(null),
    });
  }
  const byKey = new Map(series.map((entry) => [entry.key, entry]));
  rows.forEach((row, i) => {
    const entry = byKey.get(modelKey(row)) ?? (byKey.get(OTHER_KEY) as UsageSeries);
    const d = rowDays[i] - first;
    entry.values[d] += row.total;
    entry.costs[d] = addCost(entry.costs[d], row.cost);
  });

  let max = 0;
  for (let d = 0; d < days.length; d++) {
    max = Math.max(max, series.reduce((sum, entry) => sum + entry.values[d], 0));
  }
  return { days, series, max };
}

/// Tokens per (provider, model) over the range, the biggest first.
export function byModel(report: UsageReport): ModelUsage[] {
  const models = new Map<string, ModelUsage>();
  for (const row of report.machine?.daily ?? []) {
    const key = modelKey(row);
    const model = models.get(key);
    if (!model) {
      models.set(key, {
        provider: row.provider,
        model: row.model,
        total: row.total,
        input: row.input,
        output: row.output,
        cacheRead: row.cache_read,
        cacheWrite: row.cache_creation,
        cost: row.cost,
      });
      continue;
    }
    model.total += row.total;
    model.input += row.input;
    model.output += row.output;
    model.cacheRead += row.cache_read;
    model.cacheWrite += row.cache_creation;
    model.cost = addCost(model.cost, row.cost);
  }
  return [...models.values()].sort(
    (a, b) => b.total - a.total || compare(`${a.provider}/${a.model}`, `${b.provider}/${b.model}`),
  );
}

/// Tokens per provider (Claude Code, Codex, …) over the range, the biggest first.
export function byProvider(report: UsageReport): ProviderUsage[] {
  const providers = new Map<string, ProviderUsage>();
  for (const row of report.machine?.daily ?? []) {
    const entry = providers.get(row.provider);
    if (entry) {
      entry.total += row.total;
      entry.cost = addCost(entry.cost, row.cost);
    } else {
      providers.set(row.provider, { provider: row.provider, total: row.total, cost: row.cost });
    }
  }
  return [...providers.values()].sort((a, b) => b.total - a.total || compare(a.provider, b.provider));
}

/// This engine's runs per agent, the busiest first. These come from the task
/// ledger, not the logs: a subset of the machine's usage, counted by the agents.
export function byAgent(report: UsageReport): AgentUsage[] {
  const agents = new Map<string, AgentUsage>();
  for (const task of taskRows(report)) {
    const entry = agents.get(task.agent);
    if (entry) {
      entry.tasks += 1;
      entry.total += task.total;
      entry.cost = addCost(entry.cost, task.cost);
    } else {
      agents.set(task.agent, { agent: task.agent, tasks: 1, total: task.total, cost: task.cost });
    }
  }
  return [...agents.values()].sort((a, b) => b.total - a.total || compare(a.agent, b.agent));
}

/// One row per run, in the report's order (newest first).
export function taskRows(report: UsageReport): TaskUsageRow[] {
  return report.tasks.map((task) => {
    let total = 0;
    let cost: number | null = null;
    for (const model of task.models) {
      total += model.input_tokens + model.output_tokens + model.cache_read_tokens + model.cache_write_tokens;
      cost = addCost(cost, model.cost_usd);
    }
    return {
      taskId: task.task_id,
      issueId: task.issue_id,
      agent: task.agent,
      date: task.date,
      outcome: task.outcome,
      total,
      cost,
    };
  });
}

interface RankedModel {
  key: string;
  provider: string;
  model: string;
  total: number;
}

/// Models by tokens over the range, the biggest first (ties by key, so the colours
/// of the chart do not swap between renders).
function rankModels(rows: DailyModelRow[]): RankedModel[] {
  const totals = new Map<string, RankedModel>();
  for (const row of rows) {
    const key = modelKey(row);
    const entry = totals.get(key);
    if (entry) entry.total += row.total;
    else totals.set(key, { key, provider: row.provider, model: row.model, total: row.total });
  }
  return [...totals.values()].sort((a, b) => b.total - a.total || compare(a.key, b.key));
}

const modelKey = (row: { provider: string; model: string }) => `${row.provider}/${row.model}`;

/// The Rust `Totals::add` rule: known costs add up; unknown ones are left out, and
/// the sum is unknown only when every part is.
function addCost(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : a + b;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const DAY_MS = 86_400_000;

/// Days since the epoch of a "YYYY-MM-DD" date, or null if it is not one. Dates are
/// labels of calendar days, so the arithmetic is in UTC, where every day has 24
/// hours: local time would lose or repeat a day at a DST change.
function dayNumber(date: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return null;
  const day = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / DAY_MS;
  // Date.UTC rolls "2026-02-30" over to March; such a date is not one.
  return dayString(day) === date ? day : null;
}

function dayString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
