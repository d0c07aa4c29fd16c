//! The life of an interface, end to end in network namespaces, through
//! real configuration files and the real `up --foreground` path:
//!
//! * one side is killed and started again: the tunnel recovers by itself;
//! * `reload` adds a peer and removes another while a third keeps pinging
//!   without losing a packet or its session, and routes follow;
//! * roaming: one side's underlay address changes, traffic recovers and
//!   the other side shows the new endpoint;
//! * `down` leaves nothing behind (interface, routes, policy rules, PID
//!   file, socket), and a second `up` of a running interface is refused
//!   without disturbing it; deleting the interface or its socket ends the
//!   daemon, which then leaves nothing either; after a `kill -9`, `down`
//!   removes what the daemon left, and no policy rule piles up;
//! * `reload` reports what it could not apply, and refuses a broken file;
//! * `dns` servers are registered with `resolvconf` at `up`, again when a
//!   reload changes them, and removed at `down`; an `up` whose
//!   `resolvconf` fails stops and leaves nothing. A stand-in `resolvconf`
//!   on the daemon's PATH records its calls, so the machine's own
//!   resolver configuration is never touched;
//! * sticky sources: a peer reached at its second address answers from it,
//!   falls back to its first when the second is removed, and learns the
//!   address it is reached at from keepalives alone.
//!
//! Default routes, and the firewall rules they need, are in
//! default_route.rs.
//!
//! Root only; without root each test prints `skipped: needs root (...)`
//! and passes. Every namespace, process and file is owned by a guard.

mod common;

use std::path::Path;
use std::time::Duration;

use common::pair::{edit_config, ip, pair, set_endpoint, skip_without_nft, Pair};
use common::{
    ping_until, poll_until, skip_reason, spawn_up, start, wait_for, wait_up, write_config, Node,
    TempDir,
};
use dybervpn_config::Config;
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{unique_name, veth_pair, Netns, Process};
use dybervpn_tunnel::{commands, pidfile, uapi, DaemonError};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_up() {
    common::inner_up();
}

/// Where `inner_down` finds the interface to take down.
const DOWN_NAME: &str = "DYBERVPN_TEST_DOWN_NAME";

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_down() {
    let Ok(name) = std::env::var(DOWN_NAME) else {
        eprintln!("skipped: only meaningful when started by a lifecycle test");
        return;
    };
    match commands::down(&name) {
        Ok(message) => println!("down: {message}"),
        Err(e) => println!("down failed: {e}"),
    }
}

#[test]
fn a_restarted_peer_is_reached_again_without_help() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(1, Mode::Hybrid, &["10.98.0.2/32"]);
    let mut a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());

    // Kill B without a chance to clean up, then start it again: the stale
    // PID file and socket must not stop it.
    b.stop(Duration::ZERO);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    // A still holds a session B forgot; it notices the silence and
    // handshakes again (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT ≈ 15 s).
    let took = ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(45))
        .expect("A reaches the restarted B again");
    eprintln!("recovered after {took:?}");
    let snap = uapi::client::get(&p.names[1]).expect("status");
    assert!(snap.peers[0].handshakes >= 1);
    assert!(a.stop(Duration::from_secs(10)) && b.stop(Duration::from_secs(10)));
}

