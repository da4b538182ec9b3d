#!/usr/bin/env bash
# Sets up everything the tests need, idempotently, then runs every check CI runs:
# formatting, clippy with warnings as errors, and the whole test suite, including the
# end-to-end tests with the real agent CLIs against local fake model APIs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n=== [%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

step "system packages"
scripts/install-system-packages.sh

step "agent CLIs (project-local, pinned)"
scripts/install-agent-clis.sh

# Claude Code refuses --permission-mode bypassPermissions as root unless it is told
# it runs in a sandbox; CI runs as root in a throw-away machine.
if [ "$(id -u)" = 0 ]; then export IS_SANDBOX=1; fi

step "the app's window (ui/: npm ci, tsc, vite build)"
scripts/build-ui.sh

step "the window's unit tests (Vitest)"
npm --prefix ui test --silent

step "the code's shape (no module cycle, no file over 700 lines before its tests)"
scripts/check-layout.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test"
# Under a private D-Bus session with an unlocked gnome-keyring: the keychain tests
# use the real Secret Service.
scripts/with-test-keychain.sh \
  cargo test --locked --workspace -- --test-threads="${TEST_THREADS:-2}"

step "the desktop app end to end (Xvfb, WebDriver, real keychain, real Claude Code)"
timeout 900 tests/e2e/run.sh

step "all checks passed in ${SECONDS}s"
