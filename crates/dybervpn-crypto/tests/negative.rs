//! Failures that must happen: tampering, wrong keys, low-order points,
//! invalid encapsulation keys, and secrets leaking through `Debug`.

mod common;

use common::backends;
use dybervpn_crypto::{
    AeadKey, CryptoError, MlDsaSeed, MlKemCiphertext, MlKemEncapsKey, PresharedKey, SharedSecret,
    X25519PublicKey, X25519SecretKey,
};

#[test]
fn tampered_mlkem_ciphertext_gives_implicit_rejection_not_error() {
    for be in backends() {
        let (dk, ek) = be.mlkem_generate().expect("keygen");
        let (ct, ss) = be.mlkem_encapsulate(&ek).expect("encapsulate");
        let mut bad = ct.clone();
        bad.0[0] ^= 1;
        let rejected = be
            .mlkem_decapsulate(&dk, &bad)
            .expect("implicit rejection is Ok");
        assert_ne!(rejected, ss, "{}", be.name());
        // Deterministic: the same tampered ciphertext gives the same secret,
        // and both backends compute the same rejection secret.
        for other in backends() {
            assert_eq!(
                other.mlkem_decapsulate(&dk, &bad).expect("decapsulate"),
                rejected,
                "{} vs {}",
                be.name(),
                other.name()
            );
        }
    }
}

#[test]
fn mlkem_wrong_key_gives_different_secret() {
    for be in backends() {
        let (_, ek) = be.mlkem_generate().expect("keygen");
        let (other_dk, _) = be.mlkem_generate().expect("keygen");
        let (ct, ss) = be.mlkem_encapsulate(&ek).expect("encapsulate");
        let wrong = be.mlkem_decapsulate(&other_dk, &ct).expect("decapsulate");
        assert_ne!(wrong, ss);
    }
}

/// An encapsulation key whose first coefficient is 3329 = q (FIPS 203 §7.2
/// requires `ByteEncode12(ByteDecode12(ek)) == ek`, which fails for any
/// coefficient ≥ q).
fn ek_with_unreduced_coefficient() -> MlKemEncapsKey {
    let (_, ek) = backends()[0].mlkem_generate().expect("keygen");
    let mut bad = ek.clone();
    // Coefficient 0 is the low 12 bits of bytes 0..2 (little-endian).
    let q: u16 = 3329;
    bad.0[0] = (q & 0xff) as u8;
    bad.0[1] = (bad.0[1] & 0xf0) | ((q >> 8) as u8 & 0x0f);
    bad
}

#[test]
fn unreduced_encapsulation_key_is_rejected_by_both_backends() {
    let bad = ek_with_unreduced_coefficient();
    for be in backends() {
        assert_eq!(
            be.mlkem_check_encaps_key(&bad),
            Err(CryptoError::InvalidEncapsulationKey),
            "{}",
            be.name()
        );
        assert_eq!(
            be.mlkem_encapsulate(&bad).map(|_| ()),
            Err(CryptoError::InvalidEncapsulationKey),
            "{}",
            be.name()
        );
    }
    // The largest 12-bit value too, in the last coefficient.
    let (_, ek) = backends()[1].mlkem_generate().expect("keygen");
    let mut bad = ek.clone();
    // The last coefficient of t̂ is the top 12 bits of bytes 1150..1152
    // (the final 32 bytes are ρ).
    bad.0[1151] = 0xff;
    bad.0[1150] |= 0xf0;
    for be in backends() {
        assert_eq!(
            be.mlkem_check_encaps_key(&bad),
            Err(CryptoError::InvalidEncapsulationKey)
        );
    }
}

/// What aws-lc itself does with such a key, through aws-lc-rs directly: the
/// key is accepted by `EncapsulationKey::new` (no check there) and refused by
/// encapsulation. This is why the aws-lc backend runs libcrux's check for
/// `mlkem_check_encaps_key`.
#[test]
fn aws_lc_checks_the_modulus_only_when_encapsulating() {
    use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
    let bad = ek_with_unreduced_coefficient();
    let key = EncapsulationKey::new(&ML_KEM_768, bad.as_bytes())
        .expect("aws-lc-rs does not check the modulus on import");
    assert!(
        key.encapsulate().is_err(),
        "aws-lc rejects at encapsulation"
    );
}

