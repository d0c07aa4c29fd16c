//! ChaCha20-Poly1305 on a full-size packet and an X25519 agreement, in each
//! library that offers them, used the way a tunnel uses them: a key set up
//! once, then a fresh nonce (or peer key) per call.
//!
//! `cargo bench --manifest-path bench/crypto-compare/Cargo.toml`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

/// A full-size data packet's payload through a 1420-byte MTU tunnel.
const PACKET: usize = 1420;
const KEY: [u8; 32] = [7; 32];

/// The WireGuard nonce for `counter`: four zero bytes, then the counter.
fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

fn seal(c: &mut Criterion) {
    let mut group = c.benchmark_group("chacha20poly1305_seal_1420B");
    group.throughput(Throughput::Bytes(PACKET as u64));
    let mut buf = vec![0u8; PACKET];

    // What DyberVPN's aws-lc backend calls (BoringSSL's stitched AVX2 code).
    let key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::CHACHA20_POLY1305, &KEY).expect("key"),
    );
    let mut counter = 0u64;
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| {
            counter += 1;
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce(counter));
            key.seal_in_place_separate_tag(nonce, aws_lc_rs::aead::Aad::empty(), &mut buf)
                .expect("seal")
        })
    });

    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &KEY).expect("key"),
    );
    group.bench_function("ring", |b| {
        b.iter(|| {
            counter += 1;
            let nonce = ring::aead::Nonce::assume_unique_for_key(nonce(counter));
            key.seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), &mut buf)
                .expect("seal")
        })
    });

    // What the libcrux backend calls.
    {
        use chacha20poly1305::aead::{AeadInPlace, KeyInit};
        let key = chacha20poly1305::ChaCha20Poly1305::new(&KEY.into());
        group.bench_function("rustcrypto-0.10", |b| {
            b.iter(|| {
                counter += 1;
                key.encrypt_in_place_detached(&nonce(counter).into(), &[], &mut buf)
                    .expect("seal")
            })
        });
    }

    let key = graviola::aead::ChaCha20Poly1305::new(KEY);
    group.bench_function("graviola", |b| {
        b.iter(|| {
            counter += 1;
            let mut tag = [0u8; 16];
            key.encrypt(&nonce(counter), &[], &mut buf, &mut tag);
            tag
        })
    });

    // OpenSSL 3 has AVX-512 ChaCha20 and Poly1305. One context per key, as
    // a tunnel would keep it; only the nonce is set again for each packet.
    let cipher = openssl::cipher::Cipher::fetch(None, "ChaCha20-Poly1305", None).expect("fetch");
    let mut ctx = openssl::cipher_ctx::CipherCtx::new().expect("ctx");
    ctx.encrypt_init(Some(&cipher), Some(&KEY), Some(&nonce(0)))
        .expect("init");
    let mut out = vec![0u8; PACKET + 64];
    group.bench_function("openssl-3-evp", |b| {
        b.iter(|| {
            counter += 1;
            ctx.encrypt_init(None, None, Some(&nonce(counter)))
                .expect("nonce");
            let n = ctx.cipher_update(&buf, Some(&mut out)).expect("update");
            ctx.cipher_final(&mut out[n..]).expect("final");
            let mut tag = [0u8; 16];
            ctx.tag(&mut tag).expect("tag");
            tag
        })
    });
    group.finish();
}

/// Another party's X25519 public key (the base point times 9s).
fn peer_public() -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9u8; 32])).to_bytes()
}

fn x25519(c: &mut Criterion) {
    let mut group = c.benchmark_group("x25519_agreement");
    let peer = peer_public();

    // What DyberVPN's aws-lc backend calls: the private key imported once.
    let private =
        aws_lc_rs::agreement::PrivateKey::from_private_key(&aws_lc_rs::agreement::X25519, &KEY)
            .expect("key");
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| {
            let public =
                aws_lc_rs::agreement::UnparsedPublicKey::new(&aws_lc_rs::agreement::X25519, peer);
            aws_lc_rs::agreement::agree(&private, black_box(&public), (), |k| Ok::<_, ()>(k[0]))
                .expect("agree")
        })
    });

    // What the libcrux backend calls.
    let private = x25519_dalek::StaticSecret::from(KEY);
    group.bench_function("x25519-dalek", |b| {
        b.iter(|| {
            private
                .diffie_hellman(&x25519_dalek::PublicKey::from(black_box(peer)))
                .to_bytes()
        })
    });

    // s2n-bignum's formally verified x86_64 code.
    let private = graviola::key_agreement::x25519::StaticPrivateKey::from_array(&KEY);
    group.bench_function("graviola", |b| {
        b.iter(|| {
            let public = graviola::key_agreement::x25519::PublicKey::from_array(black_box(&peer));
            private.diffie_hellman(&public).expect("agree")
        })
    });

    let private = openssl::pkey::PKey::private_key_from_raw_bytes(&KEY, openssl::pkey::Id::X25519)
        .expect("key");
    group.bench_function("openssl-3-evp", |b| {
        b.iter(|| {
            let public = openssl::pkey::PKey::public_key_from_raw_bytes(
                black_box(&peer),
                openssl::pkey::Id::X25519,
            )
            .expect("public");
            let mut deriver = openssl::derive::Deriver::new(&private).expect("deriver");
            deriver.set_peer(&public).expect("peer");
            let mut out = [0u8; 32];
            deriver.derive(&mut out).expect("derive");
            out
        })
    });
    // ring offers X25519 only with single-use ephemeral keys, so it is
    // not comparable here; it runs BoringSSL's code, as aws-lc does.
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = seal, x25519
}
criterion_main!(benches);