#[test]
fn reload_adds_and_removes_peers_while_a_third_keeps_its_session() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let mode = Mode::Hybrid;
    // A hub and three spokes, each spoke on its own veth to the hub.
    let hub = Netns::create("dlh").expect("ns");
    let spokes: Vec<Netns> = (0..3).map(|_| Netns::create("dls").expect("ns")).collect();
    for (i, s) in spokes.iter().enumerate() {
        let n = i + 1;
        veth_pair(
            &hub,
            &format!("10.241.{n}.1/24"),
            s,
            &format!("10.241.{n}.2/24"),
        )
        .expect("veth");
    }
    let dir = TempDir::new("reload");
    let hub_node = Node::new(10, mode);
    let nodes: Vec<Node> = (11..14).map(|n| Node::new(n, mode)).collect();
    let hub_name = unique_name("dlh");
    let spoke_names: Vec<String> = (0..3).map(|_| unique_name("dls")).collect();
    let spoke_peer = |i: usize| {
        nodes[i].as_peer(
            Some(ip(&format!("10.241.{}.2", i + 1))),
            &[&format!("10.98.1.{}/32", i + 2)],
        )
    };
    let hub_config = |which: &[usize]| Config {
        interface: hub_node.interface("10.98.1.1/32"),
        peers: which.iter().map(|i| spoke_peer(*i)).collect(),
    };
    // Spoke 0 (the "third", with traffic) and spoke 1 at first.
    let hub_path = write_config(&dir, &hub_name, &hub_config(&[0, 1]));
    let mut procs: Vec<Process> = vec![start(&hub, &hub_path, &hub_name)];
    for (i, s) in spokes.iter().enumerate() {
        let c = Config {
            interface: nodes[i].interface(&format!("10.98.1.{}/32", i + 2)),
            peers: vec![
                hub_node.as_peer(Some(ip(&format!("10.241.{}.1", i + 1))), &["10.98.1.1/32"])
            ],
        };
        let path = write_config(&dir, &spoke_names[i], &c);
        procs.push(start(s, &path, &spoke_names[i]));
    }
    assert!(ping_until(&spokes[0], "10.98.1.1", Duration::from_secs(20)).is_some());
    assert!(ping_until(&spokes[1], "10.98.1.1", Duration::from_secs(20)).is_some());
    let key0 = nodes[0].public;
    let before = uapi::client::get(&hub_name).expect("status");
    let third = |s: &uapi::DeviceSnapshot| {
        s.peers
            .iter()
            .find(|p| p.public_key == key0)
            .cloned()
            .expect("the third peer")
    };
    let third_before = third(&before);

    // Traffic to the third for the whole reload: 40 pings, 5 per second.
    let mut cmd = spokes[0].command("ping");
    cmd.args(["-c", "40", "-i", "0.2", "-W", "2", "10.98.1.1"])
        .stdout(std::process::Stdio::piped());
    let pinger = cmd.spawn().expect("ping");
    std::thread::sleep(Duration::from_secs(2));

    // Reload: spoke 1 out, spoke 2 in.
    write_config(&dir, &hub_name, &hub_config(&[0, 2]));
    commands::reload(&hub_name).expect("reload");
    let key1 = nodes[1].public;
    let key2 = nodes[2].public;
    let after = wait_for(&hub_name, Duration::from_secs(10), |s| {
        s.peers.iter().any(|p| p.public_key == key2)
            && !s.peers.iter().any(|p| p.public_key == key1)
    });
    assert!(after.peers.iter().any(|p| p.public_key == key2), "added");
    assert!(!after.peers.iter().any(|p| p.public_key == key1), "removed");
    // Routes followed: spoke 2's address routed, spoke 1's gone.
    let routes = hub
        .ip(&["route", "show", "dev", &hub_name])
        .expect("routes")
        .stdout;
    assert!(routes.contains("10.98.1.4"), "{routes}");
    assert!(!routes.contains("10.98.1.3"), "{routes}");
    // The new peer works, the removed one does not.
    assert!(ping_until(&spokes[2], "10.98.1.1", Duration::from_secs(20)).is_some());
    assert!(ping_until(&hub, "10.98.1.3", Duration::from_secs(2)).is_none());

    let out = pinger.wait_with_output().expect("ping ended");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("40 packets transmitted, 40 received"),
        "the third's pings never stopped: {text}"
    );
    let third_after = third(&uapi::client::get(&hub_name).expect("status"));
    assert_eq!(
        third_after.handshakes, third_before.handshakes,
        "no new handshake"
    );
    assert_eq!(third_after.last_handshake, third_before.last_handshake);

    // `reload` reports what it could not do. A new MTU needs a restart:
    // the peers are applied, the MTU stays, and the command says so.
    let mut changed = hub_config(&[0, 1]);
    changed.interface.mtu = 1300;
    write_config(&dir, &hub_name, &changed);
    let err = commands::reload(&hub_name).expect_err("the MTU needs a restart");
    assert!(matches!(err, DaemonError::Reload(_)), "{err}");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(text.contains("mtu") && text.contains("restart"), "{text}");
    let link = hub.ip(&["link", "show", &hub_name]).expect("link").stdout;
    assert!(link.contains("mtu 1420"), "{link}");
    let snap = uapi::client::get(&hub_name).expect("status");
    assert!(
        snap.peers.iter().any(|p| p.public_key == key1),
        "peers applied"
    );
    // A file that does not parse: refused with its error, nothing changed.
    std::fs::write(&hub_path, "[interface]\nmtu = \"big\"\n").expect("write");
    let err = commands::reload(&hub_name).expect_err("broken file");
    let text = err.to_string();
    assert!(
        text.contains("nothing changed") && text.contains(&*hub_path.to_string_lossy()),
        "{text}"
    );
    let keys = |s: &uapi::DeviceSnapshot| s.peers.iter().map(|p| p.public_key).collect::<Vec<_>>();
    assert_eq!(
        keys(&uapi::client::get(&hub_name).expect("status")),
        keys(&snap)
    );
    // And a good file again.
    write_config(&dir, &hub_name, &hub_config(&[0, 2]));
    assert_eq!(
        commands::reload(&hub_name).expect("reload"),
        "configuration reloaded"
    );
    for mut p in procs {
        assert!(p.stop(Duration::from_secs(10)));
    }
}

