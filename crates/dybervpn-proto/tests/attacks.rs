//! Active attacks on the handshake, each of which must fail.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dybervpn_crypto::{backend, BackendKind, CryptoBackend, MlKemEncapsKey};
use dybervpn_proto::messages::{initiation_layout, response_layout, INITIATION_LEN};
use dybervpn_proto::{Device, DropReason, Mode, PeerConfig, ProtoError};

fn handshakes(side: &Side) -> u64 {
    side.device.peer_stats(side.peer).expect("stats").handshakes
}

fn initiation(p: &Pair, t: dybervpn_proto::Now) -> Vec<u8> {
    match p.a.send(t, &ip_packet(40, 1)) {
        Out::Net(_, d) => d,
        other => panic!("expected an initiation, got {other:?}"),
    }
}

#[test]
fn replaced_kem_encapsulation_key_is_refused() {
    for mode in [Mode::Hybrid, Mode::PqOnly] {
        let p = pair(BackendKind::AwsLc, BackendKind::Libcrux, mode);
        let t = now(1);
        let mut init = initiation(&p, t);
        // The attacker substitutes its own (valid) ML-KEM key so it could
        // decapsulate the responder's secret, and fixes mac1.
        let (_dk, ek) = backend(BackendKind::AwsLc).mlkem_generate().expect("kem");
        let at = initiation_layout(mode).kem_ek.expect("kem_ek");
        init[at..at + MlKemEncapsKey::LEN].copy_from_slice(ek.as_bytes());
        fix_mac1(&mut init, &p.b.public);
        assert_eq!(
            p.b.recv(t, p.a.addr, &init),
            Err(ProtoError::Decryption),
            "{mode}"
        );
        assert_eq!(handshakes(&p.b), 0);
        assert_eq!(p.b.device.drop_count(DropReason::HandshakeDecryption), 1);
    }
}

/// An encapsulation key that fails the FIPS 203 modulus check is refused
/// as such before any Diffie-Hellman, signature or state change: it could
/// never be answered, so nothing is spent on it, and the genuine
/// initiation is still answered afterwards.
#[test]
fn a_malformed_kem_key_is_refused_before_any_other_work() {
    for mode in [Mode::Hybrid, Mode::PqOnly] {
        let counting = Counting::new(backend(BackendKind::AwsLc));
        let p = pair_with(backend(BackendKind::AwsLc), counting.clone(), mode, mode);
        let t = now(1);
        let genuine = initiation(&p, t);
        let mut bad = genuine.clone();
        let at = initiation_layout(mode).kem_ek.expect("kem_ek");
        // The first 12-bit coefficient becomes 4095, above q = 3329.
        bad[at] = 0xff;
        bad[at + 1] |= 0x0f;
        fix_mac1(&mut bad, &p.b.public);
        let before = counting.count();
        assert_eq!(
            p.b.recv(t, p.a.addr, &bad),
            Err(ProtoError::InvalidKemKey),
            "{mode}"
        );
        assert_eq!(
            p.b.device.drop_count(DropReason::BadHandshakeKey),
            1,
            "{mode}"
        );
        assert_eq!(counting.count() - before, 1, "{mode}: only the key check");
        assert!(
            matches!(p.b.recv(t, p.a.addr, &genuine), Ok(Out::Net(..))),
            "{mode}: the genuine initiation must still be answered"
        );
    }
}

