#!/usr/bin/env bash
# Responder load test through a real socket (issue #6): handshakes per
# second one core answers, per mode.
#
# Run as root:   bench/handshake_load.sh                 (10 s per mode)
#                DURATION=20 MODES="hybrid" bench/handshake_load.sh
#                RATE=4000 bench/handshake_load.sh       (open loop)
#
# What it does:
#   1. builds the release binary and the load generator
#      (crates/dybervpn-tunnel/examples/handshake_load/; cargo, honouring
#      CARGO_TARGET_DIR);
#   2. creates two network namespaces joined by a veth pair (10.99.0.1/24 in
#      A, 10.99.0.2/24 in B) and makes the whole of 10.98.0.0/22 local to A
#      (a `local` route on lo), so A can send from and receive on every
#      address in it; B routes that range back through the veth;
#   3. per mode: writes a responder configuration with PEERS initiator
#      identities as its peers (keys derived from a random seed), starts
#      `dybervpn up` in B pinned to CPU 1 (`taskset -c 1`: every daemon
#      thread shares that core), and runs the generator in A pinned to
#      CPU 0. Identity i sends from 10.98.0.1 + i. The generator prepares
#      every initiation before the timed phase, answers cookie replies as an
#      initiator does (the cookie's mac2 on that identity's later
#      initiations), and keeps WINDOW initiations outstanding (closed loop)
#      or sends RATE per second (open loop). WARMUP seconds first (the
#      responder goes under load and hands out cookies), then DURATION
#      seconds measured;
#   4. reports per mode: responses received per second (completed
#      handshakes, responder side), the daemon's CPU-seconds per second
#      (all threads, from /proc/<pid>/task/*/schedstat, over the timed
#      phase), cookie replies per second, initiations dropped (no answer
#      within 1 s; in open loop also those superseded by the identity's next), the
#      daemon's own drop counters (`dybervpn status --json`, whole run), UDP
#      receive-buffer overflows in B (/proc/net/snmp, whole run) and the
#      generator's CPU-seconds per second; with `uptime` before and after
#      each mode.
#
# Writes $OUT/<mode>.json (the generator's report), <mode>-status.json,
# <mode>-snmp.txt, machine.txt and table.md; prints the table.
#
# Everything it creates (namespaces, daemon, generator, temporary files,
# the daemon's socket and PID file) is removed on exit, on failure and on
# Ctrl-C. Every wait is bounded.
#
# Environment:
#   DURATION   seconds measured per mode                      (10)
#   WARMUP     seconds before the measurement                  (3)
#   MODES      modes, in order                (classic hybrid pq-only)
#   PEERS      initiator identities and source addresses, ≤ 1022 (1000)
#   WINDOW     outstanding initiations, closed loop            (128)
#   RATE       initiations per second, open loop; overrides WINDOW
#   POOL_RATE  initiations/s to prepare for (default per mode in the generator)
#   OUT        result directory                 (bench/results-handshake)
#   NO_BUILD=1 use the binaries already built
#   DYBERVPN   path to the dybervpn binary (implies NO_BUILD for it)
set -euo pipefail
umask 077

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
MODES=${MODES:-"classic hybrid pq-only"}
PEERS=${PEERS:-1000}
WINDOW=${WINDOW:-128}
RATE=${RATE:-}
POOL_RATE=${POOL_RATE:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results-handshake}
PORT=51820
SOURCES=10.98.0.0/22
SOURCE_BASE=10.98.0.1

die() { echo "handshake_load.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_root
require_positive DURATION WINDOW
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds"
[[ $PEERS =~ ^[0-9]+$ && $PEERS -ge 1 && $PEERS -le 1022 ]] || die "PEERS must be 1 to 1022 (one address each in $SOURCES)"
[[ -z $RATE || $RATE =~ ^[0-9]+$ ]] || die "RATE must be a whole number of initiations per second"
[[ -z $POOL_RATE || $POOL_RATE =~ ^[0-9]+$ ]] || die "POOL_RATE must be a whole number"
for m in $MODES; do
    case $m in classic | hybrid | pq-only) ;; *) die "unknown mode $m (classic, hybrid, pq-only)" ;; esac
