#!/usr/bin/env bash
# The code's shape, checked in CI: no import cycle among the top-level modules of
# any crate (scripts/module-cycles.py), and no Rust source file longer than 700
# lines before its tests (the first `#[cfg(test)]`), so that each file stays
# readable in one sitting. Files under a crate's tests/, benches/ and examples/ are
# all test code and are not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=700
status=0

for src in crates/*/src src-tauri/src; do
  python3 scripts/module-cycles.py --quiet "$src" || status=1
done

while IFS= read -r file; do
  first_test=$(grep -n -m1 '^#\[cfg(test)\]' "$file" | cut -d: -f1 || true)
  lines=$(wc -l < "$file")
  before=$(( ${first_test:-$((lines + 1))} - 1 ))
  if [ "$before" -gt "$limit" ]; then
    echo "$file: $before lines before its tests (limit $limit): split it along a seam" >&2
    status=1
  fi
done < <(git ls-files 'crates/*/src/*.rs' 'crates/*/src/**/*.rs' 'src-tauri/src/*.rs' 'src-tauri/src/**/*.rs')

[ "$status" = 0 ] && echo "layout: no module cycle, no source file over $limit lines before its tests"
exit "$status"
