#!/usr/bin/env bash
# Re-make the report screenshots in docs/ (docs/report-stage1..4.png): each bundled
# example's board report, first screen, rendered by headless Chromium.
#   bash scripts/screenshots.sh            # uses .venv/bin/netstage and /usr/bin/chromium
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
CHROMIUM=${CHROMIUM:-chromium}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 1 2 3 4; do
  "$BIN/netstage" report "example:stage$n" --out "$work/stage$n" --format html >/dev/null
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$work/profile$n" --hide-scrollbars --window-size=1200,1600 \
    --screenshot="docs/report-stage$n.png" "file://$work/stage$n/report.html" 2>/dev/null
  echo "docs/report-stage$n.png"
done
