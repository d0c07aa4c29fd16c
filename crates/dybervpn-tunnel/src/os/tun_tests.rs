//! TUN, addresses, routes and policy rules, exercised inside a throw-away
//! network namespace: the outer test creates the namespace and re-runs this
//! test binary inside it for the inner test, so nothing touches the host's
//! interfaces or routes.

use std::time::Duration;

use super::netconf::{InterfaceAddress, NetConfig};
use super::tun::{Tun, TunOptions};
use crate::netns::Netns;
use crate::prefix::Prefix;

const INNER_ENV: &str = "DYBERVPN_TEST_INSIDE_NETNS";

/// Runs the ignored test `name` of this binary inside `ns`.
pub(crate) fn run_inside(ns: &Netns, name: &str) {
    let exe = std::env::current_exe().expect("test binary path");
    let exe = exe.to_string_lossy().into_owned();
    let out = std::process::Command::new("timeout")
        .args(["60", "ip", "netns", "exec", ns.name(), &exe])
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, "1")
        .output()
        .expect("run the inner test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner test failed:\n{text}");
    assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
}

#[test]
fn tun_addresses_routes_and_rules_in_a_namespace() {
    if !super::is_root() {
        crate::netns::report_skip("skipped: needs root (network namespaces, TUN)");
        return;
    }
    let ns = Netns::create("dvo").expect("netns");
    run_inside(&ns, "os::tun_tests::inner_tun_addresses_routes_and_rules");
}

fn ip(args: &[&str]) -> String {
    super::command::ip(args).expect("ip").stdout
}

#[test]
#[ignore = "runs inside a namespace, started by tun_addresses_routes_and_rules_in_a_namespace"]
fn inner_tun_addresses_routes_and_rules() {
    if std::env::var_os(INNER_ENV).is_none() {
        eprintln!("skipped: only meaningful inside the test's namespace");
        return;
    }
    let tun =
        std::sync::Arc::new(Tun::create(&TunOptions::new("dvtun0", 1380)).expect("create TUN"));
    assert_eq!(tun.name(), "dvtun0");
    assert_eq!(tun.mtu().expect("mtu"), 1380);
    let link = ip(&["link", "show", "dvtun0"]);
    assert!(link.contains("mtu 1380"), "{link}");
    assert!(link.contains(",UP"), "{link}");

    let mut net = NetConfig::new("dvtun0");
    for a in ["10.77.0.1/24", "fd77::1/64"] {
        net.add_address(&a.parse::<InterfaceAddress>().expect("addr"))
            .expect("add address");
    }
    let p = |s: &str| s.parse::<Prefix>().expect("prefix");
    // One batch: new routes of both families (host routes among them), the
    // on-link /24 of the address and a /32 inside it (both covered, as
    // wg-quick skips them), and a default route.
    let report = net
        .add_routes(
            &[
                p("10.88.0.0/16"),
                p("fd88::/32"),
                p("10.77.0.0/24"),
                p("10.77.0.9/32"),
                p("10.66.0.5/32"),
                p("fd66::5/128"),
                p("0.0.0.0/0"),
                p("10.88.0.0/16"),
            ],
            0,
        )
        .expect("ip runs");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.added,
        [
            p("fd66::5/128"),
            p("10.66.0.5/32"),
            p("fd88::/32"),
            p("10.88.0.0/16")
        ]
    );
    assert_eq!(
        report.already_routed,
        [p("10.77.0.9/32"), p("10.77.0.0/24")]
    );
    assert_eq!(report.policy_table, Some(51820));

    // A reload's batch. A host route added by hand is recognised although
    // `ip` lists it without "/32"; a route of ours covers nothing (it may be
    // removed later); a route of ours already there is left alone; a route
    // `ip` refuses (a blackhole the listing via the interface cannot show)
    // is reported with its line, and the rest of the batch still happens.
    ip(&["route", "add", "10.44.0.4", "dev", "dvtun0"]);
    ip(&["route", "add", "blackhole", "10.33.0.0/16"]);
    let report = net
        .add_routes(
            &[
                p("10.44.0.4/32"),
                p("10.88.1.0/24"),
                p("10.66.0.5/32"),
                p("10.33.0.0/16"),
                p("10.22.0.0/16"),
            ],
            51820,
        )
        .expect("ip runs");
    assert_eq!(report.already_routed, [p("10.44.0.4/32")]);
    assert_eq!(report.added, [p("10.88.1.0/24"), p("10.22.0.0/16")]);
    assert_eq!(report.policy_table, None);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let refused = report.failed[0].to_string();
    assert!(
        refused.contains("ip route add 10.33.0.0/16 dev dvtun0") && refused.contains("exists"),
        "{refused}"
    );

    // Removal touches only routes this configuration added.
    net.remove_routes(&[p("10.88.0.0/16"), p("10.44.0.4/32"), p("10.77.0.0/24")])
        .expect("ip runs");
    let routes = ip(&["-4", "route", "show", "dev", "dvtun0"]);
    assert!(!routes.contains("10.88.0.0/16"), "{routes}");
    assert!(routes.contains("10.88.1.0/24"), "{routes}");
    assert!(routes.contains("10.44.0.4 "), "{routes}");
    assert!(routes.contains("10.77.0.0/24"), "{routes}");
    ip(&["route", "add", "10.88.0.0/16", "dev", "dvtun0"]);
    let routes = ip(&["-4", "route", "show", "dev", "dvtun0"]);
    assert!(routes.contains("10.88.0.0/16"), "{routes}");
    let table = ip(&["-4", "route", "show", "table", "51820"]);
    assert!(table.contains("default dev dvtun0"), "{table}");
    let rules = ip(&["-4", "rule", "show"]);
    assert!(
        rules.contains("not from all fwmark 0xca6c lookup 51820"),
        "{rules}"
    );
    assert!(rules.contains("suppress_prefixlength 0"), "{rules}");

    // A packet routed into the interface comes out of the TUN.
    let reader = {
        let tun = std::sync::Arc::clone(&tun);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            // Bounded: 50 packets at most (router solicitations and the like).
            for _ in 0..50 {
                match tun.recv(&mut buf) {
                    Ok(n) if n >= 20 && buf[0] >> 4 == 4 && buf[16..20] == [10, 88, 1, 1] => {
                        return Some(n)
                    }
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
            None
        })
    };
    let sock = std::net::UdpSocket::bind("10.77.0.1:0").expect("bind");
    sock.send_to(b"into the tunnel", "10.88.1.1:9")
        .expect("send");
    let got = reader.join().expect("reader");
    assert_eq!(
        got,
        Some(20 + 8 + 15),
        "one IPv4/UDP packet with our payload"
    );

    // The stopper wakes a blocked reader.
    let stopper = tun.stopper();
    let blocked = {
        let tun = std::sync::Arc::clone(&tun);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            loop {
                match tun.recv(&mut buf) {
                    Ok(_) => continue,
                    Err(e) => return e.kind(),
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    stopper.stop();
    assert_eq!(
        blocked.join().expect("join"),
        std::io::ErrorKind::Interrupted
    );

    net.teardown();
    let rules = ip(&["-4", "rule", "show"]);
    assert!(!rules.contains("51820"), "rules removed: {rules}");
    drop(std::sync::Arc::try_unwrap(tun).expect("readers finished"));
    assert!(
        super::command::ip(&["link", "show", "dvtun0"]).is_err(),
        "device gone"
    );
}
