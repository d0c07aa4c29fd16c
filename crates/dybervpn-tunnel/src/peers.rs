//! The daemon's peer table: what the operator configured for each peer
//! (the protocol core keeps only what it needs for handshakes), and the
//! allowed-IPs table that routes packets to peers and checks the sources of
//! packets from them.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dybervpn_crypto::{MlDsaPublicKey, PresharedKey, X25519PublicKey};
use dybervpn_proto::{Mode, PeerId};

use crate::allowed_ips::AllowedIps;
use crate::prefix::Prefix;

/// One peer as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The operator's name for the peer (logs and metrics), if any.
    pub name: Option<String>,
    /// Static X25519 public key.
    pub public_key: X25519PublicKey,
    /// Handshake mode.
    pub mode: Mode,
    /// ML-DSA-65 public key (pq-only).
    pub mldsa_public_key: Option<MlDsaPublicKey>,
    /// Pre-shared key.
    pub preshared_key: Option<PresharedKey>,
    /// Persistent keepalive in seconds; 0 is off.
    pub persistent_keepalive: u16,
    /// The configured endpoint (the core tracks the current one).
    pub endpoint: Option<SocketAddr>,
    /// Allowed IPs, sorted.
    pub allowed_ips: Vec<Prefix>,
}

impl PeerInfo {
    /// A peer with only its key and mode.
    #[must_use]
    pub fn new(public_key: X25519PublicKey, mode: Mode) -> Self {
        Self {
            name: None,
            public_key,
            mode,
            mldsa_public_key: None,
            preshared_key: None,
            persistent_keepalive: 0,
            endpoint: None,
            allowed_ips: Vec::new(),
        }
    }

    /// The name for logs and metrics: the configured name, else the key's
    /// fingerprint (never the key itself).
    #[must_use]
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| dybervpn_crypto::encoding::fingerprint(self.public_key.as_bytes()))
    }

    /// The protocol core's view of this peer.
    #[must_use]
    pub fn to_proto(&self) -> dybervpn_proto::PeerConfig {
        let mut c = dybervpn_proto::PeerConfig::new(self.public_key);
        c.mode = Some(self.mode);
        c.preshared_key.clone_from(&self.preshared_key);
        c.mldsa_public_key.clone_from(&self.mldsa_public_key);
        c.persistent_keepalive = (self.persistent_keepalive != 0)
            .then(|| Duration::from_secs(u64::from(self.persistent_keepalive)));
        c.endpoint = self.endpoint;
        c
    }

    /// Whether a change from `self` to `other` needs the core told
    /// (anything but the allowed IPs).
    #[must_use]
    pub fn core_differs(&self, other: &Self) -> bool {
        self.mode != other.mode
            || self.mldsa_public_key != other.mldsa_public_key
            || self.preshared_key != other.preshared_key
            || self.persistent_keepalive != other.persistent_keepalive
            || self.endpoint != other.endpoint
    }
}

/// Peers by handle, and the routing table over their allowed IPs.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: HashMap<PeerId, PeerInfo>,
    by_key: HashMap<X25519PublicKey, PeerId>,
    routes: AllowedIps<PeerId>,
}

