#![no_main]
//! The two backends, and the two BLAKE2s implementations, agree on every
//! deterministic primitive for inputs the fuzzer picks. Each side is a
//! separate implementation (aws-lc against RustCrypto, x25519-dalek and
//! libcrux; `blake2s_simd`'s batched MAC against the `blake2` crate), so a
//! disagreement is a bug in one of them or in how DyberVPN calls it.
//!
//! Input: `op rest…`, where `op % 7` picks what is compared:
//! 0. `mac_many` (SIMD) against `mac`, for up to 17 messages of up to
//!    4,700 bytes (mac1 covers up to 4,609): `key[32] n (len_hi len_lo
//!    bytes[len])*`.
//! 1. the transport cipher: `key[32] counter[8] flip plaintext…`; the
//!    ciphertexts and tags must be equal, each backend opens the other's,
//!    and neither opens it with one bit flipped.
//! 2. ChaCha20-Poly1305 with associated data (the handshake's AEAD):
//!    `key[32] counter[8] aad_len aad… plaintext…`.
//! 3. XChaCha20-Poly1305 (cookie replies): `key[32] nonce[24] aad[32]
//!    plaintext…`.
//! 4. X25519 on any secret and any public key (low-order points included):
//!    `secret[32] public[32]`; the same secret or the same error.
//! 5. ML-KEM-768 on any encapsulation key (the modulus check) or any
//!    ciphertext (implicit rejection is deterministic) for one fixed
//!    decapsulation key: `which bytes…`, the bytes cut or padded with
//!    zeros to 1,184 (`which` even) or 1,088 bytes.
//! 6. ML-DSA-65 verification (the peer's public key and signature in
//!    pq-only): `which flip at[2] msg_len msg… rest…`. With `which` even, a
//!    genuine signature of `msg` by a fixed key, with bit `at` flipped
//!    unless `flip` is 0: it must verify exactly when nothing was flipped.
//!    Odd: `rest` cut or padded to a public key and a signature, which
//!    must not panic either backend, and both must give the same answer.
use std::sync::OnceLock;

use dybervpn_crypto::{
    blake2s, AeadKey, AwsLcBackend, CryptoBackend, LibcruxBackend, MlDsaKeyPair, MlDsaPublicKey,
    MlDsaSeed, MlDsaSignature, MlKemCiphertext, MlKemDecapsKey, MlKemEncapsKey, X25519PublicKey,
    X25519SecretKey,
};
use libfuzzer_sys::fuzz_target;

/// Splits `n` bytes off the front, or `None` if there are fewer.
fn take<'a, const N: usize>(data: &mut &'a [u8]) -> Option<&'a [u8; N]> {
    let (head, tail) = data.split_first_chunk::<N>()?;
    *data = tail;
    Some(head)
}

fn backends() -> [Box<dyn CryptoBackend>; 2] {
    [
        Box::new(AwsLcBackend::new()),
        Box::new(LibcruxBackend::new()),
    ]
}

/// One decapsulation key for the whole run, made once.
fn decaps_key() -> &'static MlKemDecapsKey {
    static DK: OnceLock<MlKemDecapsKey> = OnceLock::new();
    DK.get_or_init(|| AwsLcBackend::new().mlkem_generate().expect("keygen").0)
}

fn macs(mut data: &[u8]) {
    let Some(key) = take::<32>(&mut data) else {
        return;
    };
    let Some(&[n]) = take::<1>(&mut data) else {
        return;
    };
    let mut inputs = Vec::new();
    for _ in 0..n % 18 {
        let len = take::<2>(&mut data).map_or(0, |l| usize::from(u16::from_be_bytes(*l)) % 4701);
        let (input, rest) = data.split_at(len.min(data.len()));
        inputs.push(input);
        data = rest;
    }
    let mut batch = vec![[0u8; 16]; inputs.len()];
    blake2s::mac_many(key, &inputs, &mut batch);
    for (input, mac) in inputs.iter().zip(&batch) {
        assert_eq!(*mac, blake2s::mac(key, &[input]), "batched MAC differs");
    }
    for b in backends() {
        let mut out = vec![[0u8; 16]; inputs.len()];
        b.mac_many(key, &inputs, &mut out);
        assert_eq!(out, batch, "{} mac_many differs", b.name());
    }
}

