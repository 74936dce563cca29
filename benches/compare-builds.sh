#!/usr/bin/env bash
# Two or more builds of demoreel side by side on the same inputs, in interleaved rounds (a
# slow spell of this shared machine hits every build alike): the capture benchmark (each
# build records tests/pages/stripes.html, the page's clock painted as full-width stripes
# every animation frame, for 10 s for a 1920x1080 30 fps video, with its live raw.mp4) and
# the render benchmark (each build renders demo.mp4 of a 30 s 1920x1080 synthetic
# recording made by its own `fixture synth`, and of its own stripes recording). Prints
# every run and the medians: wall time, CPU time (the process and its children, Chromium
# included), frames captured.
#
# For a change that should cost nothing (a reshaping of the code), build the commit
# before it into a target directory of its own and compare:
#
#   bash benches/compare-builds.sh ROUNDS before=/path/to/old/demoreel after=target/release/demoreel
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:?rounds}"
shift
[ "$#" -ge 2 ] || { echo "compare-builds.sh: give at least two NAME=BINARY" >&2; exit 2; }
names=()
declare -A binary
for pair in "$@"; do
  name="${pair%%=*}"
  binary[$name]="$(realpath "${pair#*=}")"
  [ -x "${binary[$name]}" ] || { echo "compare-builds.sh: $name: ${binary[$name]} is not an executable" >&2; exit 2; }
  names+=("$name")
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
options='{"video": {"size": {"width": 1920, "height": 1080}, "fps": 30}}'
echo '[{"action": "pause", "ms": 10000}]' > "$work/steps.json"
page="file://$PWD/tests/pages/stripes.html"
results="$work/results.tsv"

# One timed command: appends "NAME WHAT WALL CPU" to the results.
timed() {
  local name="$1" what="$2"
  shift 2
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" > "$work/out.log" 2>&1 || { cat "$work/out.log" >&2; exit 1; }
  read -r wall user sys < "$work/time"
  echo "$name $what $wall $(echo "$user + $sys" | bc)" >> "$results"
}

for name in "${names[@]}"; do
  "${binary[$name]}" fixture synth --out "$work/synth-$name" --seconds 30 --size 1920x1080 > /dev/null
done

for round in $(seq "$rounds"); do
  # Rotate the order each round so no build always goes first.
  order=("${names[@]:$(( (round - 1) % ${#names[@]} ))}" "${names[@]:0:$(( (round - 1) % ${#names[@]} ))}")
  for name in "${order[@]}"; do
    bin="${binary[$name]}"
    rm -rf "$work/rec-$name" "$work/out-$name"
    timed "$name" capture "$bin" record "$page" --steps "$work/steps.json" --out "$work/rec-$name" --options "$options"
    frames="$(find "$work/rec-$name/frames" -type f | wc -l)"
    echo "$name frames $frames 0" >> "$results"
    timed "$name" render-synth "$bin" render "$work/synth-$name" --out "$work/out-$name" --only demo --options "$options"
    timed "$name" render-stripes "$bin" render "$work/rec-$name" --out "$work/out-$name" --only demo --options "$options"
    tail -n 4 "$results" | awk -v r="$round" '{printf "round %s  %-10s %-15s %8s %8s\n", r, $1, $2, $3, $4}'
  done
done

echo
echo "medians over $rounds rounds (wall s, CPU s; frames: captured in 10 s)"
python3 - "$results" "${names[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
names = sys.argv[2:]
for what in ["capture", "frames", "render-synth", "render-stripes"]:
    cells = []
    for name in names:
        wall = [float(r[2]) for r in rows if r[0] == name and r[1] == what]
        cpu = [float(r[3]) for r in rows if r[0] == name and r[1] == what]
        if what == "frames":
            cells.append(f"{name} {statistics.median(wall):.0f}")
        else:
            cells.append(f"{name} {statistics.median(wall):.2f} / {statistics.median(cpu):.2f}")
    print(f"{what:15} " + "   ".join(cells))
PY