done
(($(nproc) >= 2)) || die "needs two CPUs (daemon on CPU 1, generator on CPU 0)"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v python3 >/dev/null || die "python3 is missing"

# --- cleanup -----------------------------------------------------------------
bench_setup dvhs hsload
IFNAME=dvhs$SUFFIX
IFACES=("$IFNAME")

# --- build -------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GEN=$TARGET_DIR/release/examples/handshake_load
[[ -n ${DYBERVPN:-} ]] || DYBERVPN=$TARGET_DIR/release/dybervpn
if [[ -z ${NO_BUILD:-} ]]; then
    log "building the release binary and the load generator"
    (cd "$ROOT" && cargo build --release -p dybervpn-cli --bin dybervpn >&2)
    (cd "$ROOT" && cargo build --release -p dybervpn-tunnel --example handshake_load >&2)
fi
[[ -x $DYBERVPN ]] || die "no binary at $DYBERVPN"
[[ -x $GEN ]] || die "no load generator at $GEN"

# --- the namespaces ----------------------------------------------------------
log "namespaces $NS_A and $NS_B over a veth pair; $SOURCES local to $NS_A"
netns_pair "$NS_A" "$NS_B" vh0 vh1
ip -n "$NS_A" route add local "$SOURCES" dev lo
ip -n "$NS_B" route add "$SOURCES" via 10.99.0.1

wait_sock() {
    local i
    for i in $(seq 1 200); do
        [[ -S /var/run/wireguard/$IFNAME.sock ]] && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

mkdir -p "$OUT"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "dybervpn=$("$DYBERVPN" --version 2>/dev/null | head -1)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "duration=$DURATION warmup=$WARMUP peers=$PEERS window=$WINDOW rate=${RATE:-closed-loop}"
} >"$OUT/machine.txt"

# --- one mode ----------------------------------------------------------------
run_mode() {
    local mode=$1 seed cfg daemon gen_args=()
    seed=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    cfg=$WORK/$IFNAME.toml
    "$GEN" config --mode "$mode" --peers "$PEERS" --seed "$seed" --port "$PORT" >"$cfg"

    ip netns exec "$NS_B" taskset -c 1 "$DYBERVPN" up "$cfg" --foreground >"$WORK/daemon-$mode.log" 2>&1 &
    daemon=$!
    PIDS+=("$daemon")
    if ! wait_sock "$daemon"; then
        echo "  $mode: the daemon did not come up; its log:" >&2
        tail -n 20 "$WORK/daemon-$mode.log" >&2 || true
        return 1
    fi

    gen_args=(--mode "$mode" --peers "$PEERS" --seed "$seed" --target "10.99.0.2:$PORT"
        --source-base "$SOURCE_BASE" --port "$PORT" --warmup "$WARMUP" --duration "$DURATION"
        --cpu 0 --daemon-pid "$daemon")
    if [[ -n $RATE ]]; then gen_args+=(--rate "$RATE"); else gen_args+=(--window "$WINDOW"); fi
    [[ -n $POOL_RATE ]] && gen_args+=(--pool-rate "$POOL_RATE")

    local load_before load_after rc=0
    load_before=$(loadavg)
    # Preparing the initiations takes up to a few tens of seconds on a
    # loaded machine; the bound is generous.
    timeout $((DURATION + WARMUP + 600)) ip netns exec "$NS_A" "$GEN" run "${gen_args[@]}" \
        >"$OUT/$mode.json" 2>"$WORK/gen-$mode.log" &
    local gen=$!
    PIDS+=("$gen")
    wait "$gen" || rc=$?
    load_after=$(loadavg)
    if ((rc != 0)); then
        echo "  $mode: the generator failed ($rc):" >&2
        tail -n 20 "$WORK/gen-$mode.log" >&2 || true
    fi
    ip netns exec "$NS_B" "$DYBERVPN" status "$IFNAME" --json >"$OUT/$mode-status.json" 2>/dev/null ||
        echo '{}' >"$OUT/$mode-status.json"
    ip netns exec "$NS_B" cat /proc/net/snmp >"$OUT/$mode-snmp.txt"
    echo "$mode load_before=$load_before load_after=$load_after" >>"$OUT/machine.txt"

    kill_pids "$daemon" "$gen"
    PIDS=("${PIDS[@]:0:${#PIDS[@]}-2}")
    local i
    for i in $(seq 1 50); do
        ip -n "$NS_B" link show "$IFNAME" >/dev/null 2>&1 || break
        sleep 0.1
    done
    return "$rc"
}

