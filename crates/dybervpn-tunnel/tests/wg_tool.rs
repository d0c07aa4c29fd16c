//! The real `wg` from wireguard-tools against a running DyberVPN daemon
//! (not a fake): `wg show`, `wg show … dump`, `wg showconf`, `wg set …
//! allowed-ips` and `wg syncconf`, between two pq-only daemons, so the
//! DyberVPN-only keys in the userspace API (`dybervpn_mode`, the ML-DSA-65
//! public key on a ~4 kB line, drop counters) are in every answer `wg`
//! parses. A change made with `wg set` must take effect in the data path:
//! a subnet added to the peer's allowed IPs is routed and accepted, and
//! stops being so when removed; the peer keeps its mode and ML-DSA key.
//! `wg setconf` with a file without `ListenPort` keeps the port and the
//! peer's DyberVPN settings, and an allowed IP moved with `wg set` leaves
//! its old peer; a link-local endpoint set with an interface name
//! (`[fe80::1%lo]:p`) is taken and shown back.
//!
//! Needs root, `ip`, `ping` and `wg`; skipped otherwise.

mod support;

use dybervpn_proto::Mode;
use dybervpn_tunnel::uapi;
use support::{
    dybervpn_config, ping, ping_fails, report, skip_reason, tunnel, underlay, Daemon, Identity,
    Lab, PeerSpec, PORT,
};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_daemon() {
    support::inner_daemon();
}

/// Two DyberVPN daemons in `mode`, in the namespaces of a fresh lab
/// tagged `tag`, each configured with the other (both may initiate).
fn two_daemons(tag: &str, mode: Mode) -> (Lab, Daemon, Daemon) {
    let lab = Lab::new(tag);
    let a = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, mode, &PeerSpec::side(2, mode, true)),
    );
    let b = Daemon::dybervpn(
        &lab.b,
        &lab.dir,
        &dybervpn_config(2, mode, &PeerSpec::side(1, mode, true)),
    );
    (lab, a, b)
}