#[test]
fn replaced_or_tampered_kem_ciphertext_installs_nothing_and_keeps_the_initiation() {
    for mode in [Mode::Hybrid, Mode::PqOnly] {
        let p = pair(BackendKind::Libcrux, BackendKind::AwsLc, mode);
        let t = now(1);
        let init = initiation(&p, t);
        let Ok(Out::Net(_, resp)) = p.b.recv(t, p.a.addr, &init) else {
            panic!("expected a response")
        };
        let ct_at = response_layout(mode).kem_ct.expect("kem_ct");
        // 1. A fresh encapsulation to the initiator's genuine key.
        let ek_at = initiation_layout(mode).kem_ek.expect("kem_ek");
        let ek = MlKemEncapsKey::from_slice(&init[ek_at..ek_at + MlKemEncapsKey::LEN]).expect("ek");
        let (ct, _k) = backend(BackendKind::AwsLc)
            .mlkem_encapsulate(&ek)
            .expect("encaps");
        let mut replaced = resp.clone();
        replaced[ct_at..ct_at + ct.as_bytes().len()].copy_from_slice(ct.as_bytes());
        fix_mac1(&mut replaced, &p.a.public);
        // 2. One flipped bit.
        let mut flipped = resp.clone();
        flipped[ct_at + 17] ^= 0x01;
        fix_mac1(&mut flipped, &p.a.public);
        for forged in [replaced, flipped] {
            assert_eq!(
                p.a.recv(t, p.b.addr, &forged),
                Err(ProtoError::Decryption),
                "{mode}"
            );
            assert_eq!(handshakes(&p.a), 0, "no session installed");
        }
        // The pending initiation is intact: the genuine response completes it.
        let Ok(Out::Net(_, first)) = p.a.recv(t, p.b.addr, &resp) else {
            panic!("genuine response must complete the handshake")
        };
        assert_eq!(handshakes(&p.a), 1);
        assert_eq!(
            p.b.recv(t, p.a.addr, &first),
            Ok(Out::Tun(p.b.peer, ip_packet(40, 1)))
        );
    }
}

#[test]
fn hybrid_initiation_cut_down_to_classic_is_refused() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(1);
    let init = initiation(&p, t);
    let l = initiation_layout(Mode::Hybrid);
    let kem_ek = l.kem_ek.expect("kem");
    let mut cut = Vec::with_capacity(INITIATION_LEN);
    cut.extend_from_slice(&[1, 0, 0, 0]);
    cut.extend_from_slice(&init[4..kem_ek]);
    cut.extend_from_slice(&init[l.encrypted_static..l.mac1]);
    cut.extend_from_slice(&[0; 32]);
    assert_eq!(cut.len(), INITIATION_LEN);
    fix_mac1(&mut cut, &p.b.public);
    assert!(p.b.recv(t, p.a.addr, &cut).is_err());
    assert_eq!(handshakes(&p.b), 0);
    // Without the mac1 fix it does not even get that far.
    let mut cut2 = cut.clone();
    cut2[INITIATION_LEN - 20] ^= 1;
    assert_eq!(p.b.recv(t, p.a.addr, &cut2), Err(ProtoError::BadMac1));
}

#[test]
fn classic_initiation_from_a_hybrid_peer_is_a_counted_downgrade() {
    let p = pair_with(
        backend(BackendKind::AwsLc),
        backend(BackendKind::Libcrux),
        Mode::Classic,
        Mode::Hybrid,
    );
    let t = now(1);
    let init = initiation(&p, t);
    assert_eq!(init.len(), INITIATION_LEN);
    assert_eq!(
        p.b.recv(t, p.a.addr, &init),
        Err(ProtoError::DowngradeRefused {
            expected: Mode::Hybrid,
            received: Mode::Classic
        })
    );
    assert_eq!(p.b.device.drop_count(DropReason::DowngradeRefused), 1);
    assert_eq!(handshakes(&p.b), 0);
}

