import { describe, expect, it } from "vitest";
import { IpcError, errorCode, fromRejection, loginProblem, needsLogin, settingsProblem } from "./errors";

describe("the core's errors", () => {
  it("become IpcErrors with their code and message", () => {
    const error = fromRejection({ code: "token_refused", message: "the server refused the token" });
    expect(error).toBeInstanceOf(IpcError);
    expect(error).toBeInstanceOf(Error);
    expect((error as IpcError).code).toBe("token_refused");
    expect((error as IpcError).message).toBe("the server refused the token");
    expect(errorCode(error)).toBe("token_refused");
    // Read from the plain shape too, as Tauri rejects with it.
    expect(errorCode({ code: "not_logged_in", message: "not logged in" })).toBe("not_logged_in");
  });

  it("leave anything else as it is, without a code", () => {
    for (const other of [
      "a plugin's plain string",
      new Error("a bug"),
      { code: "no_such_code", message: "not one of ours" },
      { code: "io" },
      { message: "no code" },
      null,
      undefined,
      42,
    ]) {
      expect(fromRejection(other)).toBe(other);
      expect(errorCode(other)).toBeNull();
    }
  });
});

describe("the views' decisions", () => {
  it("the login form points at the field to fix, and shows nothing for a cancel", () => {
    expect(loginProblem({ code: "token_refused", message: "refused the token" })).toEqual({
      text: "refused the token",
      field: "token",
    });
    expect(loginProblem({ code: "server_unreachable", message: "cannot reach http://x" })).toEqual({
      text: "cannot reach http://x",
      field: "server",
    });
    expect(loginProblem({ code: "server_refused", message: "http://x refused the request" })?.field).toBe("server");
    expect(loginProblem({ code: "browser_login_unavailable", message: "no port; use a token" })?.field).toBe("token");
    expect(loginProblem({ code: "invalid_input", message: "paste a token first" })).toEqual({
      text: "paste a token first",
      field: null,
    });
    expect(loginProblem({ code: "cancelled", message: "login cancelled" })).toBeNull();
    expect(loginProblem("plain text")).toEqual({ text: "plain text", field: null });
  });

  it("a login fixes not_logged_in and token_refused only", () => {
    expect(needsLogin("not_logged_in")).toBe(true);
    expect(needsLogin("token_refused")).toBe(true);
    expect(needsLogin("server_unreachable")).toBe(false);
    expect(needsLogin(null)).toBe(false);
  });

  it("settings tell a value to fix from a save that failed", () => {
    expect(settingsProblem({ code: "invalid_input", message: "at least one task must be allowed to run" })).toBe(
      "Check the values: at least one task must be allowed to run",
    );
    expect(settingsProblem({ code: "io", message: "cannot write /s.json: permission denied" })).toBe(
      "Not saved: cannot write /s.json: permission denied",
    );
    expect(settingsProblem(new Error("a bug"))).toBe("Not saved: a bug");
  });
});
