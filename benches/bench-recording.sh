#!/usr/bin/env bash
# Records one of the benchmarks' real pages with `demoreel record` (real Chromium, frames
# at device pixels for a 1920x1080 video: a 1280x720 page at scale 1.5) once, keeps the
# bundle under the target directory, and prints its path. Sourced scripts call it
# again cheaply: a kept bundle is reused.
#
#   bash benches/bench-recording.sh stripes   the stripe clock of tests/pages/stripes.html
#                                             for 20 s: every frame changes everywhere
#   bash benches/bench-recording.sh table     benches/pages/table.html (300 invoice rows)
#                                             scrolled by benches/pages/table-steps.json
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?which recording: stripes or table}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/demoreel-target}"
demoreel="$CARGO_TARGET_DIR/release/demoreel"
[ -x "$demoreel" ] || cargo build --release --locked --quiet
out="$CARGO_TARGET_DIR/bench-recordings/$name"
options='{"video": {"size": {"width": 1920, "height": 1080}}}'
steps="$(mktemp)"
trap 'rm -f "$steps"' EXIT
case "$name" in
  stripes) page="$PWD/tests/pages/stripes.html"; echo '[{"action": "pause", "ms": 20000}]' > "$steps" ;;
  table) page="$PWD/benches/pages/table.html"; cp benches/pages/table-steps.json "$steps" ;;
  *) echo "bench-recording.sh: unknown recording '$name' (stripes or table)" >&2; exit 2 ;;
esac
if [ ! -f "$out/meta.json" ]; then
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  "$demoreel" record "file://$page" --steps "$steps" --out "$out" --options "$options" >&2
fi
echo "$out"
