#!/usr/bin/env bash
# Installs the real agent CLIs (pinned in tools/agent-clis/package.json) into the
# project-local, git-ignored .tools/agent-clis, for the end-to-end tests.
#
# Idempotent and quick when nothing changed: a stamp file holds the hash of the
# manifest (and lock file) it was installed from, and every binary must answer
# `--version`. Works from any directory.
#
# To add a CLI: pin it in package.json, add its
# binary name to BINARIES below, and run this script once to refresh the lock file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEC_DIR="$ROOT/tools/agent-clis"
PREFIX="$ROOT/.tools/agent-clis"
STAMP="$PREFIX/.installed-from"
BINARIES=(claude codex opencode claude-agent-acp qwen)

die() { printf 'install-agent-clis: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20+ (scripts/install-system-packages.sh)"
[ -f "$SPEC_DIR/package.json" ] || die "missing $SPEC_DIR/package.json"

spec_hash() {
    # The lock file is part of what was installed; hash it too when present.
    cat "$SPEC_DIR/package.json" "$SPEC_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1
}

binaries_answer() {
    local name
    for name in "${BINARIES[@]}"; do
        "$PREFIX/node_modules/.bin/$name" --version >/dev/null 2>&1 || return 1
    done
}

report() {
    local name
    for name in "${BINARIES[@]}"; do
        printf '%-17s %s (%s)\n' "$name" "$PREFIX/node_modules/.bin/$name" \
            "$("$PREFIX/node_modules/.bin/$name" --version 2>/dev/null | head -n1)"
    done
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(spec_hash)" ] && binaries_answer; then
    echo "agent CLIs already installed in $PREFIX"
    report
    exit 0
fi

echo "installing agent CLIs from $SPEC_DIR/package.json into $PREFIX"
mkdir -p "$PREFIX"
rm -f "$STAMP"
cp "$SPEC_DIR/package.json" "$PREFIX/package.json"
npm_flags=(--prefix "$PREFIX" --no-audit --no-fund --loglevel=error)
resolve_and_lock() {
    # Lets npm resolve the manifest, then keeps its lock file beside the manifest so
    # that later installs are exact (npm ci).
    rm -f "$PREFIX/package-lock.json"
    npm install "${npm_flags[@]}"
    cp "$PREFIX/package-lock.json" "$SPEC_DIR/package-lock.json"
}
if [ -f "$SPEC_DIR/package-lock.json" ]; then
    cp "$SPEC_DIR/package-lock.json" "$PREFIX/package-lock.json"
    if ! npm ci "${npm_flags[@]}"; then
        echo "npm ci failed (package-lock.json out of date with package.json?); resolving again"
        resolve_and_lock
    fi
else
    resolve_and_lock
fi

binaries_answer || die "installed, but a CLI does not answer --version; see $PREFIX/node_modules/.bin"
spec_hash >"$STAMP"
report