#[test]
fn roaming_peer_is_followed_to_its_new_address() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(3, Mode::Classic, &["10.98.0.2/32"]);
    let mut a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[1], "10.98.0.1", Duration::from_secs(20)).is_some());
    let snap = uapi::client::get(&p.names[0]).expect("status");
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.3.2"))
    );
    // B moves to another address on the same link (old one first:
    // deleting a primary address also deletes its secondaries).
    p.ns[1]
        .ip(&["address", "del", "10.240.3.2/24", "dev", &p.veth.1])
        .expect("old address gone");
    p.ns[1]
        .ip(&["address", "add", "10.240.3.3/24", "dev", &p.veth.1])
        .expect("new address");
    assert!(
        ping_until(&p.ns[1], "10.98.0.1", Duration::from_secs(30)).is_some(),
        "B reaches A from its new address"
    );
    let snap = wait_for(&p.names[0], Duration::from_secs(5), |s| {
        s.peers[0].endpoint.map(|e| e.ip()) == Some(ip("10.240.3.3"))
    });
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.3.3")),
        "A shows B's new endpoint"
    );
    let text = commands::status(Some(&p.names[0]), false).expect("status");
    assert!(text.contains("endpoint: 10.240.3.3:51820"), "{text}");
    // A `wg set` that changes something else of the peer (its keepalive)
    // leaves the endpoint it roamed to, as wireguard-go does: only an
    // `endpoint=` line moves it.
    let mut change = uapi::PeerChange::new(snap.peers[0].public_key);
    change.persistent_keepalive_interval = Some(45);
    let changes = uapi::ChangeSet {
        peers: vec![change],
        ..uapi::ChangeSet::default()
    };
    uapi::client::set(&p.names[0], &changes).expect("wg set keepalive");
    let snap = uapi::client::get(&p.names[0]).expect("status");
    assert_eq!(snap.peers[0].persistent_keepalive_interval, 45);
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.3.3")),
        "a keepalive change moved the peer back to its configured endpoint"
    );
    // And A can reach B there too.
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(10)).is_some());
    assert!(a.stop(Duration::from_secs(10)) && b.stop(Duration::from_secs(10)));
}

