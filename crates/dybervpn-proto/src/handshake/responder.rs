//! The responder's side: consume an initiation (in two phases, so the
//! device can find the peer by its static key and refuse a mode mismatch
//! before any further work), then build the response.

use dybervpn_crypto::{
    CryptoBackend, MlDsaSignature, MlKemEncapsKey, X25519PublicKey, MLDSA65_SIG_LEN,
};

use super::symmetric::SymmetricState;
use super::{
    initiation_signed, HandshakeKeys, LocalIdentity, PeerCrypto, SIG_CONTEXT_INITIATION,
    SIG_CONTEXT_RESPONSE,
};
use crate::error::{from_crypto, ProtoError};
use crate::messages::{
    response_layout, write_type, write_u32, Initiation, RECEIVER_OFFSET, RESPONSE_EPHEMERAL_OFFSET,
    SENDER_OFFSET, TIMESTAMP_LEN,
};
use crate::Mode;

/// An initiation consumed up to and including `s`: the initiator's static
/// key is known but not yet authenticated (`ss` and `{t}` remain).
pub(crate) struct InitiationStatic {
    pub(crate) mode: Mode,
    /// The initiator's static public key, as decrypted.
    pub(crate) remote_static: X25519PublicKey,
    sym: SymmetricState,
    sender: u32,
    ephemeral: X25519PublicKey,
    kem_ek: Option<MlKemEncapsKey>,
}

/// A fully authenticated initiation, ready to be answered.
pub(crate) struct ConsumedInitiation {
    pub(crate) mode: Mode,
    /// The initiator's sender index.
    pub(crate) sender: u32,
    /// The decrypted TAI64N timestamp, to be checked against the last one.
    pub(crate) timestamp: [u8; TIMESTAMP_LEN],
    sym: SymmetricState,
    ephemeral: X25519PublicKey,
    remote_static: X25519PublicKey,
    kem_ek: Option<MlKemEncapsKey>,
}

impl std::fmt::Debug for ConsumedInitiation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumedInitiation")
            .field("mode", &self.mode)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

/// Phase one: `e`, `ekem`, `es`, `s`. Returns the claimed static key.
pub(crate) fn consume_initiation_static(
    b: &dyn CryptoBackend,
    local: &LocalIdentity,
    msg: &Initiation<'_>,
) -> Result<InitiationStatic, ProtoError> {
    let mut sym = SymmetricState::new(b, msg.mode, local.public.as_bytes());
    let ephemeral = X25519PublicKey(*msg.ephemeral);

    // e
    sym.mix_hash(b, &ephemeral.0);
    sym.mix_key(b, &ephemeral.0);
    sym.note("e");

    // ekem: the key is checked (FIPS 203) before anything is spent on a
    // message that could never be answered; the check costs microseconds.
    let kem_ek = match msg.kem_ek {
        Some(ek) => {
            let ek = MlKemEncapsKey(Box::new(*ek));
            b.mlkem_check_encaps_key(&ek).map_err(from_crypto)?;
            sym.mix_hash(b, ek.as_bytes());
            sym.note("ekem");
            Some(ek)
        }
        None => None,
    };

    // es
    let es = b.x25519(&local.private, &ephemeral).map_err(from_crypto)?;
    let key = sym.mix_key_and_key(b, es.expose());
    sym.note("es");

    // s
    let plain = sym.decrypt_and_hash(b, &key, msg.encrypted_static)?;
    let remote_static: [u8; 32] = plain[..].try_into().map_err(|_| ProtoError::BadLength)?;
    sym.note("s");

    Ok(InitiationStatic {
        mode: msg.mode,
        remote_static: X25519PublicKey(remote_static),
        sym,
        sender: msg.sender,
        ephemeral,
        kem_ek,
    })
}

