//! Two daemons, A and B, in namespaces of their own joined by a veth
//! pair, from configuration files a test may edit before starting them.
//! Shared by lifecycle.rs and default_route.rs.

use std::net::IpAddr;
use std::path::PathBuf;

use dybervpn_config::{Config, Endpoint};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{unique_name, veth_pair, Netns};

use super::{write_config, Node, TempDir};

/// A default route needs `nft` (nftables); the tests that route `/0`
/// skip without it.
pub fn skip_without_nft() -> Option<&'static str> {
    (!super::have("nft")).then_some("skipped: `nft` (nftables) is not installed")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Two nodes, A (10.98.0.1) and B (10.98.0.2), joined over 10.240.x.0/24.
pub struct Pair {
    pub ns: [Netns; 2],
    pub names: [String; 2],
    pub paths: [PathBuf; 2],
    pub veth: (String, String),
    pub dir: TempDir,
}

pub fn pair(net: u8, mode: Mode, a_allowed: &[&str]) -> Pair {
    let ns = [
        Netns::create("dla").expect("ns"),
        Netns::create("dlb").expect("ns"),
    ];
    let under = |h: u8| format!("10.240.{net}.{h}");
    let veth = veth_pair(
        &ns[0],
        &format!("{}/24", under(1)),
        &ns[1],
        &format!("{}/24", under(2)),
    )
    .expect("veth");
    let dir = TempDir::new("life");
    let a = Node::new(1, mode);
    let b = Node::new(2, mode);
    let names = [unique_name("dla"), unique_name("dlb")];
    let mut b_peer = b.as_peer(Some(ip(&under(2))), a_allowed);
    b_peer.persistent_keepalive = Some(25);
    let ca = Config {
        interface: a.interface("10.98.0.1/32"),
        peers: vec![b_peer],
    };
    let cb = Config {
        interface: b.interface("10.98.0.2/32"),
        peers: vec![a.as_peer(Some(ip(&under(1))), &["10.98.0.1/32"])],
    };
    let paths = [
        write_config(&dir, &names[0], &ca),
        write_config(&dir, &names[1], &cb),
    ];
    Pair {
        ns,
        names,
        paths,
        veth,
        dir,
    }
}

/// Rewrites node `i`'s configuration file after `edit`.
pub fn edit_config(p: &Pair, i: usize, edit: impl FnOnce(&mut Config)) {
    let mut config = Config::load(&p.paths[i]).expect("config").config;
    edit(&mut config);
    write_config(&p.dir, &p.names[i], &config);
}

/// Rewrites node `i`'s configuration with its peer's endpoint at `addr`.
pub fn set_endpoint(p: &Pair, i: usize, addr: &str) {
    edit_config(p, i, |c| {
        let at = std::net::SocketAddr::new(ip(addr), super::PORT);
        c.peers[0].endpoint = Some(Endpoint::from(at));
    });
}
