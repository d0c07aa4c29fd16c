//! Handshake unit tests: every mode completes and both sides agree on keys;
//! tampering and wrong keys are refused.

use std::sync::Arc;

use dybervpn_crypto::{backend, BackendKind, CryptoBackend, MlDsaSeed, PresharedKey};

use super::*;
use crate::error::ProtoError;
use crate::messages::{Initiation, Response, MAX_HANDSHAKE_LEN};

pub(crate) fn identity(b: &dyn CryptoBackend, seed: u8) -> LocalIdentity {
    let (private, public) = b.x25519_generate().expect("x25519");
    let mldsa = Some(
        b.mldsa_from_seed(&MlDsaSeed::from_bytes([seed; 32]))
            .expect("mldsa"),
    );
    LocalIdentity {
        private,
        public,
        mldsa,
    }
}

fn crypto_for(
    b: &dyn CryptoBackend,
    local: &LocalIdentity,
    remote: &LocalIdentity,
    mode: Mode,
) -> PeerCrypto {
    PeerCrypto::new(
        b,
        local,
        mode,
        remote.public,
        PresharedKey::from_bytes([9; 32]),
        remote.mldsa.as_ref().map(|k| k.public.clone()),
    )
}

pub(crate) struct Run {
    pub(crate) init_msg: Vec<u8>,
    pub(crate) resp_msg: Vec<u8>,
    pub(crate) i_keys: HandshakeKeys,
    pub(crate) r_keys: HandshakeKeys,
}

/// Runs one full handshake between two fresh identities.
pub(crate) fn run(b: &dyn CryptoBackend, mode: Mode) -> Result<Run, ProtoError> {
    let i = identity(b, 1);
    let r = identity(b, 2);
    let i_peer = crypto_for(b, &i, &r, mode);
    let r_peer = crypto_for(b, &r, &i, mode);
    let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
    let (state, n) = create_initiation(b, &i, &i_peer, 11, &[1; 12], &mut buf)?;
    let init_msg = buf[..n].to_vec();
    let parsed = Initiation::parse(&init_msg)?;
    let begun = consume_initiation_static(b, &r, &parsed)?;
    assert_eq!(begun.remote_static, i.public);
    let consumed = consume_initiation_finish(b, &r_peer, begun, &parsed, |_| Ok(()))?;
    assert_eq!(consumed.timestamp, [1; 12]);
    let (r_keys, n) = create_response(b, &r, &r_peer, consumed, 22, &mut buf)?;
    let resp_msg = buf[..n].to_vec();
    let i_keys = consume_response(b, &i, &i_peer, &state, &Response::parse(&resp_msg)?)?;
    Ok(Run {
        init_msg,
        resp_msg,
        i_keys,
        r_keys,
    })
}

pub(crate) fn backends() -> Vec<Arc<dyn CryptoBackend>> {
    vec![
        Arc::new(crate::insecure_backend::InsecureTestBackend::new(1)),
        backend(BackendKind::AwsLc),
        backend(BackendKind::Libcrux),
    ]
}

fn real_backends() -> Vec<Arc<dyn CryptoBackend>> {
    vec![backend(BackendKind::AwsLc), backend(BackendKind::Libcrux)]
}

/// Flips one byte at `at` in a response and checks it is refused while the
/// initiation stays pending: the genuine response still completes it.
fn tampered_response_is_refused(mode: Mode, at: usize) {
    for b in real_backends() {
        let b = &*b;
        let i = identity(b, 1);
        let r = identity(b, 2);
        let i_peer = crypto_for(b, &i, &r, mode);
        let r_peer = crypto_for(b, &r, &i, mode);
        let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
        let (state, n) = create_initiation(b, &i, &i_peer, 1, &[1; 12], &mut buf).expect("init");
        let init = buf[..n].to_vec();
        let parsed = Initiation::parse(&init).expect("parse");
        let begun = consume_initiation_static(b, &r, &parsed).expect("static");
        let consumed =
            consume_initiation_finish(b, &r_peer, begun, &parsed, |_| Ok(())).expect("finish");
        let (r_keys, n) = create_response(b, &r, &r_peer, consumed, 2, &mut buf).expect("resp");
        let genuine = buf[..n].to_vec();
        let mut forged = genuine.clone();
        forged[at] ^= 0x40;
        let forged = Response::parse(&forged).expect("parse");
        assert_eq!(
            consume_response(b, &i, &i_peer, &state, &forged).err(),
            Some(ProtoError::Decryption),
            "{mode} byte {at}"
        );
        let keys = consume_response(
            b,
            &i,
            &i_peer,
            &state,
            &Response::parse(&genuine).expect("p"),
        )
        .expect("the genuine response still completes the initiation");
        assert_eq!(keys.send, r_keys.recv);
    }
}

