import { describe, expect, it } from "vitest";
import type { DailyModelRow, TaskModelUsage, TaskUsage, Totals, UsageReport } from "./shell";
import { byAgent, byModel, byProvider, dailySeries, sinceFor, taskRows } from "./usage";

function row(
  date: string,
  provider: string,
  model: string,
  [input, output, cacheWrite, cacheRead]: [number, number, number, number],
  cost: number | null,
): DailyModelRow {
  return {
    date,
    provider,
    model,
    input,
    output,
    cache_creation: cacheWrite,
    cache_creation_1h: 0,
    cache_read: cacheRead,
    reasoning: 0,
    total: input + output + cacheWrite + cacheRead,
    long_context: 0,
    requests: 1,
    cost,
    unpriced_models: cost === null ? [model] : [],
  };
}

function taskModel(
  model: string,
  [input, output, cacheRead, cacheWrite]: [number, number, number, number],
  cost: number | null,
): TaskModelUsage {
  return {
    model,
    input_tokens: input,
    output_tokens: output,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
    cost_usd: cost,
    cost_from: cost === null ? "unknown" : "agent",
  };
}

function task(id: string, agent: string, date: string, outcome: string, models: TaskModelUsage[]): TaskUsage {
  return {
    task_id: `${id}-0000-4000-8000-000000000000`,
    issue_id: `issue-${id}`,
    workspace_id: "ws-1",
    runtime_id: `rt-${agent}`,
    agent,
    finished_at: `${date}T12:00:00Z`,
    date,
    outcome,
    models,
  };
}

const OPUS = "claude-opus-4-1";
const SONNET = "claude-sonnet-4-5";
const HAIKU = "claude-haiku-4-5";

/// Two providers, six models, data on four of ten days, and unpriced rows: one
/// model never priced (gpt-5-mini), one priced on some days only (sonnet).
/// Model totals: opus 49,500 · gpt-5-codex 26,000 · sonnet 12,000 · gpt-5 11,000 ·
/// gpt-5-mini 4,500 · haiku 2,000. Day totals: 03-01 32,000 · 03-02 31,300 ·
/// 03-05 37,000 · 03-09 4,700.
const daily: DailyModelRow[] = [
  row("2026-03-01", "claude", OPUS, [1000, 2000, 500, 10000], 1.25),
  row("2026-03-01", "claude", SONNET, [2000, 1000, 0, 5000], 0.4),
  row("2026-03-01", "codex", "gpt-5", [3000, 1500, 0, 6000], 0.3),
  row("2026-03-02", "claude", HAIKU, [500, 200, 100, 1000], 0.01),
  row("2026-03-02", "codex", "gpt-5-codex", [4000, 2000, 0, 20000], 0.55),
  row("2026-03-02", "codex", "gpt-5-mini", [1000, 500, 0, 2000], null),
  row("2026-03-05", "claude", OPUS, [2000, 3000, 1000, 30000], 2.5),
  row("2026-03-05", "codex", "gpt-5-mini", [700, 300, 0, 0], null),
  row("2026-03-09", "claude", HAIKU, [100, 100, 0, 0], 0.001),
  row("2026-03-09", "claude", SONNET, [1000, 500, 200, 2300], null),
  row("2026-03-09", "codex", "gpt-5", [100, 50, 0, 350], 0.02),
];

/// What `multica usage --since 2026-03-01` prints as its total line, added up by hand.
const machineTotal: Totals = {
  input: 15_400,
  output: 11_150,
  cache_creation: 1_800,
  cache_creation_1h: 0,
  cache_read: 76_650,
  reasoning: 0,
  total: 105_000,
  long_context: 0,
  requests: 11,
  cost: 5.031,
  unpriced_models: ["gpt-5-mini", SONNET],
};

const report: UsageReport = {
  since: "2026-03-01",
  scanned_at: "2026-03-10T08:00:00Z",
  scan_error: null,
  machine: {
    total: machineTotal,
    daily,
    top_models: [],
    prices_taken_on: "2026-02-15",
    log_files: 42,
  },
  tasks: [
    task("t3", "claude", "2026-03-09", "completed", [
      taskModel(OPUS, [100, 200, 1000, 50], 0.12),
      taskModel(HAIKU, [10, 10, 0, 0], null),
    ]),
    task("t2", "codex", "2026-03-05", "failed", [taskModel("gpt-5-mini", [500, 300, 0, 0], null)]),
    task("t1", "claude", "2026-03-02", "completed", [taskModel(SONNET, [1000, 500, 4000, 500], 0.05)]),
    task("t0", "codex", "2026-03-01", "cancelled", []),
  ],
  task_total: {
    tasks: 4,
    input_tokens: 1610,
    output_tokens: 1010,
    cache_read_tokens: 5000,
    cache_write_tokens: 550,
    total_tokens: 8170,
    cost_usd: 0.17,
    unpriced_models: [HAIKU, "gpt-5-mini"],
  },
};

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe("sinceFor", () => {
  it("gives the backend's day counts, and ten years for all", () => {
    expect(sinceFor("7d")).toBe("7d");
    expect(sinceFor("30d")).toBe("30d");
    expect(sinceFor("90d")).toBe("90d");
    expect(sinceFor("all")).toBe("3650d");
  });
});

