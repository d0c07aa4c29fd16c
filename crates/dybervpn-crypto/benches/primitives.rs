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

/// mac1 of a hybrid initiation (1,300 bytes covered): eight one after the
/// other, and eight at once (`mac_many`, the batched check a handshake
/// worker does under a flood). Both backends share BLAKE2s, so one run.
fn mac1(c: &mut Criterion) {
    const COVERED: usize = 1300;
    let be = backend(BackendKind::AwsLc);
    let key = [9u8; 32];
    let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; COVERED]).collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("mac1_8x1300B");
    group.throughput(Throughput::Elements(8));
    group.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            for m in &refs {
                black_box(be.mac(&key, &[black_box(m)]));
            }
        })
    });
    let mut out = [[0u8; 16]; 8];
    group.bench_function("mac_many", |b| {
        b.iter(|| be.mac_many(&key, black_box(&refs), black_box(&mut out)))
    });
    group.finish();
}

criterion_group!(benches, handshake_primitives, transport, mac1);
criterion_main!(benches);
