//! A default route (`0.0.0.0/0`) through the tunnel, end to end in network
//! namespaces, with each firewall tool the daemon can write its rules with
//! (`os/firewall.rs`): `nft`, and, on a host without it, `iptables-restore`.
//!
//! * under strict reverse-path filtering, with the peer reached through a
//!   gateway as a server on the Internet is, the tunnel still comes up, and
//!   stopping the daemon removes its rules;
//! * the tunnel's own address does not answer a neighbour on the LAN, and
//!   does once the rules are deleted (the control);
//! * a killed daemon's iptables rules and fwmark policy rule are replaced
//!   at the next `up`, not doubled; with neither tool, `up` stops and leaves nothing;
//! * a reload that drops the `/0` gives the world back to the main table,
//!   and one that restores it sets it all up once;
//! * an IPv6 default route (`::/0`) carries traffic, with its IPv6 policy
//!   and firewall rules in place while up and gone after;
//! * a default route takes the first free routing table from 51820 up,
//!   and keeps its mark when `wg` asks for `fwmark=0`;
//! * an `nft` that fails falls back to iptables.
//!
//! "A host without `nft`" is a daemon whose PATH holds links to `ip` and
//! the iptables programs only.
//!
//! Root only; without root, or without the tool, each test prints why it
//! was skipped and passes. Every namespace, process and file is owned by a
//! guard.

mod common;

use std::time::Duration;

use common::pair::{edit_config, pair, set_endpoint, skip_without_nft, Pair};
use common::{ping_until, poll_until, skip_reason, spawn_up, wait_up};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{Netns, Process};
use dybervpn_tunnel::{commands, uapi};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_up() {
    common::inner_up();
}

/// What the daemon finds on its PATH to write firewall rules with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Nft,
    Iptables,
}

/// The programs a daemon without `nft` is given.
const IPTABLES_HOST: [&str; 5] = [
    "ip",
    "iptables-restore",
    "iptables-save",
    "ip6tables-restore",
    "ip6tables-save",
];

/// Where `program` is on this process's PATH.
fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn skip_without(tool: Tool) -> Option<&'static str> {
    match tool {
        Tool::Nft => skip_without_nft(),
        Tool::Iptables => IPTABLES_HOST
            .iter()
            .any(|p| which(p).is_none())
            .then_some("skipped: iptables (`iptables-restore`, `iptables-save`) is not installed"),
    }
}

/// A directory in `p`'s own holding links to `programs` only, for a
/// daemon's PATH.
fn path_of(p: &Pair, tag: &str, programs: &[&str]) -> String {
    let bin = p.dir.0.join(tag);
    std::fs::create_dir_all(&bin).expect("bin dir");
    for program in programs {
        let target = which(program).expect("checked by skip_without");
        let link = bin.join(program);
        if !link.exists() {
            std::os::unix::fs::symlink(target, link).expect("link");
        }
    }
    bin.display().to_string()
}

/// Starts node `i` of `p`, finding `tool` (and for iptables, not `nft`).
fn start_with(p: &Pair, i: usize, tool: Tool) -> Process {
    let mut daemon = match tool {
        Tool::Nft => spawn_up(&p.ns[i], &p.paths[i], &[]),
        Tool::Iptables => {
            let path = path_of(p, "without-nft", &IPTABLES_HOST);
            spawn_up(&p.ns[i], &p.paths[i], &[("PATH", &path)])
        }
    };
    wait_up(&p.names[i], &mut daemon);
    daemon
}

/// The rules `tool` holds for interface `name` in `ns`: the nftables
/// table's listing, or the iptables rules carrying its comment. Empty when
/// there are none.
fn rules(ns: &Netns, tool: Tool, name: &str) -> String {
    family_rules(ns, tool, name, false)
}

