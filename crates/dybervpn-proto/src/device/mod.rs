//! The device: this node's identity, its peers, the index table, and the
//! cookie, load and rate-limit state. Its methods are the protocol core's
//! public API (`docs/protocol.md` §8).
//!
//! Sans-IO: every call takes the time ([`Now`]) and the caller's buffers, and
//! returns an [`Action`]. Nothing here reads a clock or touches a socket.
//!
//! Concurrency: every method takes `&self`. Locks, always taken in this
//! order and never the other way round:
//!
//! 1. `peers` (the table of peers, read-mostly);
//! 2. one peer's mutex;
//! 3. `index` (receiver index → session or pending handshake, read-mostly).
//!
//! The data path takes `index` for reading just long enough to clone an
//! `Arc<Session>`, runs the AEAD with no lock held, and then takes the
//! peer's mutex briefly for timers and statistics. No allocation happens per
//! transport packet, except for packets queued while no session exists.

mod data;
mod handshake;
mod tick;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use dybervpn_crypto::{CryptoBackend, MlDsaKeyPair, X25519PublicKey, X25519SecretKey};

use crate::cookie::CookieChecker;
use crate::error::{ConfigError, ProtoError};
use crate::handshake::{LocalIdentity, PeerCrypto};
use crate::messages::{handshake_macs, MacFields, MessageType};
use crate::peer::{Peer, PeerConfig, PeerId};
use crate::ratelimit::RateLimiter;
use crate::session::Session;
use crate::stats::{DropCounters, DropReason, PeerStats};
use crate::{Mode, Now};

use crate::tuning::{MAC1_BATCH, UNDER_LOAD_HANDSHAKES_PER_SECOND, UNDER_LOAD_HOLD};

/// The default MTU of the tunnel interface: transport plaintexts are padded
/// to a multiple of 16 bytes but never beyond it.
pub const DEFAULT_MTU: usize = 1420;

/// Whether a handshake message's mac1 was already checked, in a batch
/// ([`Device::decapsulate_many`]), and with what result. Only this module
/// makes `Checked`, right after checking the very message it goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mac1 {
    Unchecked,
    Checked(bool),
}

/// What the caller should do after a call.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an Action may carry a datagram to send or a packet to deliver"]
#[non_exhaustive]
pub enum Action<'a> {
    /// Nothing to do.
    None,
    /// Send `datagram` (it lives in the caller's output buffer) to `to`.
    SendToNetwork {
        /// The destination address.
        to: SocketAddr,
        /// The bytes to send.
        datagram: &'a [u8],
        /// The peer it is for; `None` for cookie replies to unauthenticated
        /// sources.
        peer: Option<PeerId>,
    },
    /// Write `packet` (an IP packet, in the caller's output buffer) to the
    /// tunnel interface. The caller checks the packet's source address
    /// against `peer`'s allowed IPs.
    DeliverToTunnel {
        /// The peer it came from.
        peer: PeerId,
        /// The decrypted IP packet.
        packet: &'a [u8],
    },
    /// An authenticated keepalive from `peer`: nothing to send or deliver.
    /// It still tells the caller where the peer is (the datagram's source,
    /// and the local address it reached), as a data packet would.
    Keepalive {
        /// The peer it came from.
        peer: PeerId,
    },
}

/// What a receiver index names.
#[derive(Clone)]
enum IndexEntry {
    /// A pending initiation of this peer.
    Handshake(PeerId),
    /// A session of this peer.
    Session(PeerId, Arc<Session>),
}

impl IndexEntry {
    fn peer(&self) -> PeerId {
        match self {
            Self::Handshake(p) | Self::Session(p, _) => *p,
        }
    }
}

#[derive(Default)]
struct PeerTable {
    /// Ordered by id, so a timer round can resume where the last call
    /// stopped (see `update_timers`).
    by_id: BTreeMap<PeerId, Arc<Mutex<Peer>>>,
    by_key: HashMap<X25519PublicKey, PeerId>,
    next_id: u64,
}

#[derive(Default)]
struct Load {
    window_start: Duration,
    count: u32,
    /// Under load until then: set whenever a second's count passes the
    /// threshold, so a sustained flood keeps the device under load across
    /// the window boundaries instead of getting the first
    /// [`UNDER_LOAD_HANDSHAKES_PER_SECOND`] messages of every second
    /// processed in full.
    hold_until: Duration,
    forced: Option<bool>,
}