fn transport(mut data: &[u8]) {
    let (Some(key), Some(counter), Some(&[flip])) = (
        take::<32>(&mut data),
        take::<8>(&mut data),
        take::<1>(&mut data),
    ) else {
        return;
    };
    let key = AeadKey::new(*key);
    let counter = u64::from_le_bytes(*counter);
    let [a, b] = backends().map(|b| b.transport_cipher(&key));
    let (mut ca, mut cb) = (data.to_vec(), data.to_vec());
    let ta = a.seal(counter, &mut ca).expect("aws-lc seal");
    let tb = b.seal(counter, &mut cb).expect("libcrux seal");
    assert_eq!((&ca, ta), (&cb, tb), "ciphertexts differ");
    let mut pa = cb.clone();
    b.open(counter, &mut ca, &ta)
        .expect("libcrux opens aws-lc's");
    a.open(counter, &mut pa, &tb)
        .expect("aws-lc opens libcrux's");
    assert_eq!((&ca[..], &pa[..]), (data, data), "plaintext differs");

    // One bit flipped, in the ciphertext or the tag: both refuse.
    let mut sealed = data.to_vec();
    let mut tag = a.seal(counter, &mut sealed).expect("seal");
    let bit = usize::from(flip);
    if bit / 8 < sealed.len() {
        sealed[bit / 8] ^= 1 << (bit % 8);
    } else {
        tag[bit % 16] ^= 1 << (bit % 8);
    }
    assert!(a.open(counter, &mut sealed.clone(), &tag).is_err());
    assert!(b.open(counter, &mut sealed, &tag).is_err());
}

fn aead(mut data: &[u8]) {
    let (Some(key), Some(counter), Some(&[aad_len])) = (
        take::<32>(&mut data),
        take::<8>(&mut data),
        take::<1>(&mut data),
    ) else {
        return;
    };
    let (aad, plain) = data.split_at(usize::from(aad_len).min(data.len()));
    let key = AeadKey::new(*key);
    let counter = u64::from_le_bytes(*counter);
    let [a, b] = backends();
    let (mut ca, mut cb) = (plain.to_vec(), plain.to_vec());
    let ta = a.aead_seal(&key, counter, aad, &mut ca).expect("seal");
    let tb = b.aead_seal(&key, counter, aad, &mut cb).expect("seal");
    assert_eq!((&ca, ta), (&cb, tb), "ciphertexts differ");
    b.aead_open(&key, counter, aad, &mut ca, &ta)
        .expect("libcrux opens aws-lc's");
    assert_eq!(&ca[..], plain);
    if let Some((first, _)) = aad.split_first() {
        let mut other = aad.to_vec();
        other[0] = first ^ 1;
        assert!(a.aead_open(&key, counter, &other, &mut cb, &tb).is_err());
    }
}

fn xaead(mut data: &[u8]) {
    let (Some(key), Some(nonce), Some(aad)) = (
        take::<32>(&mut data),
        take::<24>(&mut data),
        take::<32>(&mut data),
    ) else {
        return;
    };
    let key = AeadKey::new(*key);
    let [a, b] = backends();
    let (mut ca, mut cb) = (data.to_vec(), data.to_vec());
    let ta = a.xaead_seal(&key, nonce, aad, &mut ca).expect("seal");
    let tb = b.xaead_seal(&key, nonce, aad, &mut cb).expect("seal");
    assert_eq!((&ca, ta), (&cb, tb), "ciphertexts differ");
    a.xaead_open(&key, nonce, aad, &mut cb, &tb)
        .expect("aws-lc opens libcrux's");
    assert_eq!(&cb[..], data);
}

