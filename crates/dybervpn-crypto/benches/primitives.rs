//! Per-backend cost of every primitive on the protocol's paths.
//!
//! `cargo bench -p dybervpn-crypto --bench primitives`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dybervpn_crypto::{backend, AeadKey, BackendKind, MlDsaSeed};

/// A full-size WireGuard data packet payload (1420-byte MTU).
const PACKET: usize = 1420;

fn handshake_primitives(c: &mut Criterion) {
    for kind in BackendKind::ALL {
        let be = backend(kind);
        let name = kind.name();
        let mut group = c.benchmark_group(name);

        group.bench_function("mlkem768_keygen", |b| {
            b.iter(|| be.mlkem_generate().expect("keygen"))
        });
        let (dk, ek) = be.mlkem_generate().expect("keygen");
        group.bench_function("mlkem768_encaps", |b| {
            b.iter(|| be.mlkem_encapsulate(black_box(&ek)).expect("encaps"))
        });
        let (ct, _) = be.mlkem_encapsulate(&ek).expect("encaps");
        group.bench_function("mlkem768_decaps", |b| {
            b.iter(|| {
                be.mlkem_decapsulate(black_box(&dk), black_box(&ct))
                    .expect("decaps")
            })
        });

        let (secret, _) = be.x25519_generate().expect("keygen");
        let (_, peer) = be.x25519_generate().expect("keygen");
        group.bench_function("x25519_dh", |b| {
            b.iter(|| be.x25519(black_box(&secret), black_box(&peer)).expect("dh"))
        });

        let key = be
            .mldsa_from_seed(&MlDsaSeed::from_bytes([3; 32]))
            .expect("keygen");
        let message = [0x42u8; 64];
        group.bench_function("mldsa65_sign", |b| {
            b.iter(|| {
                be.mldsa_sign(&key, b"DyberVPN", black_box(&message))
                    .expect("sign")
            })
        });
        let sig = be.mldsa_sign(&key, b"DyberVPN", &message).expect("sign");
        group.bench_function("mldsa65_verify", |b| {
            b.iter(|| {
                be.mldsa_verify(&key.public, b"DyberVPN", black_box(&message), &sig)
                    .expect("verify")
            })
        });
        group.finish();
    }
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("chacha20poly1305_1420B");
    group.throughput(Throughput::Bytes(PACKET as u64));
    for kind in BackendKind::ALL {
        let be = backend(kind);
        let cipher = be.transport_cipher(&AeadKey::new([7; 32]));
        let mut buf = vec![0u8; PACKET];
        let mut counter = 0u64;
        group.bench_with_input(BenchmarkId::new("seal", kind.name()), &(), |b, ()| {
            b.iter(|| {
                counter = counter.wrapping_add(1);
                cipher.seal(counter, black_box(&mut buf)).expect("seal")
            })
        });
        let mut sealed = vec![0u8; PACKET];
        let tag = cipher.seal(1, &mut sealed).expect("seal");
        let mut work = sealed.clone();
        group.bench_with_input(BenchmarkId::new("open", kind.name()), &(), |b, ()| {
            b.iter(|| {
                work.copy_from_slice(&sealed);
                cipher.open(1, black_box(&mut work), &tag).expect("open")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshake_primitives, transport);
criterion_main!(benches);
