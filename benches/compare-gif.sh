#!/usr/bin/env bash
# demo.gif against its peers: for one demo.mp4, makes a GIF at the same width and frame
# rate three ways — demoreel's encoder (`demoreel gif`), ffmpeg's two-pass palette recipe,
# and gifski (installed with cargo into a cache folder on first use) — and prints for each:
# bytes, per-frame PSNR against the mp4 frame on screen at the moment the GIF frame is
# shown (median and minimum; every GIF frame is read, composed with its disposal), the
# GIF's length against the mp4's, and the wall time to make it.
#
#   bash benches/compare-gif.sh DEMO.MP4|table [WIDTH] [FPS]     (defaults: 960 px, 12 fps)
#
# `table`: demo.mp4 rendered at 1920x1080 from the scrolling-table recording of
# benches/bench-recording.sh (recorded once, then reused).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$1" = table ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/demoreel-target}"
  recording="$(bash benches/bench-recording.sh table)"
  rendered="$CARGO_TARGET_DIR/bench-recordings/table-demo"
  [ -f "$rendered/demo.mp4" ] || "$CARGO_TARGET_DIR/release/demoreel" render "$recording" --out "$rendered" --only demo \
    --options '{"video": {"size": {"width": 1920, "height": 1080}}}' >&2
  set -- "$rendered/demo.mp4" "${@:2}"
fi
mp4="$(realpath "$1")"
width="${2:-960}"
fps="${3:-12}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/demoreel-target}"
command -v ffmpeg > /dev/null || { apt-get update -q && apt-get install -y -q ffmpeg; } > /dev/null
python3 -c 'import numpy, PIL' 2>/dev/null || pip install --quiet numpy pillow
gifski_root="$HOME/.cache/demoreel-bench-tools"
[ -x "$gifski_root/bin/gifski" ] || cargo install --quiet --locked gifski --root "$gifski_root"
cargo build --release --locked --quiet
demoreel="$CARGO_TARGET_DIR/release/demoreel"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

timed() { # NAME COMMAND...: runs it, keeps its wall time
  local name="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$work/$name.wall"
}

timed demoreel "$demoreel" gif "$mp4" --out "$work/demoreel.gif" --options "{\"artifacts\": {\"gif_width\": $width, \"gif_fps\": $fps}}"
timed ffmpeg ffmpeg -v error -y -i "$mp4" -filter_complex \
  "fps=$fps,scale=$width:-2:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle" \
  "$work/ffmpeg.gif"
# gifski reads frames, not video: the extraction is counted in its time.
gifski_run() {
  mkdir -p "$work/frames"
  ffmpeg -v error -i "$mp4" -vf "fps=$fps" "$work/frames/f%05d.png"
  "$gifski_root/bin/gifski" --quiet --fps "$fps" --width "$width" -o "$work/gifski.gif" "$work/frames"/f*.png
}
timed gifski gifski_run

python3 - "$mp4" "$work" <<'PY'
import json, os, subprocess, sys
import numpy as np
from PIL import Image

mp4, work = sys.argv[1], sys.argv[2]
probe = json.loads(subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
    "stream=width,height,avg_frame_rate:format=duration", "-of", "json", mp4]))
stream = probe["streams"][0]
num, den = map(int, stream["avg_frame_rate"].split("/"))
mp4_fps, mp4_seconds = num / den, float(probe["format"]["duration"])

def reference(width, height):
    """The mp4's frames scaled to the GIF's size (Lanczos), in display order."""
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", mp4, "-vf", f"scale={width}:{height}:flags=lanczos",
                                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)

def gif_frames(path):
    """Each GIF frame as shown (composed over what it keeps) and its start time in s."""
    image, t = Image.open(path), 0.0
    for index in range(image.n_frames):
        image.seek(index)
        yield t, np.asarray(image.convert("RGB"))
        t += image.info.get("duration", 100) / 1000

def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)

print(f"{mp4}: {mp4_seconds:.2f} s at {mp4_fps:g} fps")
print(f"{'tool':9} {'bytes':>10} {'size':>9} {'frames':>6} {'PSNR median':>11} {'min':>6} {'<30 dB':>6} {'length':>8} {'mp4':>7} {'wall':>7}")
refs = {}
for tool in ("demoreel", "ffmpeg", "gifski"):
    path = f"{work}/{tool}.gif"
    width, height = Image.open(path).size
    if (width, height) not in refs:
        refs[(width, height)] = reference(width, height)
    ref = refs[(width, height)]
    scores, end = [], 0.0
    image = Image.open(path)
    for t, shown in gif_frames(path):
        # The mp4 frame on screen at t: the last one whose time is not after t.
        index = min(int(t * mp4_fps + 1e-6), len(ref) - 1)
        scores.append(psnr(shown, ref[index]))
    image.seek(image.n_frames - 1)
    length = t + image.info.get("duration", 100) / 1000
    scores.sort()
    wall = float(open(f"{work}/{tool}.wall").read())
    print(f"{tool:9} {os.path.getsize(path):>10,} {width:>4}x{height:<4} {len(scores):>6} {scores[len(scores) // 2]:>9.1f} dB "
          f"{scores[0]:>6.1f} {sum(s < 30 for s in scores):>6} {length:>7.2f}s {mp4_seconds:>6.2f}s {wall:>6.1f}s")
PY
