#!/usr/bin/env bash
# Sets up and runs the headless demo: the in-memory dev server (the multica-dev-server
# binary) with a demo workspace, a scripted model API, and `multica daemon start
# --foreground` with the real Claude Code CLI. Everything listens on 127.0.0.1 and
# lives under .tools/demo; your own ~/.multica is not touched. Ctrl-C stops it all.
#
# Ports (override with the environment): DEV_SERVER_PORT (18090), MODEL_API_PORT
# (18091), DAEMON_HEALTH_PORT (18092).
#
#   scripts/run.sh          # headless: the daemon in the foreground
#   scripts/run.sh --app    # the desktop app instead (needs a desktop session)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
app=false
[ "${1:-}" = "--app" ] && app=true
if $app && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "--app needs a desktop session (DISPLAY or WAYLAND_DISPLAY); without it, run the headless demo: scripts/run.sh" >&2
  exit 1
fi

dev_port="${DEV_SERVER_PORT:-18090}"
model_port="${MODEL_API_PORT:-18091}"
health_port="${DAEMON_HEALTH_PORT:-18092}"

scripts/install-system-packages.sh
scripts/install-agent-clis.sh
cargo build --locked -p multica-cli -p multica-dev-server -p fake-model-api
if $app; then
  scripts/build-ui.sh
  cargo build --locked -p multica-app
fi

demo="$root/.tools/demo"
rm -rf "$demo"
mkdir -p "$demo/home"
# The helpers run in sessions of their own, so that Ctrl-C reaches only the daemon
# (which then finishes its task, reports and deregisters) and the server it reports
# to stays up until the daemon is done.
helpers=()
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then wait "$daemon" 2>/dev/null || true; fi
  for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "stopping: the daemon finishes what it runs, then the demo ends"' INT

target="${CARGO_TARGET_DIR:-$root/target}/debug"
setsid "$target/fake-model-api" --port "$model_port" --scenario tool-then-answer \
  --command 'multica --version && echo "multica is at $MULTICA_CLI"' \
  --text 'The multica CLI answered; the demo works.' > "$demo/model-api.log" 2>&1 &
helpers+=($!)

setsid "$target/multica-dev-server" --demo --port "$dev_port" > "$demo/dev-server.log" 2>&1 &
helpers+=($!)

token=""
for _ in $(seq 1 100); do
  token=$(sed -n 's/^Demo token: *//p' "$demo/dev-server.log" | head -n 1)
  [ -n "$token" ] && break
  sleep 0.1
done
if [ -z "$token" ]; then
  echo "the dev server did not start; its log:" >&2
  cat "$demo/dev-server.log" >&2
  exit 1
fi
cat "$demo/dev-server.log"
# What the engine (app or daemon) and its Claude Code need: the demo's home, the
# project-local CLI, the scripted model API.
agent_env=(HOME="$demo/home"
  MULTICA_CLAUDE_PATH="$root/.tools/agent-clis/node_modules/.bin/claude"
  ANTHROPIC_BASE_URL="http://127.0.0.1:$model_port" ANTHROPIC_API_KEY=demo
  DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1)
# Claude Code refuses bypassPermissions as root otherwise.
[ "$(id -u)" = 0 ] && agent_env+=(IS_SANDBOX=1)

if $app; then
  echo "The app starts now. Log in with \"Sign in with the browser\" (the dev server signs the"
  echo "demo user in) or paste the demo token above, then switch on the Demo workspace:"
  echo "the dev server assigns a demo issue once the app's engine registers."
  env "${agent_env[@]}" \
    MULTICA_SERVER_URL="http://127.0.0.1:$dev_port" \
    MULTICA_DAEMON_HEALTH_PORT="$health_port" \
    MULTICA_WORKSPACES_ROOT="$demo/workspaces" \
    "$target/multica-app" &
  daemon=$!
  wait "$daemon" || true
  exit 0
fi
echo "The daemon starts now; the dev server assigns a demo issue once it registers."
echo "Logs of the helpers: $demo/*.log. Stop with Ctrl-C."
echo

env "${agent_env[@]}" \
  MULTICA_TOKEN="$token" \
  "$target/multica" daemon start --foreground \
    --server-url "http://127.0.0.1:$dev_port" \
    --health-port "$health_port" \
    --workspaces-root "$demo/workspaces" \
    --poll-interval 1s &
daemon=$!
setsid bash -c "tail -n 0 -F '$demo/dev-server.log' 2>/dev/null | grep --line-buffered -E 'demo (issue assigned|task ended)'" &
helpers+=($!)
# A Ctrl-C interrupts this wait; the EXIT trap then waits for the daemon itself.
wait "$daemon" || true
