//! Classic mode against WireGuard implementations we did not write:
//! Debian's `wireguard-go` and `boringtun-cli` from crates.io, each in its
//! own network namespace, configured through its userspace API by the real
//! `wg setconf`. Either side initiates (only the initiator is given an
//! endpoint, so which one sends the first initiation is certain); then
//! ping and `iperf3` TCP both ways. With wireguard-go also: IPv6 inside
//! and under the tunnel, and restarts of the peer (fresh indices and
//! timestamps) that DyberVPN must accept as new sessions.
//!
//! Needs root, `ip`, `ping`, `wg`, `iperf3` and the peer binary
//! (`wireguard-go` on `PATH`; `boringtun-cli` on `PATH` or named by
//! `$DYBERVPN_BORINGTUN`); each test prints why it skipped otherwise.

mod support;

use dybervpn_proto::Mode;
use dybervpn_tunnel::{commands, uapi, DaemonError};
use support::{
    dybervpn_config, find_boringtun, find_in_path, ping, report, skip_reason, tcp_both_ways,
    tunnel, tunnel6, underlay6, wg_conf, Daemon, Kind, Lab, PeerSpec, BORINGTUN_ENV, PORT,
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
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let foreign = match foreign {
        Ok(k) => k,
        Err(why) => {
            dybervpn_tunnel::netns::report_skip(why);
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
        &[&format!("{}/24", tunnel(2))],
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
    // `dybervpn status` tells the two apart: the other implementation's
    // socket (same directory) is named as such, never shown as DyberVPN.
    let err = commands::status(Some(&other.ifname), false).expect_err("not ours");
    assert!(matches!(err, DaemonError::Foreign(_)), "{err}");
    let all = commands::status(None, false).expect("status");
    assert!(all.contains(&format!("interface: {}", dv.ifname)), "{all}");
    assert!(
        !all.contains(&format!("interface: {}", other.ifname)),
        "{all}"
    );
    assert!(
        all.contains("served by another WireGuard implementation") && all.contains(&other.ifname),
        "{all}"
    );
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

fn wireguard_go_lab_skip() -> Option<Kind> {
    if let Some(why) = skip_reason(&[("wg", "wireguard-tools")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return None;
    }
    match wireguard_go() {
        Ok(k) => Some(k),
        Err(why) => {
            dybervpn_tunnel::netns::report_skip(why);
            None
        }
    }
}

/// Underlay and tunnel both over IPv6 as well: DyberVPN initiates to
/// wireguard-go's IPv6 endpoint (its IPv6 socket), and IPv6 and IPv4
/// packets pass through the tunnel both ways.
#[test]
fn classic_over_ipv6_with_wireguard_go() {
    let Some(foreign) = wireguard_go_lab_skip() else {
        return;
    };
    let lab = Lab::new("i6");
    lab.add_ipv6();
    let dv = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, Mode::Classic, &PeerSpec::side_v6(2, Mode::Classic, true)),
    );
    let other = Daemon::userspace_wg(
        foreign,
        &lab.b,
        &lab.dir,
        &wg_conf(2, &PeerSpec::side_v6(1, Mode::Classic, false)),
        &[&format!("{}/24", tunnel(2)), &format!("{}/64", tunnel6(2))],
    );
    let both = [&dv, &other];
    ping(&lab.a, tunnel6(2), 3, &both);
    ping(&lab.b, tunnel6(1), 2, &both);
    ping(&lab.a, tunnel(2), 2, &both);
    ping(&lab.b, tunnel(1), 2, &both);
    let endpoint = other.wg_show("endpoints");
    assert!(
        endpoint.contains(&format!("[{}]:{PORT}", underlay6(1))),
        "wireguard-go should see DyberVPN's IPv6 endpoint: {endpoint}\n{}",
        report(&both)
    );
}

/// wireguard-go restarts (new indices, new TAI64N, no session) and
/// initiates again: DyberVPN accepts the new handshake, moves to the new
/// session and the tunnel works both ways again; twice.
#[test]
fn wireguard_go_restarts_and_handshakes_again() {
    let Some(foreign) = wireguard_go_lab_skip() else {
        return;
    };
    let lab = Lab::new("ir");
    let dv = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, Mode::Classic, &PeerSpec::side(2, Mode::Classic, false)),
    );
    let conf = wg_conf(2, &PeerSpec::side(1, Mode::Classic, true));
    let address = format!("{}/24", tunnel(2));
    let mut previous = None;
    for _ in 0..3 {
        let mut other = Daemon::userspace_wg(foreign.clone(), &lab.b, &lab.dir, &conf, &[&address]);
        ping(&lab.b, tunnel(1), 2, &[&dv, &other]);
        ping(&lab.a, tunnel(2), 2, &[&dv, &other]);
        let snap = uapi::client::get(&dv.ifname).expect("get");
        let handshake = snap.peers[0].last_handshake;
        assert!(
            handshake.is_some() && handshake > previous,
            "a new handshake with each wireguard-go ({previous:?} then {handshake:?})\n{}",
            report(&[&dv, &other])
        );
        previous = handshake;
        assert!(other.stop(), "wireguard-go did not stop on SIGTERM");
    }
}

