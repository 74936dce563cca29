#!/usr/bin/env bash
# The main job: set up, build, record a synthetic session of the sample product and render
# it into ./demo-output (raw.mp4 and demo.mp4 on a gradient background).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

stage() { printf '\n== %s\n' "$1"; }
timed() { local start=$SECONDS; "$@"; echo "   (${1##*/} $2: $((SECONDS - start)) s)"; }

stage "build"
start=$SECONDS
cargo build --release --locked --quiet
echo "   (build: $((SECONDS - start)) s)"
demoreel="$CARGO_TARGET_DIR/release/demoreel"

out="${DEMOREEL_OUTPUT:-demo-output}"
recording="$out/recording"
rm -rf "$recording" && mkdir -p "$out"

stage "record (synthetic session, 1920x1080)"
timed "$demoreel" fixture synth --out "$recording" --seconds 20 --size 1920x1080

stage "render"
timed "$demoreel" render "$recording" --out "$out" --options '{
  "video": {
    "size": {"width": 1920, "height": 1080},
    "background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899", "direction": "diagonal"},
    "shortcuts": true
  }
}'

stage "done"
for file in raw.mp4 demo.mp4; do
  printf '   %s  %s bytes\n' "$(realpath "$out/$file")" "$(stat -c %s "$out/$file")"
done