describe("dailySeries", () => {
  const chart = dailySeries(report, "2026-03-10");

  it("has every day from since to today, gaps included", () => {
    expect(chart.days).toEqual([
      "2026-03-01",
      "2026-03-02",
      "2026-03-03",
      "2026-03-04",
      "2026-03-05",
      "2026-03-06",
      "2026-03-07",
      "2026-03-08",
      "2026-03-09",
      "2026-03-10",
    ]);
    for (const series of chart.series) {
      expect(series.values).toHaveLength(10);
      expect(series.costs).toHaveLength(10);
    }
  });

  it("draws the five biggest models and the rest as other", () => {
    expect(chart.series.map((s) => s.key)).toEqual([
      `claude/${OPUS}`,
      "codex/gpt-5-codex",
      `claude/${SONNET}`,
      "codex/gpt-5",
      "codex/gpt-5-mini",
      "other",
    ]);
    expect(chart.series.map((s) => s.label)).toEqual([OPUS, "gpt-5-codex", SONNET, "gpt-5", "gpt-5-mini", "Other models"]);
    const [opus, , sonnet, , mini, other] = chart.series;
    expect(opus.values).toEqual([13500, 0, 0, 0, 36000, 0, 0, 0, 0, 0]);
    expect(other.values).toEqual([0, 1800, 0, 0, 0, 0, 0, 0, 200, 0]);
    expect(opus.costs).toEqual([1.25, null, null, null, 2.5, null, null, null, null, null]);
    // Never priced: unknown, not $0.
    expect(mini.costs[1]).toBeNull();
    expect(mini.values[1]).toBe(3500);
    // Priced on 03-01, not on 03-09.
    expect(sonnet.costs[0]).toBe(0.4);
    expect(sonnet.costs[8]).toBeNull();
    expect(other.costs[1]).toBe(0.01);
  });

  it("scales to the biggest day", () => {
    expect(chart.max).toBe(37_000);
  });

  it("adds up to the total multica usage prints, whatever topN", () => {
    for (const topN of [0, 1, 2, 5, 6, 100]) {
      const { series } = dailySeries(report, "2026-03-10", topN);
      expect(sum(series.map((s) => sum(s.values)))).toBe(machineTotal.total);
      const perDay = [0, 1, 4, 8].map((d) => sum(series.map((s) => s.values[d])));
      expect(perDay).toEqual([32_000, 31_300, 37_000, 4_700]);
    }
  });

  it("shows other only when some model is left out", () => {
    expect(dailySeries(report, "2026-03-10", 6).series.map((s) => s.key)).not.toContain("other");
    expect(dailySeries(report, "2026-03-10", 0).series.map((s) => s.key)).toEqual(["other"]);
    const two = dailySeries(report, "2026-03-10", 2);
    expect(two.series.map((s) => s.key)).toEqual([`claude/${OPUS}`, "codex/gpt-5-codex", "other"]);
    // Other on 03-09 mixes a priced and an unpriced row: the known part.
    expect(two.series[2].costs[8]).toBeCloseTo(0.021, 10);
    expect(two.series[2].costs[3]).toBeNull();
  });

  it("runs to the last day with data when that is after today", () => {
    const chart = dailySeries(report, "2026-03-07");
    expect(chart.days[0]).toBe("2026-03-01");
    expect(chart.days.at(-1)).toBe("2026-03-09");
    expect(sum(chart.series.map((s) => sum(s.values)))).toBe(machineTotal.total);
  });

  it("counts days in UTC: month ends, leap days and DST changes each once", () => {
    const empty = (since: string): UsageReport => ({ ...report, since, machine: { ...report.machine!, daily: [] } });
    expect(dailySeries(empty("2028-02-27"), "2028-03-01").days).toEqual([
      "2028-02-27",
      "2028-02-28",
      "2028-02-29",
      "2028-03-01",
    ]);
    expect(dailySeries(empty("2026-12-30"), "2027-01-02").days).toEqual([
      "2026-12-30",
      "2026-12-31",
      "2027-01-01",
      "2027-01-02",
    ]);
    // US (03-08) and EU (03-29) spring forward, EU (10-25) and US (11-01) fall back.
    const year = dailySeries(empty("2026-01-01"), "2026-12-31").days;
    expect(year).toHaveLength(365);
    expect(new Set(year).size).toBe(365);
    for (const day of ["2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01"]) expect(year).toContain(day);
  });

  it("has the range and nothing else without a scan", () => {
    const chart = dailySeries({ ...report, machine: null }, "2026-03-03");
    expect(chart).toEqual({ days: ["2026-03-01", "2026-03-02", "2026-03-03"], series: [], max: 0 });
  });

  it("copes with odd dates", () => {
    // since after today (clocks disagree): that one day.
    expect(dailySeries({ ...report, machine: null, since: "2026-03-05" }, "2026-03-04").days).toEqual(["2026-03-05"]);
    // No usable since: start with the data.
    const noSince = dailySeries({ ...report, since: "" }, "2026-03-10");
    expect(noSince.days[0]).toBe("2026-03-01");
    expect(dailySeries({ ...report, machine: null, since: "2026-02-30" }, "nonsense")).toEqual({
      days: [],
      series: [],
      max: 0,
    });
  });

  it("names the provider when two share a model name", () => {
    const shared: UsageReport = {
      ...report,
      machine: {
        ...report.machine!,
        daily: [row("2026-03-01", "claude", "glm-4.6", [10, 0, 0, 0], null), row("2026-03-01", "codex", "glm-4.6", [5, 0, 0, 0], null)],
      },
    };
    expect(dailySeries(shared, "2026-03-01").series.map((s) => s.label)).toEqual(["glm-4.6 (claude)", "glm-4.6 (codex)"]);
  });
});

