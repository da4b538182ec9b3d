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