fn x25519(mut data: &[u8]) {
    let (Some(secret), Some(public)) = (take::<32>(&mut data), take::<32>(&mut data)) else {
        return;
    };
    let secret = X25519SecretKey::from_bytes(*secret);
    let public = X25519PublicKey(*public);
    let [a, b] = backends();
    let ra = a.x25519(&secret, &public).map(|s| *s.expose());
    let rb = b.x25519(&secret, &public).map(|s| *s.expose());
    assert_eq!(ra, rb, "X25519 differs");
    let pa = a.x25519_public_key(&secret).expect("public key");
    assert_eq!(pa, b.x25519_public_key(&secret).expect("public key"));
}

fn mlkem(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    // Padded with zeros to the exact length, so that every input is used.
    let exact = |len: usize| {
        let mut v = rest[..rest.len().min(len)].to_vec();
        v.resize(len, 0);
        v
    };
    let [a, b] = backends();
    if which & 1 == 0 {
        let ek = MlKemEncapsKey::from_slice(&exact(MlKemEncapsKey::LEN)).expect("length");
        assert_eq!(
            a.mlkem_check_encaps_key(&ek).is_ok(),
            b.mlkem_check_encaps_key(&ek).is_ok(),
            "the modulus check differs"
        );
    } else {
        let ct = MlKemCiphertext::from_slice(&exact(MlKemCiphertext::LEN)).expect("length");
        let dk = decaps_key();
        let sa = a.mlkem_decapsulate(dk, &ct).expect("aws-lc decapsulates");
        let sb = b.mlkem_decapsulate(dk, &ct).expect("libcrux decapsulates");
        assert_eq!(sa.expose(), sb.expose(), "decapsulation differs");
    }
}

/// One ML-DSA-65 key pair for the whole run, made once.
fn signing_key() -> &'static MlDsaKeyPair {
    static KEY: OnceLock<MlDsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        AwsLcBackend::new()
            .mldsa_from_seed(&MlDsaSeed::from_bytes([3; 32]))
            .expect("keygen")
    })
}

const CONTEXT: &[u8] = b"DyberVPN v2 pq-only initiation";

fn mldsa(mut data: &[u8]) {
    let (Some(&[which, flip]), Some(at), Some(&[len])) = (
        take::<2>(&mut data),
        take::<2>(&mut data),
        take::<1>(&mut data),
    ) else {
        return;
    };
    let (message, rest) = data.split_at(usize::from(len).min(data.len()));
    let [a, b] = backends();
    if which & 1 == 0 {
        let key = signing_key();
        let signature = a.mldsa_sign(key, CONTEXT, message).expect("sign");
        let mut bytes = signature.as_bytes().to_vec();
        let bit = usize::from(u16::from_be_bytes(*at)) % (bytes.len() * 8);
        if flip != 0 {
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        let signature = MlDsaSignature::from_slice(&bytes).expect("length");
        for backend in [&a, &b] {
            let ok = backend
                .mldsa_verify(&key.public, CONTEXT, message, &signature)
                .is_ok();
            assert_eq!(ok, flip == 0, "{}: flipped bit {bit}", backend.name());
        }
    } else {
        let padded = |bytes: &[u8], len: usize| {
            let mut v = bytes[..bytes.len().min(len)].to_vec();
            v.resize(len, 0);
            v
        };
        let (pk, sig) = rest.split_at(rest.len().min(MlDsaPublicKey::LEN));
        let pk = MlDsaPublicKey::from_slice(&padded(pk, MlDsaPublicKey::LEN)).expect("length");
        let sig = MlDsaSignature::from_slice(&padded(sig, MlDsaSignature::LEN)).expect("length");
        let ra = a.mldsa_verify(&pk, CONTEXT, message, &sig).is_ok();
        let rb = b.mldsa_verify(&pk, CONTEXT, message, &sig).is_ok();
        assert_eq!(ra, rb, "verification differs");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((op, rest)) = data.split_first() else {
        return;
    };
    match op % 7 {
        0 => macs(rest),
        1 => transport(rest),
        2 => aead(rest),
        3 => xaead(rest),
        4 => x25519(rest),
        5 => mlkem(rest),
        _ => mldsa(rest),
    }
});