/// [`rules`] for one family (`v6`: IPv6).
fn family_rules(ns: &Netns, tool: Tool, name: &str, v6: bool) -> String {
    let wait = Duration::from_secs(5);
    match tool {
        Tool::Nft => ns
            .exec(
                "nft",
                &[
                    "list",
                    "table",
                    if v6 { "ip6" } else { "ip" },
                    &format!("dybervpn-{name}"),
                ],
                wait,
            )
            .map(|o| o.stdout)
            .unwrap_or_default(),
        Tool::Iptables => {
            let save = if v6 {
                "ip6tables-save"
            } else {
                "iptables-save"
            };
            let saved = ns.exec(save, &[], wait).expect("iptables-save");
            let ours = format!("\"dybervpn:{name}\"");
            saved
                .stdout
                .lines()
                .filter(|l| l.contains(&ours))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

/// Fedora and RHEL filter strictly by default: an incoming datagram is
/// dropped unless the route back to its source leaves by the interface it
/// came in on.
fn strict_reverse_path_filtering(net: u8, tool: Tool) {
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(net, Mode::Hybrid, &["0.0.0.0/0"]);
    // B is reached through a gateway, as a server on the Internet is: its
    // endpoint address is on its loopback, and A's only route to it is
    // its default route (which the tunnel's default route overrides).
    let public = format!("10.241.{net}.2");
    p.ns[1]
        .ip(&["address", "add", &format!("{public}/32"), "dev", "lo"])
        .expect("B's public address");
    p.ns[1]
        .ip(&[
            "route",
            "replace",
            &format!("10.240.{net}.0/24"),
            "dev",
            &p.veth.1,
            "src",
            &public,
        ])
        .expect("B sends from its public address");
    p.ns[0]
        .ip(&["route", "add", "default", "via", &format!("10.240.{net}.2")])
        .expect("A's gateway");
    set_endpoint(&p, 0, &public);
    for key in ["all", "default"] {
        p.ns[0]
            .exec(
                "sysctl",
                &["-qw", &format!("net.ipv4.conf.{key}.rp_filter=1")],
                Duration::from_secs(5),
            )
            .expect("sysctl");
    }
    let mut a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    let first = ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15));
    assert!(first.is_some(), "no reply through the default route");
    assert!(
        rules(&p.ns[0], tool, &p.names[0]).contains("mark"),
        "A's rules, with {tool:?}"
    );
    assert!(a.stop(Duration::from_secs(10)), "A stops");
    assert_eq!(rules(&p.ns[0], tool, &p.names[0]), "", "A's rules removed");
    drop(b);
}

#[test]
fn a_default_route_works_under_strict_reverse_path_filtering() {
    strict_reverse_path_filtering(7, Tool::Nft);
}

#[test]
fn without_nft_iptables_does_the_same() {
    strict_reverse_path_filtering(11, Tool::Iptables);
}

/// One ping from `ns` to `to` through interface `dev`: answered or not.
fn ping_via(ns: &Netns, dev: &str, to: &str) -> bool {
    ns.exec(
        "ping",
        &["-c", "1", "-W", "1", "-I", dev, to],
        Duration::from_secs(5),
    )
    .is_ok_and(|o| o.stdout.contains("1 received"))
}

fn closed_to_the_lan(net: u8, tool: Tool) {
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(net, Mode::Classic, &["0.0.0.0/0"]);
    let a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15)).is_some());
    // B, as a neighbour on A's LAN, aims straight at A's tunnel address
    // over the veth instead of through the tunnel.
    p.ns[1]
        .ip(&[
            "route",
            "add",
            "10.98.0.1/32",
            "via",
            &format!("10.240.{net}.1"),
            "dev",
            &p.veth.1,
            "metric",
            "100",
        ])
        .expect("a LAN route to A's tunnel address");
    assert!(
        !ping_via(&p.ns[1], &p.veth.1, "10.98.0.1"),
        "A answered on its tunnel address from the LAN ({tool:?})"
    );
    // The rules are what close it: without them A answers.
    let wait = Duration::from_secs(5);
    match tool {
        Tool::Nft => {
            let table = format!("dybervpn-{}", p.names[0]);
            p.ns[0]
                .exec("nft", &["delete", "table", "ip", &table], wait)
                .expect("delete the table");
        }
        Tool::Iptables => {
            p.ns[0]
                .exec("iptables", &["-t", "raw", "-F", "PREROUTING"], wait)
                .expect("flush the raw table");
        }
    }
    assert!(
        ping_via(&p.ns[1], &p.veth.1, "10.98.0.1"),
        "the control: A answers once the rules are gone"
    );
    drop((a, b));
}

