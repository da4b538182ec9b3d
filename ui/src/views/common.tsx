// Small pieces shared by the views.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { type ErrorCode, errorCode } from "../errors";
import { readableError } from "../format";

/// A short note in the corner that goes away by itself.
export function flash(text: string, isError = false): void {
  const note = document.createElement("div");
  note.className = isError ? "flash error" : "flash";
  note.setAttribute("role", "status");
  note.textContent = text;
  document.body.append(note);
  setTimeout(() => note.remove(), 4000);
}

/// Runs `action`, showing a readable error if it fails.
export async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    flash(readableError(error), true);
    return undefined;
  }
}

type Loaded<T> =
  | { state: "loading" }
  | { state: "ready"; value: T }
  | { state: "failed"; error: string; code: ErrorCode | null };

/// Loads something when the view opens and whenever one of `deps` changes.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  useEffect(() => {
    let current = true;
    load().then(
      (value) => current && setLoaded({ state: "ready", value }),
      (error: unknown) =>
        current && setLoaded({ state: "failed", error: readableError(error), code: errorCode(error) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return loaded;
}

export function Problem(props: { children: ComponentChildren }) {
  return (
    <p class="error" role="alert">
      {props.children}
    </p>
  );
}

export function Section(props: { id: string; title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section id={props.id}>
      <div class="section-head">
        <h1>{props.title}</h1>
        {props.actions && <div class="actions">{props.actions}</div>}
      </div>
      {props.children}
    </section>
  );
}
