#!/usr/bin/env bash
# What a flood of garbage initiations costs the responder, per thread, with
# no other traffic: the part of bench/throughput.sh's flood runs that the
# daemon can change, without the throughput noise around it.
#
# Run as root:   bench/flood_cost.sh                     (hybrid, 20,000/s, 10 s)
#                MODES="classic hybrid pq-only" PPS=5000 bench/flood_cost.sh
#
# What it does:
#   1. builds the release binary (cargo, honouring CARGO_TARGET_DIR);
#   2. creates two network namespaces joined by a veth pair (10.99.0.1/24 in
#      A, 10.99.0.2/24 in B), as bench/throughput.sh does;
#   3. per mode: starts a DyberVPN tunnel between them (A → B, one ping to
#      complete the handshake), then for each flood kind runs
#      bench/flood.py in A against B's port for 1 s of warm-up and DURATION
#      seconds measured: first initiations with a wrong mac1 (dropped after
#      one BLAKE2s), then with a valid mac1 (answered by a cookie reply once
#      B counts itself under load);
#   4. reports, per run, the CPU B's daemon used (utime+stime from
#      /proc/<pid>/task/*/stat, per thread: `<if>-udp4` reads, `<if>-hs4`
#      answers handshake messages) and the flooder's own, in cores, and B's
#      drop counters from `dybervpn status`.
#
# Everything it creates (namespaces, daemons, flooder, temporary files,
# sockets and PID files) is removed on exit, on failure and on Ctrl-C.
# Every wait is bounded.
#
# Environment:
#   DURATION   seconds measured per run                        (10)
#   PPS        flood datagrams per second                   (20000)
#   MODES      modes, in order                             (hybrid)
#   NO_BUILD=1 use the binary already built
#   DYBERVPN   path to the dybervpn binary (implies NO_BUILD)
set -euo pipefail
umask 077

DURATION=${DURATION:-10}
PPS=${PPS:-20000}
MODES=${MODES:-hybrid}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "flood_cost.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_root
require_positive DURATION PPS
for m in $MODES; do
    case $m in classic | hybrid | pq-only) ;; *) die "unknown mode $m (classic, hybrid, pq-only)" ;; esac
done
command -v python3 >/dev/null || die "python3 is missing"

# --- cleanup -----------------------------------------------------------------
bench_setup dvfc floodcost
IFACES=("dvfca$SUFFIX" "dvfcb$SUFFIX")

build_dybervpn
log "namespaces $NS_A and $NS_B over a veth pair"
netns_pair "$NS_A" "$NS_B" vf0 vf1

# utime+stime ticks per thread of process $1, one "name ticks" line each.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*/stat; do
        # "tid (comm) state ...": utime and stime are fields 12 and 13 after ") "
        sed -E 's/^[0-9]+ \((.*)\) (.*)$/\1 \2/' "$t" 2>/dev/null | awk '{print $1, $13 + $14}'
    done
}
process_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# Starts the tunnel for mode $1; sets A_PID, B_PID, B_PUB.
start_tunnel() {
    local mode=$1 s
    for s in a b; do
        "$DYBERVPN" genkey --mode "$mode" >"$WORK/$s.key"
        "$DYBERVPN" pubkey <"$WORK/$s.key" >"$WORK/$s.pub"
    done
    B_PUB=$(sed -n 's/^public_key = "\(.*\)"$/\1/p' "$WORK/b.pub")
    {
        cat "$WORK/a.key"
        printf 'listen_port = 51820\naddress = ["10.100.0.1/24"]\n\n[[peer]]\n'
        cat "$WORK/b.pub"
        printf 'endpoint = "10.99.0.2:51820"\nallowed_ips = ["10.100.0.2/32"]\n'
    } >"$WORK/dvfca$SUFFIX.toml"
    {
        cat "$WORK/b.key"
        printf 'listen_port = 51820\naddress = ["10.100.0.2/24"]\n\n[[peer]]\n'
        cat "$WORK/a.pub"
        printf 'endpoint = "10.99.0.1:51820"\nallowed_ips = ["10.100.0.1/32"]\n'
    } >"$WORK/dvfcb$SUFFIX.toml"
    ip netns exec "$NS_A" "$DYBERVPN" up "$WORK/dvfca$SUFFIX.toml" --foreground >"$WORK/a.log" 2>&1 &
    A_PID=$!; PIDS+=("$A_PID")
    ip netns exec "$NS_B" "$DYBERVPN" up "$WORK/dvfcb$SUFFIX.toml" --foreground >"$WORK/b.log" 2>&1 &
    B_PID=$!; PIDS+=("$B_PID")
    local i
    for i in $(seq 1 100); do
        ip netns exec "$NS_A" ping -c 1 -W 1 10.100.0.2 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the $mode tunnel did not come up (logs: $WORK/a.log, $WORK/b.log)"
}

# One flood run against B: $1 mode, $2 "wrong" or "valid" mac1.
flood_run() {
    local mode=$1 kind=$2 mtype=1 mlen=148 key=()
    case $mode in hybrid) mtype=5 mlen=1332 ;; pq-only) mtype=7 mlen=4641 ;; esac
    [[ $kind == valid ]] && key=("$B_PUB")
    ip netns exec "$NS_A" python3 "$ROOT/bench/flood.py" 10.99.0.2 51820 \
        "$mtype" "$mlen" "$PPS" "${key[@]+"${key[@]}"}" >/dev/null 2>&1 &
    local flooder=$!
    PIDS+=("$flooder")
    sleep 1
    thread_ticks "$B_PID" | sort >"$WORK/before"
    local f0 f1
    f0=$(process_ticks "$flooder")
    sleep "$DURATION"
    thread_ticks "$B_PID" | sort >"$WORK/after"
    f1=$(process_ticks "$flooder")
    kill_pids "$flooder"
    unset 'PIDS[${#PIDS[@]}-1]'
    # Threads of one name are summed (one UDP reader per address family).
    join <(awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' "$WORK/before" | sort) \
        <(awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' "$WORK/after" | sort) |
        awk -v hz="$CLK_TCK" -v s="$DURATION" -v m="$mode" -v k="$kind" -v f=$((f1 - f0)) '
            { d = ($3 - $2) / hz / s; total += d; if (d >= 0.005) line = line sprintf(" %s %.3f", $1, d) }
            END { printf "%-8s %-6s daemon %.3f cores (%s ), flooder %.3f\n", m, k, total, line, f / hz / s }'
}

for mode in $MODES; do
    log "$mode: tunnel up, then $PPS garbage initiations a second, ${DURATION} s per kind"
    start_tunnel "$mode"
    flood_run "$mode" wrong
    flood_run "$mode" valid
    ip netns exec "$NS_B" "$DYBERVPN" status "dvfcb$SUFFIX" 2>/dev/null | grep -E "dropped|cookie replies" | sed 's/^/    /' || true
    kill_pids "$A_PID" "$B_PID"
    PIDS=()
done
