#!/usr/bin/env bash
# Copies the window's screenshots from the last end-to-end run (tests/e2e/run.sh
# writes them to target/e2e/) into docs/screenshots/ for the README, as 256-colour
# PNGs to keep the repository small.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screenshots
for view in runtimes tasks transcript transcript-untrusted usage log settings; do
  for theme in light dark; do
    source="target/e2e/window-$view-$theme.png"
    [ -f "$source" ] || { echo "missing $source: run tests/e2e/run.sh first" >&2; exit 1; }
    convert "$source" -colors 256 "PNG8:docs/screenshots/$view-$theme.png"
  done
done
ls -l docs/screenshots
