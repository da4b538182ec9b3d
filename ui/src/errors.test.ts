import { describe, expect, it } from "vitest";
import { IpcError, errorCode, fromRejection } from "./errors";

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
