#!/usr/bin/env bash
# End-to-end test of the desktop app: the real app window under Xvfb, driven by
# WebDriver (tauri-driver + WebKitWebDriver), with a real keychain (gnome-keyring on
# a private bus), the dev server, the fake model API and the real Claude Code CLI.
# Screenshots of the window and the tray menu go to target/e2e/.
#
#   tests/e2e/run.sh            # builds what it needs, then runs pytest
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
tools=$root/.tools

if [ "${MULTICA_E2E_INSIDE:-}" != 1 ]; then
  # tauri-driver (pinned) and a Python venv with selenium and pytest, project-local.
  if [ "$("$tools/tauri-driver/bin/tauri-driver" --version 2>/dev/null || true)" != "tauri-driver 2.1.0" ]; then
    cargo install --quiet --locked tauri-driver --version 2.1.0 --root "$tools/tauri-driver"
  fi
  if [ ! -x "$tools/e2e-venv/bin/python" ]; then
    python3 -m venv "$tools/e2e-venv"
  fi
  "$tools/e2e-venv/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  scripts/build-ui.sh
  cargo build --quiet --locked -p multica-app -p multica-cli -p multica-dev-server -p fake-model-api
  mkdir -p "$root/target/e2e"
  # A private keychain and bus, then a virtual display inside them.
  MULTICA_E2E_INSIDE=1 exec scripts/with-test-keychain.sh \
    xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" "$0" "$@"
fi

export MULTICA_E2E_BIN="$target_dir/debug"
export MULTICA_E2E_TAURI_DRIVER="$tools/tauri-driver/bin/tauri-driver"
export MULTICA_E2E_ARTIFACTS="$root/target/e2e"
export MULTICA_E2E_CLAUDE="$root/.tools/agent-clis/node_modules/.bin/claude"
export NO_AT_BRIDGE=1
exec "$tools/e2e-venv/bin/python" -m pytest -q -p no:cacheprovider -o faulthandler_timeout=400 tests/e2e "$@"