for mode in $MODES; do
    log "$mode: $PEERS identities, ${RATE:+$RATE initiations/s}${RATE:-window $WINDOW}, ${WARMUP}+${DURATION} s"
    run_mode "$mode" || echo "  $mode: no result" >&2
done

# --- the table ---------------------------------------------------------------
python3 - "$OUT" $MODES <<'EOF' | tee "$OUT/table.md"
import json, os, sys

out, modes = sys.argv[1], sys.argv[2:]

def load(path, default):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text) if text else default
    except (OSError, ValueError):
        return default

def snmp_udp(path):
    try:
        lines = [l.split() for l in open(path) if l.startswith("Udp:")]
        return dict(zip(lines[0][1:], map(int, lines[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}

loads = {}
for line in open(os.path.join(out, "machine.txt")):
    parts = line.split()
    if parts and parts[0] in modes and len(parts) >= 7:
        loads[parts[0]] = f"{parts[1].split('=')[1]} → {parts[4].split('=')[1]}"

print("| mode | handshakes/s answered | daemon CPU-s per s | cookie replies/s | dropped (no answer in 1 s) | "
      "daemon drops (rate_limited / initiation_flood / replay) | UDP rcvbuf errors | "
      "generator CPU-s per s | load (1 min) before → after |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for mode in modes:
    r = load(os.path.join(out, f"{mode}.json"), {})
    if not r:
        print(f"| {mode} | no result | | | | | | | |")
        continue
    status = load(os.path.join(out, f"{mode}-status.json"), {})
    drops = (status.get("interfaces") or [{}])[0].get("drops", {})
    udp = snmp_udp(os.path.join(out, f"{mode}-snmp.txt"))
    d = lambda k: drops.get(k, "?")
    exhausted = r.get("pool_exhausted_after_s")
    note = f" (pool ran out at {exhausted} s)" if exhausted is not None else ""
    print(f"| {mode} | {r['handshakes_per_s']:.0f}{note} | {r.get('daemon_cpu_per_s') or 0:.2f} | "
          f"{r['cookie_replies_per_s']:.0f} | {r['timed_out']} of {r['sent']} | "
          f"{d('rate_limited')} / {d('initiation_flood')} / {d('replay')} | "
          f"{udp.get('RcvbufErrors', '?')} | {r['generator_cpu_per_s']:.2f} | {loads.get(mode, '?')} |")
print()
for mode in modes:
    r = load(os.path.join(out, f"{mode}.json"), {})
    if r:
        threads = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.get("daemon_threads_cpu_s", {}).items()) if v >= 0.005)
        w = r.get("whole_run", {})
        print(f"- {mode}: {r['seconds']} s measured, {r['sent']} initiations sent ({r['sent_per_s']:.0f}/s), "
              f"{r['stray']} stray answers; daemon CPU-s by thread (name/tid): {threads}; "
              f"whole run incl. warm-up: {w.get('sent')} sent, {w.get('responses')} responses, "
              f"{w.get('cookie_replies')} cookie replies, {w.get('never_answered_after_drain')} never answered; "
              f"{r['prepared']} initiations prepared in {r['prepare_s']} s")
EOF
