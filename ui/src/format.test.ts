import { describe, expect, it } from "vitest";
import {
  formatCost,
  formatCount,
  formatDuration,
  formatRelative,
  formatTokens,
  readableError,
  shortId,
} from "./format";
import { IpcError } from "./errors";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("formatDuration", () => {
  it("writes two units at most, padding the second", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(999)).toBe("0 s");
    expect(formatDuration(45 * SECOND)).toBe("45 s");
    expect(formatDuration(59 * SECOND + 999)).toBe("59 s");
    expect(formatDuration(MINUTE)).toBe("1 min 00 s");
    expect(formatDuration(3 * MINUTE + 5 * SECOND)).toBe("3 min 05 s");
    expect(formatDuration(HOUR - 1)).toBe("59 min 59 s");
    expect(formatDuration(2 * HOUR + 3 * MINUTE + 59 * SECOND)).toBe("2 h 03 min");
    expect(formatDuration(DAY - 1)).toBe("23 h 59 min");
    expect(formatDuration(DAY)).toBe("1 d 0 h");
    expect(formatDuration(3 * DAY + 4 * HOUR + 30 * MINUTE)).toBe("3 d 4 h");
    expect(formatDuration(400 * DAY)).toBe("400 d 0 h");
  });

  it("shows a dash for what is not a duration", () => {
    expect(formatDuration(-1)).toBe("—");
    expect(formatDuration(Number.NaN)).toBe("—");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("—");
  });
});

describe("formatTokens", () => {
  it("writes small counts whole", () => {
    expect(formatTokens(0)).toBe("0");
    expect(formatTokens(950)).toBe("950");
    expect(formatTokens(999)).toBe("999");
    expect(formatTokens(12.4)).toBe("12");
  });

  it("keeps one decimal below 100 of the unit and none above", () => {
    expect(formatTokens(1000)).toBe("1.0k");
    expect(formatTokens(12_345)).toBe("12.3k");
    expect(formatTokens(99_949)).toBe("99.9k");
    expect(formatTokens(123_456)).toBe("123k");
    expect(formatTokens(4_500_000)).toBe("4.5M");
    expect(formatTokens(1_234_567_890)).toBe("1.2B");
    expect(formatTokens(456_000_000_000)).toBe("456B");
    expect(formatTokens(2_000_000_000_000)).toBe("2000B");
  });

  it("rounds across a boundary into the right form", () => {
    expect(formatTokens(999.6)).toBe("1.0k");
    expect(formatTokens(99_960)).toBe("100k");
    expect(formatTokens(999_600)).toBe("1.0M");
    expect(formatTokens(999_600_000)).toBe("1.0B");
  });

  it("shows a dash when unknown", () => {
    expect(formatTokens(null)).toBe("—");
    expect(formatTokens(undefined)).toBe("—");
    expect(formatTokens(Number.NaN)).toBe("—");
  });

  it("keeps the sign of a negative difference", () => {
    expect(formatTokens(-12_345)).toBe("-12.3k");
  });
});

describe("formatCost", () => {
  it("writes dollars and cents with grouping", () => {
    expect(formatCost(0)).toBe("$0.00");
    expect(formatCost(0.01)).toBe("$0.01");
    expect(formatCost(1.234)).toBe("$1.23");
    expect(formatCost(1234.5)).toBe("$1,234.50");
    expect(formatCost(1_234_567.891)).toBe("$1,234,567.89");
  });

  it("keeps two significant digits below a cent", () => {
    expect(formatCost(0.0042)).toBe("$0.0042");
    expect(formatCost(0.004_248)).toBe("$0.0042");
    expect(formatCost(0.000_012_3)).toBe("$0.000012");
    expect(formatCost(0.009)).toBe("$0.009");
  });

  it("never says $0 for an unknown cost", () => {
    expect(formatCost(null)).toBe("—");
    expect(formatCost(undefined)).toBe("—");
    expect(formatCost(Number.NaN)).toBe("—");
  });
});

describe("formatRelative", () => {
  const now = Date.UTC(2026, 4, 10, 12, 0, 0);

  it("says how long ago", () => {
    expect(formatRelative(now, now)).toBe("just now");
    expect(formatRelative(now - 4_999, now)).toBe("just now");
    expect(formatRelative(now - 5 * SECOND, now)).toBe("5 s ago");
    expect(formatRelative(now - 12 * SECOND, now)).toBe("12 s ago");
    expect(formatRelative(now - 3 * MINUTE - 40 * SECOND, now)).toBe("3 min ago");
    expect(formatRelative(now - 2 * HOUR - 59 * MINUTE, now)).toBe("2 h ago");
    expect(formatRelative(now - 4 * DAY - 23 * HOUR, now)).toBe("4 d ago");
  });

  it("says never for null", () => {
    expect(formatRelative(null, now)).toBe("never");
  });

  it("forgives a minute of clock skew", () => {
    expect(formatRelative(now + 1 * SECOND, now)).toBe("just now");
    expect(formatRelative(now + 59 * SECOND, now)).toBe("just now");
    expect(formatRelative(now + 3 * MINUTE, now)).toBe("in 3 min");
  });

  it("shows a dash for what is not a time", () => {
    expect(formatRelative(Number.NaN, now)).toBe("—");
  });
});

