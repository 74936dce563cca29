#!/usr/bin/env bash
# API latency while a run captures and renders, against the same API idle.
# Usage: bash benches/api-under-load.sh [SECONDS] [CONNECTIONS]
# Starts the sample app and a server in a throwaway data directory, then runs wrk (a
# second process on loopback, bounded in connections and time) against an authenticated
# GET of a run and against /healthz: once with the server idle, once while a 1920×1080
# run records a busy page and renders demo.mp4 and demo.gif. The per-key rate limit is
# lifted for the measurement (it would answer the flood 429 before any work). Prints
# wrk's latency distribution for each and the p99 ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
connections="${2:-16}"
. scripts/setup.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
demoreel="$CARGO_TARGET_DIR/release/demoreel"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

url_of() { for _ in $(seq 100); do url="$(grep -o 'http://[0-9.:]*' "$1" | head -1 || true)"; [ -n "$url" ] && { echo "$url"; return; }; sleep 0.1; done; cat "$1" >&2; exit 1; }
"$demoreel" sample-app --addr 127.0.0.1:0 > "$work/app.log" 2>&1 & pids+=($!)
app="$(url_of "$work/app.log")"
"$demoreel" serve --addr 127.0.0.1:0 --data-dir "$work/data" --allow-targets 127.0.0.1/32 \
  --rate-limit 1000000 --rate-burst 1000000 > "$work/serve.log" 2>&1 & pids+=($!)
server="$(url_of "$work/serve.log")"
key="$("$demoreel" keys create --label bench --data-dir "$work/data" | jq -r .key)"

create_run() { # pause_ms
  curl -sf -H "x-api-key: $key" -H 'content-type: application/json' "$server/v1/agent/runs" -d "{
    \"target_url\": \"$app/login\", \"goal\": \"Show the product\",
    \"options\": {\"workflow\": {\"steps\": [
      {\"action\": \"type\", \"selector\": \"#email\", \"text\": \"ada@orbit.test\"},
      {\"action\": \"pause\", \"ms\": $1}]},
      \"video\": {\"size\": {\"width\": 1920, \"height\": 1080}, \"blur_emails\": true}, \"artifacts\": {\"gif\": true}}}" | jq -r .run_id
}
measure() { # label path
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "x-api-key: $key" "$server$2" > "$work/$1.txt"
  awk -v label="$1" '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2} END {printf "%-28s p50 %8s  p99 %8s  %8s req/s\n", label, p50, p99, rps}' "$work/$1.txt"
}
ms() { awk '/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$1"; }

run="$(create_run 2000)"
curl -sf -H "x-api-key: $key" "$server/v1/agent/runs/$run" >/dev/null
until curl -sf -H "x-api-key: $key" "$server/v1/agent/runs/$run" | jq -e '.status == "succeeded" or .status == "failed"' >/dev/null; do sleep 1; done
echo "idle (the first run ended):"
measure idle-run "/v1/agent/runs/$run"
measure idle-healthz "/healthz"
# Recording lasts about the first measurement; the render falls in the second.
busy="$(create_run $((seconds * 1000)))"
until curl -sf -H "x-api-key: $key" "$server/v1/agent/runs/$busy" | jq -e '.status == "running"' >/dev/null; do sleep 0.2; done
echo "while run $busy captures and renders:"
stage_of() { curl -sf -H "x-api-key: $key" "$server/v1/agent/runs/$busy" | jq -r '.status + " " + (.progress_stage // "-")'; }
measure busy-run "/v1/agent/runs/$run"
echo "   (the busy run is now: $(stage_of))"
measure busy-healthz "/healthz"
echo "   (the busy run is now: $(stage_of))"
for what in run healthz; do
  awk -v what="$what" -v idle="$(ms "$work/idle-$what.txt")" -v busy="$(ms "$work/busy-$what.txt")" \
    'BEGIN {printf "p99 %-8s idle %.2f ms, busy %.2f ms, ratio %.1f\n", what, idle, busy, busy / idle}'
done
