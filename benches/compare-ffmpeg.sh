#!/usr/bin/env bash
# Renders the same recording with demoreel (demo.mp4 only) and with an equivalent
# ffmpeg filter graph (Lanczos scale + overlay onto the same background, libx264
# veryfast at CRF 20, keyframe every 2 s, High profile, yuv420p, faststart),
# interleaved, and prints each run, the medians, their ratio and peak memory.
#
#   bash benches/compare-ffmpeg.sh [SECONDS|stripes|table] [RUNS]   (defaults: 60, 3 runs)
#
# SECONDS: a synthetic recording that long (`demoreel fixture synth`); `stripes` or
# `table`: a real recording of a benchmark page (benches/bench-recording.sh), `stripes`
# being the busy one (every captured frame changes over the whole picture).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
source="${1:-60}"
runs="${2:-3}"
for tool in ffmpeg python3; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build --release --locked --quiet
demoreel="$CARGO_TARGET_DIR/release/demoreel"
work="$CARGO_TARGET_DIR/bench-compare"
mkdir -p "$work"
if [[ "$source" =~ ^[0-9]+$ ]]; then
  recording="$work/recording-${source}s"
  [ -f "$recording/meta.json" ] || "$demoreel" fixture synth --out "$recording" --seconds "$source" --size 1920x1080 >/dev/null
else
  recording="$(bash benches/bench-recording.sh "$source")"
fi

options='{"video": {"size": {"width": 1920, "height": 1080}, "background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899", "direction": "diagonal"}}}'
read -r x y w h < <("$demoreel" fixture background --out "$work/background.png" --options "$options")
python3 benches/ffconcat.py "$recording" > "$work/frames.ffconcat"

command_for() { # name → the command in the array `cmd`
  case "$1" in
    demoreel) cmd=("$demoreel" render "$recording" --out "$work/demoreel-out" --only demo --options "$options") ;;
    ffmpeg) cmd=(ffmpeg -v error -y -f concat -safe 0 -i "$work/frames.ffconcat" -loop 1 -framerate 30 -i "$work/background.png"
      -filter_complex "[0:v]scale=${w}:${h}:flags=lanczos[page];[1:v][page]overlay=${x}:${y}:shortest=1,format=yuv420p"
      -r 30 -fps_mode cfr -c:v libx264 -preset veryfast -crf 20 -g 60 -profile:v high -movflags +faststart
      "$work/ffmpeg-demo.mp4") ;;
  esac
}
measure() { # name → "wall_seconds peak_kb"
  command_for "$1"
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "${cmd[@]}" >/dev/null
  cat "$work/time.txt"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

frame_size=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("%dx%d" % (m["frame_size"]["width"], m["frame_size"]["height"]))' "$recording/meta.json")
echo "recording: $source ($(wc -l < "$recording/frames.jsonl") captured frames of $frame_size); output 1920x1080 30 fps, framed"
: > "$work/demoreel.txt"; : > "$work/ffmpeg.txt"
for i in $(seq "$runs"); do
  for tool in demoreel ffmpeg; do
    read -r wall kb < <(measure "$tool")
    echo "$wall $kb" >> "$work/$tool.txt"
    printf 'run %d  %-8s  %6.2f s  peak %5d MiB\n' "$i" "$tool" "$wall" $((kb / 1024))
  done
done
d=$(cut -d' ' -f1 "$work/demoreel.txt" | median)
f=$(cut -d' ' -f1 "$work/ffmpeg.txt" | median)
dm=$(cut -d' ' -f2 "$work/demoreel.txt" | sort -n | tail -1)
demo_seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/demoreel-out/demo.mp4")
awk -v d="$d" -v f="$f" -v m="$dm" -v v="$demo_seconds" 'BEGIN {
  printf "median  demoreel %.2f s  ffmpeg %.2f s  ratio demoreel/ffmpeg %.2f\n", d, f, d / f
  printf "demoreel: %.1f s of demo.mp4 at %.2fx realtime, peak memory %d MiB\n", v, v / d, m / 1024
}'
