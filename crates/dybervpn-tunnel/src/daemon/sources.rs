//! The local address each peer was last reached at, so that a host with
//! several addresses answers from the one its peer sent to, as the
//! kernel's WireGuard does ("sticky sockets").
//!
//! A server known by its second address (a floating or additional one)
//! would otherwise answer from whichever address the route back picks: a
//! NAT or stateful firewall in front of the peer drops such answers, and a
//! peer that does get them roams to an address it never chose.
//!
//! The UDP readers learn, from each authenticated datagram's packet info,
//! the pair (peer's endpoint, local address it reached); sends to that
//! endpoint then name that address as their source. A send the kernel
//! refuses with it (the address was removed) goes again without it, and the
//! pair is forgotten until the next datagram teaches it again.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

use dybervpn_proto::PeerId;

/// Per peer (a [`PeerId`], never reused within a device's life): the
/// endpoint a datagram came from and the local address it was sent to.
#[derive(Debug)]
pub(crate) struct Sources<K = PeerId> {
    map: RwLock<HashMap<K, (SocketAddr, IpAddr)>>,
}

impl<K> Default for Sources<K> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

/// Whether `local` can be named as a source without more context: not an
/// IPv6 link-local address, which would need its interface index too.
fn usable(local: IpAddr) -> bool {
    match local {
        IpAddr::V4(ip) => !ip.is_unspecified() && !ip.is_multicast(),
        IpAddr::V6(ip) => {
            !ip.is_unspecified() && !ip.is_multicast() && (ip.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

impl<K: Copy + Eq + Hash> Sources<K> {
    /// `peer`'s datagram from `remote` reached `local`. Takes the write lock
    /// only when that changes what was known.
    pub(crate) fn learn(&self, peer: K, remote: SocketAddr, local: Option<IpAddr>) {
        let Some(local) = local.filter(|l| usable(*l)) else {
            return;
        };
        let known = self
            .map
            .read()
            .is_ok_and(|m| m.get(&peer) == Some(&(remote, local)));
        if !known {
            if let Ok(mut m) = self.map.write() {
                m.insert(peer, (remote, local));
            }
        }
    }

    /// The source address for a datagram to `peer` at `to`: the local
    /// address `to` last reached, if `to` is still where `peer` spoke from.
    pub(crate) fn get(&self, peer: Option<K>, to: SocketAddr) -> Option<IpAddr> {
        let peer = peer?;
        let m = self.map.read().ok()?;
        m.get(&peer)
            .filter(|(remote, _)| *remote == to)
            .map(|(_, local)| *local)
    }

    /// Forgets `peer`'s source (refused by the kernel, or the peer removed).
    pub(crate) fn forget(&self, peer: Option<K>) {
        if let (Some(peer), Ok(mut m)) = (peer, self.map.write()) {
            m.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn a_source_holds_for_the_endpoint_it_was_learned_from() {
        let sources = Sources::<u64>::default();
        let (p, q) = (1, 2);
        let local = Some(IpAddr::from([10, 0, 0, 3]));
        sources.learn(p, sa("192.0.2.7:51820"), local);
        assert_eq!(sources.get(Some(p), sa("192.0.2.7:51820")), local);
        // Another endpoint (the peer roamed, or was reconfigured), another
        // peer, or no peer: the kernel picks.
        assert_eq!(sources.get(Some(p), sa("192.0.2.8:51820")), None);
        assert_eq!(sources.get(Some(q), sa("192.0.2.7:51820")), None);
        assert_eq!(sources.get(None, sa("192.0.2.7:51820")), None);
        // Learning again replaces; forgetting removes.
        let other = Some(IpAddr::from([10, 0, 0, 4]));
        sources.learn(p, sa("192.0.2.7:51820"), other);
        assert_eq!(sources.get(Some(p), sa("192.0.2.7:51820")), other);
        sources.forget(Some(p));
        assert_eq!(sources.get(Some(p), sa("192.0.2.7:51820")), None);
    }

    #[test]
    fn link_local_and_missing_addresses_are_not_learned() {
        let sources = Sources::<u64>::default();
        let p = 1;
        let to = sa("[2001:db8::7]:51820");
        sources.learn(p, to, Some("fe80::1".parse().expect("ip")));
        sources.learn(p, to, None);
        assert_eq!(sources.get(Some(p), to), None);
        sources.learn(p, to, Some("2001:db8::3".parse().expect("ip")));
        assert_eq!(
            sources.get(Some(p), to),
            Some("2001:db8::3".parse().expect("ip"))
        );
    }
}