#[test]
fn with_a_default_route_the_tunnel_address_is_closed_to_the_lan() {
    closed_to_the_lan(8, Tool::Nft);
}

#[test]
fn without_nft_iptables_closes_it_too() {
    closed_to_the_lan(12, Tool::Iptables);
}

/// A daemon killed without its teardown leaves its iptables rules and its
/// fwmark policy rule; the next `up` replaces them instead of adding a
/// second set.
#[test]
fn rules_left_by_a_killed_daemon_are_replaced_not_doubled() {
    let tool = Tool::Iptables;
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(13, Mode::Classic, &["0.0.0.0/0"]);
    let mut a = start_with(&p, 0, tool);
    let once = rules(&p.ns[0], tool, &p.names[0]);
    assert_eq!(once.lines().count(), 3, "{once}");
    // SIGKILL: no teardown. The interface goes with the process; the rules
    // stay.
    let pid = a.id().expect("the daemon's PID");
    dybervpn_tunnel::os::signal::send(pid, dybervpn_tunnel::os::signal::SIGKILL).expect("kill");
    assert!(a.stop(Duration::from_secs(5)), "A gone");
    assert_eq!(rules(&p.ns[0], tool, &p.names[0]), once, "left behind");
    let fwmark_rules = || {
        let rules = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
        rules.lines().filter(|l| l.contains("lookup 51820")).count()
    };
    assert_eq!(fwmark_rules(), 1, "the killed daemon's policy rule");
    let mut again = start_with(&p, 0, tool);
    assert_eq!(
        fwmark_rules(),
        1,
        "its stale policy rule replaced, not doubled"
    );
    assert_eq!(
        rules(&p.ns[0], tool, &p.names[0]),
        once,
        "replaced, not doubled"
    );
    assert!(again.stop(Duration::from_secs(10)));
    assert_eq!(rules(&p.ns[0], tool, &p.names[0]), "");
}

/// With neither `nft` nor iptables, `up` of a default route stops and
/// leaves nothing behind.
#[test]
fn without_either_tool_a_default_route_is_refused_and_leaves_nothing() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(14, Mode::Classic, &["0.0.0.0/0"]);
    let rules_before = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    let path = path_of(&p, "only-ip", &["ip"]);
    let mut a = spawn_up(&p.ns[0], &p.paths[0], &[("PATH", &path)]);
    assert!(
        poll_until(Duration::from_secs(20), || a.has_exited()),
        "up went on without firewall rules"
    );
    let name = &p.names[0];
    assert!(
        p.ns[0].ip(&["link", "show", name]).is_err(),
        "interface gone"
    );
    let rules_after = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_after, rules_before, "policy rules removed");
}

/// The interface `to` is routed through from `ns` (`ip route get`).
fn route_dev(ns: &Netns, to: &str) -> String {
    let out = ns.ip(&["route", "get", to]).map(|o| o.stdout);
    let out = out.unwrap_or_default();
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            return words.next().unwrap_or_default().to_owned();
        }
    }
    String::new()
}

