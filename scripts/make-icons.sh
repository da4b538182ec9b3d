#!/usr/bin/env bash
# Draws the app and tray icons (committed under icons/) with ImageMagick. Run again
# after changing a colour; the app embeds the PNGs at build time.
set -euo pipefail
cd "$(dirname "$0")/../icons"
font=$(fc-match -f '%{file}' 'DejaVu Sans:bold')

# The app icon: a dark rounded square with a white "M".
app_icon() { # size file
  local size=$1 file=$2 radius=$(( $1 / 5 )) point=$(( $1 * 3 / 5 ))
  convert -size "${size}x${size}" xc:none -fill '#1f2937' \
    -draw "roundrectangle 0,0 $((size - 1)),$((size - 1)) $radius,$radius" \
    -font "$font" -pointsize "$point" -fill white -gravity center -annotate +0+0 'M' \
    -depth 8 -define png:color-type=6 "$file"
}
app_icon 32 32x32.png
app_icon 128 128x128.png
app_icon 256 128x128@2x.png
app_icon 512 icon.png
convert 32x32.png 128x128.png 128x128@2x.png icon.ico

# Tray icons, 64 px: the app icon with a state dot in the lower right corner.
tray_icon() { # name colour
  app_icon 64 "tray/$1.png"
  convert "tray/$1.png" -fill "$2" -stroke white -strokewidth 4 \
    -draw 'circle 48,48 48,34' -depth 8 -define png:color-type=6 "tray/$1.png"
}
tray_icon idle '#22c55e'
tray_icon busy '#3b82f6'
tray_icon paused '#eab308'
tray_icon offline '#9ca3af'
tray_icon login '#f97316'
tray_icon error '#ef4444'
