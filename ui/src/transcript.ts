// A task's transcript as the window keeps it: entries in order, deduplicated by
// sequence number, bounded in count and bytes (the oldest go first, and the view
// says how many), with the plain text used by search and copy.

import type { TaskMessage } from "./shell";

export type EntryKind = "text" | "thinking" | "tool_use" | "tool_result" | "error" | "other";

export interface Entry {
  seq: number;
  kind: EntryKind;
  /// The tool's name for tool calls and results.
  tool: string;
  /// Text, thinking, error message or tool output.
  body: string;
  /// A tool call's input, pretty-printed.
  input: string;
}

const KINDS: ReadonlySet<string> = new Set(["text", "thinking", "tool_use", "tool_result", "error"]);

export function toEntry(message: TaskMessage): Entry {
  const kind = (KINDS.has(message.type) ? message.type : "other") as EntryKind;
  const body = message.content || message.output || "";
  let input = "";
  if (message.input && Object.keys(message.input).length > 0) {
    try {
      input = JSON.stringify(message.input, null, 2);
    } catch {
      input = String(message.input);
    }
  }
  return { seq: message.seq, kind, tool: message.tool ?? "", body, input };
}

const LABELS: Record<EntryKind, string> = {
  text: "Agent",
  thinking: "Thinking",
  tool_use: "Tool call",
  tool_result: "Tool result",
  error: "Error",
  other: "Note",
};

export function label(entry: Entry): string {
  return entry.tool && (entry.kind === "tool_use" || entry.kind === "tool_result")
    ? `${LABELS[entry.kind]}: ${entry.tool}`
    : LABELS[entry.kind];
}

/// The whole entry as text, for copy and search.
export function entryText(entry: Entry): string {
  const parts = [label(entry)];
  if (entry.input) parts.push(entry.input);
  if (entry.body) parts.push(entry.body);
  return parts.join("\n");
}

/// One line for a collapsed entry: the start of its input or output.
export function preview(entry: Entry, max = 140): string {
  const source = entry.kind === "tool_use" ? compactInput(entry) : entry.body;
  const line = source.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/// A tool call's most telling argument (a command, a path, a pattern), else its JSON.
function compactInput(entry: Entry): string {
  if (!entry.input) return "";
  try {
    const input = JSON.parse(entry.input) as Record<string, unknown>;
    for (const key of ["command", "file_path", "path", "pattern", "url", "query", "description"]) {
      const value = input[key];
      if (typeof value === "string" && value.length > 0) return value;
    }
  } catch {
    // Not JSON: show it as it is.
  }
  return entry.input;
}

/// Indices of the entries containing `query`, ignoring case; none for a blank query.
export function findMatches(entries: readonly Entry[], query: string): number[] {
  const needle = query.trim().toLowerCase();
  if (needle === "") return [];
  const matches: number[] = [];
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index];
    if (
      entry.body.toLowerCase().includes(needle) ||
      entry.input.toLowerCase().includes(needle) ||
      label(entry).toLowerCase().includes(needle)
    ) {
      matches.push(index);
    }
  }
  return matches;
}

function entryBytes(entry: Entry): number {
  return 64 + entry.body.length + entry.input.length + entry.tool.length;
}

/// What `add` did, so a view can keep its row heights in step.
export type AddResult = "appended" | "rebuilt" | "unchanged";

export class TranscriptBuffer {
  entries: Entry[] = [];
  /// Entries dropped from the front to stay within bounds (here or in the engine).
  dropped = 0;
  private bytes = 0;
  private seen = new Set<number>();
  /// The newest sequence number dropped: older messages are not taken again.
  private droppedThrough = -1;

  constructor(
    private readonly maxEntries = 200_000,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  get lastSeq(): number {
    return this.entries.length === 0 ? -1 : this.entries[this.entries.length - 1].seq;
  }

  /// Adds messages in any order; ones already kept are ignored. Live messages come
  /// after the last one (cheap); the engine's kept history may fill in older ones.
  add(messages: readonly TaskMessage[]): AddResult {
    let appended = 0;
    const older: Entry[] = [];
    for (const message of messages) {
      if (message.seq <= this.droppedThrough || this.seen.has(message.seq)) continue;
      this.seen.add(message.seq);
      const entry = toEntry(message);
      this.bytes += entryBytes(entry);
      if (entry.seq > this.lastSeq) {
        this.entries.push(entry);
        appended++;
      } else {
        older.push(entry);
      }
    }
    let result: AddResult = appended > 0 ? "appended" : "unchanged";
    if (older.length > 0) {
      this.entries = [...older, ...this.entries].sort((a, b) => a.seq - b.seq);
      result = "rebuilt";
    }
    if (this.trim()) result = "rebuilt";
    return result;
  }

  /// Drops the oldest entries beyond the bounds; returns whether any went.
  private trim(): boolean {
    let drop = 0;
    while (
      drop < this.entries.length - 1 &&
      (this.entries.length - drop > this.maxEntries || this.bytes > this.maxBytes)
    ) {
      const entry = this.entries[drop];
      this.bytes -= entryBytes(entry);
      this.seen.delete(entry.seq);
      this.droppedThrough = Math.max(this.droppedThrough, entry.seq);
      drop++;
    }
    if (drop === 0) return false;
    this.entries.splice(0, drop);
    this.dropped += drop;
    return true;
  }

  /// The whole transcript as text, oldest first.
  text(): string {
    return this.entries.map(entryText).join("\n\n");
  }
}