/// Anyone who knows the responder's public key and one of its peers' can
/// build a classic initiation whose encrypted static key names that peer:
/// the `es` key needs no secret of the peer's. Without the peer's static
/// private key the `{t}` AEAD cannot be right, so this is no downgrade by
/// the peer and must not be counted (and logged) as one; it is an
/// initiation that failed to authenticate.
#[test]
fn a_forged_classic_initiation_naming_a_hybrid_peer_is_no_downgrade() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let b = &*backend(BackendKind::AwsLc);
    let t = now(1);
    // The classic key schedule of docs/protocol.md §3.3 up to `s`, from
    // public values and the forger's own ephemeral key.
    let mut c = b.hash(&[b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"]);
    let mut h = b.hash(&[&c, b"WireGuard v1 zx2c4 Jason@zx2c4.com"]);
    h = b.hash(&[&h, p.b.public.as_bytes()]);
    let (e, e_pub) = b.x25519_generate().expect("ephemeral");
    h = b.hash(&[&h, e_pub.as_bytes()]);
    c = kdf2(b, &c, e_pub.as_bytes()).0;
    let es = b.x25519(&e, &p.b.public).expect("es");
    let key = dybervpn_crypto::AeadKey::new(kdf2(b, &c, es.expose()).1);
    let mut static_key = p.a.public.as_bytes().to_vec();
    let tag = b.aead_seal(&key, 0, &h, &mut static_key).expect("seal");

    let mut forged = vec![1, 0, 0, 0, 7, 0, 0, 0];
    forged.extend_from_slice(e_pub.as_bytes());
    forged.extend_from_slice(&static_key);
    forged.extend_from_slice(&tag);
    forged.extend_from_slice(&[0x5a; 28]); // {t}: needs `ss`, which the forger lacks
    forged.extend_from_slice(&[0; 32]);
    assert_eq!(forged.len(), INITIATION_LEN);
    fix_mac1(&mut forged, &p.b.public);

    assert_eq!(p.b.recv(t, p.a.addr, &forged), Err(ProtoError::Decryption));
    assert_eq!(p.b.device.drop_count(DropReason::DowngradeRefused), 0);
}

/// A recorded classic initiation of the peer's, replayed after the peer
/// was raised to hybrid, is a replay, not the peer downgrading.
#[test]
fn an_old_initiation_replayed_after_a_mode_change_is_a_replay() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Classic);
    let t = now(1);
    let init = initiation(&p, t);
    assert!(matches!(p.b.recv(t, p.a.addr, &init), Ok(Out::Net(..))));
    let mut raised = PeerConfig::new(p.a.public);
    raised.mode = Some(Mode::Hybrid);
    raised.endpoint = Some(p.a.addr);
    raised.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
    p.b.device.update_peer(p.b.peer, raised).expect("update");
    assert_eq!(
        p.b.recv(now(2), p.a.addr, &init),
        Err(ProtoError::ReplayedTimestamp)
    );
    assert_eq!(p.b.device.drop_count(DropReason::DowngradeRefused), 0);
}

#[test]
fn bad_mac1_costs_no_asymmetric_operation_on_types_5_to_8() {
    for mode in [Mode::Hybrid, Mode::PqOnly] {
        let ca = Counting::new(backend(BackendKind::AwsLc));
        let cb = Counting::new(backend(BackendKind::Libcrux));
        let p = pair_with(ca.clone(), cb.clone(), mode, mode);
        let t = now(1);
        let init = initiation(&p, t);
        let Ok(Out::Net(_, resp)) = p.b.recv(t, p.a.addr, &init) else {
            panic!("response")
        };
        for (side, counter, genuine, from) in
            [(&p.b, &cb, &init, p.a.addr), (&p.a, &ca, &resp, p.b.addr)]
        {
            let mut garbage = genuine.clone();
            let at = garbage.len() - 32;
            garbage[at..at + 16].copy_from_slice(&[0x5a; 16]);
            let before = counter.count();
            assert_eq!(
                side.recv(t, from, &garbage),
                Err(ProtoError::BadMac1),
                "{mode}"
            );
            // Random bytes of the right length and type, too.
            let mut random = vec![0u8; genuine.len()];
            backend(BackendKind::AwsLc)
                .fill_random(&mut random)
                .expect("rng");
            random[..4].copy_from_slice(&genuine[..4]);
            assert_eq!(side.recv(t, from, &random), Err(ProtoError::BadMac1));
            assert_eq!(
                counter.count(),
                before,
                "{mode}: no X25519, ML-KEM or ML-DSA work"
            );
        }
        assert_eq!(p.b.device.drop_count(DropReason::BadMac1), 2);
    }
}

