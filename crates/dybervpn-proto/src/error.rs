//! Errors of the protocol core.
//!
//! [`ProtoError`] separates three kinds of failure (see [`ErrorKind`]): a
//! peer (or an attacker) sent something we refuse, the caller made a mistake
//! (a buffer too small, an unknown peer handle), or a local resource failed
//! (the random number generator). Operator configuration mistakes have their
//! own type, [`ConfigError`].

use std::fmt;

use dybervpn_crypto::CryptoError;

use crate::Mode;

/// Who is responsible for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The datagram came from a peer (or an attacker) and was refused.
    Peer,
    /// The caller used the API wrongly.
    Caller,
    /// A local resource (randomness, the backend) failed.
    Local,
}

/// Why a datagram or a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// The datagram's length does not match its message type.
    BadLength,
    /// The first four bytes name no message type we know.
    UnknownMessageType,
    /// A handshake message's mac1 is wrong (not meant for us, or corrupted).
    BadMac1,
    /// We are under load and the handshake message carried no valid mac2;
    /// a cookie reply was produced instead of processing it.
    CookieRequired,
    /// The source address exceeded its handshake rate.
    RateLimited,
    /// A response, cookie reply or transport message names a receiver index
    /// we do not have.
    UnknownIndex,
    /// A handshake initiation decrypted to a static key no configured peer
    /// has.
    UnknownPeer,
    /// A handshake of a mode other than the peer's configured mode: refused,
    /// never downgraded.
    DowngradeRefused {
        /// The mode configured for the peer.
        expected: Mode,
        /// The mode of the message received.
        received: Mode,
    },
    /// An AEAD field of a handshake or cookie reply failed to authenticate.
    Decryption,
    /// A transport packet failed to authenticate.
    TransportDecryption,
    /// An initiation's TAI64N timestamp is not newer than the last accepted
    /// one from the same peer (a replay).
    ReplayedTimestamp,
    /// The peer sent initiations faster than the per-peer flood limit.
    InitiationFlood,
    /// A transport packet's counter was already seen or is too old.
    Replay,
    /// An ML-DSA-65 signature in a pq-only handshake did not verify.
    BadSignature,
    /// The peer's ML-KEM-768 encapsulation key failed the FIPS 203 check.
    InvalidKemKey,
    /// A Diffie-Hellman result was all zeros (a low-order point).
    LowOrderPoint,
    /// A response arrived for an initiation that is no longer pending.
    UnexpectedResponse,
    /// The session's key has been used for too long or too many messages.
    SessionExpired,
    /// The peer sent a transport packet whose plaintext is not an IP packet
    /// of the length it claims.
    BadInnerPacket,
    /// The caller's output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// The minimum buffer size for this call.
        needed: usize,
    },
    /// The peer handle names no peer of this device.
    NoSuchPeer,
    /// The peer has no known endpoint to send to yet.
    NoEndpoint,
    /// A local cryptographic operation failed (randomness, key import).
    Crypto(CryptoError),
}

impl ProtoError {
    /// Who is responsible for this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BufferTooSmall { .. } | Self::NoSuchPeer | Self::NoEndpoint => ErrorKind::Caller,
            Self::Crypto(_) => ErrorKind::Local,
            _ => ErrorKind::Peer,
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength => f.write_str("datagram length does not match its message type"),
            Self::UnknownMessageType => f.write_str("unknown message type"),
            Self::BadMac1 => f.write_str("handshake message has an invalid mac1"),
            Self::CookieRequired => f.write_str("under load: handshake needs a valid cookie (mac2)"),
            Self::RateLimited => f.write_str("source address exceeded the handshake rate limit"),
            Self::UnknownIndex => f.write_str("message names an unknown receiver index"),
            Self::UnknownPeer => f.write_str("initiation from a static key that is not a configured peer"),
            Self::DowngradeRefused { expected, received } => write!(
                f,
                "refused a {received} handshake from a peer configured for {expected} (no downgrade)"
            ),
            Self::Decryption => f.write_str("handshake or cookie field failed to authenticate"),
            Self::TransportDecryption => f.write_str("transport packet failed to authenticate"),
            Self::ReplayedTimestamp => f.write_str("initiation timestamp is not newer than the last one (replay)"),
            Self::InitiationFlood => f.write_str("peer exceeded the initiation flood limit"),
            Self::Replay => f.write_str("transport counter replayed or too old"),
            Self::BadSignature => f.write_str("ML-DSA-65 handshake signature did not verify"),
            Self::InvalidKemKey => f.write_str("ML-KEM-768 encapsulation key failed the FIPS 203 check"),
            Self::LowOrderPoint => f.write_str("X25519 produced an all-zero result (low-order point)"),
            Self::UnexpectedResponse => f.write_str("response to an initiation that is not pending"),
            Self::SessionExpired => f.write_str("session keys expired"),
            Self::BadInnerPacket => f.write_str("decrypted packet is not a well-formed IP packet"),
            Self::BufferTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
            Self::NoSuchPeer => f.write_str("no such peer on this device"),
            Self::NoEndpoint => f.write_str("the peer has no endpoint to send to yet"),
            Self::Crypto(e) => write!(f, "local cryptographic failure: {e}"),
        }
    }
}

impl std::error::Error for ProtoError {}

/// Maps a backend failure during the handshake to the peer- or local-caused
/// error it represents.
pub(crate) fn from_crypto(e: CryptoError) -> ProtoError {
    match e {
        CryptoError::LowOrderPoint => ProtoError::LowOrderPoint,
        CryptoError::InvalidEncapsulationKey => ProtoError::InvalidKemKey,
        CryptoError::BadSignature => ProtoError::BadSignature,
        CryptoError::Decryption => ProtoError::Decryption,
        other => ProtoError::Crypto(other),
    }
}

/// An operator mistake in the device or peer configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A pq-only device or peer lacks the ML-DSA-65 key it needs; pq-only
    /// never silently falls back to another mode.
    MissingMlDsaKey {
        /// Which key is missing: `"device signing key"` or the peer's public
        /// key (base64).
        whose: String,
    },
    /// A peer with this public key is already configured.
    DuplicatePeer {
        /// The peer's public key (base64).
        public_key: String,
    },
    /// The peer's public key is the device's own public key.
    PeerIsSelf,
    /// The device's static private key could not be used by the backend.
    BadStaticKey(CryptoError),
    /// The peer handle names no peer of this device.
    NoSuchPeer,
    /// `update_peer` was given another public key than the peer's.
    PublicKeyChanged,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingMlDsaKey { whose } => write!(
                f,
                "pq-only mode needs an ML-DSA-65 key: {whose} is missing (no fallback to another mode)"
            ),
            Self::DuplicatePeer { public_key } => write!(f, "peer {public_key} is configured twice"),
            Self::PeerIsSelf => f.write_str("a peer's public key equals the device's own public key"),
            Self::BadStaticKey(e) => write!(f, "the device's static private key is unusable: {e}"),
            Self::NoSuchPeer => f.write_str("no such peer on this device"),
            Self::PublicKeyChanged => {
                f.write_str("a peer's public key cannot be updated: remove the peer and add it again")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
