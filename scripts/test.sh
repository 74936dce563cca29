#!/usr/bin/env bash
# Runs the whole test suite (unit and integration tests with real GStreamer) after set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo test --release --locked "$@"
