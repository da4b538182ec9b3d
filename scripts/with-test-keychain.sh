#!/usr/bin/env bash
# Runs a command with a real, private OS keychain: a fresh D-Bus session bus and an
# unlocked gnome-keyring (the Secret Service) whose files live in a throw-away
# directory. Tests that need the keychain are told it must work
# (MULTICA_REQUIRE_KEYCHAIN=1), so they fail rather than skip when it does not.
#
#   scripts/with-test-keychain.sh cargo test -p multica-token-store
set -euo pipefail
if [ "${MULTICA_IN_TEST_KEYCHAIN:-}" = 1 ]; then
  # Inside the private bus: start the keyring, then the command.
  scratch="$(mktemp -d)"
  trap 'kill "${GNOME_KEYRING_PID:-}" 2>/dev/null || true; rm -rf "$scratch"' EXIT
  export XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/run"
  mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  # No display: an unlock prompt can never block a test.
  unset DISPLAY WAYLAND_DISPLAY
  eval "$(printf 'test-keychain' | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL GNOME_KEYRING_PID MULTICA_REQUIRE_KEYCHAIN=1
  "$@"
  exit $?
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: run scripts/install-system-packages.sh" >&2
    exit 1
  }
done
MULTICA_IN_TEST_KEYCHAIN=1 exec dbus-run-session -- "$0" "$@"
