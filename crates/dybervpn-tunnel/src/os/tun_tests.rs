//! TUN, addresses, routes and policy rules, exercised inside a throw-away
//! network namespace: the outer test creates the namespace and re-runs this
//! test binary inside it for the inner test, so nothing touches the host's
//! interfaces or routes.

use std::time::Duration;

use super::netconf::{InterfaceAddress, NetConfig, RouteOutcome};
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
        eprintln!("skipped: needs root (network namespaces, TUN)");
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
    assert_eq!(
        net.add_route(p("10.88.0.0/16"), 0).expect("route"),
        RouteOutcome::Added
    );
    assert_eq!(
        net.add_route(p("fd88::/32"), 0).expect("route"),
        RouteOutcome::Added
    );
    // The on-link /24 of the address is already routed via the interface.
    assert_eq!(
        net.add_route(p("10.77.0.0/24"), 0).expect("route"),
        RouteOutcome::AlreadyRouted
    );
    assert_eq!(
        net.add_route(p("0.0.0.0/0"), 0).expect("default"),
        RouteOutcome::PolicyDefault { table: 51820 }
    );
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
