//! Known-answer tests for the classical primitives, on both backends.
//! Sources are listed in `tests/vectors/README.md`.

mod common;

use common::{backends, unhex, unhex_array};
use dybervpn_crypto::{blake2s, AeadKey, X25519PublicKey, X25519SecretKey};

// --- X25519, RFC 7748 ---------------------------------------------------------

#[test]
fn x25519_rfc7748_section_5_2_scalar_multiplication() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for be in backends() {
        for (scalar, u, out) in cases {
            let secret = X25519SecretKey::from_bytes(unhex_array(scalar));
            let shared = be
                .x25519(&secret, &X25519PublicKey(unhex_array(u)))
                .expect("RFC vector is not low order");
            assert_eq!(hex::encode(shared.expose()), out, "{}", be.name());
        }
    }
}

/// RFC 7748 §5.2 iterated test: k = u = 9, then (k, u) = (X25519(k, u), k).
#[test]
fn x25519_rfc7748_section_5_2_iterations() {
    for be in backends() {
        let mut k = [0u8; 32];
        k[0] = 9;
        let mut u = k;
        for i in 1..=1000 {
            let out = be
                .x25519(&X25519SecretKey::from_bytes(k), &X25519PublicKey(u))
                .expect("iteration");
            u = k;
            k = *out.expose();
            if i == 1 {
                assert_eq!(
                    hex::encode(k),
                    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
                    "{} after 1 iteration",
                    be.name()
                );
            }
        }
        assert_eq!(
            hex::encode(k),
            "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
            "{} after 1000 iterations",
            be.name()
        );
    }
}

#[test]
fn x25519_rfc7748_section_6_1_alice_and_bob() {
    let alice = X25519SecretKey::from_bytes(unhex_array(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = X25519SecretKey::from_bytes(unhex_array(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    let alice_public = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let bob_public = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    for be in backends() {
        let a_pub = be.x25519_public_key(&alice).expect("public");
        let b_pub = be.x25519_public_key(&bob).expect("public");
        assert_eq!(hex::encode(a_pub.0), alice_public, "{}", be.name());
        assert_eq!(hex::encode(b_pub.0), bob_public, "{}", be.name());
        let k1 = be.x25519(&alice, &b_pub).expect("dh");
        let k2 = be.x25519(&bob, &a_pub).expect("dh");
        assert_eq!(hex::encode(k1.expose()), shared, "{}", be.name());
        assert_eq!(k1, k2);
    }
}

// --- ChaCha20-Poly1305, RFC 8439 §2.8.2 -----------------------------------------

const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you \
only one tip for the future, sunscreen would be it.";
const RFC_KEY: &str = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
const RFC8439_CT: &str = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b6116";
const RFC8439_TAG: &str = "1ae10b594f09e26a7e902ecbd0600691";

/// The RFC's nonce (`07000000 4041424344454647`) does not have WireGuard's
/// shape (four zero bytes, then a counter), so the trait cannot express it.
/// This runs the vector through the exact primitive each backend wraps:
/// aws-lc's `LessSafeKey` and RustCrypto's `ChaCha20Poly1305`.
#[test]
fn chacha20poly1305_rfc8439_on_the_wrapped_primitives() {
    let key: [u8; 32] = unhex_array(RFC_KEY);
    let nonce: [u8; 12] = unhex_array("070000004041424344454647");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");

    {
        use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
        let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("key"));
        let mut buf = SUNSCREEN.to_vec();
        let tag = k
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut buf,
            )
            .expect("seal");
        assert_eq!(buf, unhex(RFC8439_CT), "aws-lc ciphertext");
        assert_eq!(hex::encode(tag.as_ref()), RFC8439_TAG, "aws-lc tag");
    }
    {
        use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, KeyInit};
        let c = ChaCha20Poly1305::new(&key.into());
        let mut buf = SUNSCREEN.to_vec();
        let tag = c
            .encrypt_in_place_detached(&nonce.into(), &aad, &mut buf)
            .expect("seal");
        assert_eq!(buf, unhex(RFC8439_CT), "RustCrypto ciphertext");
        assert_eq!(hex::encode(tag), RFC8439_TAG, "RustCrypto tag");
    }
}

/// The same primitive through the trait, with a WireGuard nonce: the RFC's
/// key and plaintext at counter 0x4746454443424140 (nonce
/// `00000000 4041424344454647`) must agree between backends and with the
/// primitive called directly with that nonce.
#[test]
fn chacha20poly1305_trait_nonce_is_wireguard_shaped() {
    use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, KeyInit};
    let key: [u8; 32] = unhex_array(RFC_KEY);
    let counter = u64::from_le_bytes(unhex_array("4041424344454647"));
    let nonce: [u8; 12] = unhex_array("000000004041424344454647");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");

    let mut expected = SUNSCREEN.to_vec();
    let expected_tag = ChaCha20Poly1305::new(&key.into())
        .encrypt_in_place_detached(&nonce.into(), &aad, &mut expected)
        .expect("seal");
    for be in backends() {
        let mut buf = SUNSCREEN.to_vec();
        let tag = be
            .aead_seal(&AeadKey::new(key), counter, &aad, &mut buf)
            .expect("seal");
        assert_eq!(buf, expected, "{}", be.name());
        assert_eq!(tag[..], expected_tag[..], "{}", be.name());
        be.aead_open(&AeadKey::new(key), counter, &aad, &mut buf, &tag)
            .expect("open");
        assert_eq!(buf, SUNSCREEN);
    }
}

// --- XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1 ---------------------

