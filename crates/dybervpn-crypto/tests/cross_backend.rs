//! Every operation done by one backend and checked by the other, in both
//! directions (and each backend with itself).

mod common;

use common::pairs;
use dybervpn_crypto::{AeadKey, MlDsaSeed, TransportCipher};

#[test]
fn x25519_agrees_across_backends() {
    for (a, b) in pairs() {
        let (a_secret, a_public) = a.x25519_generate().expect("keygen a");
        let (b_secret, b_public) = b.x25519_generate().expect("keygen b");
        assert_eq!(
            a.x25519_public_key(&a_secret).expect("public a"),
            b.x25519_public_key(&a_secret).expect("public a on b"),
            "{} vs {}",
            a.name(),
            b.name()
        );
        let ab = a.x25519(&a_secret, &b_public).expect("dh on a");
        let ba = b.x25519(&b_secret, &a_public).expect("dh on b");
        assert_eq!(ab, ba, "{} -> {}", a.name(), b.name());
        // Again, with whatever import the first call kept, and with a key
        // that carries the other backend's import.
        assert_eq!(a.x25519(&a_secret, &b_public).expect("dh again"), ab);
        assert_eq!(b.x25519(&a_secret, &b_public).expect("dh on b"), ab);
    }
}

#[test]
fn mlkem_encapsulate_on_one_decapsulate_on_other() {
    for (a, b) in pairs() {
        // Key pair made by `a`, encapsulation by `b`, decapsulation by `a`.
        let (dk, ek) = a.mlkem_generate().expect("keygen");
        a.mlkem_check_encaps_key(&ek).expect("a accepts its own ek");
        b.mlkem_check_encaps_key(&ek).expect("b accepts a's ek");
        let (ct, ss_b) = b.mlkem_encapsulate(&ek).expect("encapsulate");
        let ss_a = a.mlkem_decapsulate(&dk, &ct).expect("decapsulate");
        assert_eq!(ss_a, ss_b, "keygen {} / encaps {}", a.name(), b.name());

        // Key pair made by `a`, encapsulation by `a`, decapsulation by `b`.
        let (ct, ss_a) = a.mlkem_encapsulate(&ek).expect("encapsulate");
        let ss_b = b.mlkem_decapsulate(&dk, &ct).expect("decapsulate");
        assert_eq!(
            ss_a,
            ss_b,
            "keygen+encaps {} / decaps {}",
            a.name(),
            b.name()
        );
    }
}

#[test]
fn aead_seal_on_one_open_on_other() {
    for (a, b) in pairs() {
        let mut key = AeadKey::default();
        a.fill_random(key.expose_mut()).expect("random");
        let plaintext = b"a packet of some length, not a multiple of 16".to_vec();
        let aad = b"header";

        let mut buf = plaintext.clone();
        let tag = a.aead_seal(&key, 7, aad, &mut buf).expect("seal");
        assert_ne!(buf, plaintext);
        b.aead_open(&key, 7, aad, &mut buf, &tag).expect("open");
        assert_eq!(buf, plaintext, "{} -> {}", a.name(), b.name());

        // Transport ciphers agree with each other and with aead_seal/open
        // (empty associated data).
        let ta: Box<dyn TransportCipher> = a.transport_cipher(&key);
        let tb: Box<dyn TransportCipher> = b.transport_cipher(&key);
        let mut buf = plaintext.clone();
        let tag = ta.seal(u64::MAX - 1, &mut buf).expect("transport seal");
        let mut again = plaintext.clone();
        let tag_again = b
            .aead_seal(&key, u64::MAX - 1, &[], &mut again)
            .expect("seal");
        assert_eq!((buf.clone(), tag), (again, tag_again));
        tb.open(u64::MAX - 1, &mut buf, &tag)
            .expect("transport open");
        assert_eq!(buf, plaintext);

        let nonce = [0x24u8; 24];
        let mut buf = plaintext.clone();
        let tag = a.xaead_seal(&key, &nonce, aad, &mut buf).expect("xseal");
        b.xaead_open(&key, &nonce, aad, &mut buf, &tag)
            .expect("xopen");
        assert_eq!(buf, plaintext);
    }
}

#[test]
fn empty_packet_round_trips() {
    for (a, b) in pairs() {
        let key = AeadKey::new([9u8; 32]);
        let mut empty: [u8; 0] = [];
        let tag = a
            .transport_cipher(&key)
            .seal(0, &mut empty)
            .expect("seal keepalive");
        b.transport_cipher(&key)
            .open(0, &mut empty, &tag)
            .expect("open keepalive");
    }
}

#[test]
fn mldsa_sign_on_one_verify_on_other() {
    for (a, b) in pairs() {
        let mut seed = [0u8; 32];
        a.fill_random(&mut seed).expect("random");
        let key_a = a
            .mldsa_from_seed(&MlDsaSeed::from_bytes(seed))
            .expect("keygen a");
        let key_b = b
            .mldsa_from_seed(&MlDsaSeed::from_bytes(seed))
            .expect("keygen b");
        assert_eq!(key_a.public, key_b.public);
        assert_eq!(key_a.expanded, key_b.expanded);

        let context = b"DyberVPN test context";
        let message = b"handshake transcript hash";
        let signature = a.mldsa_sign(&key_a, context, message).expect("sign");
        b.mldsa_verify(&key_b.public, context, message, &signature)
            .expect("verify on the other backend");
        // Hedged signing: a second signature differs.
        let second = a.mldsa_sign(&key_a, context, message).expect("sign again");
        assert_ne!(signature, second);
    }
}

/// Batched MACs equal one-at-a-time MACs, across backends: a batch of
/// handshake messages must be judged as each alone would be.
#[test]
fn mac_many_agrees_with_mac_across_backends() {
    let key = [0x42u8; 32];
    let messages: Vec<Vec<u8>> = (0..11u8)
        .map(|i| vec![i; 100 + 130 * usize::from(i)])
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    for (a, b) in pairs() {
        let mut out = vec![[0u8; 16]; refs.len()];
        a.mac_many(&key, &refs, &mut out);
        for (m, got) in refs.iter().zip(&out) {
            assert_eq!(*got, b.mac(&key, &[m]), "{} vs {}", a.name(), b.name());
        }
    }
}
