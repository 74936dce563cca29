#!/usr/bin/env bash
# Capture cost on the sample app: records Orbit at 1920x1080 (a 1280x720 page at 1.5x)
# for about a minute of real use (sign-in with the outbox code, then projects, the New
# project dialog, analytics with its animated charts, settings and the ⌘K palette, in a
# loop) and prints frames per second, CPU use (demoreel and Chromium together) and the
# size on disk of the bundle and of raw.mp4, per minute of recording.
#
#   bash benches/capture-sample-app.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-4}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/demoreel-target}"
cargo build --release --locked --quiet
demoreel="$CARGO_TARGET_DIR/release/demoreel"
work="$(mktemp -d)"
trap 'kill "$app" 2>/dev/null || true; rm -rf "$work"' EXIT

"$demoreel" sample-app --addr 127.0.0.1:0 > "$work/app.log" &
app=$!
for _ in $(seq 50); do grep -q listening "$work/app.log" && break; sleep 0.1; done
url="$(sed -n 's/^sample app listening on //p' "$work/app.log")"

python3 - "$rounds" > "$work/steps.json" <<'PY'
import json, sys
steps = [
    {"action": "type", "role": "textbox", "name": "Work email", "text": "ada@orbit.test"},
    {"action": "type", "role": "textbox", "name": "Password", "text": "orbit-demo-2026", "secret": True},
    {"action": "click", "role": "button", "name": "Sign in"},
    {"action": "input", "prompt": "One-time code", "selector": "input[autocomplete=one-time-code]"},
    {"action": "click", "role": "button", "name": "Verify"},
    {"action": "wait", "role": "heading", "name": "Projects"},
]
for i in range(int(sys.argv[1])):
    steps += [
        {"action": "click", "role": "button", "name": "New project"},
        {"action": "type", "role": "textbox", "name": "Project name", "text": f"Launch {i + 1}"},
        {"action": "type", "role": "textbox", "name": "Owner email", "text": "grace.hopper@orbit.test"},
        {"action": "click", "role": "button", "name": "Create project"},
        {"action": "pause", "ms": 1200},
        {"action": "scroll", "dy": 400}, {"action": "pause", "ms": 600}, {"action": "scroll", "dy": -400},
        {"action": "press", "key": "k", "modifiers": ["meta"]},
        {"action": "type", "text": "analytics"}, {"action": "press", "key": "Enter"},
        {"action": "wait", "text": "Visitors and sign-ups"}, {"action": "pause", "ms": 1500},
        {"action": "click", "role": "link", "name": "Settings"}, {"action": "wait", "text": "Team members"},
        {"action": "pause", "ms": 1000},
        {"action": "click", "role": "link", "name": "Projects"}, {"action": "wait", "role": "heading", "name": "Projects"},
    ]
print(json.dumps(steps))
PY

# The code arrives in the outbox after "Sign in"; hand it to the input step on stdin.
mkfifo "$work/code"
(
  for _ in $(seq 200); do
    code="$(curl -s "${url}api/outbox" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["code"] if d else "")')"
    [ -n "$code" ] && { echo "$code"; break; }
    sleep 0.2
  done
) > "$work/code" &

# CPU of everything (Chromium's processes are not all reaped by demoreel, so rusage
# would miss some): the machine's busy jiffies over the recording.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
busy_before=$(busy)
/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
  "$demoreel" record "${url}login" --steps "$work/steps.json" --out "$work/rec" \
  --options '{"video": {"size": {"width": 1920, "height": 1080}, "blur_emails": true}}' < "$work/code" 2>/dev/null

echo "$(( $(busy) - busy_before ))" > "$work/busy"
python3 - "$work" "$(getconf CLK_TCK)" <<'PY'
import json, os, sys
work = sys.argv[1]
wall, user, system, peak_kib = open(f"{work}/time").read().split()
meta = json.load(open(f"{work}/rec/meta.json"))
seconds = meta["duration_ms"] / 1000
frames = sum(1 for _ in open(f"{work}/rec/frames.jsonl"))
def size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
bundle = size(f"{work}/rec") - size(f"{work}/rec/raw.mp4")
raw = size(f"{work}/rec/raw.mp4")
cpu = float(user) + float(system)
machine_cpu = int(open(f"{work}/busy").read()) / int(sys.argv[2])
times = [json.loads(line)["t_ms"] for line in open(f"{work}/rec/frames.jsonl")]
busiest = max(sum(1 for u in times if t <= u < t + 1000) for t in times)
print(f"frame size {meta['frame_size']['width']}x{meta['frame_size']['height']}, recorded {seconds:.1f} s, {frames} frames")
print(f"capture rate: {frames / seconds:.1f} frames/s on average (Chromium sends frames only when the page repaints), {busiest} in the busiest second")
print(f"CPU: whole machine {machine_cpu:.1f} s over {float(wall):.1f} s wall = {machine_cpu / float(wall):.2f} of 2 cores (demoreel + Chromium); demoreel's own {cpu:.1f} s; demoreel peak RSS {int(peak_kib) // 1024} MiB")
print(f"per minute of recording: bundle {bundle / seconds * 60 / 2**20:.1f} MiB (JPEG frames as delivered), raw.mp4 {raw / seconds * 60 / 2**20:.1f} MiB")
PY
