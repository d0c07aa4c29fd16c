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
    pub fn set(&mut self, id: PeerId, info: PeerInfo) {
        self.routes.remove_by_value(&id);
        for p in &info.allowed_ips {
            self.routes.insert(*p, id);
        }
        // Prefixes taken from other peers leave their lists too.
        for (other, entry) in &mut self.peers {
            if *other != id {
                entry.allowed_ips.retain(|p| !info.allowed_ips.contains(p));
            }
        }
        self.by_key.insert(info.public_key, id);
        self.peers.insert(id, info);
    }

    /// Removes a peer and its routes.
    pub fn remove(&mut self, id: PeerId) -> Option<PeerInfo> {
        self.routes.remove_by_value(&id);
        let info = self.peers.remove(&id)?;
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
