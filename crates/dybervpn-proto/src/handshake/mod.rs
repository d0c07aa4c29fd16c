//! The handshake in its three modes (`docs/protocol.md` §3).
//!
//! ```text
//! classic   Noise_IKpsk2:          <- s
//!                                  -> e, es, s, ss, {t}
//!                                  <- e, ee, se, psk, {}
//! hybrid    Noise_IKpsk2+KEM:      -> e, ekem, es, s, ss, {t}
//!                                  <- e, ee, se, kem, psk, {}
//! pq-only   Noise_IKpsk2+KEM+SIG:  -> e, ekem, es, s, ss, sig, {t || sig}
//!                                  <- e, ee, se, kem, psk, sig, {sig}
//! ```
//!
//! The functions here only build and consume message bodies; mac1/mac2,
//! cookies, indices, replay and rate limits are the device's business
//! ([`crate::cookie`], [`crate::device`]).

mod initiator;
mod responder;
pub(crate) mod symmetric;

pub(crate) use initiator::{consume_response, create_initiation, InitiatorHandshake};
pub(crate) use responder::{consume_initiation_finish, consume_initiation_static, create_response};

use dybervpn_crypto::{
    AeadKey, CryptoBackend, MlDsaKeyPair, MlDsaPublicKey, PresharedKey, SharedSecret,
    X25519PublicKey, X25519SecretKey,
};

use crate::Mode;

/// ML-DSA-65 context string of the initiator's signature.
pub(crate) const SIG_CONTEXT_INITIATION: &[u8] = b"DyberVPN v2 pq-only initiation";
/// ML-DSA-65 context string of the responder's signature.
pub(crate) const SIG_CONTEXT_RESPONSE: &[u8] = b"DyberVPN v2 pq-only response";

/// What the initiator signs (pq-only): `H || timestamp`, `H` as it stands
/// before the timestamp's AEAD. The timestamp must be signed: the AEAD's
/// key comes from X25519 alone, so an attacker who can break X25519 could
/// otherwise put a timestamp far in the future under a recorded genuine
/// signature, and the responder, which keeps the latest timestamp, would
/// refuse every later genuine initiation from that peer.
pub(crate) fn initiation_signed(
    hash: &[u8; 32],
    timestamp: &[u8; crate::messages::TIMESTAMP_LEN],
) -> [u8; 32 + crate::messages::TIMESTAMP_LEN] {
    let mut m = [0u8; 32 + crate::messages::TIMESTAMP_LEN];
    let (h, t) = m.split_at_mut(32);
    h.copy_from_slice(hash);
    t.copy_from_slice(timestamp);
    m
}

/// This device's long-term keys.
pub(crate) struct LocalIdentity {
    pub(crate) private: X25519SecretKey,
    pub(crate) public: X25519PublicKey,
    pub(crate) mldsa: Option<MlDsaKeyPair>,
}

/// What the handshake needs to know about one peer, with the static-static
/// Diffie-Hellman precomputed when the peer is added.
pub(crate) struct PeerCrypto {
    pub(crate) mode: Mode,
    pub(crate) remote_static: X25519PublicKey,
    pub(crate) psk: PresharedKey,
    /// `DH(S_i^priv, S_r^pub)`; `None` when the peer's key is a low-order
    /// point (every handshake with it then fails, as in WireGuard).
    pub(crate) static_static: Option<SharedSecret>,
    pub(crate) remote_mldsa: Option<MlDsaPublicKey>,
}

impl PeerCrypto {
    pub(crate) fn new(
        b: &dyn CryptoBackend,
        local: &LocalIdentity,
        mode: Mode,
        remote_static: X25519PublicKey,
        psk: PresharedKey,
        remote_mldsa: Option<MlDsaPublicKey>,
    ) -> Self {
        Self {
            mode,
            static_static: b.x25519(&local.private, &remote_static).ok(),
            remote_static,
            psk,
            remote_mldsa,
        }
    }
}

/// The transport keys and indices a completed handshake yields.
pub(crate) struct HandshakeKeys {
    pub(crate) send: AeadKey,
    pub(crate) recv: AeadKey,
    pub(crate) local_index: u32,
    pub(crate) remote_index: u32,
    pub(crate) initiator: bool,
    pub(crate) mode: Mode,
    /// Every intermediate `C` and `H` (test builds only).
    #[cfg(test)]
    pub(crate) trace: Vec<(String, Vec<u8>)>,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
