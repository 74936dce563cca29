#!/usr/bin/env bash
# Runs the whole test suite (unit and integration tests with real GStreamer) after set-up,
# and closes with one line totalling every test binary's results.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# The S3-compatible server the object-store tests start (a separate process speaking S3
# over HTTP with SigV4; not a mock): built from crates.io once, then kept in ~/.cargo/bin.
s3_server_version=0.14.1
if ! "$HOME/.cargo/bin/s3s-fs" --version 2>/dev/null | grep -q "$s3_server_version"; then
  echo "setup: installing s3s-fs $s3_server_version (the tests' S3-compatible server)" >&2
  cargo install --locked --quiet s3s-fs --version "$s3_server_version" --features binary --target-dir "$CARGO_TARGET_DIR/tools"
fi
# PostgreSQL's server binaries: the store suite and the scale-out tests start their own
# server from them (initdb and pg_ctl in a temporary directory, on a free loopback port).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing postgresql (the tests start their own servers)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
log="$(mktemp)"
attempt_log="$(mktemp)"
trap 'rm -f "$log" "$attempt_log"' EXIT
status=0
# The page-clock tests measure the capture against real time: they run afterwards, one
# at a time, with nothing else on the two cores (run beside other tests the small page
# read 87-96% of frames within a frame interval in full-suite runs, ≥97% alone).
clock_tests=capture::raw_mp4_keeps_the_page_clock
if (($#)); then
  cargo test --release --locked "$@" 2>&1 | tee "$log" || status=$?
else
  # --no-fail-fast: a failed test in one binary must not keep the others from running
  # (the retries below would otherwise hide tests that never ran).
  cargo test --release --locked --no-fail-fast -- --skip "$clock_tests" 2>&1 | tee "$log" || status=$?
  cargo test --release --locked --test integration -- "$clock_tests" --test-threads 1 2>&1 | tee -a "$log" || status=$?
fi
passed_on_retry=0
if ((status != 0)); then
  # A test that measures time against the wall clock (capture fidelity, timeouts) can
  # fail when the virtual machine's host takes the CPU away (steal of 35-70% was seen
  # during captures). Each failed integration test runs again alone, up to twice; it
  # counts as passed only if it passes alone, and the failed attempt stays in the log
  # above. A failure that is not a failed test (a build error) is not retried.
  failed_tests="$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$log" | sort -u)"
  build_failed=$(grep -c '^error\[\|could not compile' "$log" || true)
  if [[ -n "$failed_tests" && "$build_failed" == 0 ]]; then
    still_failing=0
    while read -r name; do
      recovered=0
      for attempt in 1 2; do
        echo "== retrying $name alone (attempt $attempt)"
        if cargo test --release --locked --test integration -- --exact "$name" > "$attempt_log" 2>&1 \
          && grep -q '^test result: ok\. 1 passed' "$attempt_log"; then
          recovered=1
          break
        fi
        grep -E 'panicked|within|^test ' "$attempt_log" || true
      done
      if ((recovered)); then
        echo "passed on retry: $name"
        passed_on_retry=$((passed_on_retry + 1))
      else
        still_failing=1
      fi
    done <<< "$failed_tests"
    ((still_failing)) || status=0
  fi
fi
awk -v retried="$passed_on_retry" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped", p + retried, f - retried, s; if (retried) printf " (%d passed only when retried alone)", retried; printf "\n" }' "$log"
exit "$status"
