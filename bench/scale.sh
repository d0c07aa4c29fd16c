#!/usr/bin/env bash
# Scale: one DyberVPN interface with PEERS configured peers (default 10,000)
# against the same interface with one peer, in the same run.
#
# Run as root:   bench/scale.sh                 (defaults: 10,000 peers, 10 s, 3 repeats)
#                PEERS=2000 REPEATS=5 bench/scale.sh
#
# What it does, in one run:
#   1. builds the release binary (cargo, honouring CARGO_TARGET_DIR);
#   2. writes two hybrid-mode configurations for namespace B's daemon: one
#      with its single real peer (namespace A's daemon, keys from
#      `dybervpn genkey`), and one with that peer plus PEERS-1 idle peers,
#      each a random X25519 public key (32 random bytes, base64: any value is
#      a valid X25519 public key) with its own /32 outside B's on-link /24
#      (10.101.0.1/32 upwards), so every one of them costs B a route;
#   3. creates two network namespaces joined by a veth pair (underlay
#      10.99.0.1/24 - 10.99.0.2/24, MTU 1500; tunnel 10.100.0.1 - 10.100.0.2,
#      MTU 1420), as bench/throughput.sh does;
#   4. for each repeat, with 1 and with PEERS peers on B (alternating which
#      goes first, so drift in background load hits both alike):
#        - times `dybervpn check` on B's configuration (parse and validate);
#        - starts both daemons (`up --foreground`) and times B's start-up:
#          from launching it to its userspace-API socket existing, and to
#          `dybervpn status <if> --json` answering through it;
#        - lets B sit idle for SETTLE seconds, then reads its memory
#          (/proc/PID/status VmRSS, RssAnon, VmHWM; smaps_rollup Pss) and
#          the CPU it used while idle;
#        - times the first ping reply A -> B through the tunnel;
#        - runs iperf3 TCP, single stream, A -> B, DURATION seconds, with the
#          CPU of both daemons accounted, and reads B's memory again;
#        - stops the daemons;
#   5. writes $OUT/runs.csv (every run), machine.txt, summary.json (medians,
#      memory growth per peer = (RSS_PEERS - RSS_1) / (PEERS - 1), the
#      throughput ratio) and prints the table.
#
# Everything it creates (namespaces, daemons, iperf3, sockets, PID files,
# temporary files) is removed on exit, on failure and on Ctrl-C. Every wait
# is bounded.
#
# Environment:
#   PEERS        peers on B in the large configuration       (10000)
#   DURATION     seconds per iperf3 run                      (10)
#   REPEATS      runs per configuration                      (3)
#   SETTLE       idle seconds before memory is read          (5)
#   MODE         handshake mode of both interfaces           (hybrid)
#   UP_TIMEOUT   seconds B may take to come up               (300)
#   OUT          result directory                            (bench/results-scale)
#   NO_BUILD=1   use the existing release binary
#   DYBERVPN     path to the dybervpn binary (implies NO_BUILD)
set -euo pipefail
umask 077

PEERS=${PEERS:-10000}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
SETTLE=${SETTLE:-5}
MODE=${MODE:-hybrid}
UP_TIMEOUT=${UP_TIMEOUT:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results-scale}
MTU=1420

die() { echo "scale.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_root
[[ $PEERS =~ ^[0-9]+$ && $PEERS -ge 2 && $PEERS -le 60000 ]] || die "PEERS must be an integer from 2 to 60000"
require_positive DURATION REPEATS UP_TIMEOUT
[[ $SETTLE =~ ^[0-9]+$ ]] || die "SETTLE must be a non-negative integer"
case $MODE in classic | hybrid) ;; *) die "MODE must be classic or hybrid (pq-only peers need ML-DSA keys)" ;; esac

# --- cleanup -----------------------------------------------------------------
bench_setup dvscale scale
IF_A=dvsa$SUFFIX
IF_B=dvsb$SUFFIX
IFACES=("$IF_A" "$IF_B")

# --- build -------------------------------------------------------------------
build_dybervpn
apt_install_missing iperf3:iperf3 python3:python3

