#!/usr/bin/env bash
# Builds a signed release of the desktop app for this machine's platform and writes
# the updater manifest (latest.json) the app checks.
#
#   TAURI_SIGNING_PRIVATE_KEY=~/.multica-release/multica-updater.key \
#   TAURI_SIGNING_PRIVATE_KEY_PASSWORD=… \
#   RELEASE_BASE_URL=https://github.com/multica-ai/multica-desktop/releases/download/v0.1.0 \
#   scripts/release.sh
#
# Keys: the updater verifies every update against the minisign public key in
# tauri.conf.json (plugins.updater.pubkey). Make a key pair once, keep the private key
# (and its password) out of the repository — in the release machine's secret store —
# and put the public key in the config:
#
#   npm --prefix ui run tauri -- signer generate -w ~/.multica-release/multica-updater.key
#
# Publishing: upload the bundles and their .sig files from target/release-app/bundle/
# and target/release-app/latest.json to the release at RELEASE_BASE_URL, then make that
# release "latest": the app reads
# https://github.com/multica-ai/multica-desktop/releases/latest/download/latest.json.
# Manifests of several platforms merge by their "platforms" keys.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
: "${TAURI_SIGNING_PRIVATE_KEY:?set TAURI_SIGNING_PRIVATE_KEY (the key file or its text)}"
: "${RELEASE_BASE_URL:?set RELEASE_BASE_URL (where the bundles will be downloaded from)}"
target_dir=${CARGO_TARGET_DIR:-$root/target}
triple=$(rustc -vV | sed -n 's/^host: //p')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

scripts/build-ui.sh
# The multica CLI ships inside the bundle (Tauri externalBin wants <name>-<triple>).
cargo build --locked --release -p multica-cli
mkdir -p src-tauri/binaries
exe=""
case "$triple" in *windows*) exe=".exe" ;; esac
cp "$target_dir/release/multica$exe" "src-tauri/binaries/multica-$triple$exe"

# Release-only config: the bundled CLI and updater artifacts (signed with the key).
cat > "$target_dir/release-config.json" <<JSON
{ "bundle": { "externalBin": ["binaries/multica"], "createUpdaterArtifacts": true } }
JSON
# The app is built with the release-app profile (Cargo.toml: smaller code, less
# memory while it idles in the tray); Tauri hands `--profile` to cargo.
profile=release-app
npm --prefix ui run tauri -- build --config "$target_dir/release-config.json" -- --profile "$profile"
out=$target_dir/$profile

# latest.json for this platform: the updater bundle and its signature.
case "$triple" in
  x86_64-unknown-linux-gnu) platform=linux-x86_64 ;;
  aarch64-unknown-linux-gnu) platform=linux-aarch64 ;;
  x86_64-apple-darwin) platform=darwin-x86_64 ;;
  aarch64-apple-darwin) platform=darwin-aarch64 ;;
  x86_64-pc-windows-msvc) platform=windows-x86_64 ;;
  *) echo "unknown platform $triple" >&2; exit 1 ;;
esac
signature=$(find "$out/bundle" -name '*.sig' | head -n 1)
[ -n "$signature" ] || { echo "no signed updater bundle was produced" >&2; exit 1; }
artifact=${signature%.sig}
python3 - "$version" "$platform" "$RELEASE_BASE_URL/$(basename "$artifact")" "$signature" \
  > "$out/latest.json" <<'PY'
import datetime, json, sys
version, platform, url, signature = sys.argv[1:]
print(json.dumps({
    "version": version,
    "notes": f"Multica {version}",
    "pub_date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "platforms": {platform: {"signature": open(signature).read().strip(), "url": url}},
}, indent=2))
PY
echo "built $artifact"
echo "manifest $out/latest.json"