/// A reload that drops the `/0` takes the default route, its policy rules
/// and its firewall rules with it: traffic for the rest of the world goes
/// back to the main table instead of into a tunnel no peer would take it
/// from. A reload that brings the `/0` back sets it all up once.
#[test]
fn a_reload_that_drops_the_default_route_gives_the_world_back() {
    let tool = Tool::Nft;
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(15, Mode::Hybrid, &["0.0.0.0/0"]);
    // A host of "the Internet", behind B as A's gateway.
    p.ns[1]
        .ip(&["address", "add", "10.242.15.2/32", "dev", "lo"])
        .expect("the outside host");
    p.ns[0]
        .ip(&["route", "add", "default", "via", "10.240.15.2"])
        .expect("A's gateway");
    let rules_before = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    let a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15)).is_some());
    let tunnel = p.names[0].clone();
    assert_eq!(
        route_dev(&p.ns[0], "10.242.15.2"),
        tunnel,
        "all through the tunnel"
    );
    let rules_up = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;

    let reload_to = |allowed: &[&str], expect_dev: &str| {
        edit_config(&p, 0, |c| {
            c.peers[0].allowed_ips = allowed.iter().map(|a| a.parse().expect("cidr")).collect();
        });
        commands::reload(&p.names[0]).expect("reload");
        poll_until(Duration::from_secs(10), || {
            route_dev(&p.ns[0], "10.242.15.2") == expect_dev
        });
    };

    // The /0 goes: the world is reached through the gateway again.
    reload_to(&["10.98.0.2/32"], &p.veth.0);
    assert_eq!(route_dev(&p.ns[0], "10.242.15.2"), p.veth.0, "back to main");
    assert!(
        ping_until(&p.ns[0], "10.242.15.2", Duration::from_secs(5)).is_some(),
        "the outside host, through the gateway"
    );
    assert!(
        ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(5)).is_some(),
        "the peer, through the tunnel"
    );
    let rules_after = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_after, rules_before, "policy rules removed");
    assert_eq!(
        rules(&p.ns[0], tool, &p.names[0]),
        "",
        "firewall rules removed"
    );

    // The /0 comes back: all set up again, once.
    reload_to(&["0.0.0.0/0"], &tunnel);
    assert_eq!(
        route_dev(&p.ns[0], "10.242.15.2"),
        tunnel,
        "through the tunnel again"
    );
    let rules_again = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_again, rules_up, "the same policy rules, not doubled");
    assert!(rules(&p.ns[0], tool, &p.names[0]).contains("mark"));
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(5)).is_some());
    drop((a, b));
    let rules_down = p.ns[0].ip(&["-4", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_down, rules_before, "policy rules removed at down");
}

/// An IPv6 default route (`::/0`, the tunnel's own IPv6 address guarded)
/// over an IPv4 underlay: traffic flows, the IPv6 policy and firewall
/// rules are in place while up, and gone after.
fn ipv6_default_route(net: u8, tool: Tool) {
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(net, Mode::Hybrid, &["10.98.0.2/32", "::/0"]);
    edit_config(&p, 0, |c| {
        c.interface
            .address
            .push("fd98::1/128".parse().expect("address"));
    });
    edit_config(&p, 1, |c| {
        c.interface
            .address
            .push("fd98::2/128".parse().expect("address"));
        c.peers[0]
            .allowed_ips
            .push("fd98::1/128".parse().expect("cidr"));
    });
    let rules_before = p.ns[0].ip(&["-6", "rule", "show"]).expect("rules").stdout;
    let mut a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(
        ping_until(&p.ns[0], "fd98::2", Duration::from_secs(15)).is_some(),
        "no reply over IPv6 through the default route"
    );
    let rules_up = p.ns[0].ip(&["-6", "rule", "show"]).expect("rules").stdout;
    assert!(rules_up.contains("suppress_prefixlength 0"), "{rules_up}");
    let guarded = family_rules(&p.ns[0], tool, &p.names[0], true);
    assert!(
        guarded.contains("fd98::1") && guarded.contains("mark"),
        "IPv6 rules with {tool:?}: {guarded}"
    );
    assert!(a.stop(Duration::from_secs(10)), "A stops");
    let rules_after = p.ns[0].ip(&["-6", "rule", "show"]).expect("rules").stdout;
    assert_eq!(rules_after, rules_before, "IPv6 policy rules removed");
    assert_eq!(family_rules(&p.ns[0], tool, &p.names[0], true), "");
    drop(b);
}

#[test]
fn an_ipv6_default_route_works_and_is_removed() {
    ipv6_default_route(16, Tool::Nft);
}

