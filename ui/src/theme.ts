// Light, dark, or as the system says; remembered in this window's storage.

export type Theme = "system" | "light" | "dark";

const KEY = "multica.theme";

export function currentTheme(): Theme {
  const saved = localStorage.getItem(KEY);
  return saved === "light" || saved === "dark" ? saved : "system";
}

/// The stylesheet follows `prefers-color-scheme` unless the root names a theme.
export function applyTheme(theme: Theme = currentTheme()): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

export function setTheme(theme: Theme): void {
  if (theme === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, theme);
  applyTheme(theme);
}
