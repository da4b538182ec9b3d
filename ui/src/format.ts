// How the window writes durations, token counts, costs, times and errors. Pure
// functions, so every view says the same thing the same way and tests need no DOM.

/// What a figure shows when it is unknown: never "0", which would be a claim.
const UNKNOWN = "—";
const FALLBACK_ERROR = "Something went wrong";
const MAX_ERROR_CHARS = 500;

const pad2 = (n: number) => String(n).padStart(2, "0");

/// "0 s", "45 s", "3 min 05 s", "2 h 03 min", "3 d 4 h": two units at most, since a
/// running task's age needs no more precision than that. Negative or NaN: "—".
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return UNKNOWN;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${pad2(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${pad2(minutes % 60)} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const TOKEN_UNITS: [number, string][] = [
  [1e3, "k"],
  [1e6, "M"],
  [1e9, "B"],
];

/// "950", "12.3k", "123k", "4.5M", "1.2B": one decimal below 100 of the unit, none
/// above, so a column of figures keeps about the same width.
export function formatTokens(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return UNKNOWN;
  const sign = n < 0 ? "-" : "";
  const count = Math.round(Math.abs(n));
  if (count < 1000) return `${sign}${count}`;
  let unit = TOKEN_UNITS.length - 1;
  while (unit > 0 && count < TOKEN_UNITS[unit][0]) unit -= 1;
  for (;;) {
    const [size, suffix] = TOKEN_UNITS[unit];
    const value = count / size;
    // Decide on the rounded value: 99.96k is "100k", not "100.0k".
    const text = Number(value.toFixed(1)) < 100 ? value.toFixed(1) : value.toFixed(0);
    // 999.6k rounds to "1000k": say "1.0M" instead, while there is a larger unit.
    if (Number(text) >= 1000 && unit < TOKEN_UNITS.length - 1) {
      unit += 1;
      continue;
    }
    return `${sign}${text}${suffix}`;
  }
}

const DOLLARS = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
// A short task can cost a fraction of a cent; "$0.00" would read as free.
const CENTS = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  maximumSignificantDigits: 2,
});

/// "$1,234.50", "$1.23", "$0.0042" below a cent; "—" when unknown (no price for the
/// model), never "$0".
export function formatCost(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return UNKNOWN;
  if (usd !== 0 && Math.abs(usd) < 0.01) return CENTS.format(usd);
  return DOLLARS.format(usd);
}

/// "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "never" for null.
/// The engine's clock and the server's differ a little, so a time up to a minute in
/// the future is "just now" too; further ahead it is "in 3 min".
export function formatRelative(thenMs: number | null, nowMs: number): string {
  if (thenMs == null) return "never";
  const diff = nowMs - thenMs;
  if (!Number.isFinite(diff)) return UNKNOWN;
  if (diff < 5_000 && diff > -60_000) return "just now";
  const span = ago(Math.abs(diff));
  return diff < 0 ? `in ${span}` : `${span} ago`;
}

function ago(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/// One human sentence for a failed IPC command. The core sends `{code, message}`
/// (an IpcError once through `invoke`), the browser transport Errors with the local
/// API's text, a server's JSON body can end up inside a message (`{"error":"workspace
/// not found"}`), and a bug can throw a string, an Error or any object: none of that
/// raw shape should reach the window.
export function readableError(error: unknown): string {
  const text = messageOf(error, 0);
  if (text) return cap(text);
  const shown = stringForm(error);
  return shown ? `${FALLBACK_ERROR}: ${shown}` : FALLBACK_ERROR;
}

/// The message inside `value`, or null when it has none we can read.
function messageOf(value: unknown, depth: number): string | null {
  // Bounds cycles (`a.error = a`) and silly nesting.
  if (depth > 5 || value == null) return null;
  if (typeof value === "string") return messageOfText(value, depth);
  if (value instanceof Error) return messageOf(value.message, depth + 1);
  if (typeof value === "object") {
    const fields = value as Record<string, unknown>;
    for (const key of ["error", "message", "reason"]) {
      const found = messageOf(fields[key], depth + 1);
      if (found) return found;
    }
  }
  return null;
}

function messageOfText(raw: string, depth: number): string | null {
  const text = raw.trim();
  if (!text) return null;
  // A JSON body, or a JSON string ("\"not found\""): read it. A "{" that does not
  // parse is a cut-off body, still not something to show; a "[" or a quote that
  // does not parse is just how the sentence starts ("\"claude\" is not installed").
  if (/^[{["]/.test(text)) {
    const parsed = parseJson(text);
    if (parsed !== undefined) return messageOf(parsed, depth + 1);
    if (text.startsWith("{")) return null;
  }
  // "GET /x: 404 {"error":"task not found"}": keep the context, read the body.
  const start = text.indexOf("{");
  if (start > 0) {
    const body = parseJson(text.slice(start));
    if (body !== undefined) {
      const context = text.slice(0, start).trim().replace(/:$/, "");
      const inner = messageOf(body, depth + 1);
      return inner ? `${context}: ${inner}` : context;
    }
  }
  return text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/// The value as text when that helps (a number, a class with its own toString):
/// short, and neither JSON nor "[object Object]". Strings and Errors were read already.
function stringForm(value: unknown): string | null {
  if (value == null || typeof value === "string" || value instanceof Error) return null;
  let text: string;
  try {
    text = String(value).trim();
  } catch {
    return null; // Object.create(null) has no toString
  }
  if (!text || text.length > 80 || text.startsWith("[object ") || /^[{["]/.test(text)) {
    return null;
  }
  return text;
}

function cap(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

/// The first 8 characters of a UUID: enough to tell tasks apart in a list.
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/// A whole number with thousands separators, the same on every system locale.
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