# --- configurations ----------------------------------------------------------
log "configurations: B with 1 and with $PEERS peers ($MODE)"
"$DYBERVPN" genkey --mode "$MODE" >"$WORK/a.key"
"$DYBERVPN" genkey --mode "$MODE" >"$WORK/b.key"
"$DYBERVPN" pubkey <"$WORK/a.key" >"$WORK/a.pub"
"$DYBERVPN" pubkey <"$WORK/b.key" >"$WORK/b.pub"
mkdir -p "$WORK/a" "$WORK/b1" "$WORK/bn"
{
    cat "$WORK/a.key"
    printf 'listen_port = 51820\naddress = ["10.100.0.1/24"]\nmtu = %s\n\n[[peer]]\n' "$MTU"
    cat "$WORK/b.pub"
    printf 'endpoint = "10.99.0.2:51820"\nallowed_ips = ["10.100.0.2/32"]\n'
} >"$WORK/a/$IF_A.toml"
{
    cat "$WORK/b.key"
    printf 'listen_port = 51820\naddress = ["10.100.0.2/24"]\nmtu = %s\n\n[[peer]]\n' "$MTU"
    cat "$WORK/a.pub"
    printf 'endpoint = "10.99.0.1:51820"\nallowed_ips = ["10.100.0.1/32"]\n'
} >"$WORK/b1/$IF_B.toml"
# The idle peers: random keys, one /32 each from 10.101.0.1 upwards.
cp "$WORK/b1/$IF_B.toml" "$WORK/bn/$IF_B.toml"
python3 - "$((PEERS - 1))" >>"$WORK/bn/$IF_B.toml" <<'EOF'
import base64, os, sys
n = int(sys.argv[1])
out = []
for k in range(1, n + 1):
    key = base64.b64encode(os.urandom(32)).decode()
    ip = 0x0A650000 + k  # 10.101.0.0 + k
    addr = ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0))
    out.append(f'\n[[peer]]\npublic_key = "{key}"\nallowed_ips = ["{addr}/32"]\n')
sys.stdout.write("".join(out))
EOF
[[ $(grep -c '^\[\[peer\]\]' "$WORK/bn/$IF_B.toml") -eq $PEERS ]] || die "the $PEERS-peer configuration has the wrong peer count"

# --- the namespaces ----------------------------------------------------------
log "namespaces $NS_A and $NS_B over a veth pair"
netns_pair "$NS_A" "$NS_B" vs0 vs1

ip netns exec "$NS_B" iperf3 -s -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do
    ip netns exec "$NS_A" bash -c 'exec 3<>/dev/tcp/10.99.0.2/5201' 2>/dev/null && break
    sleep 0.1
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# CPU ticks (utime+stime, all threads) of a process; 0 if gone.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    awk '{sub(/^.*\) /, ""); print $12 + $13}' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK)

# "rss_kb anon_kb hwm_kb pss_kb" of a process.
memory_kb() {
    local rss anon hwm pss
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || true)
    echo "${rss:-0} ${anon:-0} ${hwm:-0} ${pss:-0}"
}

# --- one run -----------------------------------------------------------------
A_PID=""
B_PID=""