#[test]
fn low_order_x25519_points_are_rejected() {
    // Low-order points from RFC 7748 / the curve25519 literature: 0, 1, a
    // point of order 8, and p and p+1 (non-canonical encodings of 0 and 1).
    let points: [[u8; 32]; 5] = [
        [0u8; 32],
        {
            let mut p = [0u8; 32];
            p[0] = 1;
            p
        },
        common::unhex_array("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        common::unhex_array("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        common::unhex_array("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    for be in backends() {
        let (secret, _) = be.x25519_generate().expect("keygen");
        for point in points {
            assert_eq!(
                be.x25519(&secret, &X25519PublicKey(point)),
                Err(CryptoError::LowOrderPoint),
                "{} {:02x?}",
                be.name(),
                point
            );
        }
    }
}

#[test]
fn tampered_aead_fails() {
    for be in backends() {
        let key = AeadKey::new([0x42; 32]);
        let mut buf = b"attack at dawn".to_vec();
        let tag = be.aead_seal(&key, 1, b"aad", &mut buf).expect("seal");

        let mut c = buf.clone();
        c[3] ^= 0x80;
        assert_eq!(
            be.aead_open(&key, 1, b"aad", &mut c, &tag),
            Err(CryptoError::Decryption)
        );

        let mut bad_tag = tag;
        bad_tag[15] ^= 1;
        let mut c = buf.clone();
        assert_eq!(
            be.aead_open(&key, 1, b"aad", &mut c, &bad_tag),
            Err(CryptoError::Decryption)
        );

        let mut c = buf.clone();
        assert_eq!(
            be.aead_open(&key, 1, b"aaD", &mut c, &tag),
            Err(CryptoError::Decryption)
        );

        let mut c = buf.clone();
        assert_eq!(
            be.aead_open(&key, 2, b"aad", &mut c, &tag),
            Err(CryptoError::Decryption)
        );

        let mut c = buf.clone();
        let other = AeadKey::new([0x43; 32]);
        assert_eq!(
            be.aead_open(&other, 1, b"aad", &mut c, &tag),
            Err(CryptoError::Decryption)
        );

        let transport = be.transport_cipher(&key);
        let mut p = vec![0u8; 64];
        let tag = transport.seal(5, &mut p).expect("seal");
        let mut c = p.clone();
        c[63] ^= 1;
        assert_eq!(
            transport.open(5, &mut c, &tag),
            Err(CryptoError::Decryption)
        );
        let mut c = p.clone();
        assert_eq!(
            transport.open(6, &mut c, &tag),
            Err(CryptoError::Decryption)
        );

        let nonce = [1u8; 24];
        let mut x = b"cookie".to_vec();
        let tag = be.xaead_seal(&key, &nonce, b"mac1", &mut x).expect("xseal");
        let mut c = x.clone();
        c[0] ^= 1;
        assert_eq!(
            be.xaead_open(&key, &nonce, b"mac1", &mut c, &tag),
            Err(CryptoError::Decryption)
        );
        let mut c = x.clone();
        assert_eq!(
            be.xaead_open(&key, &nonce, b"mac2", &mut c, &tag),
            Err(CryptoError::Decryption)
        );
        let mut c = x.clone();
        let mut other_nonce = nonce;
        other_nonce[23] ^= 1;
        assert_eq!(
            be.xaead_open(&key, &other_nonce, b"mac1", &mut c, &tag),
            Err(CryptoError::Decryption)
        );
    }
}

#[test]
fn mldsa_wrong_context_key_or_message_fails() {
    for be in backends() {
        let key = be
            .mldsa_from_seed(&MlDsaSeed::from_bytes([1; 32]))
            .expect("keygen");
        let other = be
            .mldsa_from_seed(&MlDsaSeed::from_bytes([2; 32]))
            .expect("keygen");
        let signature = be.mldsa_sign(&key, b"ctx", b"message").expect("sign");
        be.mldsa_verify(&key.public, b"ctx", b"message", &signature)
            .expect("verifies");

        let bad = Err(CryptoError::BadSignature);
        assert_eq!(
            be.mldsa_verify(&key.public, b"ctX", b"message", &signature),
            bad
        );
        assert_eq!(
            be.mldsa_verify(&key.public, b"", b"message", &signature),
            bad
        );
        assert_eq!(
            be.mldsa_verify(&other.public, b"ctx", b"message", &signature),
            bad
        );
        assert_eq!(
            be.mldsa_verify(&key.public, b"ctx", b"messagf", &signature),
            bad
        );
        let mut tampered = signature.clone();
        tampered.0[100] ^= 1;
        assert_eq!(
            be.mldsa_verify(&key.public, b"ctx", b"message", &tampered),
            bad
        );
    }
}

#[test]
fn mldsa_context_longer_than_255_bytes_is_refused() {
    for be in backends() {
        let key = be
            .mldsa_from_seed(&MlDsaSeed::from_bytes([1; 32]))
            .expect("keygen");
        let long = [0u8; 256];
        assert_eq!(
            be.mldsa_sign(&key, &long, b"m").map(|_| ()),
            Err(CryptoError::Signing)
        );
        let ok = be
            .mldsa_sign(&key, &long[..255], b"m")
            .expect("255 bytes is allowed");
        be.mldsa_verify(&key.public, &long[..255], b"m", &ok)
            .expect("verifies");
        assert_eq!(
            be.mldsa_verify(&key.public, &long, b"m", &ok),
            Err(CryptoError::BadSignature)
        );
    }
}

/// Formats `value` with `{:?}` and `{:#?}` and checks that no 4-byte window
/// of `secret` appears in hex or as decimal byte lists.
fn assert_redacted(what: &str, debug: String, secret: &[u8]) {
    let lower = debug.to_lowercase();
    for window in secret.windows(4) {
        let hex = hex::encode(window);
        assert!(!lower.contains(&hex), "{what} leaks hex: {debug}");
        let dec = format!("{}, {}, {}, {}", window[0], window[1], window[2], window[3]);
        assert!(!debug.contains(&dec), "{what} leaks bytes: {debug}");
    }
    assert!(
        !debug.contains(&dybervpn_crypto::encoding::to_base64(secret)),
        "{what} leaks base64: {debug}"
    );
}

#[test]
fn debug_output_contains_no_secret_bytes() {
    let bytes: [u8; 32] = core::array::from_fn(|i| 0xa0 ^ (i as u8 * 7));
    let x = X25519SecretKey::from_bytes(bytes);
    assert_redacted("X25519SecretKey", format!("{x:?} {x:#?}"), &bytes);
    let p = PresharedKey::from_bytes(bytes);
    assert_redacted("PresharedKey", format!("{p:?} {p:#?}"), &bytes);
    let s = SharedSecret::new(bytes);
    assert_redacted("SharedSecret", format!("{s:?} {s:#?}"), &bytes);
    let k = AeadKey::new(bytes);
    assert_redacted("AeadKey", format!("{k:?}"), &bytes);
    let seed = MlDsaSeed::from_bytes(bytes);
    assert_redacted("MlDsaSeed", format!("{seed:?}"), &bytes);

    for be in backends() {
        let pair = be
            .mldsa_from_seed(&MlDsaSeed::from_bytes(bytes))
            .expect("keygen");
        let debug = format!("{pair:?} {pair:#?}");
        assert_redacted("MlDsaKeyPair seed", debug.clone(), &bytes);
        assert_redacted("MlDsaKeyPair expanded", debug, &pair.expanded.expose()[..]);

        let (dk, _) = be.mlkem_generate().expect("keygen");
        assert_redacted(
            "MlKemDecapsKey",
            format!("{dk:?} {dk:#?}"),
            &dk.0.expose()[..],
        );

        // Backends themselves hold no key material worth printing.
        let text = format!("{be:?}");
        assert!(!text.is_empty());
    }
    let det = dybervpn_crypto::LibcruxBackend::insecure_deterministic(bytes);
    assert_redacted("deterministic backend", format!("{det:?} {det:#?}"), &bytes);
}

#[test]
fn wrong_length_ciphertext_cannot_be_built() {
    assert!(MlKemCiphertext::from_slice(&[0u8; 1087]).is_none());
    assert!(MlKemEncapsKey::from_slice(&[0u8; 1185]).is_none());
}
