//! One peer's state: its configuration and precomputed keys, the pending
//! initiation, the replay and flood state of its initiations, its sessions
//! ([`KeyRing`]), its timers ([`Timers`]) and the packets queued for it.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use dybervpn_crypto::{CryptoBackend, MlDsaPublicKey, PresharedKey, X25519PublicKey};

use crate::cookie::CookieState;
use crate::handshake::{InitiatorHandshake, LocalIdentity, PeerCrypto};
use crate::keyring::KeyRing;
use crate::stats::PeerStats;
use crate::tai64n::Tai64n;
use crate::timers::Timers;
use crate::Mode;

/// A device-local handle of a peer. Never reused within a device's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub(crate) u64);

impl PeerId {
    /// The handle as a number (for logs and metrics labels).
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// A peer as the operator configures it.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The peer's static X25519 public key.
    pub public_key: X25519PublicKey,
    /// The handshake mode used with this peer; `None` takes the device's
    /// default mode. Handshakes of any other mode are refused.
    pub mode: Option<Mode>,
    /// WireGuard's optional pre-shared key (`psk` step); all zeros if none.
    pub preshared_key: Option<PresharedKey>,
    /// The peer's ML-DSA-65 public key; required for pq-only.
    pub mldsa_public_key: Option<MlDsaPublicKey>,
    /// Send a keepalive after this long without traffic, if set.
    pub persistent_keepalive: Option<Duration>,
    /// Where to send until the peer is heard from (it roams afterwards).
    pub endpoint: Option<SocketAddr>,
}

impl PeerConfig {
    /// A configuration with only the public key set (device default mode,
    /// no PSK, no keepalive, no endpoint).
    #[must_use]
    pub fn new(public_key: X25519PublicKey) -> Self {
        Self {
            public_key,
            mode: None,
            preshared_key: None,
            mldsa_public_key: None,
            persistent_keepalive: None,
            endpoint: None,
        }
    }
}

/// An initiation of ours awaiting its response.
pub(crate) struct Pending {
    pub(crate) state: InitiatorHandshake,
    /// When it was sent.
    pub(crate) sent_at: Duration,
    /// Where it was sent (the peer's endpoint then).
    pub(crate) sent_to: Option<SocketAddr>,
}

/// The mutable state of one peer; lives behind its own mutex in the device.
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) crypto: PeerCrypto,
    pub(crate) cookie: CookieState,
    pub(crate) endpoint: Option<SocketAddr>,
    /// The one pending initiation; a new one replaces it (and its index).
    /// Boxed: an idle peer holds a pointer instead of the whole state
    /// (128 bytes less per peer; the state is allocated per initiation).
    pub(crate) pending: Option<Box<Pending>>,
    /// Timestamp of the last authenticated initiation (replay protection).
    pub(crate) last_timestamp: Option<Tai64n>,
    /// When the last initiation was accepted (flood limit).
    pub(crate) last_initiation_consumed: Option<Duration>,
    pub(crate) keys: KeyRing,
    pub(crate) timers: Timers,
    pub(crate) queue: VecDeque<Vec<u8>>,
    /// A handshake should start as soon as the timers allow (rekey rules).
    pub(crate) handshake_due: bool,
    /// The queue can be sent: a session became usable.
    pub(crate) queue_ready: bool,
    pub(crate) stats: PeerStats,
    /// Taken out of the device by `remove_peer`: a handler that found the
    /// peer before that must not touch the index table for it.
    pub(crate) removed: bool,
}

impl Peer {
    pub(crate) fn new(
        b: &dyn CryptoBackend,
        local: &LocalIdentity,
        id: PeerId,
        mode: Mode,
        config: &PeerConfig,
    ) -> Self {
        let mut timers = Timers::new();
        timers.set_persistent_keepalive(config.persistent_keepalive);
        Self {
            id,
            crypto: PeerCrypto::new(
                b,
                local,
                mode,
                config.public_key,
                config
                    .preshared_key
                    .clone()
                    .unwrap_or_else(|| PresharedKey::from_bytes([0; 32])),
                config.mldsa_public_key.clone(),
            ),
            cookie: CookieState::new(b, &config.public_key),
            endpoint: config.endpoint,
            pending: None,
            last_timestamp: None,
            last_initiation_consumed: None,
            keys: KeyRing::new(),
            timers,
            queue: VecDeque::new(),
            handshake_due: false,
            queue_ready: false,
            stats: PeerStats::default(),
            removed: false,
        }
    }

    /// Statistics as of now.
    pub(crate) fn snapshot(&self) -> PeerStats {
        let mut s = self.stats.clone();
        s.endpoint = self.endpoint;
        s.queued = self.queue.len();
        s.failing_since = self.timers.failing_since();
        s.handshake_gave_up = self.timers.gave_up_at();
        s
    }
}
