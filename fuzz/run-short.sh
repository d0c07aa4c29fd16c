#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 20). Used by CI.
#   fuzz/run-short.sh [seconds]
# Needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain, or
# RUSTC_BOOTSTRAP=1 on stable (set here).
set -euo pipefail
secs="${1:-20}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
cargo fuzz build
for target in $(cargo fuzz list); do
    echo "== $target ($secs s)"
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$secs" -max_len=8192
done