#[test]
fn down_leaves_nothing_and_a_second_up_is_refused() {
    if let Some(why) = skip_reason().or_else(skip_without_nft) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    // A default route on A exercises the policy rules too.
    let p = pair(4, Mode::PqOnly, &["0.0.0.0/0"]);
    let rules_before = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    let mut a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());
    let rules_up = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert!(rules_up.contains("51820"), "{rules_up}");
    let nft_table = ["list", "table", "ip", &format!("dybervpn-{}", p.names[0])];
    let listed = p.ns[0]
        .exec("nft", &nft_table, Duration::from_secs(5))
        .expect("the default route's nftables table")
        .stdout;
    assert!(listed.contains("ct mark set"), "{listed}");

    // A second `up` of the running interface: refused, nothing disturbed.
    let config = Config::load(&p.paths[0]).expect("config").config;
    let err = commands::up_loaded(
        &p.names[0],
        &p.paths[0],
        &p.paths[0].to_string_lossy(),
        config,
        true,
    )
    .expect_err("already up");
    assert!(matches!(err, DaemonError::AlreadyRunning { .. }), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("is already up"), "{err}");
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(5)).is_some());

    // `down` (SIGTERM to the PID in the PID file) and check every trace.
    commands::down(&p.names[0]).expect("down");
    assert!(
        poll_until(Duration::from_secs(5), || a.has_exited()),
        "down did not stop the daemon"
    );
    let name = &p.names[0];
    assert!(
        p.ns[0].ip(&["link", "show", name]).is_err(),
        "interface gone"
    );
    let routes = p.ns[0]
        .ip(&["route", "show", "table", "all"])
        .expect("routes")
        .stdout;
    assert!(!routes.contains(name.as_str()), "{routes}");
    let rules_after = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_after, rules_before, "policy rules removed");
    assert!(
        p.ns[0]
            .exec("nft", &nft_table, Duration::from_secs(5))
            .is_err(),
        "nftables table removed"
    );
    assert!(!pidfile::path_in(Path::new(pidfile::PID_DIR), name).exists());
    assert!(!Path::new(&format!("/var/run/wireguard/{name}.sock")).exists());
    assert!(uapi::client::get(name).is_err());
    let err = commands::down(name).expect_err("not up any more");
    assert!(matches!(err, DaemonError::NotRunning(_)), "{err}");
    assert!(b.stop(Duration::from_secs(10)));
}

/// A daemon killed with SIGKILL cannot tear down: its firewall tables,
/// PID file, socket and policy rules stay. `down` then removes what it can
/// name (the first three), and the next `up` and `down` leave the policy
/// rules as they were before the first `up`: no `suppress_prefixlength`
/// rule piles up per crash.
#[test]
fn down_removes_what_a_killed_daemon_left() {
    if let Some(why) = skip_reason().or_else(skip_without_nft) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(22, Mode::Hybrid, &["0.0.0.0/0"]);
    let name = &p.names[0];
    let rules = || p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    let before = rules();
    let table = format!("dybervpn-{name}");
    let nft_table = || {
        p.ns[0].exec(
            "nft",
            &["list", "table", "ip", &table],
            Duration::from_secs(5),
        )
    };
    let pid_file = pidfile::path_in(Path::new(pidfile::PID_DIR), name);
    let socket = format!("/var/run/wireguard/{name}.sock");

    let mut a = start(&p.ns[0], &p.paths[0], name);
    let pid = a.id().expect("pid");
    dybervpn_tunnel::os::signal::send(pid, dybervpn_tunnel::os::signal::SIGKILL).expect("kill -9");
    assert!(poll_until(Duration::from_secs(10), || a.has_exited()));
    assert!(nft_table().is_ok(), "the killed daemon's table is there");
    assert!(pid_file.exists() && Path::new(&socket).exists());

    let exe = std::env::current_exe().expect("test binary");
    let mut down = p.ns[0].command(&exe.to_string_lossy());
    down.args([
        "--exact",
        "inner_down",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DOWN_NAME, name);
    let out = dybervpn_tunnel::os::command::complete(&mut down, None, Duration::from_secs(60))
        .expect("down ran and ended");
    let said = &out.stdout;
    assert!(said.contains("removed what one left behind"), "{said}");
    assert!(
        said.contains(&format!("nftables table ip {table}")),
        "{said}"
    );
    assert!(nft_table().is_err(), "table left");
    assert!(!pid_file.exists(), "PID file left");
    assert!(!Path::new(&socket).exists(), "socket left");

    let mut a = start(&p.ns[0], &p.paths[0], name);
    assert!(a.stop(Duration::from_secs(10)));
    assert_eq!(rules(), before, "policy rules piled up");
}

/// A route to the peer with an MTU below the tunnel's datagrams (1420 +
/// 60 = 1480 bytes here; a path MTU learnt from ICMP, a PPPoE link): the
/// kernel refuses segmented sends (`EMSGSIZE`), and the same datagrams must
/// go one at a time for the kernel to fragment. Before, every segmented run
/// was dropped and bulk TCP through the tunnel all but stopped.
#[test]
fn a_path_mtu_below_the_datagrams_does_not_stall_tcp() {
    bulk_tcp_after(23, |p| {
        let route = [
            "route",
            "add",
            "10.240.23.2/32",
            "dev",
            &p.veth.0,
            "mtu",
            "1400",
        ];
        p.ns[0].ip(&route).expect("a route with a small MTU");
    });
}

/// The tunnel interface's MTU raised while it runs (`ip link set … mtu`):
/// the kernel then hands the daemon segment trains cut for the new MTU,
/// larger than the buffers made for the old one. Before, every such train
/// was dropped and bulk TCP stalled; the buffers now follow the MTU.
#[test]
fn raising_the_mtu_of_a_running_interface_does_not_stall_tcp() {
    bulk_tcp_after(24, |p| {
        for (ns, name) in p.ns.iter().zip(&p.names) {
            ns.ip(&["link", "set", "dev", name, "mtu", "8000"])
                .expect("a larger MTU");
        }
    });
}

/// A hybrid pair on underlay network `net`, up and pinging; then `change`,
/// then [`bulk_tcp`] through it.
fn bulk_tcp_after(net: u8, change: impl FnOnce(&Pair)) {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    if !common::have("iperf3") {
        dybervpn_tunnel::netns::report_skip("skipped: `iperf3` is not installed");
        return;
    }
    let p = pair(net, Mode::Hybrid, &["10.98.0.2/32"]);
    let mut a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());
    change(&p);
    bulk_tcp(&p);
    assert!(a.stop(Duration::from_secs(10)));
    assert!(b.stop(Duration::from_secs(10)));
}

