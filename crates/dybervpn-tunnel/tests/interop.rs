//! Classic mode against WireGuard implementations we did not write:
//! Debian's `wireguard-go` and `boringtun-cli` from crates.io, each in its
//! own network namespace, configured through its userspace API by the real
//! `wg setconf`. Either side initiates (only the initiator is given an
//! endpoint, so which one sends the first initiation is certain); then
//! ping and `iperf3` TCP both ways.
//!
//! Needs root, `ip`, `ping`, `wg`, `iperf3` and the peer binary
//! (`wireguard-go` on `PATH`; `boringtun-cli` on `PATH` or named by
//! `$DYBERVPN_BORINGTUN`); each test prints why it skipped otherwise.

mod support;

use dybervpn_proto::Mode;
use dybervpn_tunnel::uapi;
use support::{
    dybervpn_config, find_boringtun, find_in_path, ping, report, skip_reason, tcp_both_ways,
    tunnel, wg_conf, Daemon, Kind, Lab, PeerSpec, BORINGTUN_ENV,
};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_daemon() {
    support::inner_daemon();
}

fn wireguard_go() -> Result<Kind, String> {
    find_in_path("wireguard-go")
        .map(Kind::WireguardGo)
        .ok_or_else(|| {
            "skipped: `wireguard-go` is not installed (apt-get install wireguard-go)".into()
        })
}

fn boringtun() -> Result<Kind, String> {
    find_boringtun().map(Kind::Boringtun).ok_or_else(|| {
        format!(
            "skipped: `boringtun-cli` not found on PATH or in ${BORINGTUN_ENV} \
             (cargo install boringtun-cli --locked --root <dir>)"
        )
    })
}

/// DyberVPN (side 1, namespace a) and `foreign` (side 2, namespace b) in
/// classic mode; `dybervpn_initiates` picks who has the endpoint.
fn classic_interop(foreign: Result<Kind, String>, dybervpn_initiates: bool) {
    if let Some(why) = skip_reason(&[
        ("wg", "wireguard-tools"),
        ("iperf3", "iperf3"),
        ("ss", "iproute2"),
    ]) {
        eprintln!("{why}");
        return;
    }
    let foreign = match foreign {
        Ok(k) => k,
        Err(why) => {
            eprintln!("{why}");
            return;
        }
    };
    let lab = Lab::new("io");
    let dv = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(
            1,
            Mode::Classic,
            &PeerSpec::side(2, Mode::Classic, dybervpn_initiates),
        ),
    );
    let other = Daemon::userspace_wg(
        foreign,
        &lab.b,
        &lab.dir,
        &wg_conf(2, &PeerSpec::side(1, Mode::Classic, !dybervpn_initiates)),
        &format!("{}/24", tunnel(2)),
    );
    let both = [&dv, &other];

    // The initiator's side speaks first.
    let (first_ns, first_to, second_ns, second_to) = if dybervpn_initiates {
        (&lab.a, tunnel(2), &lab.b, tunnel(1))
    } else {
        (&lab.b, tunnel(1), &lab.a, tunnel(2))
    };
    ping(first_ns, first_to, 3, &both);
    ping(second_ns, second_to, 3, &both);

    // Both report the handshake: DyberVPN as classic, the other through `wg`.
    let snap = uapi::client::get(&dv.ifname)
        .unwrap_or_else(|e| panic!("dybervpn get: {e}\n{}", report(&both)));
    let peer = snap.peers.first().expect("one peer");
    assert_eq!(
        peer.last_handshake_mode,
        Some(Mode::Classic),
        "{}",
        report(&both)
    );
    assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0, "{}", report(&both));
    // The other side's view through `wg`: it received and sent through
    // the tunnel. (Only wireguard-go's handshake time is checked:
    // boringtun-cli 0.7.1 answers `last_handshake_time_sec=0` right after
    // a handshake, which `wg` prints as "never".)
    let transfer = other.wg_show("transfer");
    let counts: Vec<u64> = transfer
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(
        counts.len() == 2 && counts.iter().all(|&n| n > 0),
        "{} transfer: {transfer}\n{}",
        other.kind.name(),
        report(&both)
    );
    if matches!(other.kind, Kind::WireguardGo(_)) {
        let hs = other.wg_show("latest-handshakes");
        let when: u64 = hs
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        assert!(
            when > 0,
            "wireguard-go saw no handshake: {hs}\n{}",
            report(&both)
        );
    }
    // The responder learned the initiator's endpoint from its packets.
    let responder_endpoint = if dybervpn_initiates {
        other.wg_show("endpoints")
    } else {
        dv.wg_show("endpoints")
    };
    assert!(
        responder_endpoint.contains("10.250.0."),
        "responder has no endpoint: {responder_endpoint}\n{}",
        report(&both)
    );

    // TCP both ways, with the server on each side in turn.
    let (up, down) = tcp_both_ways(&lab.b, tunnel(2), &lab.a, &both);
    eprintln!(
        "iperf3 dybervpn→{0}: {up} B, {0}→dybervpn: {down} B",
        other.kind.name()
    );

    // DyberVPN stops cleanly with a live classic session.
    let mut dv = dv;
    assert!(
        dv.stop(),
        "dybervpn did not stop on SIGTERM\n{}",
        report(&[&dv, &other])
    );
}

#[test]
fn classic_wireguard_go_initiates() {
    classic_interop(wireguard_go(), false);
}

#[test]
fn classic_dybervpn_initiates_to_wireguard_go() {
    classic_interop(wireguard_go(), true);
}

#[test]
fn classic_boringtun_initiates() {
    classic_interop(boringtun(), false);
}

#[test]
fn classic_dybervpn_initiates_to_boringtun() {
    classic_interop(boringtun(), true);
}