#[test]
fn late_response_to_a_superseded_initiation_is_dropped() {
    let p = pair(BackendKind::AwsLc, BackendKind::Libcrux, Mode::Hybrid);
    let t = now(1);
    let init1 = initiation(&p, t);
    let Ok(Out::Net(_, resp1)) = p.b.recv(t, p.a.addr, &init1) else {
        panic!("response")
    };
    // resp1 is lost for now; a retransmits after REKEY_TIMEOUT + jitter.
    let t2 = at(t.mono + Duration::from_secs(6));
    let retries = p.a.tick(t2);
    assert_eq!(retries.len(), 1);
    assert_eq!(
        p.a.recv(t2, p.b.addr, &resp1),
        Err(ProtoError::UnknownIndex)
    );
    assert_eq!(handshakes(&p.a), 0);
    let (_, got_b) = p.exchange(t2, retries[0].clone());
    assert_eq!(got_b, vec![ip_packet(40, 1)]);
    assert_eq!(handshakes(&p.a), 1);
}

#[test]
fn replayed_initiation_is_refused_by_its_timestamp() {
    let p = pair(BackendKind::Libcrux, BackendKind::Libcrux, Mode::PqOnly);
    let t = now(1);
    let init = initiation(&p, t);
    assert!(matches!(p.b.recv(t, p.a.addr, &init), Ok(Out::Net(..))));
    let later = at(t.mono + Duration::from_secs(30));
    assert_eq!(
        p.b.recv(later, p.a.addr, &init),
        Err(ProtoError::ReplayedTimestamp)
    );
    assert_eq!(p.b.device.drop_count(DropReason::StaleTimestamp), 1);
    // Answered once, never confirmed: no handshake completed on b.
    assert_eq!(handshakes(&p.b), 0);
}

#[test]
fn initiation_flood_from_one_peer_is_limited() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Classic);
    let t = now(1);
    let init = initiation(&p, t);
    assert!(p.b.recv(t, p.a.addr, &init).is_ok());
    // A second device with a's keys makes a fresh initiation 5 ms later
    // (with a later wall clock, so only the flood limit can refuse it).
    let a2 = Device::new(
        p.a.secret.clone(),
        Mode::Classic,
        None,
        backend(BackendKind::AwsLc),
    )
    .expect("device");
    let mut c = PeerConfig::new(p.b.public);
    c.mode = Some(Mode::Classic);
    c.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
    c.endpoint = Some(p.b.addr);
    let id = a2.add_peer(c).expect("peer");
    let soon = dybervpn_proto::Now {
        mono: t.mono + Duration::from_millis(5),
        unix: t.unix + Duration::from_secs(1),
    };
    let mut out = vec![0u8; BUF];
    let Out::Net(_, init2) = own(a2
        .encapsulate(soon, id, &ip_packet(40, 1), &mut out)
        .expect("enc"))
    else {
        panic!()
    };
    assert_eq!(
        p.b.recv(soon, p.a.addr, &init2),
        Err(ProtoError::InitiationFlood)
    );
    assert_eq!(p.b.device.drop_count(DropReason::InitiationFlood), 1);
}

#[test]
fn pq_only_signature_from_the_wrong_mldsa_key_is_rejected() {
    let ba: Arc<dyn CryptoBackend> = backend(BackendKind::AwsLc);
    let bb: Arc<dyn CryptoBackend> = backend(BackendKind::Libcrux);
    let p = pair_with(ba, bb.clone(), Mode::PqOnly, Mode::PqOnly);
    // b is reconfigured to expect another ML-DSA key for a.
    let wrong = keys(&*bb, 99);
    let mut c = PeerConfig::new(p.a.public);
    c.mode = Some(Mode::PqOnly);
    c.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
    c.mldsa_public_key = Some(wrong.mldsa.public);
    p.b.device.update_peer(p.b.peer, c).expect("update");
    let t = now(1);
    let init = initiation(&p, t);
    assert_eq!(p.b.recv(t, p.a.addr, &init), Err(ProtoError::BadSignature));
    assert_eq!(p.b.device.drop_count(DropReason::BadSignature), 1);
    assert_eq!(handshakes(&p.b), 0);
}