/// Phase two, once the device has found `peer` by the static key: `ss`,
/// then `{t}` (classic, hybrid) or `{t || sig}`, the replay check, the mode
/// check (only now is the message the peer's), and `sig` (pq-only).
///
/// `check_timestamp` sees the decrypted timestamp before the signature is
/// verified and may refuse it (a replay): a replayed pq-only initiation
/// then costs no ML-DSA verification. Refusing changes nothing, so it is
/// safe before the signature: only the caller's state after success
/// records the timestamp.
pub(crate) fn consume_initiation_finish(
    b: &dyn CryptoBackend,
    peer: &PeerCrypto,
    begun: InitiationStatic,
    msg: &Initiation<'_>,
    check_timestamp: impl FnOnce(&[u8; TIMESTAMP_LEN]) -> Result<(), ProtoError>,
) -> Result<ConsumedInitiation, ProtoError> {
    let InitiationStatic {
        mode,
        remote_static,
        mut sym,
        sender,
        ephemeral,
        kem_ek,
    } = begun;

    // ss
    let ss = peer
        .static_static
        .as_ref()
        .ok_or(ProtoError::LowOrderPoint)?;
    let key = sym.mix_key_and_key(b, ss.expose());
    sym.note("ss");

    // {t} or {t || sig}
    let signed_hash = *sym.hash();
    let plain = sym.decrypt_and_hash(b, &key, msg.encrypted_timestamp)?;
    let timestamp: [u8; TIMESTAMP_LEN] = plain
        .get(..TIMESTAMP_LEN)
        .and_then(|t| t.try_into().ok())
        .ok_or(ProtoError::BadLength)?;
    // A replay first: a recorded initiation of the peer's, from before its
    // mode was raised, is a replay, not the peer downgrading now.
    check_timestamp(&timestamp)?;
    // Only now, with `ss` behind the AEAD and the timestamp fresh, is the
    // message the peer's: anyone can make `s` name a peer (the `es` key
    // needs no secret of its), so a mode mismatch found earlier would
    // blame the peer for a stranger's message.
    if mode != peer.mode {
        return Err(ProtoError::DowngradeRefused {
            expected: peer.mode,
            received: mode,
        });
    }

    // sig (pq-only): over H before the AEAD and the timestamp.
    if mode == Mode::PqOnly {
        let public = peer.remote_mldsa.as_ref().ok_or(ProtoError::BadSignature)?;
        let sig = plain
            .get(TIMESTAMP_LEN..TIMESTAMP_LEN + MLDSA65_SIG_LEN)
            .and_then(MlDsaSignature::from_slice)
            .ok_or(ProtoError::BadLength)?;
        let signed = initiation_signed(&signed_hash, &timestamp);
        b.mldsa_verify(public, SIG_CONTEXT_INITIATION, &signed, &sig)
            .map_err(|_| ProtoError::BadSignature)?;
    }
    sym.note("t");

    Ok(ConsumedInitiation {
        mode,
        sender,
        timestamp,
        sym,
        ephemeral,
        remote_static,
        kem_ek,
    })
}

/// Builds the response into `out`; returns the session keys and the
/// message length. mac1 and mac2 are left zero for [`crate::cookie`].
pub(crate) fn create_response(
    b: &dyn CryptoBackend,
    local: &LocalIdentity,
    peer: &PeerCrypto,
    consumed: ConsumedInitiation,
    local_index: u32,
    out: &mut [u8],
) -> Result<(HandshakeKeys, usize), ProtoError> {
    let ConsumedInitiation {
        mode,
        sender,
        mut sym,
        ephemeral: e_i,
        remote_static,
        kem_ek,
        ..
    } = consumed;
    let l = response_layout(mode);
    let msg = out
        .get_mut(..l.len)
        .ok_or(ProtoError::BufferTooSmall { needed: l.len })?;
    msg.fill(0);
    write_type(msg, l.msg_type);
    write_u32(msg, SENDER_OFFSET, local_index);
    write_u32(msg, RECEIVER_OFFSET, sender);

    // e
    let (ephemeral, e_pub) = b.x25519_generate().map_err(ProtoError::Crypto)?;
    msg[RESPONSE_EPHEMERAL_OFFSET..RESPONSE_EPHEMERAL_OFFSET + 32]
        .copy_from_slice(e_pub.as_bytes());
    sym.mix_hash(b, e_pub.as_bytes());
    sym.mix_key(b, e_pub.as_bytes());
    sym.note_value("resp.e.private", ephemeral.expose());
    sym.note("resp.e");

    // ee
    let ee = b.x25519(&ephemeral, &e_i).map_err(from_crypto)?;
    sym.mix_key(b, ee.expose());
    sym.note("ee");

    // se
    let se = b.x25519(&ephemeral, &remote_static).map_err(from_crypto)?;
    sym.mix_key(b, se.expose());
    sym.note("se");

    // kem: check the initiator's key (FIPS 203), encapsulate to it.
    match (l.kem_ct, &kem_ek) {
        (Some(at), Some(ek)) => {
            let (ct, k) = b.mlkem_encapsulate(ek).map_err(from_crypto)?;
            msg[at..at + ct.as_bytes().len()].copy_from_slice(ct.as_bytes());
            sym.mix_hash(b, ct.as_bytes());
            sym.mix_key(b, k.expose());
            sym.note_value("kem.shared", k.expose());
            sym.note("kem");
        }
        (None, None) => {}
        _ => return Err(ProtoError::BadLength),
    }

    // psk
    let key = sym.mix_psk(b, &peer.psk);
    sym.note("psk");

    // sig (pq-only): sign H after the psk step.
    let field = &mut msg[l.encrypted_payload..l.mac1];
    if mode == Mode::PqOnly {
        let keys = local
            .mldsa
            .as_ref()
            .ok_or(ProtoError::Crypto(dybervpn_crypto::CryptoError::Signing))?;
        let sig = b
            .mldsa_sign(keys, SIG_CONTEXT_RESPONSE, sym.hash())
            .map_err(ProtoError::Crypto)?;
        field[..MLDSA65_SIG_LEN].copy_from_slice(sig.as_bytes());
    }

    // {} or {sig}
    sym.encrypt_and_hash(b, &key, field)?;
    sym.note("empty");

    let (initiator_send, responder_send) = sym.split(b);
    Ok((
        HandshakeKeys {
            send: responder_send,
            recv: initiator_send,
            local_index,
            remote_index: sender,
            initiator: false,
            mode,
            #[cfg(test)]
            trace: sym.trace,
        },
        l.len,
    ))
}