#[test]
fn wg_show_set_and_syncconf_against_a_running_daemon() {
    if let Some(why) = skip_reason(&[("wg", "wireguard-tools")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let mode = Mode::PqOnly;
    let (lab, a, b) = two_daemons("wt", mode);
    let both = [&a, &b];
    ping(&lab.a, tunnel(2), 2, &both);
    let peer_b = Identity::new(2).public_b64();
    let ctx = || report(&both);

    // `wg show`: the interface, the peer, its endpoint, allowed IPs and a
    // handshake, all read from the live daemon.
    let show = a.run_in_ns("wg", &["show", &a.ifname]).stdout;
    for want in [
        format!("interface: {}", a.ifname),
        format!("public key: {}", Identity::new(1).public_b64()),
        format!("listening port: {PORT}"),
        format!("peer: {peer_b}"),
        format!("endpoint: {}:{PORT}", underlay(2)),
        format!("allowed ips: {}/32", tunnel(2)),
        "latest handshake:".to_owned(),
        "transfer:".to_owned(),
    ] {
        assert!(
            show.contains(&want),
            "`wg show` lacks {want:?}:\n{show}\n{}",
            ctx()
        );
    }
    assert!(
        !show.contains("private key: ") || show.contains("(hidden)"),
        "{show}"
    );

    // `wg show <if> dump`: tab-separated, one line per peer.
    let dump = a.wg_show("dump");
    let peer_line: Vec<&str> = dump
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split('\t')
        .collect();
    assert_eq!(peer_line.len(), 8, "dump peer line: {dump}\n{}", ctx());
    assert_eq!(peer_line[0], peer_b);
    assert_eq!(peer_line[2], format!("{}:{PORT}", underlay(2)));
    assert_eq!(peer_line[3], format!("{}/32", tunnel(2)));
    assert!(
        peer_line[4].parse::<u64>().is_ok_and(|t| t > 0),
        "handshake time: {dump}"
    );
    assert!(
        peer_line[5].parse::<u64>().is_ok_and(|n| n > 0),
        "rx bytes: {dump}"
    );

    // `wg showconf`: a configuration `wg` itself could load.
    let conf = a.run_in_ns("wg", &["showconf", &a.ifname]).stdout;
    for want in [
        "[Interface]".to_owned(),
        format!("ListenPort = {PORT}"),
        format!(
            "PrivateKey = {}",
            Identity::new(1).secret.to_base64().as_str()
        ),
        "[Peer]".to_owned(),
        format!("PublicKey = {peer_b}"),
        format!("AllowedIPs = {}/32", tunnel(2)),
        format!("Endpoint = {}:{PORT}", underlay(2)),
    ] {
        assert!(
            conf.contains(&want),
            "`wg showconf` lacks {want:?}:\n{conf}"
        );
    }

    // A subnet behind b: routed to the tunnel in a, but not yet in b's
    // allowed IPs, so a has no peer for it.
    let extra = std::net::Ipv4Addr::new(10, 98, 0, 5);
    lab.b
        .ip(&["address", "add", &format!("{extra}/32"), "dev", &b.ifname])
        .expect("address behind b");
    lab.a
        .ip(&["route", "add", "10.98.0.0/24", "dev", &a.ifname])
        .expect("route in a");
    ping_fails(&lab.a, extra, &both);

    // `wg set … allowed-ips` adds it: now routed, and b's replies from it
    // pass a's source check.
    let with_extra = format!("{}/32,10.98.0.0/24", tunnel(2));
    a.run_in_ns(
        "wg",
        &[
            "set",
            &a.ifname,
            "peer",
            &peer_b,
            "allowed-ips",
            &with_extra,
        ],
    );
    let ips = a.wg_show("allowed-ips");
    assert!(
        ips.contains("10.98.0.0/24") && ips.contains(&format!("{}/32", tunnel(2))),
        "{ips}"
    );
    ping(&lab.a, extra, 2, &both);
    ping(&lab.a, tunnel(2), 1, &both);
    let snap = uapi::client::get(&a.ifname).expect("get");
    let p = &snap.peers[0];
    assert_eq!(
        p.mode,
        mode,
        "`wg set` must not change the peer's mode\n{}",
        ctx()
    );
    assert_eq!(
        p.mldsa_public_key.as_ref(),
        Some(&Identity::new(2).mldsa_public)
    );
    assert_eq!(p.last_handshake_mode, Some(mode));

    // And removes it again.
    a.run_in_ns(
        "wg",
        &[
            "set",
            &a.ifname,
            "peer",
            &peer_b,
            "allowed-ips",
            &format!("{}/32", tunnel(2)),
        ],
    );
    assert!(!a.wg_show("allowed-ips").contains("10.98.0.0/24"));
    ping_fails(&lab.a, extra, &both);

    // `wg syncconf` with what `wg showconf` printed changes nothing that
    // matters: same peer, mode and key, and the tunnel still works.
    let path = lab.dir.write("sync.conf", &conf);
    a.run_in_ns("wg", &["syncconf", &a.ifname, &path.to_string_lossy()]);
    let snap = uapi::client::get(&a.ifname).expect("get");
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(snap.peers[0].mode, mode);
    assert!(snap.peers[0].mldsa_public_key.is_some());
    ping(&lab.a, tunnel(2), 2, &both);

    // Something a running DyberVPN cannot do is refused with an error,
    // and nothing changes.
    let refused = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.a.name(),
            "wg",
            "set",
            &a.ifname,
            "listen-port",
            "51821",
        ])
        .output()
        .expect("run wg");
    assert!(
        !refused.status.success(),
        "changing the port of a running daemon was accepted"
    );
    assert!(a.wg_show("listen-port").trim() == PORT.to_string());
}