#[test]
fn unknown_index_and_bad_lengths_are_counted() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(1);
    let mut transport = vec![0u8; 64];
    transport[0] = 4;
    assert_eq!(
        p.b.recv(t, p.a.addr, &transport),
        Err(ProtoError::UnknownIndex)
    );
    assert_eq!(
        p.b.recv(t, p.a.addr, &[5, 0, 0, 0, 1]),
        Err(ProtoError::BadLength)
    );
    assert_eq!(p.b.recv(t, p.a.addr, &[]), Err(ProtoError::BadLength));
    assert_eq!(p.b.device.drop_count(DropReason::UnknownIndex), 1);
    assert_eq!(p.b.device.drop_count(DropReason::BadLength), 2);
}

/// A flood of initiations with a valid mac1 (anyone who knows the public key
/// can compute it) but garbage inside: each one costs the responder its `es`
/// until the device counts itself under load and answers with cookie replies
/// instead. The state must last past the second in which it began, or the
/// first 512 messages of every second would cost a Diffie-Hellman each.
#[test]
fn sustained_flood_stays_under_load_across_seconds() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Classic);
    let t = now(1);
    let mut garbage = initiation(&p, t);
    // The encrypted static key no longer opens; mac1 is made valid again.
    garbage[40] ^= 1;
    fix_mac1(&mut garbage, &p.b.public);
    let answer = |at: dybervpn_proto::Now| p.b.recv(at, p.a.addr, &garbage);

    let threshold = dybervpn_proto::tuning::UNDER_LOAD_HANDSHAKES_PER_SECOND;
    for _ in 0..threshold {
        assert_eq!(answer(t), Err(ProtoError::Decryption));
    }
    let Ok(Out::Net(_, reply)) = answer(t) else {
        panic!("the message past the threshold gets a cookie reply")
    };
    assert_eq!(reply.len(), 64);
    // The flood goes on to the end of that second...
    let late = at(t.mono + Duration::from_millis(900));
    assert!(matches!(answer(late), Ok(Out::Net(_, r)) if r.len() == 64));

    // ...and into the next: cookies from its first message.
    let next = at(t.mono + Duration::from_millis(1500));
    assert!(matches!(answer(next), Ok(Out::Net(_, r)) if r.len() == 64));
    assert_eq!(p.b.device.drop_count(DropReason::CookieRequired), 3);

    // A second after the count last passed the threshold, the device is no
    // longer under load: the message is processed (and refused) in full.
    let calm = at(t.mono + Duration::from_millis(3100));
    assert_eq!(answer(calm), Err(ProtoError::Decryption));
    assert_eq!(p.b.device.drop_count(DropReason::CookieRequired), 3);
}

/// `KDF2(key, input)` of docs/protocol.md §1, rebuilt from the backend's
/// HMAC: what an attacker needs to follow the key schedule.
fn kdf2(b: &dyn CryptoBackend, key: &[u8; 32], input: &[u8]) -> ([u8; 32], [u8; 32]) {
    let t0 = b.hmac(key, &[input]);
    let t1 = b.hmac(t0.expose(), &[&[1]]);
    let t2 = b.hmac(t0.expose(), &[t1.expose(), &[2]]);
    (*t1.expose(), *t2.expose())
}