describe("readableError", () => {
  it("passes a plain message through, without the trailing newline", () => {
    expect(readableError("not logged in")).toBe("not logged in");
    expect(readableError("cannot reach https://x: timed out\n")).toBe(
      "cannot reach https://x: timed out",
    );
  });

  it("reads an Error's message", () => {
    expect(readableError(new Error("not running inside the Multica app"))).toBe(
      "not running inside the Multica app",
    );
    expect(readableError(new TypeError('{"error":"bad token"}'))).toBe("bad token");
  });

  it("reads error, message and reason fields, nested too", () => {
    expect(readableError({ error: "workspace not found" })).toBe("workspace not found");
    expect(readableError({ message: "task not found" })).toBe("task not found");
    expect(readableError({ reason: "paused" })).toBe("paused");
    expect(readableError({ error: { message: "quota exceeded" } })).toBe("quota exceeded");
    expect(readableError({ error: { code: 7 }, message: "fallback" })).toBe("fallback");
  });

  it("reads the core's {code, message}, with a server's body inside the message", () => {
    expect(
      readableError({ code: "token_refused", message: "the server refused the token: check it" }),
    ).toBe("the server refused the token: check it");
    expect(
      readableError({
        code: "server_refused",
        message: 'http://s refused the request: GET /api/workspaces: 403 {"error":"not a member"}',
      }),
    ).toBe("http://s refused the request: GET /api/workspaces: 403: not a member");
    // As `invoke` hands it on.
    expect(readableError(new IpcError("not_found", "this task has no folder yet"))).toBe(
      "this task has no folder yet",
    );
    expect(readableError({ code: "io", message: "" })).toBe("Something went wrong");
  });

  it("reads a server's JSON body instead of showing it", () => {
    expect(readableError('{"error":"workspace not found"}')).toBe("workspace not found");
    expect(readableError('{"message":"rate limited"}\n')).toBe("rate limited");
    expect(readableError('{"error":{"reason":"deep"}}')).toBe("deep");
    expect(readableError('"quoted"')).toBe("quoted");
    expect(readableError('{"error":"{\\"message\\":\\"twice encoded\\"}"}')).toBe(
      "twice encoded",
    );
  });

  it("keeps the context before a JSON body", () => {
    expect(readableError('GET /api/tasks/1: 404 {"error":"task not found"}')).toBe(
      "GET /api/tasks/1: 404: task not found",
    );
    expect(
      readableError('GET /api/x: the server answered 200 with an unexpected body: {"data":1}'),
    ).toBe("GET /api/x: the server answered 200 with an unexpected body");
    // Braces, brackets and quotes that are not JSON are just text.
    expect(readableError("cannot read {path}")).toBe("cannot read {path}");
    expect(readableError('"claude" is not installed')).toBe('"claude" is not installed');
    expect(readableError("[agent] exited with 1")).toBe("[agent] exited with 1");
  });

  it("caps a long message", () => {
    const long = readableError("x".repeat(2000));
    expect(long).toHaveLength(500);
    expect(long.endsWith("x…")).toBe(true);
    expect(readableError("y".repeat(500))).toBe("y".repeat(500));
  });

  it("falls back for empty and unknown shapes, never showing JSON", () => {
    expect(readableError("")).toBe("Something went wrong");
    expect(readableError("  \n")).toBe("Something went wrong");
    expect(readableError(null)).toBe("Something went wrong");
    expect(readableError(undefined)).toBe("Something went wrong");
    expect(readableError(new Error(""))).toBe("Something went wrong");
    expect(readableError({})).toBe("Something went wrong");
    expect(readableError({ code: 42 })).toBe("Something went wrong");
    expect(readableError('{"code":42}')).toBe("Something went wrong");
    expect(readableError("[1,2]")).toBe("Something went wrong");
    expect(readableError('{"error": "cut off')).toBe("Something went wrong");
    expect(readableError(Object.create(null))).toBe("Something went wrong");
    expect(readableError(42)).toBe("Something went wrong: 42");
    expect(readableError(false)).toBe("Something went wrong: false");
    expect(readableError(10n ** 90n)).toBe("Something went wrong");
  });

  it("survives a cycle", () => {
    const cyclic: { error?: unknown } = {};
    cyclic.error = cyclic;
    expect(readableError(cyclic)).toBe("Something went wrong");
  });
});

describe("shortId", () => {
  it("keeps the first 8 characters", () => {
    expect(shortId("0b5e6c1d-8f7a-4a3e-9d2c-1e2f3a4b5c6d")).toBe("0b5e6c1d");
    expect(shortId("abc")).toBe("abc");
    expect(shortId("")).toBe("");
  });
});

describe("formatCount", () => {
  it("groups thousands the same on every locale", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(7096)).toBe("7,096");
    expect(formatCount(4_212_891_509)).toBe("4,212,891,509");
  });
});