#[test]
fn without_nft_an_ipv6_default_route_goes_through_ip6tables() {
    ipv6_default_route(17, Tool::Iptables);
}

/// A default route takes the first routing table from 51820 up that holds
/// no route, as `wg-quick` does, so a second full tunnel (or anything else
/// using 51820) does not make `up` fail on an existing route.
#[test]
fn a_default_route_takes_the_first_free_table() {
    let tool = Tool::Nft;
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(18, Mode::Classic, &["0.0.0.0/0"]);
    // Table 51820 is taken: it has a default route (another tunnel's, say).
    p.ns[0]
        .ip(&["route", "add", "blackhole", "default", "table", "51820"])
        .expect("a default route in table 51820");
    let mut a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15)).is_some());
    // A table never used does not exist, and listing it fails: empty.
    let table = |t: &str| {
        p.ns[0]
            .ip(&["route", "show", "table", t])
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    assert!(
        table("51821").contains(&format!("default dev {}", p.names[0])),
        "{}",
        table("51821")
    );
    let snap = uapi::client::get(&p.names[0]).expect("status");
    assert_eq!(snap.fwmark, 51821, "the sockets carry the table's mark");
    assert!(a.stop(Duration::from_secs(10)), "A stops");
    assert_eq!(table("51821"), "", "A's table emptied");
    assert!(
        table("51820").contains("blackhole default"),
        "the other untouched"
    );
    drop(b);
}

/// `wg setconf` and `wg syncconf` send `fwmark=0` for a file without
/// `FwMark`. A default route needs its table's mark on the sockets, or the
/// tunnel's own datagrams would be routed into it: `fwmark=0` leaves the
/// mark, another mark is refused, and the tunnel keeps working.
#[test]
fn a_default_routes_mark_survives_fwmark_0_from_wg() {
    let tool = Tool::Nft;
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let p = pair(20, Mode::Hybrid, &["0.0.0.0/0"]);
    let mut a = start_with(&p, 0, tool);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15)).is_some());
    let mark = || uapi::client::get(&p.names[0]).expect("status").fwmark;
    assert_eq!(mark(), 51820);
    let asking = |m: u32| uapi::ChangeSet {
        fwmark: Some(m),
        ..uapi::ChangeSet::default()
    };
    uapi::client::set(&p.names[0], &asking(0)).expect("fwmark 0 is accepted");
    assert_eq!(mark(), 51820, "the default route's mark stays");
    let refused = uapi::client::set(&p.names[0], &asking(77));
    assert!(refused.is_err(), "a mark the route cannot use: {refused:?}");
    assert_eq!(mark(), 51820);
    // Both sides see traffic after the requests: a fresh ping gets through.
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(10)).is_some());
    assert!(a.stop(Duration::from_secs(10)), "A stops");
    drop(b);
}

/// An `nft` that is installed but fails (a kernel or container without
/// nf_tables, say) falls back to iptables where that is installed.
#[test]
fn a_failing_nft_falls_back_to_iptables() {
    let tool = Tool::Iptables;
    if let Some(why) = skip_reason().or_else(|| skip_without(tool)) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let p = pair(19, Mode::Classic, &["0.0.0.0/0"]);
    let path = path_of(&p, "broken-nft", &IPTABLES_HOST);
    let nft = std::path::Path::new(&path).join("nft");
    std::fs::write(
        &nft,
        "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n",
    )
    .expect("write the failing nft");
    std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut a = spawn_up(&p.ns[0], &p.paths[0], &[("PATH", &path)]);
    wait_up(&p.names[0], &mut a);
    let b = start_with(&p, 1, Tool::Nft);
    assert!(ping_until(&p.ns[0], "10.98.0.2", Duration::from_secs(15)).is_some());
    assert!(
        rules(&p.ns[0], tool, &p.names[0]).contains("mark"),
        "the rules, through iptables"
    );
    assert!(a.stop(Duration::from_secs(10)), "A stops");
    assert_eq!(rules(&p.ns[0], tool, &p.names[0]), "", "and removed");
    drop(b);
}