#[test]
fn xchacha20poly1305_draft_a31() {
    let key = AeadKey::new(unhex_array(RFC_KEY));
    let nonce: [u8; 24] = unhex_array("404142434445464748494a4b4c4d4e4f5051525354555657");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let ct = unhex(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
         731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
         2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
         21f9664c97637da9768812f615c68b13b52e",
    );
    let tag = "c0875924c1c7987947deafd8780acf49";
    for be in backends() {
        let mut buf = SUNSCREEN.to_vec();
        let t = be.xaead_seal(&key, &nonce, &aad, &mut buf).expect("seal");
        assert_eq!(buf, ct, "{}", be.name());
        assert_eq!(hex::encode(t), tag, "{}", be.name());
        be.xaead_open(&key, &nonce, &aad, &mut buf, &t)
            .expect("open");
        assert_eq!(buf, SUNSCREEN);
    }
}

// --- BLAKE2s ----------------------------------------------------------------

#[test]
fn blake2s_rfc7693_appendix_b() {
    let expected = "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982";
    assert_eq!(hex::encode(blake2s::hash(&[b"abc"])), expected);
    // Split input hashes the concatenation, and the trait method agrees.
    assert_eq!(hex::encode(blake2s::hash(&[b"a", b"", b"bc"])), expected);
    for be in backends() {
        assert_eq!(hex::encode(be.hash(&[b"ab", b"c"])), expected);
    }
}

/// WireGuard's initial chaining key, `HASH(CONSTRUCTION)`, and initial hash.
#[test]
fn blake2s_wireguard_construction() {
    let ck = blake2s::hash(&[b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"]);
    assert_eq!(
        hex::encode(ck),
        "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
    );
    assert_eq!(
        hex::encode(blake2s::hash(&[&ck, b"WireGuard v1 zx2c4 Jason@zx2c4.com"])),
        "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3"
    );
}

/// Keyed BLAKE2s-256 from the BLAKE2 reference `blake2s-kat.txt` (key
/// `00 01 .. 1f`), through the `blake2` crate configuration we use.
#[test]
fn blake2s_keyed_reference_kat() {
    use blake2::digest::{FixedOutput, KeyInit, Update};
    let key: Vec<u8> = (0u8..32).collect();
    let cases = [
        (
            &[][..],
            "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49",
        ),
        (
            &[0u8][..],
            "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1",
        ),
    ];
    for (input, expected) in cases {
        let mut mac = <blake2::Blake2sMac256 as KeyInit>::new_from_slice(&key).expect("key");
        mac.update(input);
        assert_eq!(hex::encode(mac.finalize_fixed()), expected);
    }
}

/// WireGuard's `MAC` is keyed BLAKE2s with a 16-byte *output length* (a
/// different parameter block, not a truncation). No published vector exists
/// for it; the expected values were computed with CPython's `hashlib.blake2s`
/// (the BLAKE2 reference C code), an implementation independent of ours:
/// `hashlib.blake2s(msg, key=bytes(range(32)), digest_size=16)`.
#[test]
fn blake2s_mac_16_byte_output_against_cpython_hashlib() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    assert_eq!(
        hex::encode(blake2s::mac(&key, &[b"WireGuard mac1 test"])),
        "ff9b8b06ed3ff3819f790b60ef4f1c1d"
    );
    assert_eq!(
        hex::encode(blake2s::mac(&key, &[b"WireGuard ", b"mac1 test"])),
        "ff9b8b06ed3ff3819f790b60ef4f1c1d"
    );
    assert_eq!(
        hex::encode(blake2s::mac(&key, &[])),
        "9536f9b267655743dee97b8a670f9f53"
    );
    let full = blake2s::hash(&[b"WireGuard mac1 test"]);
    assert_ne!(
        &full[..16],
        &blake2s::mac(&key, &[b"WireGuard mac1 test"])[..]
    );
}

/// HMAC (RFC 2104) over BLAKE2s with its 64-byte block, written out plainly
/// as a reference: `H((K ^ opad) || H((K ^ ipad) || m))`, long keys hashed
/// first.
fn reference_hmac_blake2s(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&blake2s::hash(&[key]));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = blake2s::hash(&[&ipad, message]);
    blake2s::hash(&[&opad, &inner])
}

/// HMAC-BLAKE2s has no published vector. It is checked two ways: against the
/// construction written out above, and against values computed with CPython
/// (`hmac.new(key, msg, hashlib.blake2s)`), an independent implementation.
#[test]
fn hmac_blake2s_against_reference_and_cpython() {
    let key32: Vec<u8> = (0u8..32).collect();
    let key100: Vec<u8> = (0u8..100).collect();
    let long_msg = vec![b'x'; 200];
    let cases: [(&[u8], &[u8], &str); 3] = [
        (
            &key32,
            b"hello noise",
            "bbf7b87c9929eac9f990893d1a2695b5d30f3aed32c044653c2e283b36558f88",
        ),
        (
            &key100,
            &long_msg,
            "834cd67f8ca0de35dfcdfff1510ae170f5850f5455aba1c085196c441d7ca7d9",
        ),
        (
            b"",
            b"",
            "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd",
        ),
    ];
    for (key, msg, expected) in cases {
        let ours = blake2s::hmac(key, &[msg]);
        assert_eq!(hex::encode(ours.expose()), expected);
        assert_eq!(*ours.expose(), reference_hmac_blake2s(key, msg));
        for be in backends() {
            assert_eq!(hex::encode(be.hmac(key, &[msg]).expose()), expected);
        }
    }
    // Split parts hash their concatenation.
    let split = blake2s::hmac(&key32, &[b"hello", b" ", b"noise"]);
    assert_eq!(hex::encode(split.expose()), cases[0].2);
}
