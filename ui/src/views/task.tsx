// One task: its state, actions (stop, open folder, copy) and its live transcript.
// The transcript is a virtualized list: only the rows in view (and a few around)
// exist in the page, so 100,000 entries scroll like 100. Row heights are measured
// as rows appear and kept in a HeightIndex for O(log n) offsets.

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatCost, formatCount, formatTokens, shortId } from "../format";
import { HeightIndex } from "../heights";
import { Markdown } from "../markdown";
import { inBrowser, invoke } from "../shell";
import { useStore } from "../store";
import { type Entry, type TranscriptBuffer, findMatches, label, preview } from "../transcript";
import { attempt, flash } from "./common";
import { duration, outcomeText, stopTask, taskStatus } from "./tasks";

/// A first guess of a row's height before it is measured (px).
const ESTIMATED_ROW = 34;
/// Rows drawn beyond the visible ones, on each side.
const OVERSCAN = 6;
/// Tool output shown in a row at most; "Copy" still takes all of it.
const SHOWN_OUTPUT = 100_000;
/// Longer messages are shown as plain text: parsing megabytes of markdown would
/// stall the window for seconds.
const MARKDOWN_LIMIT = 100_000;

function Text(props: { source: string }) {
  return props.source.length > MARKDOWN_LIMIT ? <Shown text={props.source} /> : <Markdown source={props.source} />;
}

export function TaskView(props: { id: string }) {
  const { id } = props;
  const s = useStore();
  const task = s.task(id);
  const buffer = s.transcript(id);
  const [query, setQuery] = useState("");
  const [matchIndex, setMatchIndex] = useState(0);

  useEffect(() => {
    void s.refreshTasks();
    void attempt(() => s.loadTranscript(id));
  }, [id]);

  // "/" jumps to the search box, as in most viewers; Escape there clears it.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement;
      if (event.key === "/" && !typing) {
        event.preventDefault();
        document.getElementById("transcript-search")?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  // Searching 100,000 entries takes a few milliseconds: redo it only when the
  // query or the transcript changed.
  const matches = useMemo(() => findMatches(buffer.entries, query), [query, buffer.entries.length, buffer.dropped]);
  const current = matches.length === 0 ? -1 : matches[Math.min(matchIndex, matches.length - 1)];
  const step = (delta: number) => {
    if (matches.length === 0) return;
    setMatchIndex((index) => (index + delta + matches.length) % matches.length);
  };

  return (
    <section id="task" data-task-id={id}>
      <div class="section-head">
        <h1>Task {shortId(id)}</h1>
        <div class="actions">
          {task && !task.outcome && !inBrowser() && (
            <button id="stop-task" class="stop" onClick={() => stopTask(id)}>
              Stop
            </button>
          )}
          {!inBrowser() && (
          <button
            id="open-folder"
            onClick={() => void attempt(() => invoke("open_task_folder", { taskId: id }))}
            disabled={!task?.work_dir}
            title={task?.work_dir ?? "No folder yet"}
          >
            Open folder
          </button>
          )}
          <button
            id="copy-transcript"
            onClick={() =>
              void attempt(async () => {
                await invoke("copy_text", { text: buffer.text() });
                flash(`Copied ${buffer.entries.length} entries`);
              })
            }
          >
            Copy
          </button>
        </div>
      </div>
      {task ? (
        <p class="task-facts" data-status={taskStatus(task)}>
          <span class="pill" data-state={taskStatus(task)}>
            {taskStatus(task)}
          </span>{" "}
          <span class="outcome">{outcomeText(task)}</span> · {task.provider} · issue {shortId(task.issue_id)} ·{" "}
          {duration(task, Date.now())} · {formatTokens(task.total_tokens)} tokens · {formatCost(task.cost_usd)}
        </p>
      ) : (
        <p class="task-facts">This task is not among the recent ones; its transcript is on the issue.</p>
      )}
      <div class="search" role="search">
        <input
          id="transcript-search"
          type="search"
          placeholder="Search the transcript (/)"
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            setMatchIndex(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") step(e.shiftKey ? -1 : 1);
            if (e.key === "Escape") {
              setQuery("");
              e.currentTarget.blur();
            }
          }}
        />
        <span id="search-count">{query.trim() ? `${matches.length === 0 ? 0 : matchIndex + 1} of ${matches.length}` : ""}</span>
        <button onClick={() => step(-1)} disabled={matches.length === 0} aria-label="Previous match">
          ↑
        </button>
        <button onClick={() => step(1)} disabled={matches.length === 0} aria-label="Next match">
          ↓
        </button>
      </div>
      {buffer.dropped > 0 && (
        <p class="dropped">{formatCount(buffer.dropped)} earlier entries are not kept here (the issue has them all).</p>
      )}
      <TranscriptList buffer={buffer} version={s.version} current={current} />
    </section>
  );
}

