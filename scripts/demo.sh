#!/usr/bin/env bash
# The main job on one machine: builds dybervpn (release) and runs its demo,
# two DyberVPN peers in two network namespaces joined by a veth pair, with a
# post-quantum handshake, pings and a TCP throughput test through the
# tunnel. Everything the demo creates is removed when it ends.
#
#   bash scripts/demo.sh                  # hybrid mode (X25519 + ML-KEM-768)
#   bash scripts/demo.sh --mode pq-only   # or classic
#
# Needs root (network namespaces, TUN devices). Installs ping and iperf3
# from Debian's packages if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "the demo creates network namespaces and TUN devices, so it needs root: sudo bash $0 $*" >&2
    exit 2
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

cargo build --release --quiet --bin dybervpn
exec "${CARGO_TARGET_DIR:-target}/release/dybervpn" demo "$@"
