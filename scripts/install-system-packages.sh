#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
# Safe to run again; does nothing when everything is present.
set -euo pipefail
# libdbus-1-dev: the keychain (Secret Service) client; dbus + gnome-keyring: a real
# keychain for the tests, run under dbus-run-session.
packages=(git pkg-config build-essential ca-certificates file libdbus-1-dev dbus gnome-keyring)
# The desktop app (Tauri v2 on WebKitGTK, the tray through libayatana-appindicator).
packages+=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev)
# Its tests: a virtual display, WebKit's WebDriver, a session bus, a StatusNotifier
# tray host for the tray screenshot, screenshots and key presses.
packages+=(xvfb xauth webkit2gtk-driver dbus-x11 imagemagick haskell-gtk-sni-tray-utils xdotool python3-venv libsecret-tools)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null | grep -q '^ii' || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
