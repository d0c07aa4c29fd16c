#!/usr/bin/env bash
# Throughput of DyberVPN against the userspace WireGuards, side by side.
#
# Run as root:   bench/throughput.sh            (defaults: 10 s, 3 repeats)
#                DURATION=5 REPEATS=5 bench/throughput.sh
#
# What it does, in one run:
#   1. builds the release binary (cargo, honouring CARGO_TARGET_DIR);
#   2. installs the comparison peers if missing: wireguard-go, wireguard-tools
#      and iperf3 from Debian (apt-get), boringtun-cli from crates.io
#      (cargo install --locked, into $TOOLS_DIR, default /work/tools or
#      ~/.local/dybervpn-bench);
#   3. creates two network namespaces joined by a veth pair (underlay
#      10.99.0.1/24 - 10.99.0.2/24, MTU 1500) and, for each implementation in
#      turn, a tunnel between them (10.100.0.1 - 10.100.0.2, MTU 1420);
#   4. runs iperf3 TCP from namespace A to B (single stream; -P 4 and -R for
#      the implementations in $EXTRA_IMPLS; for those in $FLOOD_IMPLS also a
#      single stream while bench/flood.py sends B FLOOD_PPS garbage
#      initiations per second: right type and length, wrong mac1; and again
#      with a valid mac1, which costs the responder a Diffie-Hellman each
#      until its cookie mechanism engages),
#      DURATION seconds, REPEATS times,
#      round-robin over the implementations so slow drift in background load
#      hits all of them alike;
#   5. accounts the CPU time of both tunnel daemons (utime+stime from
#      /proc/<pid>/stat, all threads) over each iperf3 run;
#   6. measures, per implementation and repeat, the time from starting the
#      daemons to the first ping reply through the tunnel (the handshake
#      included; for wireguard-go/boringtun also their `wg set`; keys and
#      configuration files are made before the clock starts), and the
#      idle RTT (20 pings, 50 ms apart) against the bare veth's;
#   7. writes $OUT/runs.csv (every run), latency.csv, summary.json (medians, ratios),
#      $OUT/throughput.svg (a plot) and prints the table (bench/summarize.py).
#
# Everything it creates (namespaces, daemons, iperf3, temporary files) is
# removed on exit, on failure and on Ctrl-C. Every wait is bounded.
#
# Environment:
#   DURATION     seconds per iperf3 run                      (10)
#   REPEATS      runs per implementation and test            (3)
#   IMPLS        implementations, in order
#                (veth dybervpn-classic dybervpn-hybrid dybervpn-pq-only wireguard-go boringtun)
#   EXTRA_IMPLS  those also measured with -P 4 and -R
#                (veth dybervpn-hybrid wireguard-go boringtun)
#   FLOOD_IMPLS  those also measured under a flood of garbage initiations
#                (dybervpn-hybrid wireguard-go boringtun; "none" for none)
#   FLOOD_PPS    the flood's rate, datagrams per second      (20000)
#   OUT          result directory                            (bench/results)
#   TOOLS_DIR    where boringtun-cli is installed            (see above)
#   NO_BUILD=1   use the existing release binary
#   DYBERVPN     path to the dybervpn binary (implies NO_BUILD)
set -euo pipefail
umask 077

DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
IMPLS=${IMPLS:-"veth dybervpn-classic dybervpn-hybrid dybervpn-pq-only wireguard-go boringtun"}
EXTRA_IMPLS=${EXTRA_IMPLS:-"veth dybervpn-hybrid wireguard-go boringtun"}
FLOOD_IMPLS=${FLOOD_IMPLS:-"dybervpn-hybrid wireguard-go boringtun"}
FLOOD_PPS=${FLOOD_PPS:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
MTU=1420

die() { echo "throughput.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_root
require_positive DURATION REPEATS

# --- cleanup -----------------------------------------------------------------
bench_setup dvbench bench
IFACES=()
for n in dvbb wggo wgbt; do
    IFACES+=("${n}a$SUFFIX" "${n}b$SUFFIX")
done

# --- build and install -------------------------------------------------------
build_dybervpn

wanted=(iperf3:iperf3 wg:wireguard-tools python3:python3)
[[ " $IMPLS " == *" wireguard-go "* ]] && wanted+=(wireguard-go:wireguard-go)
apt_install_missing "${wanted[@]}"

BORINGTUN=""
if [[ " $IMPLS " == *" boringtun "* ]]; then
    if [[ -z ${TOOLS_DIR:-} ]]; then
        if [[ -d /work/tools ]]; then TOOLS_DIR=/work/tools; else TOOLS_DIR=$HOME/.local/dybervpn-bench; fi
    fi
    BORINGTUN=$(command -v boringtun-cli || true)
    [[ -z $BORINGTUN && -x $TOOLS_DIR/bin/boringtun-cli ]] && BORINGTUN=$TOOLS_DIR/bin/boringtun-cli
    if [[ -z $BORINGTUN ]]; then
        log "installing boringtun-cli 0.7.1 into $TOOLS_DIR (cargo install)"
        cargo install boringtun-cli --version 0.7.1 --locked --root "$TOOLS_DIR" >&2
        BORINGTUN=$TOOLS_DIR/bin/boringtun-cli
    fi
fi

# --- the namespaces ----------------------------------------------------------
log "namespaces $NS_A and $NS_B over a veth pair"
netns_pair "$NS_A" "$NS_B" vb0 vb1
inA() { ip netns exec "$NS_A" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }

ip netns exec "$NS_B" iperf3 -s -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do
    inA bash -c 'exec 3<>/dev/tcp/10.99.0.2/5201' 2>/dev/null && break
    sleep 0.1
done

# CPU ticks (utime+stime, all threads) of a process; 0 if gone.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # after "pid (comm) ": state is field 1, utime field 12, stime field 13
    awk '{sub(/^.*\) /, ""); print $12 + $13}' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK)

# --- tunnels -----------------------------------------------------------------
DAEMONS=()   # pids of the current tunnel's daemons
B_PUB=""     # the responder's X25519 public key (base64), for flood-mac1
TUN_PEER=10.100.0.2

# Keys and configuration files, before the clock starts: the latency figure
# is from launching the daemons, as for the comparisons (whose `wg genkey`
# also runs untimed).
prepare_dybervpn() {
    local mode=$1 d=$WORK/dvb
    mkdir -p "$d"
    "$DYBERVPN" genkey --mode "$mode" >"$d/a.key"
    "$DYBERVPN" genkey --mode "$mode" >"$d/b.key"
    "$DYBERVPN" pubkey <"$d/a.key" >"$d/a.pub"
    "$DYBERVPN" pubkey <"$d/b.key" >"$d/b.pub"
    B_PUB=$(sed -n 's/^public_key = "\(.*\)"$/\1/p' "$d/b.pub")
    {
        cat "$d/a.key"
        printf 'listen_port = 51820\naddress = ["10.100.0.1/24"]\nmtu = %s\n\n[[peer]]\n' "$MTU"
        cat "$d/b.pub"
        printf 'endpoint = "10.99.0.2:51820"\nallowed_ips = ["10.100.0.2/32"]\n'
    } >"$d/dvbba$SUFFIX.toml"
    {
        cat "$d/b.key"
        printf 'listen_port = 51820\naddress = ["10.100.0.2/24"]\nmtu = %s\n\n[[peer]]\n' "$MTU"
        cat "$d/a.pub"
        printf 'endpoint = "10.99.0.1:51820"\nallowed_ips = ["10.100.0.1/32"]\n'
    } >"$d/dvbbb$SUFFIX.toml"
}

start_dybervpn() {
    local d=$WORK/dvb
    ip netns exec "$NS_A" "$DYBERVPN" up "$d/dvbba$SUFFIX.toml" --foreground >"$WORK/dvb-a.log" 2>&1 &
    DAEMONS+=($!); PIDS+=($!)
    ip netns exec "$NS_B" "$DYBERVPN" up "$d/dvbbb$SUFFIX.toml" --foreground >"$WORK/dvb-b.log" 2>&1 &
    DAEMONS+=($!); PIDS+=($!)
    wait_link "$NS_A" "dvbba$SUFFIX" && wait_link "$NS_B" "dvbbb$SUFFIX"
}

# wg-style configuration of an interface created by a userspace WireGuard.
wg_configure() {
    local ns=$1 ifname=$2 key=$3 peer_pub=$4 addr=$5 peer_addr=$6 peer_tun=$7
    ip netns exec "$ns" wg set "$ifname" private-key "$key" listen-port 51820 \
        peer "$peer_pub" endpoint "$peer_addr:51820" allowed-ips "$peer_tun/32"
    ip -n "$ns" addr add "$addr/24" dev "$ifname"
    ip -n "$ns" link set "$ifname" mtu "$MTU" up
}

prepare_userspace_wg() {
    local d=$WORK/wg
    mkdir -p "$d"
    wg genkey >"$d/a.key"; wg pubkey <"$d/a.key" >"$d/a.pub"
    wg genkey >"$d/b.key"; wg pubkey <"$d/b.key" >"$d/b.pub"
    B_PUB=$(cat "$d/b.pub")
}

start_userspace_wg() {
    local impl=$1 d=$WORK/wg
    local ia=${2}a$SUFFIX ib=${2}b$SUFFIX
    if [[ $impl == wireguard-go ]]; then
        ip netns exec "$NS_A" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ia" >"$WORK/wg-a.log" 2>&1 &
        DAEMONS+=($!); PIDS+=($!)
        ip netns exec "$NS_B" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ib" >"$WORK/wg-b.log" 2>&1 &
        DAEMONS+=($!); PIDS+=($!)
    else
        ip netns exec "$NS_A" "$BORINGTUN" --foreground --disable-drop-privileges "$ia" >"$WORK/wg-a.log" 2>&1 &
        DAEMONS+=($!); PIDS+=($!)
        ip netns exec "$NS_B" "$BORINGTUN" --foreground --disable-drop-privileges "$ib" >"$WORK/wg-b.log" 2>&1 &
        DAEMONS+=($!); PIDS+=($!)
    fi
    wait_sock "$ia" && wait_sock "$ib" || return 1
    wg_configure "$NS_A" "$ia" "$d/a.key" "$(cat "$d/b.pub")" 10.100.0.1 10.99.0.2 10.100.0.2
    wg_configure "$NS_B" "$ib" "$d/b.key" "$(cat "$d/a.pub")" 10.100.0.2 10.99.0.1 10.100.0.1
}

wait_link() {
    local i
    # 10 ms steps, 10 s in all: the step bounds the start-up figure's error.
    for i in $(seq 1 1000); do
        ip -n "$1" link show "$2" >/dev/null 2>&1 && return 0
        sleep 0.01
    done
    echo "interface $2 did not appear" >&2
    return 1
}

wait_sock() {
    local i
    for i in $(seq 1 1000); do
        [[ -S /var/run/wireguard/$1.sock ]] && return 0
        sleep 0.01
    done
    echo "userspace API socket of $1 did not appear" >&2
    return 1
}

# Bounded: the first ping through the tunnel (the handshake) within 20 s.
wait_tunnel() {
    local deadline=$(($(now_ms) + 20000))
    while (($(now_ms) < deadline)); do
        ip netns exec "$NS_A" ping -c 1 -W 1 "$TUN_PEER" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    return 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_impl() {
    DAEMONS=()
    UP_MS=""
    case $1 in
    dybervpn-*) prepare_dybervpn "${1#dybervpn-}" ;;
    wireguard-go | boringtun) prepare_userspace_wg ;;
    esac || return 1
    local t0
    t0=$(now_ms)
    case $1 in
    veth) TUN_PEER=10.99.0.2; return 0 ;;
    dybervpn-*) TUN_PEER=10.100.0.2; start_dybervpn ;;
    wireguard-go) TUN_PEER=10.100.0.2; start_userspace_wg "$1" wggo ;;
    boringtun) TUN_PEER=10.100.0.2; start_userspace_wg "$1" wgbt ;;
    *) die "unknown implementation $1" ;;
    esac || return 1
    wait_tunnel || return 1
    [[ $1 == veth ]] || UP_MS=$(($(now_ms) - t0))
}

