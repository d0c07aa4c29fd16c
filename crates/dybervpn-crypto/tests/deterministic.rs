//! `LibcruxBackend::insecure_deterministic`: same seed, same outputs;
//! different seed, different outputs.

use dybervpn_crypto::{CryptoBackend, LibcruxBackend, MlDsaSeed};

/// Runs every randomized operation once and returns everything it produced.
fn transcript(be: &dyn CryptoBackend) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut random = [0u8; 48];
    be.fill_random(&mut random).expect("random");
    out.push(random.to_vec());
    let (x_secret, x_public) = be.x25519_generate().expect("x25519");
    out.push(x_secret.expose().to_vec());
    out.push(x_public.0.to_vec());
    let (dk, ek) = be.mlkem_generate().expect("mlkem keygen");
    out.push(dk.0.expose().to_vec());
    out.push(ek.0.to_vec());
    let (ct, ss) = be.mlkem_encapsulate(&ek).expect("encapsulate");
    out.push(ct.0.to_vec());
    out.push(ss.expose().to_vec());
    let key = be
        .mldsa_from_seed(&MlDsaSeed::from_bytes([5; 32]))
        .expect("mldsa");
    let sig = be.mldsa_sign(&key, b"ctx", b"message").expect("sign");
    be.mldsa_verify(&key.public, b"ctx", b"message", &sig)
        .expect("verify");
    out.push(sig.0.to_vec());
    out
}

#[test]
fn same_seed_gives_identical_outputs() {
    let a = transcript(&LibcruxBackend::insecure_deterministic([7; 32]));
    let b = transcript(&LibcruxBackend::insecure_deterministic([7; 32]));
    assert_eq!(a, b);
}

#[test]
fn different_seeds_give_different_outputs() {
    let a = transcript(&LibcruxBackend::insecure_deterministic([7; 32]));
    let b = transcript(&LibcruxBackend::insecure_deterministic([8; 32]));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_ne!(x, y, "item {i} did not depend on the seed");
    }
}

#[test]
fn the_stream_advances_and_clones_share_it() {
    let be = LibcruxBackend::insecure_deterministic([1; 32]);
    let clone = be.clone();
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    be.fill_random(&mut first).expect("random");
    clone.fill_random(&mut second).expect("random");
    assert_ne!(first, second, "a clone must not replay the stream");

    // The stream is the ChaCha20 keystream keyed by the seed (nonce 0).
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let mut expected = [0u8; 64];
    chacha20::ChaCha20::new(&[1u8; 32].into(), &[0u8; 12].into()).apply_keystream(&mut expected);
    assert_eq!(first[..], expected[..32]);
    assert_eq!(second[..], expected[32..]);
}

#[test]
fn the_os_backend_is_not_deterministic() {
    let a = transcript(&LibcruxBackend::new());
    let b = transcript(&LibcruxBackend::new());
    assert_ne!(a[0], b[0]);
    let debug = format!("{:?}", LibcruxBackend::insecure_deterministic([0; 32]));
    assert!(debug.contains("INSECURE"), "{debug}");
}