/// Which peers `wg show <if> allowed-ips` lists `prefix` under.
fn holders(daemon: &Daemon, prefix: &str) -> Vec<String> {
    daemon
        .wg_show("allowed-ips")
        .lines()
        .filter(|l| l.split_whitespace().skip(1).any(|p| p == prefix))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// `wg setconf` with what `wg showconf` printed, less its `ListenPort` (as
/// most client files are): `wg` sends `replace_peers`, `listen_port=0` and
/// `fwmark=0` for it. The daemon keeps its port, and the re-created peer
/// keeps its pq-only mode and ML-DSA key, which `wg` cannot express. Then
/// an allowed IP moved between two other peers with `wg set`, both ways
/// (so one of the moves is towards the key that sorts first), ends up with
/// the peer named last only; and `allowed_ip=-<prefix>` (what newer
/// wireguard-tools send for `allowed-ips -<prefix>`) removes it.
#[test]
fn wg_setconf_keeps_the_peer_and_wg_set_moves_allowed_ips() {
    if let Some(why) = skip_reason(&[("wg", "wireguard-tools")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let mode = Mode::PqOnly;
    let (lab, a, b) = two_daemons("wc", mode);
    let both = [&a, &b];
    ping(&lab.a, tunnel(2), 2, &both);
    let ctx = || report(&both);

    let conf = a.run_in_ns("wg", &["showconf", &a.ifname]).stdout;
    let portless: String = conf
        .lines()
        .filter(|l| !l.starts_with("ListenPort"))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = lab.dir.write("setconf.conf", &portless);
    a.run_in_ns("wg", &["setconf", &a.ifname, &path.to_string_lossy()]);
    let snap = uapi::client::get(&a.ifname).expect("get");
    assert_eq!(snap.listen_port, PORT);
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(snap.peers[0].mode, mode, "{}", ctx());
    assert_eq!(
        snap.peers[0].mldsa_public_key.as_ref(),
        Some(&Identity::new(2).mldsa_public)
    );
    ping(&lab.a, tunnel(2), 2, &both);

    // Two more peers, hybrid: `wg` cannot add a peer to a pq-only
    // interface, which would need the peer's ML-DSA key.
    let (c, d) = (Identity::new(3), Identity::new(4));
    let mut peers = Vec::new();
    for id in [&c, &d] {
        let mut add = uapi::PeerChange::new(id.public);
        add.mode = Some(Mode::Hybrid);
        peers.push(add);
    }
    let add = uapi::ChangeSet {
        peers,
        ..uapi::ChangeSet::default()
    };
    uapi::client::set(&a.ifname, &add).expect("two hybrid peers");
    let subnet = "10.97.0.0/24";
    let give = |to: &Identity| {
        a.run_in_ns(
            "wg",
            &[
                "set",
                &a.ifname,
                "peer",
                &to.public_b64(),
                "allowed-ips",
                subnet,
            ],
        );
    };
    give(&c);
    assert_eq!(holders(&a, subnet), vec![c.public_b64()]);
    give(&d);
    assert_eq!(holders(&a, subnet), vec![d.public_b64()], "{}", ctx());
    give(&c);
    assert_eq!(holders(&a, subnet), vec![c.public_b64()], "{}", ctx());

    let mut removal = uapi::PeerChange::new(c.public);
    removal.removed_allowed_ips = vec![subnet.parse().expect("prefix")];
    let changes = uapi::ChangeSet {
        peers: vec![removal],
        ..uapi::ChangeSet::default()
    };
    uapi::client::set(&a.ifname, &changes).expect("allowed_ip=-");
    assert!(holders(&a, subnet).is_empty(), "{}", ctx());
    ping(&lab.a, tunnel(2), 1, &both);

    // A link-local endpoint: `wg` resolves `%lo` to an index, then sends
    // the address back with the interface's name (`getnameinfo`), which
    // the daemon looks up again; `wg show` names it once more.
    let link_local = format!("[fe80::1%lo]:{PORT}");
    a.run_in_ns(
        "wg",
        &[
            "set",
            &a.ifname,
            "peer",
            &c.public_b64(),
            "endpoint",
            &link_local,
        ],
    );
    let endpoints = a.wg_show("endpoints");
    assert!(
        endpoints.contains(&format!("{}\t{link_local}", c.public_b64())),
        "{endpoints}\n{}",
        ctx()
    );
}