#[test]
fn tampered_kem_ciphertext_installs_nothing() {
    let at = crate::messages::response_layout(Mode::Hybrid)
        .kem_ct
        .expect("kem")
        + 500;
    tampered_response_is_refused(Mode::Hybrid, at);
    tampered_response_is_refused(Mode::PqOnly, at);
}

#[test]
fn tampered_response_fields_are_refused() {
    for mode in Mode::ALL {
        let l = crate::messages::response_layout(mode);
        tampered_response_is_refused(mode, crate::messages::RESPONSE_EPHEMERAL_OFFSET + 3);
        tampered_response_is_refused(mode, l.encrypted_payload + 1);
    }
}

#[test]
fn tampered_initiation_fields_are_refused() {
    for b in real_backends() {
        let b = &*b;
        for mode in Mode::ALL {
            let i = identity(b, 1);
            let r = identity(b, 2);
            let i_peer = crypto_for(b, &i, &r, mode);
            let r_peer = crypto_for(b, &r, &i, mode);
            let l = crate::messages::initiation_layout(mode);
            let mut fields = vec![
                crate::messages::INITIATION_EPHEMERAL_OFFSET + 1,
                l.encrypted_static + 2,
                l.encrypted_timestamp + 3,
            ];
            // An attacker replacing the KEM key in flight changes H, so the
            // static key no longer decrypts.
            fields.extend(l.kem_ek.map(|at| at + 100));
            for at in fields {
                let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
                let (_s, n) =
                    create_initiation(b, &i, &i_peer, 1, &[1; 12], &mut buf).expect("init");
                buf[at] ^= 0x10;
                let parsed = Initiation::parse(&buf[..n]).expect("parse");
                let result = consume_initiation_static(b, &r, &parsed).and_then(|begun| {
                    consume_initiation_finish(b, &r_peer, begun, &parsed, |_| Ok(()))
                });
                assert!(
                    matches!(
                        result,
                        Err(ProtoError::Decryption | ProtoError::LowOrderPoint)
                    ),
                    "{mode} byte {at}: {:?}",
                    result.err()
                );
            }
        }
    }
}

#[test]
fn every_mode_agrees_on_keys() {
    for b in backends() {
        for mode in Mode::ALL {
            let run = run(&*b, mode).expect("handshake");
            assert_eq!(run.i_keys.send, run.r_keys.recv, "{mode}");
            assert_eq!(run.i_keys.recv, run.r_keys.send, "{mode}");
            assert_ne!(run.i_keys.send, run.i_keys.recv);
            assert_eq!((run.i_keys.local_index, run.i_keys.remote_index), (11, 22));
            assert_eq!((run.r_keys.local_index, run.r_keys.remote_index), (22, 11));
            assert_eq!(
                run.init_msg.len(),
                crate::messages::initiation_layout(mode).len
            );
            assert_eq!(
                run.resp_msg.len(),
                crate::messages::response_layout(mode).len
            );
            assert_eq!(
                run.init_msg[0],
                crate::messages::initiation_layout(mode).msg_type
            );
        }
    }
}