# Idle round-trip time: mean of 20 pings 50 ms apart, in ms.
idle_rtt() {
    ip netns exec "$NS_A" ping -q -c 20 -i 0.05 -W 1 "$TUN_PEER" 2>/dev/null |
        sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

stop_impl() {
    ((${#DAEMONS[@]})) || return 0
    kill_pids "${DAEMONS[@]}"
    local keep=() p d
    for p in "${PIDS[@]}"; do
        for d in "${DAEMONS[@]}"; do [[ $p == "$d" ]] && continue 2; done
        keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
    DAEMONS=()
    # userspace interfaces vanish with their process; give the kernel a moment
    local ns
    for _ in $(seq 1 50); do
        local left=0
        for ns in "$NS_A" "$NS_B"; do
            ip -n "$ns" -o link show | grep -qE ': (dvbb|wggo|wgbt)[ab]' && left=1
        done
        [[ $left -eq 0 ]] && break
        sleep 0.1
    done
}

# One iperf3 run: prints "gbps retransmits cpu_seconds".
run_iperf() {
    local test=$1 args=()
    local flood_pid=""
    case $test in
    single) ;;
    P4) args=(-P 4) ;;
    reverse) args=(-R) ;;
    flood | flood-mac1)
        # The mode's initiation: type 5 (1332 B) hybrid, 7 (4641 B) pq-only,
        # 1 (148 B) classic and the WireGuards.
        local mtype=1 mlen=148
        case $CURRENT_IMPL in
        dybervpn-hybrid) mtype=5 mlen=1332 ;;
        dybervpn-pq-only) mtype=7 mlen=4641 ;;
        esac
        local keyarg=()
        [[ $test == flood-mac1 ]] && keyarg=("$B_PUB")
        ip netns exec "$NS_A" python3 "$ROOT/bench/flood.py" 10.99.0.2 51820 \
            "$mtype" "$mlen" "$FLOOD_PPS" "${keyarg[@]+"${keyarg[@]}"}" >/dev/null 2>&1 &
        flood_pid=$!
        PIDS+=("$flood_pid")
        sleep 1
        ;;
    esac
    local before=0 after=0 p
    for p in "${DAEMONS[@]+"${DAEMONS[@]}"}"; do before=$((before + $(cpu_ticks "$p"))); done
    local json
    json=$(timeout $((DURATION + 30)) ip netns exec "$NS_A" \
        iperf3 -c "$TUN_PEER" -p 5201 -t "$DURATION" -J "${args[@]+"${args[@]}"}") || true
    for p in "${DAEMONS[@]+"${DAEMONS[@]}"}"; do after=$((after + $(cpu_ticks "$p"))); done
    if [[ -n $flood_pid ]]; then
        kill_pids "$flood_pid"
        unset 'PIDS[${#PIDS[@]}-1]'
    fi
    python3 "$ROOT/bench/summarize.py" --parse-iperf "$((after - before))" "$CLK_TCK" <<<"$json"
}