/// DyberVPN restarts (fresh indices and timestamps) while wireguard-go
/// keeps the old session; DyberVPN initiates again and wireguard-go
/// accepts each new handshake.
#[test]
fn dybervpn_restarts_and_wireguard_go_accepts_again() {
    let Some(foreign) = wireguard_go_lab_skip() else {
        return;
    };
    let lab = Lab::new("iR");
    let other = Daemon::userspace_wg(
        foreign,
        &lab.b,
        &lab.dir,
        &wg_conf(2, &PeerSpec::side(1, Mode::Classic, false)),
        &[&format!("{}/24", tunnel(2))],
    );
    let config = dybervpn_config(1, Mode::Classic, &PeerSpec::side(2, Mode::Classic, true));
    for _ in 0..3 {
        let mut dv = Daemon::dybervpn(&lab.a, &lab.dir, &config);
        ping(&lab.a, tunnel(2), 2, &[&dv, &other]);
        ping(&lab.b, tunnel(1), 2, &[&dv, &other]);
        assert!(
            dv.stop(),
            "dybervpn did not stop on SIGTERM\n{}",
            report(&[&dv, &other])
        );
    }
}

/// Two daemons with a persistent keepalive of 1 s on each side, pinged
/// once: returns them and their received-bytes counters (`wg show
/// transfer`) at the start and after up to 10 s of keepalives only
/// (until wireguard-go's, and with `both` also DyberVPN's, grew by two).
/// A keepalive run: the lab, DyberVPN, wireguard-go, and the received-bytes
/// counters (DyberVPN's, wireguard-go's) before and after.
type KeepaliveRun = (Lab, Daemon, Daemon, (u64, u64), (u64, u64));

fn keepalive_run(tag: &str, both: bool) -> Option<KeepaliveRun> {
    let foreign = wireguard_go_lab_skip()?;
    let lab = Lab::new(tag);
    let mut to_b = PeerSpec::side(2, Mode::Classic, true);
    to_b.persistent_keepalive = Some(1);
    let mut to_a = PeerSpec::side(1, Mode::Classic, true);
    to_a.persistent_keepalive = Some(1);
    let dv = Daemon::dybervpn(&lab.a, &lab.dir, &dybervpn_config(1, Mode::Classic, &to_b));
    let other = Daemon::userspace_wg(
        foreign,
        &lab.b,
        &lab.dir,
        &wg_conf(2, &to_a),
        &[&format!("{}/24", tunnel(2))],
    );
    ping(&lab.a, tunnel(2), 1, &[&dv, &other]);
    let rx = |d: &Daemon| -> u64 {
        d.wg_show("transfer")
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    let start = (rx(&dv), rx(&other));
    // Keepalives are 32-byte messages; wait (bounded) for two each way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut now = start;
    while std::time::Instant::now() < deadline {
        now = (rx(&dv), rx(&other));
        if (!both || now.0 >= start.0 + 64) && now.1 >= start.1 + 64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Some((lab, dv, other, start, now))
}

/// DyberVPN's persistent keepalives are accepted by wireguard-go (its
/// received bytes grow with nothing but keepalives), and after a stretch
/// of keepalives only the tunnel still carries pings both ways.
#[test]
fn persistent_keepalives_with_wireguard_go() {
    let Some((lab, dv, other, start, now)) = keepalive_run("ik", false) else {
        return;
    };
    let both = [&dv, &other];
    assert!(
        now.1 >= start.1 + 64,
        "wireguard-go received {} -> {} B from keepalives\n{}",
        start.1,
        now.1,
        report(&both)
    );
    ping(&lab.b, tunnel(1), 2, &both);
    ping(&lab.a, tunnel(2), 2, &both);
}

/// `wg show transfer` counts whole transport messages, keepalives
/// included, in the kernel module and wireguard-go, and DyberVPN must agree:
/// when it counted decrypted payload bytes only, a peer that sent nothing
/// but keepalives looked silent (monitoring that watches received bytes
/// thought the tunnel was dead).
#[test]
fn received_bytes_count_keepalives_as_wireguard_does() {
    let Some((_lab, dv, other, start, now)) = keepalive_run("iK", true) else {
        return;
    };
    assert!(
        now.0 >= start.0 + 64,
        "dybervpn received {} -> {} B from wireguard-go's keepalives\n{}",
        start.0,
        now.0,
        report(&[&dv, &other])
    );
}
