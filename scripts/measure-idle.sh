#!/usr/bin/env bash
# Measures the idle footprint of the desktop app (window closed, in the tray, engine
# running and registered) and of the headless daemon, side by side against the dev
# server: RSS of each process tree after MINUTES (default 10) and its CPU use over the
# last half of that time. Release builds; everything on 127.0.0.1.
#
#   scripts/measure-idle.sh          # 10 minutes
#   MINUTES=2 scripts/measure-idle.sh
#   SKIP_BUILD=1 scripts/measure-idle.sh   # the release binaries are already built
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${MINUTES:-10}
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=$target_dir/release
# The app as shipped: the release-app profile (see scripts/release.sh), with the
# multica CLI beside it as in a bundle.
app_bin=$target_dir/release-app/multica-app

if [ "${MULTICA_MEASURE_INSIDE:-}" != 1 ]; then
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    scripts/build-ui.sh >/dev/null
    cargo build --quiet --locked --release -p multica-cli -p multica-dev-server
    cargo build --quiet --locked --profile release-app -p multica-app
  fi
  ln -sf "$bin/multica" "$(dirname "$app_bin")/multica"
  MULTICA_MEASURE_INSIDE=1 exec scripts/with-test-keychain.sh \
    xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" "$0" "$@"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_port=$(port)
"$bin/multica-dev-server" --demo --port "$server_port" > "$work/dev-server.log" 2>&1 &
pids+=($!)
token=""
for _ in $(seq 1 100); do
  token=$(sed -n 's/^Demo token: *//p' "$work/dev-server.log" | head -n 1)
  workspace=$(sed -n 's/^Workspace ID: *\([^ ]*\).*/\1/p' "$work/dev-server.log" | head -n 1)
  [ -n "$token" ] && break
  sleep 0.1
done
server="http://127.0.0.1:$server_port"

# An agent CLI for both to register (never run: nothing is assigned).
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "2.1.0 (Claude Code)"\n' > "$work/bin/claude"
chmod +x "$work/bin/claude"
common=(MULTICA_CLAUDE_PATH="$work/bin/claude" MULTICA_LOGIN_SHELL=off NO_AT_BRIDGE=1)

# The app: logged in through the CLI (same keychain entry), the workspace watched,
# started hidden in the tray (no window, no webview).
mkdir -p "$work/app-home"
env HOME="$work/app-home" "${common[@]}" "$bin/multica" --server-url "$server" login --token "$token" >/dev/null
env HOME="$work/app-home" "${common[@]}" "$bin/multica" --server-url "$server" workspace watch "$workspace" >/dev/null
env HOME="$work/app-home" "${common[@]}" MULTICA_SERVER_URL="$server" \
  MULTICA_DAEMON_HEALTH_PORT="$(port)" "$app_bin" --hidden > "$work/app.log" 2>&1 &
app=$!
pids+=($app)

# The headless daemon, with its own home.
mkdir -p "$work/daemon-home"
env HOME="$work/daemon-home" "${common[@]}" MULTICA_TOKEN="$token" "$bin/multica" --server-url "$server" \
  workspace watch "$workspace" >/dev/null
env HOME="$work/daemon-home" "${common[@]}" MULTICA_TOKEN="$token" "$bin/multica" daemon start --foreground \
  --server-url "$server" --health-port "$(port)" > "$work/daemon.log" 2>&1 &
daemon=$!
pids+=($daemon)

tree() { # the pid and its descendants
  local pid=$1
  echo "$pid"
  for child in $(pgrep -P "$pid" 2>/dev/null); do tree "$child"; done
}
rss_kib() { local sum=0; for p in $(tree "$1"); do
  sum=$((sum + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$sum"; }
cpu_ticks() { local sum=0; for p in $(tree "$1"); do
  sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$sum"; }

half=$((minutes * 30))
echo "idle for $minutes minutes (CPU measured over the last $half s)…"
sleep "$half"
app_ticks=$(cpu_ticks "$app"); daemon_ticks=$(cpu_ticks "$daemon")
sleep "$half"
for who in app daemon; do
  pid=${!who}
  if ! grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status"; then
    echo "the $who exited during the measurement; its log:" >&2
    tail -n 40 "$work/$who.log" >&2
    exit 1
  fi
done
hz=$(getconf CLK_TCK)
app_cpu=$(python3 -c "print(f'{($(cpu_ticks "$app") - $app_ticks) / $hz / $half * 100:.3f}')")
daemon_cpu=$(python3 -c "print(f'{($(cpu_ticks "$daemon") - $daemon_ticks) / $hz / $half * 100:.3f}')")
registered=$(curl -s "$server/dev/runtimes" | python3 -c 'import json,sys; print(sum(r["status"] == "online" for r in json.load(sys.stdin)))')
# PSS shares each library page among the processes using it; anonymous memory is
# the process's own.
rollup_kib() { local sum=0; for p in $(tree "$1"); do
  sum=$((sum + $(awk -v key="$2:" '$1 == key {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done; echo "$sum"; }
row() { printf '%-34s %7d MiB %7d MiB %7d MiB %7s%%\n' "$1" $(( $(rss_kib "$2") / 1024 )) \
  $(( $(rollup_kib "$2" Pss) / 1024 )) $(( $(rollup_kib "$2" Anonymous) / 1024 )) "$3"; }
printf '%-34s %11s %11s %11s %8s\n' "after $minutes min idle" "RSS" "PSS" "anonymous" "CPU"
row "app (window closed, in the tray)" "$app" "$app_cpu"
row "headless daemon" "$daemon" "$daemon_cpu"
echo "processes: app $(tree "$app" | wc -l), daemon $(tree "$daemon" | wc -l); online runtimes: $registered"