/// 40 MB of TCP from A to B through the tunnel (`iperf3 -n`), which must
/// get through within a minute: well under a second at the tunnel's usual
/// speed, and far beyond what got through in a minute with either of the
/// two bugs above.
fn bulk_tcp(p: &Pair) {
    let mut server = p.ns[1]
        .spawn("iperf3", &["-s", "-1", "-B", "10.98.0.2", "-p", "5299"])
        .expect("iperf3 -s");
    assert!(poll_until(Duration::from_secs(10), || {
        p.ns[1]
            .exec("ss", &["-Hltn", "sport = :5299"], Duration::from_secs(5))
            .is_ok_and(|o| o.stdout.contains("5299"))
    }));
    let args = [
        "-c",
        "10.98.0.2",
        "-p",
        "5299",
        "-n",
        "40M",
        "--connect-timeout",
        "5000",
    ];
    let sent = p.ns[0].exec("iperf3", &args, Duration::from_secs(60));
    assert!(sent.is_ok(), "40 MB did not get through: {sent:?}");
    let _ = server.stop(Duration::from_secs(5));
}

/// Deleting the interface (`ip link del`) or its userspace-API socket
/// (`rm`) under a running daemon ends it, as it ends wireguard-go: the
/// process exits by itself, removing its PID file and socket, and an `up`
/// of the same interface works again. Before, the daemon stayed, its TUN
/// thread spinning on the dead descriptor, and a new `up` was refused.
#[test]
fn deleting_the_interface_or_its_socket_ends_the_daemon() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(21, Mode::Hybrid, &["10.98.0.2/32"]);
    let name = &p.names[0];
    let pid_file = pidfile::path_in(Path::new(pidfile::PID_DIR), name);
    let socket = format!("/var/run/wireguard/{name}.sock");
    let exits = |daemon: &mut Process| poll_until(Duration::from_secs(10), || daemon.has_exited());

    let mut a = start(&p.ns[0], &p.paths[0], name);
    p.ns[0].ip(&["link", "del", name]).expect("ip link del");
    assert!(exits(&mut a), "the daemon outlived its interface");
    assert!(!pid_file.exists(), "PID file left behind");
    assert!(!Path::new(&socket).exists(), "socket left behind");

    let mut a = start(&p.ns[0], &p.paths[0], name);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());
    std::fs::remove_file(&socket).expect("rm the socket");
    assert!(exits(&mut a), "the daemon outlived its socket");
    assert!(!pid_file.exists(), "PID file left behind");
    assert!(
        p.ns[0].ip(&["link", "show", name]).is_err(),
        "interface left behind"
    );
    assert!(b.stop(Duration::from_secs(10)));
}

