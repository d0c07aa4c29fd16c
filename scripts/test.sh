#!/usr/bin/env bash
# Runs DyberVPN's whole test suite: formatting, lints, every unit,
# integration and end-to-end test, and a short run of every fuzz target.
#
# As root it first installs the real peers the end-to-end tests talk to
# (Debian's wireguard-go, wireguard-tools, iperf3, tcpdump), the tools the
# tests drive (curl, procps, nftables, iptables) and promtool (Debian's
# prometheus), which validates the metrics exposition; and the C compilers
# and rustup components the build needs, where missing.
#
# Every test that skips says why, and the list is printed at the end.
# Without root the tests that need network namespaces skip. As root nothing
# should skip, so a skip fails the run unless DYBERVPN_ALLOW_SKIPS=1.
#
# Environment:
#   DYBERVPN_FUZZ_SECONDS  seconds per fuzz target (default 20; 0 skips fuzzing)
#   DYBERVPN_ALLOW_SKIPS   1: as root, report skips without failing
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
    command -v curl >/dev/null || missing+=(curl)
    type -P kill >/dev/null && type -P ps >/dev/null || missing+=(procps)
    command -v setpriv >/dev/null || missing+=(util-linux)
    command -v c++ >/dev/null || missing+=(build-essential)
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
    # Packages install without starting services: Debian's prometheus
    # would otherwise start a server on port 9090 and leave it running.
    local policy=/usr/sbin/policy-rc.d had_policy=0
    [[ -e $policy ]] && had_policy=1
    if ((had_policy == 0)); then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    local status=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    if ((had_policy == 0)); then
        rm -f "$policy"
    fi
    return "$status"
}

# rustup's minimal profile has neither rustfmt nor clippy.
install_rust_components() {
    if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
        return
    fi
    if command -v rustup >/dev/null; then
        step "adding rustfmt and clippy (rustup component add)"
        rustup component add rustfmt clippy
    fi
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

# The tests name their network namespaces <tag><pid>x<n> and remove them
# when they end, also on failure; a run interrupted by a signal (Ctrl-C)
# cannot. Those whose test process is gone are removed before and after
# every run (any namespace named in that pattern whose PID is gone: run
# this on a machine where no other tool names namespaces that way).
sweep_test_namespaces() {
    if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
        return 0
    fi
    local ns pid
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        [[ $ns =~ ^[a-z]{1,3}([0-9]+)x[0-9]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        [[ -d /proc/$pid ]] && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$p" 2>/dev/null || true
        done
        ip netns delete "$ns" 2>/dev/null && echo "removed namespace $ns, left by an interrupted run"
    done
    return 0
}

install_system_deps
install_boringtun
install_rust_components
sweep_test_namespaces

skip_log=$(mktemp)
trap 'rm -f "$skip_log"; sweep_test_namespaces' EXIT
export DYBERVPN_SKIP_LOG=$skip_log

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace)"
cargo test --workspace --locked

if [[ -s $skip_log ]]; then
    step "skipped tests ($(wc -l <"$skip_log"))"
    sort "$skip_log"
    if [[ $(id -u) -eq 0 && ${DYBERVPN_ALLOW_SKIPS:-0} != 1 ]]; then
        echo "error: as root every test should run; install what is named above, or set DYBERVPN_ALLOW_SKIPS=1" >&2
        exit 1
    fi
else
    step "no test skipped"
fi

fuzz_seconds=${DYBERVPN_FUZZ_SECONDS:-20}
if [[ -x fuzz/run-short.sh && $fuzz_seconds -gt 0 ]]; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        step "installing cargo-fuzz"
        cargo install cargo-fuzz --version 0.13.2 --locked --quiet
    fi
    step "fuzzing every target for ${fuzz_seconds}s"
    fuzz/run-short.sh "$fuzz_seconds"
fi

step "all checks passed"
