//! The initiator's side: build an initiation, consume the response.

use dybervpn_crypto::{
    CryptoBackend, MlDsaSignature, MlKemCiphertext, MlKemDecapsKey, X25519PublicKey,
    X25519SecretKey,
};

use super::symmetric::SymmetricState;
use super::{
    initiation_signed, HandshakeKeys, LocalIdentity, PeerCrypto, SIG_CONTEXT_INITIATION,
    SIG_CONTEXT_RESPONSE,
};
use crate::error::{from_crypto, ProtoError};
use crate::messages::{
    initiation_layout, write_type, write_u32, Response, INITIATION_EPHEMERAL_OFFSET, SENDER_OFFSET,
    TIMESTAMP_LEN,
};
use crate::Mode;

/// The state of one initiation, bound to its sender index. Dropping it
/// wipes the ephemeral keys.
pub(crate) struct InitiatorHandshake {
    pub(crate) mode: Mode,
    pub(crate) local_index: u32,
    sym: SymmetricState,
    ephemeral: X25519SecretKey,
    kem_dk: Option<MlKemDecapsKey>,
}

impl std::fmt::Debug for InitiatorHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorHandshake")
            .field("mode", &self.mode)
            .field("local_index", &self.local_index)
            .finish_non_exhaustive()
    }
}

/// Builds an initiation of the peer's mode into `out` and returns its state
/// and length. mac1 and mac2 are left zero for [`crate::cookie`] to fill.
pub(crate) fn create_initiation(
    b: &dyn CryptoBackend,
    local: &LocalIdentity,
    peer: &PeerCrypto,
    local_index: u32,
    timestamp: &[u8; TIMESTAMP_LEN],
    out: &mut [u8],
) -> Result<(InitiatorHandshake, usize), ProtoError> {
    let mode = peer.mode;
    let l = initiation_layout(mode);
    let msg = out
        .get_mut(..l.len)
        .ok_or(ProtoError::BufferTooSmall { needed: l.len })?;
    msg.fill(0);
    write_type(msg, l.msg_type);
    write_u32(msg, SENDER_OFFSET, local_index);

    let mut sym = SymmetricState::new(b, mode, peer.remote_static.as_bytes());

    // e
    let (ephemeral, e_pub) = b.x25519_generate().map_err(ProtoError::Crypto)?;
    msg[INITIATION_EPHEMERAL_OFFSET..INITIATION_EPHEMERAL_OFFSET + 32]
        .copy_from_slice(e_pub.as_bytes());
    sym.mix_hash(b, e_pub.as_bytes());
    sym.mix_key(b, e_pub.as_bytes());
    sym.note_value("e.private", ephemeral.expose());
    sym.note("e");

    // ekem (hybrid, pq-only): the KEM key pair of this initiation.
    let kem_dk = match l.kem_ek {
        Some(at) => {
            let (dk, ek) = b.mlkem_generate().map_err(ProtoError::Crypto)?;
            msg[at..at + ek.as_bytes().len()].copy_from_slice(ek.as_bytes());
            sym.mix_hash(b, ek.as_bytes());
            sym.note_value("ekem.dk", dk.0.expose());
            sym.note("ekem");
            Some(dk)
        }
        None => None,
    };

    // es
    let es = b
        .x25519(&ephemeral, &peer.remote_static)
        .map_err(from_crypto)?;
    let key = sym.mix_key_and_key(b, es.expose());
    sym.note("es");

    // s
    let field = &mut msg[l.encrypted_static..l.encrypted_timestamp];
    field[..32].copy_from_slice(local.public.as_bytes());
    sym.encrypt_and_hash(b, &key, field)?;
    sym.note("s");

    // ss
    let ss = peer
        .static_static
        .as_ref()
        .ok_or(ProtoError::LowOrderPoint)?;
    let key = sym.mix_key_and_key(b, ss.expose());
    sym.note("ss");

    // sig (pq-only): sign H as it stands before the timestamp AEAD, and
    // the timestamp, which the AEAD's key alone (from X25519) would not
    // protect against a quantum attacker.
    let field = &mut msg[l.encrypted_timestamp..l.mac1];
    field[..TIMESTAMP_LEN].copy_from_slice(timestamp);
    if mode == Mode::PqOnly {
        let keys = local
            .mldsa
            .as_ref()
            .ok_or(ProtoError::Crypto(dybervpn_crypto::CryptoError::Signing))?;
        let signed = initiation_signed(sym.hash(), timestamp);
        let sig = b
            .mldsa_sign(keys, SIG_CONTEXT_INITIATION, &signed)
            .map_err(ProtoError::Crypto)?;
        field[TIMESTAMP_LEN..TIMESTAMP_LEN + sig.as_bytes().len()].copy_from_slice(sig.as_bytes());
    }

    // {t} or {t || sig}
    sym.encrypt_and_hash(b, &key, field)?;
    sym.note("t");

    Ok((
        InitiatorHandshake {
            mode,
            local_index,
            sym,
            ephemeral,
            kem_dk,
        },
        l.len,
    ))
}

/// Consumes a response to `state`. The state is not modified, so a forged
/// or tampered response leaves the initiation pending for the genuine one.
pub(crate) fn consume_response(
    b: &dyn CryptoBackend,
    local: &LocalIdentity,
    peer: &PeerCrypto,
    state: &InitiatorHandshake,
    msg: &Response<'_>,
) -> Result<HandshakeKeys, ProtoError> {
    if msg.mode != state.mode {
        return Err(ProtoError::DowngradeRefused {
            expected: state.mode,
            received: msg.mode,
        });
    }
    let mut sym = state.sym.clone();
    let e_r = X25519PublicKey(*msg.ephemeral);

    // e
    sym.mix_hash(b, &e_r.0);
    sym.mix_key(b, &e_r.0);
    sym.note("resp.e");

    // ee
    let ee = b.x25519(&state.ephemeral, &e_r).map_err(from_crypto)?;
    sym.mix_key(b, ee.expose());
    sym.note("ee");

    // se
    let se = b.x25519(&local.private, &e_r).map_err(from_crypto)?;
    sym.mix_key(b, se.expose());
    sym.note("se");

    // kem
    match (msg.kem_ct, &state.kem_dk) {
        (Some(ct), Some(dk)) => {
            let ct = MlKemCiphertext(Box::new(*ct));
            let k = b.mlkem_decapsulate(dk, &ct).map_err(from_crypto)?;
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

    // sig, {} or {sig}
    let signed = *sym.hash();
    let payload = sym.decrypt_and_hash(b, &key, msg.encrypted_payload)?;
    if state.mode == Mode::PqOnly {
        let public = peer.remote_mldsa.as_ref().ok_or(ProtoError::BadSignature)?;
        let sig = MlDsaSignature::from_slice(&payload).ok_or(ProtoError::BadLength)?;
        b.mldsa_verify(public, SIG_CONTEXT_RESPONSE, &signed, &sig)
            .map_err(|_| ProtoError::BadSignature)?;
    }
    sym.note("empty");

    let (send, recv) = sym.split(b);
    Ok(HandshakeKeys {
        send,
        recv,
        local_index: state.local_index,
        remote_index: msg.sender,
        initiator: true,
        mode: state.mode,
        #[cfg(test)]
        trace: sym.trace,
    })
}

#[cfg(test)]
impl InitiatorHandshake {
    pub(crate) fn trace(&self) -> &[(String, Vec<u8>)] {
        &self.sym.trace
    }
}
