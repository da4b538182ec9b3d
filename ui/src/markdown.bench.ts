// Parse speed of agent messages, by size: `npm run bench`. A figure to watch, not a
// test: timings depend on the machine, so nothing here can fail.
import { bench, describe } from "vitest";
import { parseMarkdown } from "./markdown";

/// What an agent writes: headings, prose with inline markup and links, lists, code,
/// a table, a quote.
const SAMPLE = `## Changes in \`src/store.ts\`

I looked at **the cache** and the _event loop_; see https://example.com/docs/cache and
[the issue](https://github.com/example/repo/issues/42 "Issue 42"). The fix keeps
~~two~~ one copy of each entry, so \`snapshot()\` stays O(1).

- Read the config once per status
- Lock the runtimes' last contact:
  1. take the lock
  2. update \`last_seen\`
- Start hidden when asked

\`\`\`ts
export function snapshot(store: Store): Snapshot {
  return { ...store.state, at: Date.now() };
}
\`\`\`

| file | lines | note |
|------|------:|------|
| store.ts | 183 | *cache* |
| shell.ts | 359 | \`invoke\` |

> Tests pass: 149 passed, 0 failed. <not html> & more\\
> Next: the transcript view.

`;

function message(bytes: number): string {
  return SAMPLE.repeat(Math.ceil(bytes / SAMPLE.length)).slice(0, bytes);
}

describe("parseMarkdown", () => {
  for (const [label, bytes] of [
    ["100 KB", 100_000],
    ["1 MB", 1_000_000],
  ] as const) {
    const source = message(bytes);
    bench(`a ${label} message`, () => void parseMarkdown(source), { iterations: 20, time: 0, warmupIterations: 3 });
  }
});
