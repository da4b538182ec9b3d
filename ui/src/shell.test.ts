// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { IpcError } from "./errors";
import { READ_ONLY, browserInvoke, controlToken, inBrowser, invoke, parseSse, setControlToken } from "./shell";

afterEach(() => {
  vi.unstubAllGlobals();
  setControlToken(null);
});

function answer(status: number, body: unknown): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
}

describe("in a browser", () => {
  it("is detected by the missing app bridge", () => {
    expect(inBrowser()).toBe(true);
  });

  it("reads the open routes, with the control token once it is given", async () => {
    const calls: { url: string; auth: string | undefined }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        const headers = (init?.headers ?? {}) as Record<string, string>;
        calls.push({ url, auth: headers.Authorization });
        if (url === "/health") {
          return answer(200, { cli_version: "0.1.0", server_url: "http://s", paused: true, state: "online" });
        }
        if (url.includes("/transcript")) return headers.Authorization ? answer(200, [{ seq: 1, type: "text" }]) : answer(401, "unauthorized\n");
        return answer(200, []);
      }),
    );
    const status = await browserInvoke<{ version: string; host: { state: string }; paused: boolean }>("app_status", {});
    expect(status.version).toBe("0.1.0");
    expect(status.host.state).toBe("running");
    expect(status.paused).toBe(true);
    await browserInvoke("usage", { since: "7d" });
    expect(calls.at(-1)?.url).toBe("/usage?since=7d");

    await expect(browserInvoke("task_transcript", { taskId: "a/b", afterSeq: null })).rejects.toThrow(/control token/);
    expect(calls.at(-1)?.url).toBe("/tasks/a%2Fb/transcript");
    setControlToken("  secret-control  ");
    expect(controlToken()).toBe("secret-control");
    const kept = await browserInvoke<unknown[]>("task_transcript", { taskId: "t1", afterSeq: 4 });
    expect(kept).toHaveLength(1);
    expect(calls.at(-1)).toEqual({ url: "/tasks/t1/transcript?after=4", auth: "Bearer secret-control" });
  });

  it("changes nothing", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    for (const command of ["cancel_task", "set_paused", "logout", "save_settings", "open_task_folder"]) {
      await expect(browserInvoke(command, {})).rejects.toThrow(READ_ONLY);
      await expect(browserInvoke(command, {})).rejects.toMatchObject({ code: "not_allowed" });
    }
    expect(fetch).not.toHaveBeenCalled();
  });

  it("says what the server said when a route fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => answer(400, "since must be YYYY-MM-DD or a number of days\n")));
    await expect(browserInvoke("usage", { since: "soon" })).rejects.toThrow("since must be YYYY-MM-DD or a number of days");
  });
});

describe("in the app", () => {
  function app(answer: (command: string) => Promise<unknown>) {
    vi.stubGlobal("__TAURI__", {
      core: { invoke: (command: string) => answer(command) },
      event: { listen: () => Promise.resolve(() => undefined) },
    });
  }

  it("hands on the core's answer", async () => {
    app(async () => ({ version: "1.2.3" }));
    expect(inBrowser()).toBe(false);
    await expect(invoke("app_status")).resolves.toEqual({ version: "1.2.3" });
  });

  it("turns the core's {code, message} into an IpcError", async () => {
    app(() => Promise.reject({ code: "not_logged_in", message: "not logged in: log in first" }));
    const failed = await invoke("list_workspaces").catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(IpcError);
    expect(failed).toMatchObject({ code: "not_logged_in", message: "not logged in: log in first" });
  });

  it("leaves other rejections as they are", async () => {
    app(() => Promise.reject("command open_link not allowed by the ACL"));
    await expect(invoke("open_link")).rejects.toBe("command open_link not allowed by the ACL");
  });
});

describe("server-sent events", () => {
  it("are split out of chunks, keeping the incomplete rest", () => {
    const first = parseSse('data: {"type":"a"}\n\ndata: {"type":');
    expect(first.data).toEqual(['{"type":"a"}']);
    const second = parseSse(`${first.rest}"b"}\n\n: keep-alive\n\n`);
    expect(second.data).toEqual(['{"type":"b"}']);
    expect(second.rest).toBe("");
    // CRLF line ends and multi-line data.
    expect(parseSse("data: one\r\ndata: two\r\n\r\n").data).toEqual(["one\ntwo"]);
  });
});
