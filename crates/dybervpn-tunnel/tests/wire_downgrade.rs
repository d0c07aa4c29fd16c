//! No downgrade (`docs/protocol.md` §4): a DyberVPN interface that has a
//! peer as hybrid refuses classic initiations made with that peer's keys,
//! whoever sends them:
//!
//! * another DyberVPN daemon configured classic for it, with the capture
//!   on the veth showing only that side's 148-byte type-1 initiations and
//!   nothing sent back;
//! * `wireguard-go`, which can only speak classic, holding the peer's keys.
//!
//! In both cases no session comes up on either side, and the refusal is
//! counted as `downgrade_refused` in `dybervpn status` (text and JSON).
//!
//! Needs root, `ip`, `ping`, `tcpdump`, `wg` and `wireguard-go`; skipped
//! otherwise.

mod support;

use std::time::Duration;

use dybervpn_proto::Mode;
use dybervpn_tunnel::{commands, uapi};
use support::{
    dybervpn_config, find_in_path, report, skip_reason, tunnel, underlay, wait_for, wg_conf,
    Capture, Daemon, Kind, Lab, PeerSpec, CMD_TIMEOUT,
};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_daemon() {
    support::inner_daemon();
}

/// `downgrade_refused` from `dybervpn status --json` for `ifname`.
fn downgrade_refused(ifname: &str) -> u64 {
    commands::status(Some(ifname), true)
        .ok()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .and_then(|v| v["interfaces"][0]["drops"]["downgrade_refused"].as_u64())
        .unwrap_or(0)
}

/// Waits for `refuser` to count a refusal, then checks the text status
/// and that no session exists on either side.
fn assert_refused(refuser: &Daemon, both: &[&Daemon]) {
    wait_for(
        "a classic initiation counted as downgrade_refused",
        Duration::from_secs(10),
        both,
        || downgrade_refused(&refuser.ifname) >= 1,
    );
    let text = commands::status(Some(&refuser.ifname), false).expect("status");
    assert!(
        text.contains("downgrade_refused"),
        "`dybervpn status` does not show the refusal:\n{text}"
    );
    let snap = uapi::client::get(&refuser.ifname).expect("get");
    let peer = snap.peers.first().expect("one peer");
    assert_eq!(
        peer.last_handshake,
        None,
        "a session came up\n{}",
        report(both)
    );
    assert_eq!(peer.mode, Mode::Hybrid);
}

#[test]
fn hybrid_peer_refuses_classic_from_dybervpn() {
    if let Some(why) = skip_reason(&[("tcpdump", "tcpdump")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let lab = Lab::new("wd");
    let capture = Capture::start(&lab.b, &lab.dir, &lab.veth_b);
    // a has b as a classic peer and initiates; b has a as a hybrid peer.
    let a = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, Mode::Classic, &PeerSpec::side(2, Mode::Classic, true)),
    );
    let b = Daemon::dybervpn(
        &lab.b,
        &lab.dir,
        &dybervpn_config(2, Mode::Hybrid, &PeerSpec::side(1, Mode::Hybrid, false)),
    );
    let both = [&a, &b];
    // Traffic makes a initiate; the ping itself cannot be answered.
    let _ = lab.a.exec(
        "ping",
        &["-c", "1", "-W", "1", &tunnel(2).to_string()],
        CMD_TIMEOUT,
    );
    assert_refused(&b, &both);
    let snap = uapi::client::get(&a.ifname).expect("get");
    assert_eq!(snap.peers[0].last_handshake, None, "{}", report(&both));

    let seen = capture.finish();
    let listing: Vec<String> = seen
        .iter()
        .map(|d| {
            format!(
                "{} -> {} type {:?} {} B",
                d.src,
                d.dst,
                d.message_type(),
                d.payload.len()
            )
        })
        .collect();
    let context = format!("captured:\n{}\n{}", listing.join("\n"), report(&both));
    assert!(!seen.is_empty(), "{context}");
    assert!(
        seen.iter()
            .all(|d| d.src == underlay(1) && d.message_type() == Some(1) && d.payload.len() == 148),
        "only a's classic initiations, nothing back\n{context}"
    );
}

#[test]
fn hybrid_peer_refuses_classic_from_wireguard_go() {
    if let Some(why) = skip_reason(&[("wg", "wireguard-tools")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let Some(bin) = find_in_path("wireguard-go") else {
        dybervpn_tunnel::netns::report_skip(
            "skipped: `wireguard-go` is not installed (apt-get install wireguard-go)",
        );
        return;
    };
    let lab = Lab::new("dg");
    // DyberVPN has side 2 as a hybrid peer; side 2 is wireguard-go with
    // side 2's own keys, initiating classic.
    let dv = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, Mode::Hybrid, &PeerSpec::side(2, Mode::Hybrid, false)),
    );
    let other = Daemon::userspace_wg(
        Kind::WireguardGo(bin),
        &lab.b,
        &lab.dir,
        &wg_conf(2, &PeerSpec::side(1, Mode::Classic, true)),
        &[&format!("{}/24", tunnel(2))],
    );
    let both = [&dv, &other];
    let _ = lab.b.exec(
        "ping",
        &["-c", "1", "-W", "1", &tunnel(1).to_string()],
        CMD_TIMEOUT,
    );
    assert_refused(&dv, &both);
    let hs = other.wg_show("latest-handshakes");
    assert!(
        hs.trim_end().ends_with("\t0"),
        "wireguard-go completed a handshake: {hs}\n{}",
        report(&both)
    );
}
