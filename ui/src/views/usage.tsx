// Tokens and cost: the machine's, from the agents' own logs (the same figures as
// `multica usage`), per day and model, per agent, and this computer's task runs.

import { useState } from "preact/hooks";
import { formatCost, formatCount, formatTokens, shortId } from "../format";
import { invoke, type UsageReport } from "../shell";
import { useStore } from "../store";
import { type Range, byAgent, byModel, byProvider, dailySeries, sinceFor, taskRows } from "../usage";
import { useLoad } from "./common";

const RANGES: { range: Range; label: string }[] = [
  { range: "7d", label: "7 days" },
  { range: "30d", label: "30 days" },
  { range: "90d", label: "90 days" },
  { range: "all", label: "All" },
];

function localToday(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function UsageView() {
  const [range, setRange] = useState<Range>("30d");
  const { usageVersion } = useStore();
  const report = useLoad(() => invoke<UsageReport | null>("usage", { since: sinceFor(range) }), [range, usageVersion]);
  return (
    <section id="usage-view">
      <div class="section-head">
        <h1>Usage</h1>
        <div class="actions" role="group" aria-label="Range">
          {RANGES.map((choice) => (
            <button
              class={choice.range === range ? "chosen" : ""}
              aria-pressed={choice.range === range}
              data-range={choice.range}
              onClick={() => setRange(choice.range)}
            >
              {choice.label}
            </button>
          ))}
        </div>
      </div>
      {report.state === "loading" && <p>Loading…</p>}
      {report.state === "failed" && <p class="error">{report.error}</p>}
      {report.state === "ready" && report.value === null && <p>The engine is not running: log in to see usage.</p>}
      {report.state === "ready" && report.value && <Report report={report.value} range={range} />}
    </section>
  );
}

function Report(props: { report: UsageReport; range: Range }) {
  const { report } = props;
  const machine = report.machine;
  return (
    <>
      {report.scan_error && <p class="error">The last scan of the agents' logs failed: {report.scan_error}</p>}
      {machine ? (
        <>
          <dl class="facts" id="usage-totals">
            <dt>Tokens since {report.since}</dt>
            <dd id="usage-total-tokens">{formatCount(machine.total.total)}</dd>
            <dt>Cost</dt>
            <dd id="usage-total-cost">
              {formatCost(machine.total.cost)}
              {machine.total.unpriced_models && machine.total.unpriced_models.length > 0 && (
                <small> (no price for {machine.total.unpriced_models.join(", ")})</small>
              )}
            </dd>
            <dt>Source</dt>
            <dd>
              {formatCount(machine.log_files)} agent log files · prices of {machine.prices_taken_on}
              {report.scanned_at && ` · scanned ${new Date(report.scanned_at).toLocaleTimeString()}`}
            </dd>
          </dl>
          <DailyChart report={props.range === "all" ? fromFirstDay(report) : report} />
          <ModelTable report={report} />
          <ProviderTable report={report} />
        </>
      ) : (
        <p>The agents' logs have not been scanned yet (or scanning is off: MULTICA_USAGE_SCAN_INTERVAL=0).</p>
      )}
      <TaskTables report={report} />
    </>
  );
}

const CHART_HEIGHT = 160;

/// "All" starts the chart at the first day with data, not ten years back.
function fromFirstDay(report: UsageReport): UsageReport {
  const first = report.machine?.daily[0]?.date;
  return first ? { ...report, since: first } : report;
}

function DailyChart(props: { report: UsageReport }) {
  const { days, series, max } = dailySeries(props.report, localToday());
  if (days.length === 0 || max === 0) return <p>No tokens in this range.</p>;
  const barWidth = Math.max(3, Math.min(24, Math.floor(720 / days.length) - 2));
  const width = days.length * (barWidth + 2);
  return (
    <figure id="usage-chart">
      <svg width={width} height={CHART_HEIGHT} viewBox={`0 0 ${width} ${CHART_HEIGHT}`} role="img" aria-label="Tokens per day by model">
        {days.map((day, d) => {
          let y = CHART_HEIGHT;
          return (
            <g key={day}>
              {series.map((s, k) => {
                const value = s.values[d];
                if (value === 0) return null;
                const height = Math.max(1, (value / max) * (CHART_HEIGHT - 4));
                y -= height;
                return (
                  <rect x={d * (barWidth + 2)} y={y} width={barWidth} height={height} class={`series-${k}`}>
                    <title>{`${day} · ${s.label}: ${formatTokens(value)} tokens · ${formatCost(s.costs[d])}`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {days[0]} – {days[days.length - 1]} ·{" "}
        {series.map((s, k) => (
          <span class="legend" key={s.key}>
            <i class={`swatch series-${k}`} /> {s.label}{" "}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

function ModelTable(props: { report: UsageReport }) {
  const rows = byModel(props.report);
  return (
    <>
      <h2>By model</h2>
      <table id="usage-models" class="grid">
        <thead>
          <tr>
            <th>Model</th>
            <th>Agent</th>
            <th class="number">Input</th>
            <th class="number">Output</th>
            <th class="number">Cache read</th>
            <th class="number">Cache write</th>
            <th class="number">Total</th>
            <th class="number">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={`${row.provider}/${row.model}`} data-model={row.model}>
              <td>{row.model}</td>
              <td>{row.provider}</td>
              <td class="number">{formatTokens(row.input)}</td>
              <td class="number">{formatTokens(row.output)}</td>
              <td class="number">{formatTokens(row.cacheRead)}</td>
              <td class="number">{formatTokens(row.cacheWrite)}</td>
              <td class="number">{formatCount(row.total)}</td>
              <td class="number">{formatCost(row.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ProviderTable(props: { report: UsageReport }) {
  const rows = byProvider(props.report);
  return (
    <>
      <h2>By agent</h2>
      <table id="usage-agents" class="grid">
        <thead>
          <tr>
            <th>Agent</th>
            <th class="number">Tokens</th>
            <th class="number">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.provider}>
              <td>{row.provider}</td>
              <td class="number">{formatCount(row.total)}</td>
              <td class="number">{formatCost(row.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function TaskTables(props: { report: UsageReport }) {
  const { report } = props;
  const agents = byAgent(report);
  const tasks = taskRows(report);
  return (
    <>
      <h2>This computer's tasks</h2>
      {tasks.length === 0 ? (
        <p>No task run here in this range.</p>
      ) : (
        <>
          <p>
            {report.task_total.tasks} runs · {formatTokens(report.task_total.total_tokens)} tokens ·{" "}
            {formatCost(report.task_total.cost_usd)} ·{" "}
            {agents.map((agent) => `${agent.agent}: ${agent.tasks} runs, ${formatTokens(agent.total)}`).join(" · ")}
          </p>
          <table id="usage-tasks" class="grid">
            <thead>
              <tr>
                <th>Day</th>
                <th>Task</th>
                <th>Issue</th>
                <th>Agent</th>
                <th>Result</th>
                <th class="number">Tokens</th>
                <th class="number">Cost</th>
              </tr>
            </thead>
            <tbody>
              {tasks.map((task) => (
                <tr key={`${task.taskId}-${task.date}-${task.outcome}`}>
                  <td>{task.date}</td>
                  <td>
                    <a href={`#/task/${task.taskId}`}>{shortId(task.taskId)}</a>
                  </td>
                  <td>{shortId(task.issueId)}</td>
                  <td>{task.agent}</td>
                  <td>{task.outcome}</td>
                  <td class="number">{formatCount(task.total)}</td>
                  <td class="number">{formatCost(task.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