function TranscriptList(props: { buffer: TranscriptBuffer; version: number; current: number }) {
  const { buffer, current } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useRef(new HeightIndex(ESTIMATED_ROW));
  const firstSeq = useRef<number | null>(null);
  const opened = useRef(new Set<number>());
  const follow = useRef(true);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [, setMeasured] = useState(0);

  // Keep one height per entry: append for new entries, start over when the front
  // changed (entries dropped, or older ones filled in).
  const entries = buffer.entries;
  const front = entries.length > 0 ? entries[0].seq : null;
  if (front !== firstSeq.current || entries.length < heights.current.length) {
    heights.current = new HeightIndex(ESTIMATED_ROW);
    firstSeq.current = front;
  }
  if (entries.length > heights.current.length) heights.current.push(entries.length - heights.current.length);

  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    setViewport(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  // Jump to the current search match.
  useEffect(() => {
    const element = scroller.current;
    if (!element || current < 0) return;
    follow.current = false;
    element.scrollTop = Math.max(0, heights.current.offsetOf(current) - 40);
    setScrollTop(element.scrollTop);
  }, [current]);

  const { first, last } = heights.current.visibleRange(scrollTop, viewport, OVERSCAN);

  // Rows change height after they are drawn too (a tool call opened, the window
  // made narrower): watch the drawn rows and move the ones below when they do.
  const rowSizes = useRef<ResizeObserver | null>(null);
  useEffect(() => {
    rowSizes.current = new ResizeObserver((changes) => {
      let changed = false;
      for (const change of changes) {
        const row = change.target as HTMLElement;
        if (row.isConnected && heights.current.set(Number(row.dataset.index), row.offsetHeight)) changed = true;
      }
      if (changed) setMeasured((n) => n + 1);
    });
    return () => rowSizes.current?.disconnect();
  }, []);

  // Measure what was drawn; a changed height moves the rows below it.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    let changed = false;
    rowSizes.current?.disconnect();
    for (const row of element.querySelectorAll<HTMLElement>(".entry")) {
      const index = Number(row.dataset.index);
      if (heights.current.set(index, row.offsetHeight)) changed = true;
      rowSizes.current?.observe(row);
    }
    if (follow.current) {
      const bottom = Math.max(0, heights.current.total - element.clientHeight);
      if (Math.abs(element.scrollTop - bottom) > 1) {
        element.scrollTop = bottom;
        setScrollTop(element.scrollTop);
      }
    }
    if (changed) setMeasured((n) => n + 1);
  });

  const rows = [];
  for (let index = first; index <= last; index++) {
    const entry = entries[index];
    if (!entry) continue;
    rows.push(
      <div
        key={entry.seq}
        class={index === current ? "entry match" : "entry"}
        data-index={index}
        data-kind={entry.kind}
        style={{ top: `${heights.current.offsetOf(index)}px` }}
      >
        <Row entry={entry} opened={opened.current} />
      </div>,
    );
  }

  return (
    <div
      id="transcript"
      class="transcript"
      ref={scroller}
      tabIndex={0}
      onScroll={(e) => {
        const element = e.currentTarget;
        // Following the end while the user is there; reading up stops it.
        follow.current = element.scrollTop + element.clientHeight >= element.scrollHeight - 8;
        setScrollTop(element.scrollTop);
      }}
    >
      <div class="spacer" style={{ height: `${heights.current.total}px` }}>
        {rows}
      </div>
      {entries.length === 0 && <p class="empty">Nothing yet: the agent's messages appear here as they arrive.</p>}
    </div>
  );
}

function Collapsible(props: { entry: Entry; opened: Set<number>; children: ComponentChildren }) {
  const { entry, opened } = props;
  return (
    <details
      open={opened.has(entry.seq)}
      onToggle={(e) => {
        if (e.currentTarget.open) opened.add(entry.seq);
        else opened.delete(entry.seq);
      }}
    >
      <summary>
        <b>{label(entry)}</b> <span class="preview">{preview(entry)}</span>
      </summary>
      {props.children}
    </details>
  );
}

function Shown(props: { text: string }) {
  const { text } = props;
  if (text.length <= SHOWN_OUTPUT) return <pre>{text}</pre>;
  return (
    <pre>
      {text.slice(0, SHOWN_OUTPUT)}
      {`\n… ${formatCount(text.length - SHOWN_OUTPUT)} more characters (Copy takes all of it)`}
    </pre>
  );
}

function Row(props: { entry: Entry; opened: Set<number> }) {
  const { entry, opened } = props;
  switch (entry.kind) {
    case "text":
      return <Text source={entry.body} />;
    case "thinking":
      return (
        <Collapsible entry={entry} opened={opened}>
          <div class="thinking">
            <Text source={entry.body} />
          </div>
        </Collapsible>
      );
    case "tool_use":
      return (
        <Collapsible entry={entry} opened={opened}>
          <Shown text={entry.input} />
        </Collapsible>
      );
    case "tool_result":
      return (
        <Collapsible entry={entry} opened={opened}>
          <Shown text={entry.body} />
        </Collapsible>
      );
    case "error":
      return (
        <div class="error-entry" role="alert">
          <b>Error</b>
          <Shown text={entry.body} />
        </div>
      );
    default:
      return (
        <div class="note">
          <b>{label(entry)}</b> <Shown text={entry.body} />
        </div>
      );
  }
}
