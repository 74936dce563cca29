#!/usr/bin/env bash
# The main job: set up, build, start the demoreel service and Orbit (the bundled sample
# app), create an API key and a saved login, and run a goal that signs in (answering the
# one-time code from Orbit's outbox through the input endpoint), creates a project, opens
# the command palette with ⌘K and opens the analytics dashboard. The videos, the GIF,
# plan.json and events.jsonl land in ./demo-output (DEMOREEL_OUTPUT overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. scripts/lib.sh

stage() { printf '\n== %s\n' "$1"; }

stage "build"
start=$SECONDS
cargo build --release --locked --quiet
echo "   (build: $((SECONDS - start)) s)"
demoreel="$CARGO_TARGET_DIR/release/demoreel"

out="${DEMOREEL_OUTPUT:-demo-output}"
mkdir -p "$out"
out="$(realpath "$out")"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

stage "start the sample app and the service"
"$demoreel" sample-app --addr 127.0.0.1:0 > "$work/app.log" 2>&1 &
pids+=($!)
app="$(url_of "$work/app.log")"
export DEMOREEL_DATA_DIR="$work/data"
# The operator's key for stored passwords: a fresh one for this throwaway data directory.
mkdir -p "$DEMOREEL_DATA_DIR"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret.key"
chmod 600 "$work/secret.key"
"$demoreel" serve --addr 127.0.0.1:0 --secret-key-file "$work/secret.key" --allow-targets 127.0.0.1/32 > "$work/serve.log" 2>&1 &
pids+=($!)
export DEMOREEL_SERVER="$(url_of "$work/serve.log")"
echo "   Orbit at $app, demoreel at $DEMOREEL_SERVER"

export DEMOREEL_API_KEY="$("$demoreel" keys create --label main-job 2>/dev/null | jq -r .key)"
echo -n "orbit-demo-2026" | "$demoreel" credentials create --label "Orbit (Ada)" \
  --domain 127.0.0.1 --email ada@orbit.test --password-stdin --default --output text >/dev/null

stage "run"
echo "   goal: $main_goal"
run="$("$demoreel" runs create "${app}/login" --goal "$main_goal" --options "$main_options" | jq -r .run_id)"
echo "   run $run"
wait_answering_codes "$run" "$app"

stage "download"
"$demoreel" runs download "$run" --all --dir "$out" --output text >/dev/null

stage "stage timings"
# From the run's own events: each stage lasts until the next one (or the end).
jq -r 'select(.type == "stage" or .type == "run_finished" or .type == "awaiting_input" or .type == "input_received")
       | [.at, (.stage // ({"awaiting_input": "waiting for the code", "input_received": "executing (signed in)"}[.type] // .type))] | @tsv' "$out/events.jsonl" |
  awk -F'\t' '
    function secs(t,  d, h, m, s) { split(substr(t, 12, 12), d, ":"); return d[1] * 3600 + d[2] * 60 + d[3] }
    NR > 1 { printf "   %-22s %6.1f s\n", name, secs($1) - secs(prev) }
    { prev = $1; name = $2 }'

stage "done"
for file in raw.mp4 demo.mp4 demo.gif plan.json events.jsonl; do
  printf '   %s  %s bytes\n' "$out/$file" "$(stat -c %s "$out/$file")"
done
