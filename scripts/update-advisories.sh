#!/usr/bin/env bash
# Replaces supply-chain/advisory-db/ with the current RustSec advisory database (its
# crates/ and rust/ advisories and licence), from a shallow clone. Needs GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone --quiet --depth 1 https://github.com/rustsec/advisory-db "$work/db"
rm -rf supply-chain/advisory-db
mkdir -p supply-chain/advisory-db
(cd "$work/db" && git archive HEAD crates rust LICENSE.txt LICENSES) | tar -x -C supply-chain/advisory-db
echo "supply-chain/advisory-db is now at $(git -C "$work/db" log -1 --format='%H (%cs)')"
