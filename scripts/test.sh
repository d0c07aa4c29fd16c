#!/usr/bin/env bash
# Runs DyberVPN's whole test suite: formatting, lints, every unit,
# integration and end-to-end test, and a short run of every fuzz target.
#
# As root it first installs the real peers the end-to-end tests talk to
# (Debian's wireguard-go, wireguard-tools, iperf3, tcpdump) and promtool
# (Debian's prometheus), which validates the metrics exposition. Without root,
# the tests that need network namespaces print why they were skipped.
#
# Environment:
#   DYBERVPN_FUZZ_SECONDS  seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

install_system_deps() {
    local missing=()
    command -v wg >/dev/null || missing+=(wireguard-tools)
    command -v wireguard-go >/dev/null || missing+=(wireguard-go)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    command -v tcpdump >/dev/null || missing+=(tcpdump)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ping >/dev/null || missing+=(iputils-ping)
    command -v nft >/dev/null || missing+=(nftables)
    command -v iptables-restore >/dev/null || missing+=(iptables)
    command -v promtool >/dev/null || missing+=(prometheus)
    if ((${#missing[@]} == 0)); then
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "note: not root, so not installing ${missing[*]}; tests that need them will say they were skipped"
        return
    fi
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# boringtun-cli, the second userspace WireGuard the interop tests talk to,
# comes from crates.io; it is built once into a cache directory.
install_boringtun() {
    if [[ -n ${DYBERVPN_BORINGTUN:-} ]] || command -v boringtun-cli >/dev/null; then
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        return # the interop tests need root anyway, and say so
    fi
    local root=${DYBERVPN_TOOLS:-/opt/dybervpn-tools}
    if [[ ! -x $root/bin/boringtun-cli ]]; then
        step "building boringtun-cli 0.7.1 from crates.io (for the interop tests)"
        CARGO_TARGET_DIR=$root/target cargo install boringtun-cli --version 0.7.1 --locked --root "$root" --quiet
    fi
    export DYBERVPN_BORINGTUN=$root/bin/boringtun-cli
}

install_system_deps
install_boringtun

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace)"
cargo test --workspace --locked

fuzz_seconds=${DYBERVPN_FUZZ_SECONDS:-20}
if [[ -x fuzz/run-short.sh && $fuzz_seconds -gt 0 ]]; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        step "installing cargo-fuzz"
        cargo install cargo-fuzz --locked --quiet
    fi
    step "fuzzing every target for ${fuzz_seconds}s"
    fuzz/run-short.sh "$fuzz_seconds"
fi

step "all checks passed"
