# Shared by the scripts in bench/: sourced, never run. Expects `die` and
# `log` (each script prints with its own name) and ROOT (the repository).

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
