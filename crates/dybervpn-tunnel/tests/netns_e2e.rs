//! End to end: two DyberVPN daemons, each in its own network namespace,
//! joined by a veth pair, ping each other through the tunnel in every mode.
//!
//! The outer tests create the namespaces and run this same test binary
//! inside each one for the ignored `inner_daemon` test, which runs
//! `commands::run_foreground` until SIGTERM. Everything (processes,
//! namespaces, interfaces, sockets, PID files) is removed by guards, also
//! when an assertion fails. Needs root, `ip` and `ping`; skipped otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use dybervpn_config::{Cidr, Config, Endpoint, InterfaceConfig, PeerConfig};
use dybervpn_crypto::{BackendKind, MlDsaSeed, X25519SecretKey};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{unique_name, veth_pair, Netns, Process};
use dybervpn_tunnel::{commands, os, pidfile, uapi};

const ROLE: &str = "DYBERVPN_E2E_ROLE";
const MODE: &str = "DYBERVPN_E2E_MODE";
const IFNAME: &str = "DYBERVPN_E2E_IFNAME";
const PORT: u16 = 51820;

fn underlay(role: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 250, 0, role))
}

fn tunnel_addr(role: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, role))
}

/// Fixed test keys: role 1 and role 2.
fn config_for(role: u8, mode: Mode) -> Config {
    let backend = dybervpn_crypto::backend(BackendKind::default());
    let secret = |r: u8| X25519SecretKey::from_bytes([r.wrapping_mul(17).wrapping_add(1); 32]);
    let public = |r: u8| backend.x25519_public_key(&secret(r)).expect("public key");
    let seed = |r: u8| MlDsaSeed::from_bytes([r.wrapping_mul(29).wrapping_add(3); 32]);
    let other = 3 - role;

    let mut iface = InterfaceConfig::new(secret(role), public(role), mode);
    iface.listen_port = Some(PORT);
    iface.address = vec![Cidr::new(tunnel_addr(role), 24).expect("cidr")];
    if mode.needs_mldsa() {
        iface.mldsa_private_key = Some(seed(role));
    }
    let mut peer = PeerConfig::new(public(other), mode);
    peer.endpoint = Some(Endpoint::from(SocketAddr::new(underlay(other), PORT)));
    peer.allowed_ips = vec![Cidr::new(tunnel_addr(other), 32).expect("cidr")];
    peer.persistent_keepalive = Some(25);
    if mode.needs_mldsa() {
        peer.mldsa_public_key = Some(
            backend
                .mldsa_from_seed(&seed(other))
                .expect("ml-dsa")
                .public,
        );
    }
    Config {
        interface: iface,
        peers: vec![peer],
    }
}

#[test]
#[ignore = "runs inside a namespace, started by the e2e tests"]
fn inner_daemon() {
    let (Some(role), Some(mode), Some(name)) = (
        std::env::var(ROLE).ok(),
        std::env::var(MODE).ok(),
        std::env::var(IFNAME).ok(),
    ) else {
        eprintln!("skipped: only meaningful when started by an e2e test");
        return;
    };
    let role: u8 = role.parse().expect("role");
    let mode: Mode = mode.parse().expect("mode");
    let config = config_for(role, mode);
    commands::run_foreground(&name, Path::new("/nonexistent.toml"), config)
        .expect("daemon ran and stopped cleanly");
}

fn skip_reason() -> Option<&'static str> {
    if !os::is_root() {
        return Some("skipped: needs root (network namespaces)");
    }
    let ping = os::command::run(
        std::process::Command::new("ping").arg("-V"),
        os::command::DEFAULT_TIMEOUT,
    );
    if ping.is_err() {
        return Some("skipped: `ping` (iputils-ping) is not installed");
    }
    None
}

fn start(ns: &Netns, role: u8, mode: Mode, name: &str) -> Process {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = ns.command(&exe.to_string_lossy());
    cmd.args([
        "--exact",
        "inner_daemon",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role.to_string())
    .env(MODE, mode.name())
    .env(IFNAME, name);
    Process::spawn(&mut cmd).expect("start daemon")
}

fn wait_up(name: &str, daemon: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if uapi::client::get(name).is_ok() {
            return;
        }
        assert!(!daemon.has_exited(), "daemon for {name} exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("daemon for {name} did not come up");
}

fn e2e(mode: Mode) {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let ns_a = Netns::create("dea").expect("netns a");
    let ns_b = Netns::create("deb").expect("netns b");
    veth_pair(&ns_a, "10.250.0.1/24", &ns_b, "10.250.0.2/24").expect("veth");
    let name_a = unique_name("dva");
    let name_b = unique_name("dvb");
    let mut a = start(&ns_a, 1, mode, &name_a);
    let mut b = start(&ns_b, 2, mode, &name_b);
    wait_up(&name_a, &mut a);
    wait_up(&name_b, &mut b);

    // The interface exists in its namespace with its address and MTU.
    let link = ns_a.ip(&["address", "show", &name_a]).expect("link");
    assert!(link.stdout.contains("10.99.0.1/24"), "{}", link.stdout);

    let ping = ns_a
        .exec(
            "ping",
            &["-c", "3", "-i", "0.2", "-W", "5", "10.99.0.2"],
            Duration::from_secs(30),
        )
        .expect("ping through the tunnel");
    assert!(ping.stdout.contains("3 received"), "{}", ping.stdout);
    let ping = ns_b
        .exec(
            "ping",
            &["-c", "2", "-i", "0.2", "-W", "5", "10.99.0.1"],
            Duration::from_secs(30),
        )
        .expect("ping back");
    assert!(ping.stdout.contains("2 received"), "{}", ping.stdout);

    // Both sides report the handshake and its mode over the userspace API.
    for name in [&name_a, &name_b] {
        let snap = uapi::client::get(name).expect("get");
        let peer = snap.peers.first().expect("one peer");
        assert_eq!(peer.mode, mode);
        assert_eq!(peer.last_handshake_mode, Some(mode), "{name}");
        assert!(peer.last_handshake.is_some());
        assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0);
        let text = commands::status(Some(name), false).expect("status");
        assert!(text.contains(&format!("mode: {mode}")), "{text}");
    }

    // SIGTERM: a graceful stop removes the socket, PID file and interface.
    assert!(
        a.stop(Duration::from_secs(10)),
        "daemon a stopped on SIGTERM"
    );
    assert!(
        b.stop(Duration::from_secs(10)),
        "daemon b stopped on SIGTERM"
    );
    for name in [&name_a, &name_b] {
        assert!(uapi::client::get(name).is_err(), "{name} socket gone");
        assert!(pidfile::live_pid(Path::new(pidfile::PID_DIR), name).is_none());
        assert!(!pidfile::path_in(Path::new(pidfile::PID_DIR), name).exists());
    }
    assert!(
        ns_a.ip(&["link", "show", &name_a]).is_err(),
        "interface removed"
    );
}

#[test]
fn two_daemons_ping_classic() {
    e2e(Mode::Classic);
}

#[test]
fn two_daemons_ping_hybrid() {
    e2e(Mode::Hybrid);
}

#[test]
fn two_daemons_ping_pq_only() {
    e2e(Mode::PqOnly);
}

// `dybervpn demo` is tested through the real binary in
// crates/dybervpn-cli/tests/demo_e2e.rs.