/// An attacker who can break X25519 (here: who knows the responder's
/// static X25519 key, which is what breaking it gives) opens a recorded
/// pq-only initiation's `{t || sig}`, puts a timestamp far in the future
/// under the genuine signature and seals it again. Were the timestamp not
/// signed, the responder would accept it and then refuse every genuine
/// initiation from that peer as a replay. It must refuse the forgery, and
/// still accept the genuine initiation afterwards.
#[test]
fn pq_only_timestamp_cannot_be_replaced_by_an_attacker_who_breaks_x25519() {
    let mode = Mode::PqOnly;
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, mode);
    let b = &*backend(BackendKind::AwsLc);
    let t = now(100);
    let init = initiation(&p, t);
    let l = initiation_layout(mode);

    // The key schedule of docs/protocol.md §3.3 up to `ss`, from public
    // values and the broken X25519 secrets.
    let mut c = b.hash(&[b"Noise_IKpsk2+KEM+SIG_25519+MLKEM768+MLDSA65_ChaChaPoly_BLAKE2s"]);
    let mut h = b.hash(&[&c, b"DyberVPN v2 pq-only"]);
    h = b.hash(&[&h, p.b.public.as_bytes()]);
    let e_i = &init[8..40];
    h = b.hash(&[&h, e_i]);
    c = kdf2(b, &c, e_i).0;
    let kem_ek = l.kem_ek.expect("pq-only carries an ML-KEM key");
    h = b.hash(&[&h, &init[kem_ek..l.encrypted_static]]);
    let e_i = dybervpn_crypto::X25519PublicKey(e_i.try_into().expect("32 bytes"));
    let es = b.x25519(&p.b.secret, &e_i).expect("es");
    c = kdf2(b, &c, es.expose()).0;
    h = b.hash(&[&h, &init[l.encrypted_static..l.encrypted_timestamp]]);
    let ss = b.x25519(&p.b.secret, &p.a.public).expect("ss");
    let key = dybervpn_crypto::AeadKey::new(kdf2(b, &c, ss.expose()).1);

    let (sealed, tag) =
        init[l.encrypted_timestamp..l.mac1].split_at(l.mac1 - l.encrypted_timestamp - 16);
    let mut plain = sealed.to_vec();
    let tag: [u8; 16] = tag.try_into().expect("16 bytes");
    b.aead_open(&key, 0, &h, &mut plain, &tag)
        .expect("the attacker opens {t || sig}");
    plain[..12].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let tag = b.aead_seal(&key, 0, &h, &mut plain).expect("seal");
    let mut forged = init.clone();
    forged[l.encrypted_timestamp..l.mac1 - 16].copy_from_slice(&plain);
    forged[l.mac1 - 16..l.mac1].copy_from_slice(&tag);
    fix_mac1(&mut forged, &p.b.public);

    assert_eq!(
        p.b.recv(t, p.a.addr, &forged),
        Err(ProtoError::BadSignature),
        "the forged timestamp passed the signature check"
    );
    assert!(
        matches!(p.b.recv(t, p.a.addr, &init), Ok(Out::Net(..))),
        "the genuine initiation must still be answered"
    );
}

/// A replayed pq-only initiation is refused on its timestamp, before its
/// signature is verified: replays of a recorded initiation cost the
/// responder no ML-DSA verification.
#[test]
fn replayed_pq_only_initiation_is_refused_before_its_signature_is_checked() {
    let counting = Counting::new(backend(BackendKind::AwsLc));
    let p = pair_with(
        backend(BackendKind::AwsLc),
        counting.clone(),
        Mode::PqOnly,
        Mode::PqOnly,
    );
    let t = now(100);
    let init = initiation(&p, t);
    assert!(matches!(p.b.recv(t, p.a.addr, &init), Ok(Out::Net(..))));
    let verified = counting
        .verifications
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        p.b.recv(now(101), p.a.addr, &init),
        Err(ProtoError::ReplayedTimestamp)
    );
    assert_eq!(
        counting
            .verifications
            .load(std::sync::atomic::Ordering::SeqCst),
        verified,
        "a replay was verified"
    );
}
