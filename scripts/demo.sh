#!/usr/bin/env bash
# The main job on one machine: builds dybervpn (release) and runs its demo,
# two DyberVPN peers in two network namespaces joined by a veth pair, with a
# post-quantum handshake, pings and a TCP throughput test through the
# tunnel. Everything the demo creates is removed when it ends.
#
#   bash scripts/demo.sh                  # hybrid mode (X25519 + ML-KEM-768)
#   bash scripts/demo.sh --mode pq-only   # or classic
#
# The demo itself needs root (network namespaces, TUN devices). Run as
# another user, this builds as that user and then runs the rest with sudo;
# run under sudo, it builds with the invoking user's toolchain, so the
# checkout's target/ stays theirs. Installs ping and iperf3 from Debian's
# packages if they are missing.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

# Builds the release binary: under sudo (whose PATH seldom has
# ~/.cargo/bin) as the invoking user, with their toolchain, so target/
# stays theirs; otherwise with this user's cargo.
build() {
    if [[ $(id -u) -eq 0 && -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
        local home
        home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        if [[ -x $home/.cargo/bin/cargo ]]; then
            sudo -u "$SUDO_USER" env HOME="$home" PATH="$home/.cargo/bin:$PATH" \
                ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR="$CARGO_TARGET_DIR"} \
                cargo build --release --quiet --bin dybervpn
            return
        fi
    fi
    if command -v cargo >/dev/null; then
        cargo build --release --quiet --bin dybervpn
        return
    fi
    echo "cargo was not found: install Rust (https://rustup.rs), then run this again" >&2
    exit 2
}

# --built-at BIN: the binary this script built before it re-ran itself
# with sudo (so root neither builds again nor writes into target/).
if [[ ${1:-} == --built-at && $# -ge 2 ]]; then
    bin=$2
    shift 2
else
    build
    bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/dybervpn")
fi

if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "the demo creates network namespaces and TUN devices, so it needs root: run this as root" >&2
        exit 2
    fi
    echo "the demo creates network namespaces and TUN devices: running it as root with sudo"
    exec sudo bash "$self" --built-at "$bin" "$@"
fi

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v iperf3 >/dev/null || missing+=(iperf3)
if ((${#missing[@]} > 0)) && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

exec "$bin" demo "$@"