#[test]
fn modes_derive_different_keys_from_the_same_inputs() {
    // The construction string separates the modes: the classic chaining key
    // differs from the hybrid one before any key material is mixed in.
    let b = crate::insecure_backend::InsecureTestBackend::new(5);
    let s: Vec<_> = Mode::ALL
        .iter()
        .map(|m| *symmetric::SymmetricState::new(&b, *m, &[3; 32]).hash())
        .collect();
    assert_ne!(s[0], s[1]);
    assert_ne!(s[1], s[2]);
}

#[test]
fn pq_only_signature_from_the_wrong_key_is_rejected() {
    for b in backends() {
        let b = &*b;
        let i = identity(b, 1);
        let r = identity(b, 2);
        let mallory = identity(b, 3);
        // The responder expects mallory's ML-DSA key for the initiator.
        let mut r_peer = crypto_for(b, &r, &i, Mode::PqOnly);
        r_peer.remote_mldsa = mallory.mldsa.as_ref().map(|k| k.public.clone());
        let i_peer = crypto_for(b, &i, &r, Mode::PqOnly);
        let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
        let (_state, n) = create_initiation(b, &i, &i_peer, 1, &[1; 12], &mut buf).expect("init");
        let parsed = Initiation::parse(&buf[..n]).expect("parse");
        let begun = consume_initiation_static(b, &r, &parsed).expect("static");
        assert_eq!(
            consume_initiation_finish(b, &r_peer, begun, &parsed, |_| Ok(())).err(),
            Some(ProtoError::BadSignature)
        );
    }
}

#[test]
fn pq_only_response_signed_by_the_wrong_key_is_rejected() {
    for b in backends() {
        let b = &*b;
        let i = identity(b, 1);
        let r = identity(b, 2);
        let mallory = identity(b, 3);
        let mut i_peer = crypto_for(b, &i, &r, Mode::PqOnly);
        i_peer.remote_mldsa = mallory.mldsa.as_ref().map(|k| k.public.clone());
        let r_peer = crypto_for(b, &r, &i, Mode::PqOnly);
        let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
        let (state, n) = create_initiation(b, &i, &i_peer, 1, &[1; 12], &mut buf).expect("init");
        let init = buf[..n].to_vec();
        let parsed = Initiation::parse(&init).expect("parse");
        let begun = consume_initiation_static(b, &r, &parsed).expect("static");
        let consumed =
            consume_initiation_finish(b, &r_peer, begun, &parsed, |_| Ok(())).expect("finish");
        let (_k, n) = create_response(b, &r, &r_peer, consumed, 2, &mut buf).expect("resp");
        let resp = Response::parse(&buf[..n]).expect("parse");
        assert_eq!(
            consume_response(b, &i, &i_peer, &state, &resp).err(),
            Some(ProtoError::BadSignature)
        );
    }
}

#[test]
fn mode_mismatch_is_refused_after_the_static_key() {
    let b = crate::insecure_backend::InsecureTestBackend::new(2);
    let i = identity(&b, 1);
    let r = identity(&b, 2);
    let i_peer = crypto_for(&b, &i, &r, Mode::Classic);
    let r_peer = crypto_for(&b, &r, &i, Mode::Hybrid);
    let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
    let (_s, n) = create_initiation(&b, &i, &i_peer, 1, &[1; 12], &mut buf).expect("init");
    let parsed = Initiation::parse(&buf[..n]).expect("parse");
    let begun = consume_initiation_static(&b, &r, &parsed).expect("static");
    assert_eq!(
        consume_initiation_finish(&b, &r_peer, begun, &parsed, |_| Ok(())).err(),
        Some(ProtoError::DowngradeRefused {
            expected: Mode::Hybrid,
            received: Mode::Classic
        })
    );
}

#[test]
fn short_output_buffer_is_an_error_not_a_panic() {
    let b = crate::insecure_backend::InsecureTestBackend::new(2);
    let i = identity(&b, 1);
    let r = identity(&b, 2);
    let i_peer = crypto_for(&b, &i, &r, Mode::Hybrid);
    let mut buf = vec![0u8; 100];
    assert_eq!(
        create_initiation(&b, &i, &i_peer, 1, &[1; 12], &mut buf).err(),
        Some(ProtoError::BufferTooSmall { needed: 1332 })
    );
}