# --- the runs ----------------------------------------------------------------
mkdir -p "$OUT"
CSV=$OUT/runs.csv
echo "impl,test,repeat,gbps,retransmits,daemon_cpu_s,duration_s" >"$CSV"
echo "impl,repeat,up_to_first_reply_ms,idle_rtt_ms" >"$OUT/latency.csv"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "dybervpn=$("$DYBERVPN" --version 2>/dev/null | head -1)"
    echo "wireguard_go=$(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo '?')"
    echo "boringtun=${BORINGTUN:+$("$BORINGTUN" --version 2>/dev/null | head -1)}"
    echo "iperf3=$(iperf3 --version | head -1)"
    echo "duration=$DURATION"
    echo "repeats=$REPEATS"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

for rep in $(seq 1 "$REPEATS"); do
    for impl in $IMPLS; do
        tests="single"
        [[ " $EXTRA_IMPLS " == *" $impl "* ]] && tests="single P4 reverse"
        [[ " $FLOOD_IMPLS " == *" $impl "* ]] && tests="$tests flood flood-mac1"
        CURRENT_IMPL=$impl
        log "repeat $rep/$REPEATS: $impl ($tests)"
        if ! start_impl "$impl"; then
            echo "  $impl: tunnel did not come up; logs:" >&2
            tail -n 5 "$WORK"/*.log >&2 || true
            stop_impl
            for t in $tests; do echo "$impl,$t,$rep,0,0,0,$DURATION" >>"$CSV"; done
            continue
        fi
        rtt=$(idle_rtt)
        echo "  $impl: up to first ping reply ${UP_MS:-—} ms, idle RTT ${rtt:-?} ms" >&2
        echo "$impl,$rep,${UP_MS},${rtt}" >>"$OUT/latency.csv"
        for t in $tests; do
            run_iperf "$t" >"$WORK/result"
            read -r gbps rt cpu <"$WORK/result"
            echo "  $impl $t: $gbps Gbit/s, $rt retransmits, daemons ${cpu} CPU-s" >&2
            echo "$impl,$t,$rep,$gbps,$rt,$cpu,$DURATION" >>"$CSV"
        done
        stop_impl
    done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

python3 "$ROOT/bench/summarize.py" "$OUT"