describe("byModel", () => {
  const models = byModel(report);

  it("sums each model's days, the biggest first", () => {
    expect(models.map((m) => `${m.provider}/${m.model}`)).toEqual([
      `claude/${OPUS}`,
      "codex/gpt-5-codex",
      `claude/${SONNET}`,
      "codex/gpt-5",
      "codex/gpt-5-mini",
      `claude/${HAIKU}`,
    ]);
    expect(models[0]).toEqual({
      provider: "claude",
      model: OPUS,
      total: 49_500,
      input: 3000,
      output: 5000,
      cacheRead: 40_000,
      cacheWrite: 1500,
      cost: 3.75,
    });
    expect(sum(models.map((m) => m.total))).toBe(machineTotal.total);
    expect(sum(models.map((m) => m.input))).toBe(machineTotal.input);
    expect(sum(models.map((m) => m.output))).toBe(machineTotal.output);
    expect(sum(models.map((m) => m.cacheRead))).toBe(machineTotal.cache_read);
    expect(sum(models.map((m) => m.cacheWrite))).toBe(machineTotal.cache_creation);
  });

  it("sums the known costs, null only when none is known", () => {
    const cost = (model: string) => models.find((m) => m.model === model)?.cost;
    expect(cost(SONNET)).toBe(0.4); // one priced day, one not
    expect(cost("gpt-5-mini")).toBeNull();
    expect(cost(HAIKU)).toBeCloseTo(0.011, 10);
    expect(sum(models.map((m) => m.cost ?? 0))).toBeCloseTo(machineTotal.cost!, 10);
  });

  it("is empty without a scan", () => {
    expect(byModel({ ...report, machine: null })).toEqual([]);
  });
});

describe("byProvider", () => {
  it("sums each provider, the biggest first", () => {
    const providers = byProvider(report);
    expect(providers.map((p) => [p.provider, p.total])).toEqual([
      ["claude", 63_500],
      ["codex", 41_500],
    ]);
    expect(providers[0].cost).toBeCloseTo(4.161, 10);
    expect(providers[1].cost).toBeCloseTo(0.87, 10);
    expect(byProvider({ ...report, machine: null })).toEqual([]);
  });
});

describe("byAgent", () => {
  it("sums the engine's runs per agent, the busiest first", () => {
    const agents = byAgent(report);
    expect(agents).toHaveLength(2);
    expect(agents[0]).toMatchObject({ agent: "claude", tasks: 2, total: 7370 });
    expect(agents[0].cost).toBeCloseTo(0.17, 10);
    // Codex's runs have no price: unknown, even with a run of no models at all.
    expect(agents[1]).toEqual({ agent: "codex", tasks: 2, total: 800, cost: null });
    expect(sum(agents.map((a) => a.total))).toBe(report.task_total.total_tokens);
    expect(byAgent({ ...report, tasks: [] })).toEqual([]);
  });
});

describe("taskRows", () => {
  it("keeps the report's newest-first order, with each run's tokens and cost", () => {
    const rows = taskRows(report);
    expect(rows.map((r) => r.date)).toEqual(["2026-03-09", "2026-03-05", "2026-03-02", "2026-03-01"]);
    expect(rows[0]).toEqual({
      taskId: "t3-0000-4000-8000-000000000000",
      issueId: "issue-t3",
      agent: "claude",
      date: "2026-03-09",
      outcome: "completed",
      total: 1370,
      cost: 0.12, // haiku's unknown part left out
    });
    expect(rows.map((r) => [r.total, r.cost])).toEqual([
      [1370, 0.12],
      [800, null],
      [6000, 0.05],
      [0, null],
    ]);
  });
});