/// The protocol core for one interface; see the module documentation.
pub struct Device {
    backend: Arc<dyn CryptoBackend>,
    local: LocalIdentity,
    mode: Mode,
    mtu: std::sync::atomic::AtomicUsize,
    checker: CookieChecker,
    peers: RwLock<PeerTable>,
    index: RwLock<HashMap<u32, IndexEntry>>,
    load: Mutex<Load>,
    limiter: Mutex<RateLimiter>,
    /// The first peer the next `update_timers` call looks at.
    timer_cursor: Mutex<PeerId>,
    /// See [`Device::deadline_after_round`].
    round_deadline: Mutex<Option<Duration>>,
    /// Set when a packet made timer work due at once (see
    /// [`Device::take_timers_due`]).
    timers_due: std::sync::atomic::AtomicBool,
    drops: DropCounters,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("public_key", &self.local.public)
            .field("mode", &self.mode)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No state guarded here is left half-updated by a panic that matters
    // more than refusing service would, so a poisoned lock is still used.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks a peer found through the table, unless it was removed since:
/// between the lookup and the lock, `remove_peer` may have taken it out
/// and freed its indices. A handler that went on would put an entry for
/// it in the index table that nothing frees, and keep its keys alive.
fn lock_live(peer: &Mutex<Peer>) -> Option<MutexGuard<'_, Peer>> {
    Some(lock(peer)).filter(|p| !p.removed)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl Device {
    /// Creates a device with its static private key, the default mode for
    /// peers whose configuration names none, and its ML-DSA-65 key pair
    /// (required if any peer is pq-only).
    pub fn new(
        static_private: X25519SecretKey,
        mode: Mode,
        mldsa: Option<MlDsaKeyPair>,
        backend: Arc<dyn CryptoBackend>,
    ) -> Result<Self, ConfigError> {
        if mode == Mode::PqOnly && mldsa.is_none() {
            return Err(ConfigError::MissingMlDsaKey {
                whose: "the device's ML-DSA-65 signing key".into(),
            });
        }
        let public = backend
            .x25519_public_key(&static_private)
            .map_err(ConfigError::BadStaticKey)?;
        let local = LocalIdentity {
            private: static_private,
            public,
            mldsa,
        };
        Ok(Self {
            checker: CookieChecker::new(&*backend, &public),
            backend,
            local,
            mode,
            mtu: DEFAULT_MTU.into(),
            peers: RwLock::default(),
            index: RwLock::default(),
            load: Mutex::default(),
            limiter: Mutex::new(RateLimiter::new()),
            timer_cursor: Mutex::new(PeerId(0)),
            round_deadline: Mutex::new(Some(Duration::ZERO)),
            timers_due: std::sync::atomic::AtomicBool::new(false),
            drops: DropCounters::default(),
        })
    }

    /// This device's static public key.
    #[must_use]
    pub fn public_key(&self) -> X25519PublicKey {
        self.local.public
    }

    /// The device's default mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sets the tunnel MTU used to bound padding.
    pub fn set_mtu(&self, mtu: usize) {
        self.mtu.store(mtu, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a packet since the last call made [`Device::update_timers`]
    /// work due at once, and clears the flag. A responder's queued packets
    /// become sendable when the initiator's first transport message
    /// confirms the session; a packet `encapsulate` queues may find that a
    /// session became usable meanwhile. A caller that drives the timers
    /// from another thread checks this after receiving or sending (one
    /// atomic swap) and wakes that thread, instead of waiting for its next
    /// deadline.
    pub fn take_timers_due(&self) -> bool {
        self.timers_due
            .swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Forces the under-load state (`Some`) or returns to measuring it
    /// (`None`). A daemon that knows its receive-queue depth can drive this.
    pub fn set_under_load(&self, forced: Option<bool>) {
        lock(&self.load).forced = forced;
    }

    fn validate(&self, config: &PeerConfig, mode: Mode) -> Result<(), ConfigError> {
        if config.public_key == self.local.public {
            return Err(ConfigError::PeerIsSelf);
        }
        if mode == Mode::PqOnly {
            if self.local.mldsa.is_none() {
                return Err(ConfigError::MissingMlDsaKey {
                    whose: "the device's ML-DSA-65 signing key".into(),
                });
            }
            if config.mldsa_public_key.is_none() {
                return Err(ConfigError::MissingMlDsaKey {
                    whose: format!(
                        "the ML-DSA-65 public key of peer {}",
                        dybervpn_crypto::encoding::to_base64(config.public_key.as_bytes())
                    ),
                });
            }
        }
        Ok(())
    }

    /// Adds a peer. A pq-only peer needs ML-DSA-65 keys on both sides.
    pub fn add_peer(&self, config: PeerConfig) -> Result<PeerId, ConfigError> {
        let mode = config.mode.unwrap_or(self.mode);
        self.validate(&config, mode)?;
        let mut table = write(&self.peers);
        if table.by_key.contains_key(&config.public_key) {
            return Err(ConfigError::DuplicatePeer {
                public_key: dybervpn_crypto::encoding::to_base64(config.public_key.as_bytes()),
            });
        }
        let id = PeerId(table.next_id);
        table.next_id += 1;
        let peer = Peer::new(&*self.backend, &self.local, id, mode, &config);
        table.by_key.insert(config.public_key, id);
        table.by_id.insert(id, Arc::new(Mutex::new(peer)));
        self.timers_changed();
        Ok(id)
    }

    /// Changes a peer's mode, pre-shared key, ML-DSA-65 key, keepalive or
    /// endpoint. The public key cannot change (remove and add instead).
    /// Established sessions are kept. A handshake in another mode that is
    /// not finished is abandoned: one this side started (its response would
    /// set up a session in the mode the peer no longer has), and one it
    /// answered whose session still waits for the initiator's first packet.
    /// The next starts in the new mode.
    pub fn update_peer(&self, id: PeerId, config: PeerConfig) -> Result<(), ConfigError> {
        let mode = config.mode.unwrap_or(self.mode);
        self.validate(&config, mode)?;
        let peer = self.peer(id).ok_or(ConfigError::NoSuchPeer)?;
        let mut peer = lock(&peer);
        if peer.crypto.remote_static != config.public_key {
            return Err(ConfigError::PublicKeyChanged);
        }
        if peer.crypto.mode != mode {
            if let Some(pending) = peer.pending.take() {
                self.free_indices(std::iter::once(pending.state.local_index));
            }
            let retired = peer.keys.drop_next();
            self.free_indices(retired.indices());
        }
        peer.crypto = PeerCrypto::new(
            &*self.backend,
            &self.local,
            mode,
            config.public_key,
            config
                .preshared_key
                .unwrap_or_else(|| dybervpn_crypto::PresharedKey::from_bytes([0; 32])),
            config.mldsa_public_key,
        );
        peer.timers
            .set_persistent_keepalive(config.persistent_keepalive);
        if config.endpoint.is_some() {
            peer.endpoint = config.endpoint;
        }
        drop(peer);
        self.timers_changed();
        Ok(())
    }

    /// Removes a peer; its sessions are invalidated and their indices freed.
    pub fn remove_peer(&self, id: PeerId) -> Result<(), ProtoError> {
        let removed = {
            let mut table = write(&self.peers);
            let peer = table.by_id.remove(&id).ok_or(ProtoError::NoSuchPeer)?;
            table.by_key.retain(|_, v| *v != id);
            peer
        };
        let mut peer = lock(&removed);
        peer.removed = true;
        let retired = peer.keys.clear();
        let pending = peer.pending.take().map(|p| p.state.local_index);
        peer.queue.clear();
        let mut index = write(&self.index);
        for i in retired.indices().chain(pending) {
            index.remove(&i);
        }
        Ok(())
    }

    /// The handles of every peer.
    #[must_use]
    pub fn peers(&self) -> Vec<PeerId> {
        read(&self.peers).by_id.keys().copied().collect()
    }

    /// The peer with this static public key.
    #[must_use]
    pub fn peer_by_key(&self, key: &X25519PublicKey) -> Option<PeerId> {
        read(&self.peers).by_key.get(key).copied()
    }

    /// A peer's statistics.
    #[must_use]
    pub fn peer_stats(&self, id: PeerId) -> Option<PeerStats> {
        self.peer(id).map(|p| lock(&p).snapshot())
    }

    /// How many datagrams were dropped for `reason`.
    #[must_use]
    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops.get(reason)
    }

    /// Every drop counter.
    #[must_use]
    pub fn drop_counts(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops.get(*r)))
            .collect()
    }

    fn peer(&self, id: PeerId) -> Option<Arc<Mutex<Peer>>> {
        read(&self.peers).by_id.get(&id).cloned()
    }

    /// Processes one datagram received from `src`. `out` receives what is
    /// to be sent or delivered; it must hold at least the datagram's length
    /// (and 148 bytes for cookie replies).
    ///
    /// Errors are refusals, already counted in [`Device::drop_counts`];
    /// the caller only logs them (at a rate it limits) and goes on.
    pub fn decapsulate<'o>(
        &self,
        now: Now,
        src: SocketAddr,
        datagram: &[u8],
        out: &'o mut [u8],
    ) -> Result<Action<'o>, ProtoError> {
        self.decapsulate_with(now, src, datagram, out, Mac1::Unchecked)
    }

    /// Processes several datagrams, each from its own source, in order:
    /// calls `each` with the datagram's position and what
    /// [`Device::decapsulate`] would have returned for it at the time
    /// `now` gives just before (the caller's clock: one message may be a
    /// whole handshake, a millisecond in pq-only), the action written to
    /// `out` (which each call reuses).
    ///
    /// The difference is the cost: the mac1 of the handshake messages among
    /// them are computed together, [`MAC1_BATCH`] at a time, which a SIMD
    /// BLAKE2s does in about a quarter of the time of one after the other.
    /// mac1 is the first check of every handshake message, and all a flood
    /// of them with a wrong mac1 costs; a handshake worker that finds
    /// several messages waiting hands them over together.
    pub fn decapsulate_many(
        &self,
        mut now: impl FnMut() -> Now,
        datagrams: &[(SocketAddr, &[u8])],
        out: &mut [u8],
        mut each: impl FnMut(usize, Result<Action<'_>, ProtoError>),
    ) {
        let b = &*self.backend;
        for (chunk_no, chunk) in datagrams.chunks(MAC1_BATCH).enumerate() {
            let mut macs: [Option<MacFields<'_>>; MAC1_BATCH] = [None; MAC1_BATCH];
            for (m, (_, datagram)) in macs.iter_mut().zip(chunk) {
                *m = handshake_macs(datagram);
            }
            let mut valid = [None; MAC1_BATCH];
            self.checker.mac1_valid_many(b, &macs, &mut valid);
            for (i, ((src, datagram), valid)) in chunk.iter().zip(valid).enumerate() {
                let mac1 = valid.map_or(Mac1::Unchecked, Mac1::Checked);
                let result = self.decapsulate_with(now(), *src, datagram, out, mac1);
                each(chunk_no * MAC1_BATCH + i, result);
            }
        }
    }

    fn decapsulate_with<'o>(
        &self,
        now: Now,
        src: SocketAddr,
        datagram: &[u8],
        out: &'o mut [u8],
        mac1: Mac1,
    ) -> Result<Action<'o>, ProtoError> {
        let result = match MessageType::of(datagram) {
            Ok(MessageType::Initiation(_)) => self.handle_initiation(now, src, datagram, out, mac1),
            Ok(MessageType::Response(_)) => self.handle_response(now, src, datagram, out, mac1),
            Ok(MessageType::CookieReply) => self.handle_cookie_reply(now, datagram),
            Ok(MessageType::Transport) => self.handle_transport(now, src, datagram, out),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            if e.kind() == crate::ErrorKind::Peer {
                self.drops.count(DropReason::of(e));
            }
        }
        result
    }

    /// Allocates a fresh random receiver index for `entry`.
    fn allocate_index(&self, entry: IndexEntry) -> Result<u32, ProtoError> {
        let mut index = write(&self.index);
        loop {
            let mut bytes = [0u8; 4];
            self.backend
                .fill_random(&mut bytes)
                .map_err(ProtoError::Crypto)?;
            let candidate = u32::from_le_bytes(bytes);
            if let std::collections::hash_map::Entry::Vacant(v) = index.entry(candidate) {
                v.insert(entry);
                return Ok(candidate);
            }
        }
    }

    /// Frees receiver indices; the index lock (which every transport
    /// packet takes for reading) is taken only if there is one to free.
    fn free_indices(&self, indices: impl Iterator<Item = u32>) {
        let mut indices = indices.peekable();
        if indices.peek().is_none() {
            return;
        }
        let mut index = write(&self.index);
        for i in indices {
            index.remove(&i);
        }
    }

    fn lookup_index(&self, i: u32) -> Option<IndexEntry> {
        read(&self.index).get(&i).cloned()
    }

    /// A peer's configuration changed: the deadline the last round of
    /// timers noted no longer holds ([`Device::deadline_after_round`] says
    /// "now" until the next round).
    fn timers_changed(&self) {
        *lock(&self.round_deadline) = Some(Duration::ZERO);
    }

    /// Counts a handshake message and says whether we are under load.
    fn under_load(&self, now: Duration) -> bool {
        let mut load = lock(&self.load);
        if now.saturating_sub(load.window_start) >= Duration::from_secs(1) {
            load.window_start = now;
            load.count = 0;
        }
        load.count = load.count.saturating_add(1);
        if load.count > UNDER_LOAD_HANDSHAKES_PER_SECOND {
            load.hold_until = now.saturating_add(UNDER_LOAD_HOLD);
        }
        load.forced.unwrap_or(now < load.hold_until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that found a peer just before `remove_peer` took it out
    /// holds a handle to it; locking that handle must now refuse, so the
    /// handler puts nothing in the index table for a peer that is gone.
    #[test]
    fn a_handle_taken_before_removal_is_refused() {
        let b = dybervpn_crypto::backend(dybervpn_crypto::BackendKind::AwsLc);
        let (secret, _) = b.x25519_generate().expect("keygen");
        let d = Device::new(secret, Mode::Hybrid, None, b.clone()).expect("device");
        let (_, public) = b.x25519_generate().expect("keygen");
        let id = d.add_peer(PeerConfig::new(public)).expect("peer");
        let handle = d.peer(id).expect("handle");
        assert!(lock_live(&handle).is_some(), "a live peer is usable");
        d.remove_peer(id).expect("remove");
        assert!(lock_live(&handle).is_none(), "a removed peer was usable");
        assert!(read(&d.index).is_empty());
    }
}
