# Shared by the scripts in bench/: sourced, never run. Expects `die` and
# `log` (each script prints with its own name) and ROOT (the repository).

# Dies unless run as root: every script makes namespaces and TUN devices.
require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (network namespaces, TUN devices)"
}

# Dies unless each named variable holds a positive integer.
require_positive() {
    local name
    for name in "$@"; do
        [[ ${!name} =~ ^[0-9]+$ && ${!name} -ge 1 ]] || die "$name must be a positive integer"
    done
}

# Names what a script creates and arms the traps that remove it, whether
# the script ends, fails or is interrupted: NS_A and NS_B (namespaces named
# from prefix $1 and this shell's pid, SUFFIX), WORK (a fresh directory
# /tmp/dybervpn-$2.*), PIDS and SERVER_PID (background processes to stop).
# The script lists in IFACES the interfaces whose UAPI sockets and pid files
# must go (left behind only by a daemon killed with SIGKILL).
bench_setup() {
    SUFFIX=$$
    NS_A=$1-a-$SUFFIX
    NS_B=$1-b-$SUFFIX
    WORK=$(mktemp -d "/tmp/dybervpn-$2.XXXXXX")
    PIDS=()
    SERVER_PID=""
    IFACES=()
    trap bench_cleanup EXIT
    trap 'echo "interrupted" >&2; exit 130' INT TERM
}

bench_cleanup() {
    local rc=$? n
    trap - EXIT INT TERM
    kill_pids "${PIDS[@]+"${PIDS[@]}"}" "$SERVER_PID"
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    for n in "${IFACES[@]+"${IFACES[@]}"}"; do
        rm -f "/var/run/wireguard/$n.sock" "/run/dybervpn/$n.pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}

# Stops the given processes: SIGTERM, a bounded wait (5 s), then SIGKILL.
# Empty arguments are skipped, so optional pids can be passed as they are.
kill_pids() {
    local pid i alive
    for pid in "$@"; do
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    done
    for i in $(seq 1 50); do
        alive=0
        for pid in "$@"; do
            [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && alive=1
        done
        [[ $alive -eq 0 ]] && return 0
        sleep 0.1
    done
    for pid in "$@"; do
        [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
    done
}

# Sets DYBERVPN to the release binary, building it first unless NO_BUILD is
# set or DYBERVPN was given (cargo honours CARGO_TARGET_DIR). Extra
# arguments are more `cargo build --release` argument lists to run, one
# string each (e.g. "-p dybervpn-tunnel --example handshake_load").
build_dybervpn() {
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    if [[ -n ${DYBERVPN:-} ]]; then
        NO_BUILD=1
    else
        DYBERVPN=$TARGET_DIR/release/dybervpn
    fi
    if [[ -z ${NO_BUILD:-} ]]; then
        log "building the release binary"
        (cd "$ROOT" && cargo build --release -p dybervpn-cli --bin dybervpn >&2)
        local extra
        for extra in "$@"; do
            # Word splitting intended: one string holds one argument list.
            # shellcheck disable=SC2086
            (cd "$ROOT" && cargo build --release $extra >&2)
        done
    fi
    [[ -x $DYBERVPN ]] || die "no binary at $DYBERVPN"
}

# Installs the Debian packages of the commands that are missing; each
# argument is "command:package".
apt_install_missing() {
    local need=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
    done
    ((${#need[@]})) || return 0
    log "installing ${need[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2; }
}

# Creates namespaces $1 and $2 joined by a veth pair ($3 in the first,
# 10.99.0.1/24; $4 in the second, 10.99.0.2/24), every link up. The caller's
# cleanup deletes the namespaces, which takes the veth pair with them.
netns_pair() {
    local a=$1 b=$2 va=$3 vb=$4 ns
    ip netns add "$a"
    ip netns add "$b"
    ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b"
    ip -n "$a" addr add 10.99.0.1/24 dev "$va"
    ip -n "$b" addr add 10.99.0.2/24 dev "$vb"
    for ns in "$a" "$b"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$a" link set "$va" up
    ip -n "$b" link set "$vb" up
}
