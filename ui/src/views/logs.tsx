// The app's log, newest last, filtered by level and text.

import { useEffect, useState } from "preact/hooks";
import { invoke, type LogLine } from "../shell";
import { useStore } from "../store";
import { attempt, useLoad } from "./common";

export function LogsView() {
  const [level, setLevel] = useState("info");
  const [contains, setContains] = useState("");
  const [applied, setApplied] = useState("");
  const [reloads, setReloads] = useState(0);
  const s = useStore();
  // New engine events usually mean new log lines: reload with them (at most once
  // per second, and only while this view is open).
  useEffect(() => {
    const timer = setTimeout(() => setReloads((n) => n + 1), 1000);
    return () => clearTimeout(timer);
  }, [s.version]);
  // Typing filters after a short pause, not on every key.
  useEffect(() => {
    const timer = setTimeout(() => setApplied(contains), 250);
    return () => clearTimeout(timer);
  }, [contains]);
  const lines = useLoad(() => invoke<LogLine[]>("log_lines", { query: { level, contains: applied || null } }), [level, applied, reloads]);
  return (
    <section id="logs-view">
      <div class="section-head">
        <h1>Log</h1>
        <div class="actions">
          <button onClick={() => void attempt(() => invoke("open_logs_folder"))}>Open logs folder</button>
          <button
            onClick={() =>
              lines.state === "ready" &&
              void attempt(() =>
                invoke("copy_text", { text: lines.value.map((l) => `${l.time} ${l.level} ${l.text}`).join("\n") }),
              )
            }
          >
            Copy
          </button>
        </div>
      </div>
      <div class="filters">
        <label>
          Level{" "}
          <select id="log-filter-level" value={level} onChange={(e) => setLevel(e.currentTarget.value)}>
            <option value="error">errors</option>
            <option value="warn">warnings and errors</option>
            <option value="info">info and above</option>
            <option value="debug">debug and above</option>
            <option value="trace">everything</option>
          </select>
        </label>{" "}
        <input
          id="log-filter-text"
          type="search"
          placeholder="Filter"
          value={contains}
          onInput={(e) => setContains(e.currentTarget.value)}
        />
      </div>
      {lines.state === "failed" && <p class="error">{lines.error}</p>}
      {lines.state === "ready" && lines.value.length === 0 && <p id="no-log-lines">No line matches.</p>}
      {lines.state === "ready" && lines.value.length > 0 && (
        <ol id="log-lines" class="log">
          {lines.value.map((line, index) => (
            <li key={index} data-level={line.level}>
              <time>{line.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time> <b>{line.level}</b> <span>{line.text}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
