#!/usr/bin/env bash
# The scale-out example, on this machine: a PostgreSQL server and an S3-compatible server
# (s3s-fs) started in a temporary directory, `demoreel serve --workers 0` answering the
# API only, and two `demoreel worker`s that record runs and render re-render jobs, all
# sharing the database and the bucket. It runs the main job's goal against them (sign-in
# with a one-time code answered from Orbit's outbox, 1920×1080 on a gradient, GIF on),
# then a re-render job of that run at 1280×720 on another background, checks that the
# videos have the sizes asked for, that the originals stay, and which worker did what,
# and stops everything. The outputs land in ./cluster-output (DEMOREEL_OUTPUT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. scripts/lib.sh

stage() { printf '\n== %s\n' "$1"; }
fail() { echo "cluster: $*" >&2; exit 1; }

stage "build and install what the cluster needs"
start=$SECONDS
cargo build --release --locked --quiet
demoreel="$CARGO_TARGET_DIR/release/demoreel"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# PostgreSQL's server; bc and python3 for the figures and free ports.
wanted=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || wanted+=(postgresql)
command -v bc >/dev/null || wanted+=(bc)
command -v python3 >/dev/null || wanted+=(python3)
if ((${#wanted[@]})); then
  echo "cluster: installing ${wanted[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
s3_server_version=0.14.1
if ! "$HOME/.cargo/bin/s3s-fs" --version 2>/dev/null | grep -q "$s3_server_version"; then
  cargo install --locked --quiet s3s-fs --version "$s3_server_version" --features binary --target-dir "$CARGO_TARGET_DIR/tools"
fi
echo "   (build and installs: $((SECONDS - start)) s)"

out="${DEMOREEL_OUTPUT:-cluster-output}"
mkdir -p "$out"
out="$(realpath "$out")"
work="$(mktemp -d)"
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$work/pg/PG_VERSION" ] && as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: as root its cluster belongs to the `postgres` user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# measure_start, then measure_end NAME: sets NAME_wall (s) and NAME_cpu (CPU-s of the
# whole machine) for what ran between them, and says how long it took.
measure_start() { measure_started=$SECONDS; measure_cpu_before="$(machine_cpu_seconds)"; }
measure_end() {
  printf -v "$1_cpu" '%s' "$(echo "$(machine_cpu_seconds) - $measure_cpu_before" | bc)"
  printf -v "$1_wall" '%s' "$((SECONDS - measure_started))"
  echo "   succeeded in $((SECONDS - measure_started)) s"
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stage "start PostgreSQL and the S3-compatible server"
mkdir -p "$work/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
as_postgres "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C -N >/dev/null
pg_port="$(free_port)"
as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $work/pg" start >/dev/null
export DEMOREEL_DATABASE="postgres://postgres@127.0.0.1:$pg_port/postgres"
s3_port="$(free_port)"
mkdir -p "$work/s3/demoreel"
export AWS_ACCESS_KEY_ID="cluster$RANDOM" AWS_SECRET_ACCESS_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$HOME/.cargo/bin/s3s-fs" --host 127.0.0.1 --port "$s3_port" --access-key "$AWS_ACCESS_KEY_ID" \
  --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" > "$work/s3.log" 2>&1 &
pids+=($!)
export DEMOREEL_STORE="s3://demoreel/artifacts?endpoint=http://127.0.0.1:$s3_port"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break; sleep 0.1; done
echo "   PostgreSQL on 127.0.0.1:$pg_port, S3 bucket 'demoreel' on 127.0.0.1:$s3_port"

stage "start the sample app, the API server and two workers"
"$demoreel" sample-app --addr 127.0.0.1:0 > "$work/app.log" 2>&1 &
pids+=($!)
app="$(url_of "$work/app.log")"
# One operator key for every process: a credential sealed by the API server opens in the
# worker that signs in, and a one-time code given to the API reaches the recording worker.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret.key"
chmod 600 "$work/secret.key"
export DEMOREEL_SECRET_KEY_FILE="$work/secret.key" DEMOREEL_ALLOW_TARGETS=127.0.0.1/32
"$demoreel" serve --workers 0 --addr 127.0.0.1:0 --data-dir "$work/api" > "$work/api.log" 2>&1 &
pids+=($!)
export DEMOREEL_SERVER="$(url_of "$work/api.log")"
for n in 1 2; do
  "$demoreel" worker --record-slots 1 --render-slots 1 --data-dir "$work/worker-$n" > "$work/worker-$n.out" 2> "$work/worker-$n.log" &
  pids+=($!)
done
for n in 1 2; do
  for _ in $(seq 100); do [ -s "$work/worker-$n.out" ] && break; sleep 0.1; done
  grep -q '^demoreel worker' "$work/worker-$n.out" || { cat "$work/worker-$n.log" >&2; fail "worker $n did not start"; }
  echo "   $(head -1 "$work/worker-$n.out")"
done
echo "   Orbit at $app, the API at $DEMOREEL_SERVER (API only)"

export DEMOREEL_API_KEY="$("$demoreel" keys create --label cluster --data-dir "$work/api" 2>/dev/null | jq -r .key)"
echo -n "orbit-demo-2026" | "$demoreel" credentials create --label "Orbit (Ada)" \
  --domain 127.0.0.1 --email ada@orbit.test --password-stdin --default --output text >/dev/null

stage "run the main job's goal"
run="$("$demoreel" runs create "${app}/login" --goal "$main_goal" --options "$main_options" | jq -r .run_id)"
echo "   run $run"
measure_start
wait_answering_codes "$run" "$app"
measure_end run
mkdir -p "$out/run"
"$demoreel" runs download "$run" --all --dir "$out/run" --output text >/dev/null

stage "re-render it at 1280×720 on another background"
job="$("$demoreel" jobs create "$run" --options '{
  "video": {"size": {"width": 1280, "height": 720}, "background": {"type": "solid", "color": "#0f172a"}},
  "artifacts": {"gif": true}
}' | jq -r .job_id)"
echo "   job $job"
measure_start
"$demoreel" jobs wait "$job" --output text >/dev/null || { "$demoreel" jobs status "$job" --output text >&2; fail "the re-render job did not succeed"; }
measure_end rerender
mkdir -p "$out/rerender"
"$demoreel" runs download "$run" --all --dir "$out/rerender" --output text >/dev/null

stage "check"
# The run's raw.mp4 is the page as captured (the content area of the 1920×1080 frame);
# a re-render's raw.mp4 is the page edge to edge at the asked size.
[ "$(video_size "$out/run/demo.mp4")" = 1920x1080 ] || fail "the run's demo.mp4 is $(video_size "$out/run/demo.mp4"), not 1920x1080"
for video in raw.mp4 demo.mp4; do
  [ "$(video_size "$out/rerender/$video")" = 1280x720 ] || fail "the re-rendered $video is $(video_size "$out/rerender/$video"), not 1280x720"
done
cmp -s "$out/run/demo.mp4" "$out/rerender/demo.mp4" && fail "the re-render did not make a new demo.mp4"
[ "$(head -c 6 "$out/rerender/demo.gif")" = GIF89a ] || fail "the re-rendered demo.gif is not a GIF"
generations="$(curl -fsS -H "x-api-key: $DEMOREEL_API_KEY" "$DEMOREEL_SERVER/v1/agent/runs/$run/artifacts?generation=all" |
  jq -r '[.data[].generation] | unique | map(tostring) | join(",")')"
[ "$generations" = "0,1" ] || fail "the run's artifacts are of generations $generations, not the original and one re-render"
recorder="$(ls -d "$work"/worker-*/runs/"$run" 2>/dev/null | sed "s|$work/||; s|/.*||" | head -1)"
[ -n "$recorder" ] || fail "no worker recorded the run"
[ ! -d "$work/api/runs/$run" ] || fail "the API-only server recorded the run"
objects="$(find "$work/s3/demoreel" -type f | wc -l)"
bucket_mib="$(du -sm "$work/s3/demoreel" | cut -f1)"
echo "   the run's demo.mp4 1920x1080 (raw.mp4 $(video_size "$out/run/raw.mp4")), the re-render's videos 1280x720 (generations $generations kept)"
echo "   recorded by $recorder, not by the API server; $objects objects in the bucket ($bucket_mib MiB)"

stage "cost per minute of demo.mp4 (the whole machine's CPU, other load included)"
minutes="$(echo "scale=4; $(video_seconds "$out/run/demo.mp4") / 60" | bc)"
per_minute() { echo "scale=1; $1 / $minutes" | bc; }
printf '   demo.mp4 lasts %s s\n' "$(video_seconds "$out/run/demo.mp4")"
printf '   the run (record at 1080p, render raw/demo/GIF): %s s wall, %s CPU-s; per minute of video %s s wall, %s CPU-s\n' \
  "$run_wall" "$run_cpu" "$(per_minute "$run_wall")" "$(per_minute "$run_cpu")"
printf '   the re-render (720p raw/demo/GIF):              %s s wall, %s CPU-s; per minute of video %s s wall, %s CPU-s\n' \
  "$rerender_wall" "$rerender_cpu" "$(per_minute "$rerender_wall")" "$(per_minute "$rerender_cpu")"
printf '   stored in the bucket: %s MiB; per minute of video %s MiB\n' "$bucket_mib" "$(per_minute "$bucket_mib")"

stage "done"
for file in run/raw.mp4 run/demo.mp4 run/demo.gif rerender/raw.mp4 rerender/demo.mp4 rerender/demo.gif; do
  printf '   %s  %s bytes\n' "$out/$file" "$(stat -c %s "$out/$file")"
done