stop_daemons() {
    kill_pids $A_PID $B_PID
    local keep=() p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        [[ $p == "$A_PID" || $p == "$B_PID" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
    A_PID=""
    B_PID=""
    # Bounded: the interfaces go with their daemons.
    for _ in $(seq 1 100); do
        ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1 ||
            ip -n "$NS_B" link show "$IF_B" >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    echo "interfaces did not go away" >&2
}

# One run with B's configuration in directory $2 ($1 peers); appends a CSV row.
run_once() {
    local peers=$1 dir=$2 rep=$3
    local t0 t_check sock_ms status_ms reply_ms="" deadline
    t0=$(now_ms)
    "$DYBERVPN" check "$dir/$IF_B.toml" >/dev/null 2>&1 || die "dybervpn check refused $dir/$IF_B.toml"
    t_check=$(($(now_ms) - t0))

    ip netns exec "$NS_A" "$DYBERVPN" up "$WORK/a/$IF_A.toml" --foreground >"$WORK/a-$rep-$peers.log" 2>&1 &
    A_PID=$!; PIDS+=("$A_PID")
    t0=$(now_ms)
    ip netns exec "$NS_B" "$DYBERVPN" up "$dir/$IF_B.toml" --foreground >"$WORK/b-$rep-$peers.log" 2>&1 &
    B_PID=$!; PIDS+=("$B_PID")
    # Bounded: UP_TIMEOUT for the socket, then for an answer.
    deadline=$((t0 + UP_TIMEOUT * 1000))
    sock_ms=""
    while (($(now_ms) < deadline)); do
        if [[ -S /var/run/wireguard/$IF_B.sock ]]; then sock_ms=$(($(now_ms) - t0)); break; fi
        kill -0 "$B_PID" 2>/dev/null || break
        sleep 0.002
    done
    status_ms=""
    while [[ -n $sock_ms ]] && (($(now_ms) < deadline)); do
        if "$DYBERVPN" status "$IF_B" --json >/dev/null 2>&1; then status_ms=$(($(now_ms) - t0)); break; fi
        sleep 0.002
    done
    if [[ -z $status_ms ]]; then
        echo "B ($peers peers) did not come up; its log:" >&2
        tail -n 20 "$WORK/b-$rep-$peers.log" >&2 || true
        return 1
    fi

    # Idle: no traffic yet (A has not sent; nothing else has an endpoint).
    local c0 c1
    c0=$(cpu_ticks "$B_PID")
    sleep "$SETTLE"
    c1=$(cpu_ticks "$B_PID")
    local idle_cpu
    idle_cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
    read -r rss anon hwm pss < <(memory_kb "$B_PID")

    t0=$(now_ms)
    deadline=$((t0 + 20000))
    while (($(now_ms) < deadline)); do
        if ip netns exec "$NS_A" ping -c 1 -W 1 10.100.0.2 >/dev/null 2>&1; then
            reply_ms=$(($(now_ms) - t0)); break
        fi
        sleep 0.02
    done
    [[ -n $reply_ms ]] || { echo "no ping reply through the tunnel ($peers peers)" >&2; return 1; }

    local before after json
    before=$(($(cpu_ticks "$A_PID") + $(cpu_ticks "$B_PID")))
    json=$(timeout $((DURATION + 30)) ip netns exec "$NS_A" \
        iperf3 -c 10.100.0.2 -p 5201 -t "$DURATION" -J) || true
    after=$(($(cpu_ticks "$A_PID") + $(cpu_ticks "$B_PID")))
    read -r gbps rt cpu < <(python3 "$ROOT/bench/summarize.py" --parse-iperf "$((after - before))" "$CLK_TCK" <<<"$json")
    read -r rss2 _ hwm2 _ < <(memory_kb "$B_PID")

    echo "$peers,$rep,$t_check,$sock_ms,$status_ms,$reply_ms,$rss,$anon,$pss,$hwm,$idle_cpu,$gbps,$rt,$cpu,$rss2,$hwm2" >>"$CSV"
    echo "  $peers peers: check ${t_check} ms, up ${status_ms} ms (socket ${sock_ms} ms)," \
        "idle RSS ${rss} KiB (anon ${anon}), idle CPU ${idle_cpu} s/${SETTLE} s," \
        "first reply ${reply_ms} ms, $gbps Gbit/s, RSS after ${rss2} KiB" >&2
    stop_daemons
}

# --- the runs ----------------------------------------------------------------
mkdir -p "$OUT"
CSV=$OUT/runs.csv
echo "peers,repeat,check_ms,socket_ms,startup_ms,first_reply_ms,rss_idle_kb,rss_anon_idle_kb,pss_idle_kb,hwm_idle_kb,idle_cpu_s,gbps,retransmits,daemon_cpu_s,rss_after_kb,hwm_after_kb" >"$CSV"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "dybervpn=$("$DYBERVPN" --version 2>/dev/null | head -1)"
    echo "iperf3=$(iperf3 --version | head -1)"
    echo "mode=$MODE"
    echo "peers=$PEERS"
    echo "duration=$DURATION"
    echo "repeats=$REPEATS"
    echo "settle=$SETTLE"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

for rep in $(seq 1 "$REPEATS"); do
    if ((rep % 2)); then order="1 $PEERS"; else order="$PEERS 1"; fi
    for n in $order; do
        log "repeat $rep/$REPEATS: B with $n peer(s)"
        if [[ $n -eq 1 ]]; then dir=$WORK/b1; else dir=$WORK/bn; fi
        if ! run_once "$n" "$dir" "$rep"; then
            stop_daemons
            echo "$n,$rep,,,,,,,,,,0,0,0,," >>"$CSV"
        fi
    done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

python3 - "$OUT" <<'EOF'
import csv, json, statistics, sys
out = sys.argv[1]
machine = {}
with open(f"{out}/machine.txt") as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("=")
        machine[k] = v
rows = {}
with open(f"{out}/runs.csv") as f:
    for r in csv.DictReader(f):
        rows.setdefault(int(r["peers"]), []).append(r)

def med(rs, key):
    vals = [float(r[key]) for r in rs if r[key] not in ("", None)]
    return statistics.median(vals) if vals else None

cols = ["check_ms", "socket_ms", "startup_ms", "first_reply_ms", "rss_idle_kb",
        "rss_anon_idle_kb", "pss_idle_kb", "idle_cpu_s", "gbps", "daemon_cpu_s",
        "rss_after_kb", "hwm_after_kb"]
summary = {"machine": machine, "by_peers": {}}
for n, rs in sorted(rows.items()):
    summary["by_peers"][n] = {c: med(rs, c) for c in cols}
    summary["by_peers"][n]["runs"] = len(rs)
    summary["by_peers"][n]["gbps_all"] = [float(r["gbps"]) for r in rs]
ns = sorted(rows)
if len(ns) == 2 and all(summary["by_peers"][n]["rss_idle_kb"] for n in ns):
    small, large = ns
    s, l = summary["by_peers"][small], summary["by_peers"][large]
    per = lambda key: (l[key] - s[key]) * 1024 / (large - small) if l[key] and s[key] else None
    summary["growth_bytes_per_peer"] = {
        "rss_idle": per("rss_idle_kb"),
        "rss_anon_idle": per("rss_anon_idle_kb"),
        "pss_idle": per("pss_idle_kb"),
    }
    summary["gbps_ratio_large_to_one"] = (l["gbps"] / s["gbps"]) if s["gbps"] else None
with open(f"{out}/summary.json", "w") as f:
    json.dump(summary, f, indent=2)

def fmt(v, d=0):
    return "—" if v is None else f"{v:.{d}f}"

print(f"\nScale, {machine.get('mode')} mode, medians of {machine.get('repeats')} runs "
      f"({machine.get('cpus')} vCPU {machine.get('cpu')}; load average "
      f"{machine.get('loadavg_start')} at start, {machine.get('loadavg_end')} at end)\n")
print(f"{'peers on B':>10} {'check ms':>9} {'up ms':>7} {'1st reply ms':>12} {'idle RSS KiB':>12} "
      f"{'anon KiB':>9} {'idle CPU s':>10} {'Gbit/s':>7} {'RSS after KiB':>13}")
for n in ns:
    r = summary["by_peers"][n]
    print(f"{n:>10} {fmt(r['check_ms']):>9} {fmt(r['startup_ms']):>7} {fmt(r['first_reply_ms']):>12} "
          f"{fmt(r['rss_idle_kb']):>12} {fmt(r['rss_anon_idle_kb']):>9} {fmt(r['idle_cpu_s'], 2):>10} "
          f"{fmt(r['gbps'], 2):>7} {fmt(r['rss_after_kb']):>13}")
g = summary.get("growth_bytes_per_peer")
if g:
    print(f"\nmemory growth per peer: RSS {fmt(g['rss_idle'])} B, anonymous {fmt(g['rss_anon_idle'])} B, "
          f"PSS {fmt(g['pss_idle'])} B (target < 2048 B)")
if summary.get("gbps_ratio_large_to_one") is not None:
    print(f"throughput with {ns[-1]} peers / with 1 peer: {summary['gbps_ratio_large_to_one']:.2f}")
print(f"\nresults: {out}/runs.csv, {out}/summary.json")
EOF
