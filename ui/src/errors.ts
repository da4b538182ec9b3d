// What a failed IPC command sends: `{code, message}` (src-tauri/src/error.rs). The
// code is one of a closed set the views may act on; the message is for people.

import { readableError } from "./format";

/// The core's error kinds. The same set as `ErrorCode` in src-tauri/src/error.rs (a
/// Rust test reads this type to keep the two in step).
export type ErrorCode =
  | "not_logged_in"
  | "invalid_input"
  | "invalid_config"
  | "token_refused"
  | "server_unreachable"
  | "server_refused"
  | "keychain"
  | "io"
  | "engine_not_running"
  | "not_found"
  | "not_allowed"
  | "open_failed"
  | "clipboard"
  | "browser_login_unavailable"
  | "cancelled"
  | "timed_out";

const CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "not_logged_in",
  "invalid_input",
  "invalid_config",
  "token_refused",
  "server_unreachable",
  "server_refused",
  "keychain",
  "io",
  "engine_not_running",
  "not_found",
  "not_allowed",
  "open_failed",
  "clipboard",
  "browser_login_unavailable",
  "cancelled",
  "timed_out",
]);

/// A command's failure, as the views catch it: an Error (so `readableError` and
/// tests read its message) that also has the code.
export class IpcError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "IpcError";
    this.code = code;
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && CODES.has(value);
}

/// What a Tauri command rejected with, as an IpcError when it has the core's shape;
/// anything else (a string from a plugin, a bug) is left as it is.
export function fromRejection(reason: unknown): unknown {
  if (reason instanceof IpcError || typeof reason !== "object" || reason === null) return reason;
  const { code, message } = reason as { code?: unknown; message?: unknown };
  if (isErrorCode(code) && typeof message === "string") return new IpcError(code, message);
  return reason;
}

/// The kind of a failure, or null when it has none (not from the core).
export function errorCode(error: unknown): ErrorCode | null {
  if (error instanceof IpcError) return error.code;
  const converted = fromRejection(error);
  return converted instanceof IpcError ? converted.code : null;
}

/// Whether a failure of this kind is fixed by logging in (again).
export function needsLogin(code: ErrorCode | null): boolean {
  return code === "not_logged_in" || code === "token_refused";
}

/// What the login form shows for a failed login, and which field to point at;
/// null when there is nothing to show (the user cancelled).
export function loginProblem(error: unknown): { text: string; field: "server" | "token" | null } | null {
  const text = readableError(error);
  switch (errorCode(error)) {
    case "cancelled":
      return null;
    case "token_refused":
    case "browser_login_unavailable":
      return { text, field: "token" };
    case "server_unreachable":
    case "server_refused":
      return { text, field: "server" };
    default:
      return { text, field: null };
  }
}

/// What a settings form shows when saving failed: a value to fix, or a save that
/// did not happen (a file that cannot be written, a broken config).
export function settingsProblem(error: unknown): string {
  const text = readableError(error);
  return errorCode(error) === "invalid_input" ? `Check the values: ${text}` : `Not saved: ${text}`;
}
