import { describe, expect, it } from "vitest";
import type { TaskMessage } from "./shell";
import { TranscriptBuffer, entryText, findMatches, label, preview, toEntry } from "./transcript";

const text = (seq: number, content: string): TaskMessage => ({ seq, type: "text", content });

describe("entries", () => {
  it("keep the kind, tool, body and pretty input", () => {
    const call = toEntry({ seq: 3, type: "tool_use", tool: "Bash", input: { command: "multica --version" } });
    expect(call.kind).toBe("tool_use");
    expect(label(call)).toBe("Tool call: Bash");
    expect(call.input).toContain('"command": "multica --version"');
    // The collapsed line shows the command, not the JSON around it.
    expect(preview(call)).toBe("multica --version");
    const result = toEntry({ seq: 4, type: "tool_result", tool: "Bash", output: "multica 0.1.0\n" });
    expect(result.body).toBe("multica 0.1.0\n");
    expect(entryText(result)).toBe("Tool result: Bash\nmultica 0.1.0\n");
    expect(toEntry({ seq: 5, type: "status" }).kind).toBe("other");
  });

  it("previews are one bounded line", () => {
    const long = toEntry(text(1, `first line\n\n${"x".repeat(500)}`));
    const line = preview(long, 40);
    expect(line.length).toBe(40);
    expect(line.startsWith("first line x")).toBe(true);
    expect(line.endsWith("…")).toBe(true);
  });
});

describe("search", () => {
  it("finds entries by body, input and label, ignoring case", () => {
    const entries = [
      toEntry(text(1, "Reading the Repository")),
      toEntry({ seq: 2, type: "tool_use", tool: "Grep", input: { pattern: "TODO" } }),
      toEntry({ seq: 3, type: "error", content: "exit 3" }),
    ];
    expect(findMatches(entries, "repository")).toEqual([0]);
    expect(findMatches(entries, "todo")).toEqual([1]);
    expect(findMatches(entries, "grep")).toEqual([1]);
    expect(findMatches(entries, "ERROR")).toEqual([2]);
    expect(findMatches(entries, "   ")).toEqual([]);
  });
});

describe("the buffer", () => {
  it("appends live messages and ignores repeats", () => {
    const buffer = new TranscriptBuffer();
    expect(buffer.add([text(1, "a"), text(2, "b")])).toBe("appended");
    expect(buffer.add([text(2, "b")])).toBe("unchanged");
    expect(buffer.add([text(3, "c")])).toBe("appended");
    expect(buffer.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("fills in older messages from the engine's history in order", () => {
    const buffer = new TranscriptBuffer();
    buffer.add([text(5, "e"), text(6, "f")]);
    expect(buffer.add([text(1, "a"), text(2, "b"), text(5, "e"), text(6, "f")])).toBe("rebuilt");
    expect(buffer.entries.map((e) => e.seq)).toEqual([1, 2, 5, 6]);
  });

  it("stays within its bounds, dropping the oldest and counting them", () => {
    const buffer = new TranscriptBuffer(1000, 1024 * 1024);
    const batch: TaskMessage[] = [];
    for (let seq = 1; seq <= 100_000; seq++) batch.push(text(seq, `message ${seq}`));
    for (let start = 0; start < batch.length; start += 500) buffer.add(batch.slice(start, start + 500));
    expect(buffer.entries.length).toBe(1000);
    expect(buffer.dropped).toBe(99_000);
    expect(buffer.entries[0].seq).toBe(99_001);
    expect(buffer.lastSeq).toBe(100_000);
    // Dropped messages coming back from the history are not taken again.
    expect(buffer.add([text(5, "old")])).toBe("unchanged");

    const bytes = new TranscriptBuffer(1_000_000, 10_000);
    bytes.add([text(1, "x".repeat(6000)), text(2, "y".repeat(6000))]);
    expect(bytes.entries.map((e) => e.seq)).toEqual([2]);
    // The newest entry stays even when it alone is over the byte bound.
    bytes.add([text(3, "z".repeat(20_000))]);
    expect(bytes.entries.map((e) => e.seq)).toEqual([3]);
  });

  it("copies as text, oldest first", () => {
    const buffer = new TranscriptBuffer();
    buffer.add([text(2, "second"), { seq: 1, type: "thinking", content: "first" }]);
    expect(buffer.text()).toBe("Thinking\nfirst\n\nAgent\nsecond");
  });
});
