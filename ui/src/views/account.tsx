// Logging in (token or browser) and choosing the workspaces this computer serves.

import { useState } from "preact/hooks";
import { loginProblem, needsLogin } from "../errors";
import { readableError } from "../format";
import { invoke, type WorkspaceRow } from "../shell";
import { store, useStore } from "../store";
import { Problem, Section, flash, useLoad } from "./common";

export function LoginView() {
  const { status } = useStore();
  const [server, setServer] = useState(status?.server_url ?? "");
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  // The field the error is about, marked for the user to fix.
  const [errorField, setErrorField] = useState<"server" | "token" | null>(null);
  const [busy, setBusy] = useState<"token" | "browser" | null>(null);

  const loggedIn = (name: string, note = "") => {
    location.hash = "#/workspaces";
    flash(`Logged in as ${name}${note}`);
    void store.refreshStatus();
  };
  const run = async (kind: "token" | "browser", action: () => Promise<string>, note = "") => {
    setBusy(kind);
    setError("");
    setErrorField(null);
    try {
      loggedIn(await action(), note);
    } catch (e) {
      // A cancelled browser login is no failure: nothing to show.
      const problem = loginProblem(e);
      setError(problem?.text ?? "");
      setErrorField(problem?.field ?? null);
    } finally {
      setBusy(null);
    }
  };

  return (
    <form
      id="login-form"
      onSubmit={(event) => {
        event.preventDefault();
        void run("token", async () => {
          const name = await invoke<string>("login_with_token", { serverUrl: server, token });
          setToken("");
          return name;
        });
      }}
    >
      <h1>Log in to Multica</h1>
      <label>
        Server
        <input
          id="server-url"
          type="url"
          value={server}
          aria-invalid={errorField === "server"}
          onInput={(e) => setServer(e.currentTarget.value)}
        />
      </label>
      <p>Sign in on the Multica web page, which then sends this app a token:</p>
      <button
        id="browser-login"
        type="button"
        disabled={busy !== null}
        onClick={() => void run("browser", () => invoke<string>("login_in_browser", { serverUrl: server }))}
      >
        Sign in with the browser
      </button>
      {busy === "browser" && (
        <p id="browser-waiting">
          Waiting for the sign-in in your browser…{" "}
          <button type="button" onClick={() => void invoke("cancel_browser_login")}>
            Cancel
          </button>
        </p>
      )}
      <p>Or paste a personal access token (Multica → Settings → Tokens):</p>
      <label>
        Token
        <input
          id="token"
          type="password"
          autocomplete="off"
          placeholder="mul_…"
          value={token}
          aria-invalid={errorField === "token"}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
      </label>
      <button id="login-button" type="submit" disabled={busy !== null}>
        Log in with the token
      </button>
      <p id="login-error" class="error" role="alert">
        {error}
      </p>
      {status?.importable_token && (
        <>
          <p>A token saved by the multica CLI was found in its config file.</p>
          <button
            id="import-token"
            type="button"
            onClick={() => void run("token", () => invoke<string>("import_config_token"), "; the token moved to the keychain")}
          >
            Use the token of the multica CLI
          </button>
        </>
      )}
      <p>
        <small>The token is kept in this computer's keychain, shared with the multica CLI.</small>
      </p>
    </form>
  );
}

export function WorkspacesView() {
  const [version, setVersion] = useState(0);
  const rows = useLoad(() => invoke<WorkspaceRow[]>("list_workspaces"), [version]);
  const toggle = async (row: WorkspaceRow, watched: boolean) => {
    try {
      await invoke("set_workspace_watched", { id: row.id, name: row.name, watched });
      flash(watched ? `Watching ${row.name}` : `Stopped watching ${row.name}`);
      void store.refreshStatus();
    } catch (e) {
      flash(readableError(e), true);
    }
    setVersion((v) => v + 1);
  };
  return (
    <Section id="workspaces" title="Workspaces">
      <p>This computer takes tasks from the workspaces you switch on.</p>
      <ul id="workspace-list" class="rows">
        {rows.state === "loading" && <li>Loading…</li>}
        {rows.state === "failed" && <li class="error">{rows.error}</li>}
        {rows.state === "ready" && rows.value.length === 0 && <li>No workspace in this account.</li>}
        {rows.state === "ready" &&
          rows.value.map((row) => (
            <li key={row.id}>
              <label>
                <input
                  type="checkbox"
                  class="watch"
                  data-id={row.id}
                  checked={row.watched}
                  onChange={(e) => void toggle(row, e.currentTarget.checked)}
                />{" "}
                {row.name}
              </label>
            </li>
          ))}
      </ul>
      {rows.state === "failed" &&
        (needsLogin(rows.code) ? (
          <Problem>
            <a href="#/login">Log in</a> to see the account's workspaces.
          </Problem>
        ) : (
          <Problem>Check the connection to the server, then open this page again.</Problem>
        ))}
    </Section>
  );
}