/// A stand-in `resolvconf` in a directory of its own: it appends its
/// arguments and standard input to `calls.log` there and exits with
/// `status`. Returns the directory (for PATH) and the log's path.
fn fake_resolvconf(dir: &TempDir, status: u8) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.0.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let log = dir.0.join("calls.log");
    let script = format!(
        "#!/bin/sh\necho \"args: $*\" >>'{log}'\ncat >>'{log}'\n\
         [ {status} -eq 0 ] || echo 'resolvconf: refused by the test' >&2\nexit {status}\n",
        log = log.display()
    );
    let path = bin.join("resolvconf");
    std::fs::write(&path, script).expect("write fake resolvconf");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let search = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (search, log)
}

/// Rewrites node `i`'s configuration with `dns`.
fn set_dns(p: &Pair, i: usize, dns: &[&str]) {
    edit_config(p, i, |c| {
        c.interface.dns = dns.iter().map(|s| ip(s)).collect()
    });
}

fn calls(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn dns_servers_follow_up_reload_and_down() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(5, Mode::Hybrid, &["10.98.0.2/32"]);
    set_dns(&p, 0, &["10.98.0.53", "fd00::53"]);
    let (search, log) = fake_resolvconf(&p.dir, 0);
    let name = &p.names[0];
    let mut a = spawn_up(&p.ns[0], &p.paths[0], &[("PATH", &search)]);
    wait_up(name, &mut a);
    let mut b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());
    // The record is the interface's name, with Debian resolvconf's prefix
    // if this machine has its interface-order file.
    let added = format!("{name} -m 0 -x\nnameserver 10.98.0.53\nnameserver fd00::53\n");
    let text = calls(&log);
    assert!(
        text.starts_with("args: -a ") && text.ends_with(&added),
        "{text}"
    );

    // A reload that changes the servers registers them again; one that
    // keeps them does not run resolvconf. Signals are handled in order, so
    // once the third reload's call shows, the second has been handled.
    let registered = |log: &Path| calls(log).matches("args: -a ").count();
    for (servers, reloads) in [(&["10.98.0.54"], 2), (&["10.98.0.55"], 3)] {
        set_dns(&p, 0, servers);
        commands::reload(name).expect("reload");
        let changed = format!("{name} -m 0 -x\nnameserver {}\n", servers[0]);
        assert!(
            poll_until(Duration::from_secs(10), || calls(&log).ends_with(&changed)),
            "{}",
            calls(&log)
        );
        assert_eq!(registered(&log), reloads, "{}", calls(&log));
        if reloads == 2 {
            commands::reload(name).expect("reload, servers unchanged");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    commands::down(name).expect("down");
    assert!(
        poll_until(Duration::from_secs(5), || a.has_exited()),
        "down did not stop the daemon"
    );
    let text = calls(&log);
    assert!(text.ends_with(&format!("{name} -f\n")), "{text}");
    let removal = text.lines().last().expect("a call");
    assert!(removal.starts_with("args: -d "), "{text}");
    assert!(b.stop(Duration::from_secs(10)));
}

#[test]
fn an_up_whose_dns_cannot_be_set_stops_and_leaves_nothing() {
    if let Some(why) = skip_reason().or_else(skip_without_nft) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    // A default route, so there are policy rules to take back too.
    let p = pair(6, Mode::Classic, &["0.0.0.0/0"]);
    set_dns(&p, 0, &["10.98.0.53"]);
    let (search, log) = fake_resolvconf(&p.dir, 1);
    let rules_before = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    let mut a = spawn_up(&p.ns[0], &p.paths[0], &[("PATH", &search)]);
    assert!(
        poll_until(Duration::from_secs(20), || a.has_exited()),
        "up went on without its DNS servers"
    );
    assert!(calls(&log).starts_with("args: -a "), "{}", calls(&log));
    let name = &p.names[0];
    assert!(
        p.ns[0].ip(&["link", "show", name]).is_err(),
        "interface gone"
    );
    let rules_after = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_after, rules_before, "policy rules removed");
    assert!(!pidfile::path_in(Path::new(pidfile::PID_DIR), name).exists());
    assert!(!Path::new(&format!("/var/run/wireguard/{name}.sock")).exists());
}

