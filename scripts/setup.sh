#!/usr/bin/env bash
# Installs what demoreel needs on Debian 12 (GStreamer with its plugins, Chromium, fonts)
# and prepares the shared cargo target directory. Quick when everything is there.
# Sourced by main.sh and test.sh; safe to run on its own.
set -euo pipefail

packages=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  chromium fonts-dejavu-core tesseract-ocr tesseract-ocr-eng curl jq
  python3 python3-requests
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The unprivileged user a run's browser runs as (with Chromium's sandbox) when
# `demoreel serve` runs as root; it owns nothing but each run's browser profile.
if [ "$(id -u)" -eq 0 ] && ! id -u demoreel-browser >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin demoreel-browser
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust 1.95 or newer) is required" >&2; exit 1; }

# One warm target directory for every build of this project on the machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/demoreel-target}"
mkdir -p "$CARGO_TARGET_DIR"
