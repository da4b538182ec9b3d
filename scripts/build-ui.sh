#!/usr/bin/env bash
# Builds the app's window (ui/, TypeScript + Vite) into ui/dist, which the app embeds.
# Installs the pinned npm packages first when they are missing or changed.
set -euo pipefail
cd "$(dirname "$0")/../ui"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  # The registry may lack some optional platform packages that the lock names;
  # then npm ci refuses and a plain install resolves them again.
  npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build

# The window's weight, gzipped (fonts excluded: it uses the system's); the budget is
# 200 KB.
gzipped=$(cat dist/assets/*.js dist/assets/*.css | gzip -9 | wc -c)
echo "ui bundle: $((gzipped / 1024)) KB gzipped (budget 200 KB)"
if [ "$gzipped" -gt $((200 * 1024)) ]; then
  echo "the window's bundle is over its 200 KB budget" >&2
  exit 1
fi