#[test]
fn a_multi_homed_peer_answers_from_the_address_it_was_reached_at() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    // B has a second address on its link, and A knows B by that one (a
    // server's floating or additional address). Datagrams B sends on its
    // own would leave from its first address; behind a NAT or a stateful
    // firewall, A would never see answers from an address it did not
    // contact. So B must answer from the address A reached.
    let p = pair(9, Mode::Hybrid, &["10.98.0.2/32"]);
    p.ns[1]
        .ip(&["address", "add", "10.240.9.3/24", "dev", &p.veth.1])
        .expect("B's second address");
    set_endpoint(&p, 0, "10.240.9.3");
    let a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());
    // And traffic B starts, after the handshake: still from that address.
    assert!(ping_until(&p.ns[1], "10.98.0.1", Duration::from_secs(10)).is_some());
    let snap = uapi::client::get(&p.names[0]).expect("status");
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.9.3")),
        "A saw B answer from another address"
    );

    // The address goes away: B's sends from it are refused, so B sends
    // from the address it has left, and A follows B there.
    p.ns[1]
        .ip(&["address", "del", "10.240.9.3/24", "dev", &p.veth.1])
        .expect("B's second address removed");
    assert!(
        ping_until(&p.ns[1], "10.98.0.1", Duration::from_secs(20)).is_some(),
        "B reaches A without its second address"
    );
    let snap = wait_for(&p.names[0], Duration::from_secs(5), |s| {
        s.peers[0].endpoint.map(|e| e.ip()) == Some(ip("10.240.9.2"))
    });
    drop((a, b));
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.9.2"))
    );
}

#[test]
fn a_keepalive_teaches_the_address_to_answer_from() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    // A reaches B at B's first address, then is told B's second one while
    // nothing but A's keepalives flows. B learns from those keepalives
    // alone that A now reaches it at the second address: B's next packet
    // must leave from there, or A, seeing B at its first address again,
    // roams back to it.
    let p = pair(10, Mode::Hybrid, &["10.98.0.2/32"]);
    p.ns[1]
        .ip(&["address", "add", "10.240.10.3/24", "dev", &p.veth.1])
        .expect("B's second address");
    // A keeps the path open every second; B never speaks unprompted.
    edit_config(&p, 0, |c| c.peers[0].persistent_keepalive = Some(1));
    let a = start(&p.ns[0], &p.paths[0], &p.names[0]);
    let b = start(&p.ns[1], &p.paths[1], &p.names[1]);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(20)).is_some());

    let before = uapi::client::get(&p.names[1]).expect("B's status").peers[0].rx_bytes;
    let b_key = uapi::client::get(&p.names[0]).expect("A's status").peers[0].public_key;
    let mut change = uapi::PeerChange::new(b_key);
    change.update_only = true;
    change.endpoint = Some(std::net::SocketAddr::new(ip("10.240.10.3"), common::PORT));
    uapi::client::set(
        &p.names[0],
        &uapi::ChangeSet {
            peers: vec![change],
            ..uapi::ChangeSet::default()
        },
    )
    .expect("A's new endpoint for B");
    // Two keepalives (32 bytes each) reached B.
    let got = wait_for(&p.names[1], Duration::from_secs(10), |s| {
        s.peers[0].rx_bytes >= before + 64
    });
    assert!(
        got.peers[0].rx_bytes >= before + 64,
        "A's keepalives did not reach B"
    );

    assert!(ping_until(&p.ns[1], "10.98.0.1", Duration::from_secs(10)).is_some());
    let snap = uapi::client::get(&p.names[0]).expect("A's status");
    drop((a, b));
    assert_eq!(
        snap.peers[0].endpoint.map(|e| e.ip()),
        Some(ip("10.240.10.3")),
        "B answered from the address A no longer uses"
    );
}
