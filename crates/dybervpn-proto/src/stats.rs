//! Counters a metrics layer and `dybervpn status` read: per-device drops by
//! reason, and per-peer traffic and handshake statistics.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ProtoError;
use crate::Mode;

/// Why the device dropped a datagram or a packet; one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Length wrong for the message type, or the type unknown.
    BadLength,
    /// Handshake message with a wrong mac1.
    BadMac1,
    /// Under load and no valid mac2: answered with a cookie reply instead.
    CookieRequired,
    /// The source address exceeded its handshake rate.
    RateLimited,
    /// The receiver index names nothing we have.
    UnknownIndex,
    /// An initiation from a static key no peer has.
    UnknownPeer,
    /// A handshake of another mode than the peer's (no downgrade).
    DowngradeRefused,
    /// A transport packet failed to authenticate.
    DecryptionFailure,
    /// An encrypted field of a handshake message or cookie reply failed to
    /// authenticate (a forged or corrupted one).
    HandshakeDecryption,
    /// A handshake carried a key that fails its check: an ML-KEM-768
    /// encapsulation key outside FIPS 203's bounds, or an X25519 point of
    /// small order.
    BadHandshakeKey,
    /// An ML-DSA-65 signature did not verify.
    BadSignature,
    /// A replayed transport counter.
    Replay,
    /// A replayed initiation: its TAI64N timestamp is not newer than the
    /// last accepted from the peer.
    StaleTimestamp,
    /// The peer exceeded the initiation flood limit.
    InitiationFlood,
    /// A response to an initiation no longer pending.
    StaleHandshake,
    /// A decrypted packet was not a well-formed IP packet.
    BadInnerPacket,
    /// A packet to send found the peer's queue full (the oldest was dropped).
    QueueFull,
    /// A transport packet under a session past its reject limits.
    SessionExpired,
    /// Anything else: a local failure (a buffer too small, a backend
    /// error).
    Other,
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 19] = [
        Self::BadLength,
        Self::BadMac1,
        Self::CookieRequired,
        Self::RateLimited,
        Self::UnknownIndex,
        Self::UnknownPeer,
        Self::DowngradeRefused,
        Self::DecryptionFailure,
        Self::HandshakeDecryption,
        Self::BadHandshakeKey,
        Self::BadSignature,
        Self::Replay,
        Self::StaleTimestamp,
        Self::InitiationFlood,
        Self::StaleHandshake,
        Self::BadInnerPacket,
        Self::QueueFull,
        Self::SessionExpired,
        Self::Other,
    ];

    /// A stable snake_case name for metrics labels.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::BadLength => "bad_length",
            Self::BadMac1 => "bad_mac1",
            Self::CookieRequired => "cookie_required",
            Self::RateLimited => "rate_limited",
            Self::UnknownIndex => "unknown_index",
            Self::UnknownPeer => "unknown_peer",
            Self::DowngradeRefused => "downgrade_refused",
            Self::DecryptionFailure => "decryption_failure",
            Self::HandshakeDecryption => "handshake_decryption",
            Self::BadHandshakeKey => "bad_handshake_key",
            Self::BadSignature => "bad_signature",
            Self::Replay => "replay",
            Self::StaleTimestamp => "stale_timestamp",
            Self::InitiationFlood => "initiation_flood",
            Self::StaleHandshake => "stale_handshake",
            Self::BadInnerPacket => "bad_inner_packet",
            Self::QueueFull => "queue_full",
            Self::SessionExpired => "session_expired",
            Self::Other => "other",
        }
    }

    /// The counter a refused datagram goes to.
    #[must_use]
    pub fn of(e: &ProtoError) -> Self {
        match e {
            ProtoError::BadLength | ProtoError::UnknownMessageType => Self::BadLength,
            ProtoError::BadMac1 => Self::BadMac1,
            ProtoError::CookieRequired => Self::CookieRequired,
            ProtoError::RateLimited => Self::RateLimited,
            ProtoError::UnknownIndex => Self::UnknownIndex,
            ProtoError::UnknownPeer => Self::UnknownPeer,
            ProtoError::DowngradeRefused { .. } => Self::DowngradeRefused,
            ProtoError::Decryption => Self::HandshakeDecryption,
            ProtoError::TransportDecryption => Self::DecryptionFailure,
            ProtoError::BadSignature => Self::BadSignature,
            ProtoError::ReplayedTimestamp => Self::StaleTimestamp,
            ProtoError::Replay => Self::Replay,
            ProtoError::InitiationFlood => Self::InitiationFlood,
            ProtoError::InvalidKemKey | ProtoError::LowOrderPoint => Self::BadHandshakeKey,
            ProtoError::UnexpectedResponse => Self::StaleHandshake,
            ProtoError::SessionExpired => Self::SessionExpired,
            ProtoError::BadInnerPacket => Self::BadInnerPacket,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Lock-free drop counters, one per [`DropReason`].
#[derive(Debug, Default)]
pub(crate) struct DropCounters([AtomicU64; DropReason::ALL.len()]);

impl DropCounters {
    pub(crate) fn count(&self, reason: DropReason) {
        if let Some(c) = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.0.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self, reason: DropReason) -> u64 {
        DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.0.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// A snapshot of one peer's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Bytes of every datagram from this peer that authenticated: transport
    /// messages whole (header, padding, tag; keepalives too) and handshake
    /// messages. This is what WireGuard implementations count, so `wg show`
    /// agrees across them.
    pub rx_bytes: u64,
    /// Bytes of every datagram sent to this peer, counted the same way.
    pub tx_bytes: u64,
    /// Transport messages authenticated (keepalives included).
    pub rx_packets: u64,
    /// Transport messages sent (keepalives included).
    pub tx_packets: u64,
    /// Wall-clock time (since the Unix epoch) of the last handshake
    /// completed: on the initiator when the response arrived, on the
    /// responder at key confirmation (as in the kernel module).
    pub last_handshake: Option<Duration>,
    /// Monotonic time of that handshake (the caller's [`crate::Now::mono`]):
    /// its age for health checks, which a wall-clock step must not move.
    pub last_handshake_mono: Option<Duration>,
    /// The mode that handshake used.
    pub last_handshake_mode: Option<Mode>,
    /// Handshakes completed with this peer.
    pub handshakes: u64,
    /// The address authenticated packets last came from (or the configured
    /// endpoint).
    pub endpoint: Option<SocketAddr>,
    /// Packets waiting for a session.
    pub queued: usize,
    /// Monotonic time of the first initiation since the last completed
    /// handshake, if the peer has not been reached since: how long we have
    /// been failing to reach it (across give-ups and new attempts).
    pub failing_since: Option<Duration>,
    /// Monotonic time the last attempt was given up (after its retries), if
    /// no attempt has started and no handshake has completed since.
    pub handshake_gave_up: Option<Duration>,
}

impl PeerStats {
    /// A handshake in `mode` completed at `now`.
    pub(crate) fn handshake_completed(&mut self, now: crate::Now, mode: Mode) {
        self.last_handshake = Some(now.unix);
        self.last_handshake_mono = Some(now.mono);
        self.last_handshake_mode = Some(mode);
        self.handshakes += 1;
    }
}