impl PeerTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `id`'s entry and its routes. A prefix another peer
    /// had moves to this one, as in WireGuard.
    ///
    /// Costs the number of prefixes involved, not the number of peers:
    /// `up` calls it once per peer, so 10,000 peers stay linear.
    pub fn set(&mut self, id: PeerId, info: PeerInfo) {
        if let Some(old) = self.peers.get(&id) {
            unroute(&mut self.routes, id, &old.allowed_ips);
        }
        for p in &info.allowed_ips {
            match self.routes.insert(*p, id) {
                // Taken from another peer: it leaves that peer's list too.
                Some(other) if other != id => {
                    if let Some(entry) = self.peers.get_mut(&other) {
                        entry.allowed_ips.retain(|q| q != p);
                    }
                }
                _ => {}
            }
        }
        if let Some(old) = self.peers.get(&id) {
            if old.public_key != info.public_key {
                self.by_key.remove(&old.public_key);
            }
        }
        self.by_key.insert(info.public_key, id);
        self.peers.insert(id, info);
    }

    /// Removes a peer and its routes.
    pub fn remove(&mut self, id: PeerId) -> Option<PeerInfo> {
        let info = self.peers.remove(&id)?;
        unroute(&mut self.routes, id, &info.allowed_ips);
        self.by_key.remove(&info.public_key);
        Some(info)
    }

    /// Sets the name of the peer with this key, if there is one.
    pub fn set_name(&mut self, key: &X25519PublicKey, name: Option<String>) {
        if let Some(info) = self.by_key(key).and_then(|id| self.peers.get_mut(&id)) {
            info.name = name;
        }
    }

    /// The peer routed for destination `dst` (longest prefix match).
    #[must_use]
    pub fn route(&self, dst: IpAddr) -> Option<PeerId> {
        self.routes.lookup(dst).copied()
    }

    /// Whether `peer` may send packets from `src`.
    #[must_use]
    pub fn source_allowed(&self, peer: PeerId, src: IpAddr) -> bool {
        self.routes.lookup(src) == Some(&peer)
    }

    /// A peer's entry.
    #[must_use]
    pub fn get(&self, id: PeerId) -> Option<&PeerInfo> {
        self.peers.get(&id)
    }

    /// The handle of the peer with this key.
    #[must_use]
    pub fn by_key(&self, key: &X25519PublicKey) -> Option<PeerId> {
        self.by_key.get(key).copied()
    }

    /// Every peer, sorted by public key (stable output).
    #[must_use]
    pub fn sorted(&self) -> Vec<(PeerId, &PeerInfo)> {
        let mut v: Vec<_> = self.peers.iter().map(|(id, i)| (*id, i)).collect();
        v.sort_by_key(|a| a.1.public_key);
        v
    }

    /// Every allowed IP of every peer.
    #[must_use]
    pub fn all_allowed_ips(&self) -> Vec<Prefix> {
        self.routes.iter().map(|(p, _)| p).collect()
    }
}

/// Removes `id`'s routes for `prefixes`, leaving any of them that another
/// peer has taken since.
fn unroute(routes: &mut AllowedIps<PeerId>, id: PeerId, prefixes: &[Prefix]) {
    for p in prefixes {
        if routes.get(*p) == Some(&id) {
            routes.remove(*p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> X25519PublicKey {
        X25519PublicKey([n; 32])
    }

    fn prefix(n: u64) -> Prefix {
        // A small pool, /24s and /32s, so prefixes collide and move.
        let host = u8::try_from(n % 6).unwrap_or(0);
        let len = if n.is_multiple_of(2) { 32 } else { 24 };
        Prefix::new(IpAddr::from([10, 0, host, 1]), len).expect("valid")
    }

    /// After any sequence of `set` and `remove`, each peer's list holds
    /// exactly the prefixes the routing table maps to it (checked against
    /// the table's own scan, `prefixes_of`), and keys map back to ids.
    #[test]
    fn peer_lists_and_routes_agree_under_random_operations() {
        let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _round in 0..20 {
            let mut t = PeerTable::new();
            let core = dybervpn_proto::Device::new(
                dybervpn_crypto::X25519SecretKey::from_bytes([7; 32]),
                Mode::Classic,
                None,
                dybervpn_crypto::backend(dybervpn_crypto::BackendKind::default()),
            )
            .expect("device");
            let mut ids: Vec<PeerId> = Vec::new();
            for step in 0..400 {
                let slot = next() % 8;
                if next() % 4 == 0 {
                    if let Some(id) = ids.get(usize::try_from(slot).unwrap_or(0)).copied() {
                        t.remove(id);
                    }
                } else {
                    // Handles come from the core, one per key.
                    let k = key(u8::try_from(slot).unwrap_or(0));
                    let id = core.peer_by_key(&k).unwrap_or_else(|| {
                        core.add_peer(dybervpn_proto::PeerConfig::new(k))
                            .expect("peer")
                    });
                    let mut info = PeerInfo::new(k, Mode::Classic);
                    let mut allowed: Vec<Prefix> =
                        (0..next() % 4).map(|_| prefix(next())).collect();
                    allowed.sort();
                    allowed.dedup();
                    info.allowed_ips = allowed;
                    t.set(id, info);
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                for (id, info) in t.sorted() {
                    assert_eq!(
                        info.allowed_ips,
                        t.routes.prefixes_of(&id),
                        "step {step}: {id}"
                    );
                    assert_eq!(t.by_key(&info.public_key), Some(id));
                }
                let listed: usize = t.sorted().iter().map(|(_, i)| i.allowed_ips.len()).sum();
                assert_eq!(listed, t.routes.len(), "step {step}: no orphan routes");
            }
        }
    }
}
