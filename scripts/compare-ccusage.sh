#!/usr/bin/env bash
# Compares the multica-usage scanner with ccusage on a generated corpus of Claude Code
# and Codex logs: daily per-model token totals must agree, and the script prints both
# tools' times and the ratio.
#
#   scripts/compare-ccusage.sh                 # 1 GiB corpus under target/usage-corpus
#   GB=0.2 scripts/compare-ccusage.sh          # a smaller corpus
#   KEEP_CORPUS=1 scripts/compare-ccusage.sh   # keep the corpus afterwards
#
# ccusage is installed (pinned) into .tools/ccusage with npm and runs offline; the
# corpus is deleted at the end unless KEEP_CORPUS=1.
set -euo pipefail

CCUSAGE_VERSION=20.0.24 # the newest release whose linux-x64 native package is published
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GB=${GB:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CORPUS=${CORPUS:-$TARGET_DIR/usage-corpus}
WORK=$(mktemp -d)
TOOLS=$ROOT/.tools/ccusage
CCUSAGE=$TOOLS/node_modules/.bin/ccusage

cleanup() {
	rm -rf "$WORK"
	if [ "${KEEP_CORPUS:-0}" != 1 ]; then rm -rf "$CORPUS" "$CORPUS.usage-cache"; fi
}
trap cleanup EXIT

if [ ! -x "$CCUSAGE" ] || [ "$("$CCUSAGE" --version 2>/dev/null)" != "ccusage $CCUSAGE_VERSION" ]; then
	echo "== installing ccusage@$CCUSAGE_VERSION into .tools/ccusage"
	mkdir -p "$TOOLS"
	npm install --silent --no-audit --no-fund --include=optional --prefix "$TOOLS" "ccusage@$CCUSAGE_VERSION"
fi

echo "== building the comparison binary"
cargo build --quiet --release -p multica-usage --example compare --manifest-path "$ROOT/Cargo.toml"
COMPARE=$TARGET_DIR/release/examples/compare

echo "== generating a ${GB} GiB corpus"
"$COMPARE" generate --dir "$CORPUS" --gb "$GB"

echo "== multica-usage: full scan, cache, incremental rescans"
"$COMPARE" bench --dir "$CORPUS"

now_ms() { date +%s%3N; }
best_of_two() { # prints the better wall time in ms of running "$@" twice
	local best=
	for _ in 1 2; do
		local start end
		start=$(now_ms)
		"$@" >/dev/null
		end=$(now_ms)
		if [ -z "$best" ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
	done
	echo "$best"
}

# ccusage runs with a private HOME so it reads nothing but the corpus.
export HOME_FOR_CCUSAGE=$WORK/home
mkdir -p "$HOME_FOR_CCUSAGE"
ccusage_claude() {
	HOME=$HOME_FOR_CCUSAGE CLAUDE_CONFIG_DIR=$CORPUS/claude "$CCUSAGE" claude daily \
		--json --offline --mode calculate --breakdown --timezone UTC
}
ccusage_codex() {
	HOME=$HOME_FOR_CCUSAGE CODEX_HOME=$CORPUS/codex "$CCUSAGE" codex daily \
		--json --offline --timezone UTC
}

echo "== ccusage $CCUSAGE_VERSION (offline) on the same corpus"
ccusage_claude >"$WORK/claude.json"
ccusage_codex >"$WORK/codex.json"
OURS_MS=$(best_of_two "$COMPARE" scan --dir "$CORPUS")
CLAUDE_MS=$(best_of_two ccusage_claude)
CODEX_MS=$(best_of_two ccusage_codex)
THEIRS_MS=$((CLAUDE_MS + CODEX_MS))

echo "== daily per-model totals, ours vs ccusage"
"$COMPARE" check --dir "$CORPUS" --claude "$WORK/claude.json" --codex "$WORK/codex.json"

echo "== time for one full report from scratch (no cache), best of two, warm page cache"
echo "multica-usage (Claude + Codex, one process): ${OURS_MS} ms"
echo "ccusage claude daily: ${CLAUDE_MS} ms, ccusage codex daily: ${CODEX_MS} ms, together ${THEIRS_MS} ms"
awk -v theirs="$THEIRS_MS" -v ours="$OURS_MS" 'BEGIN { printf "ccusage / multica-usage time ratio: %.2fx\n", theirs / ours }'
