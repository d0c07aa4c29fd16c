//! Throughput of the data plane's hot path: sealing and opening 1420-byte
//! transport payloads under one [`Session`], per backend.
//!
//! Run with `cargo bench -p dybervpn-proto --bench transport`; quote figures
//! only with the machine they were measured on.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dybervpn_crypto::{backend, AeadKey, BackendKind};
use dybervpn_proto::session::{Session, SessionKeys};
use dybervpn_proto::Mode;

/// The payload of a full-size packet at WireGuard's default MTU of 1420.
const PAYLOAD: usize = 1420;
const T0: Duration = Duration::from_secs(1);

fn sessions(kind: BackendKind) -> (Session, Session) {
    let b = backend(kind);
    let keys = |send: u8, recv: u8, local: u32, remote: u32, initiator: bool| SessionKeys {
        send: AeadKey::new([send; 32]),
        recv: AeadKey::new([recv; 32]),
        local_index: local,
        remote_index: remote,
        initiator,
        mode: Mode::Hybrid,
    };
    (
        Session::new(keys(1, 2, 1, 2, true), &*b, T0),
        Session::new(keys(2, 1, 2, 1, false), &*b, T0),
    )
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    for kind in [BackendKind::AwsLc, BackendKind::Libcrux] {
        let (tx, rx) = sessions(kind);
        let payload = vec![0x5au8; PAYLOAD];
        let mut out = vec![0u8; PAYLOAD + 32];

        group.bench_function(BenchmarkId::new("seal_1420", kind.name()), |b| {
            b.iter(|| tx.seal_into(T0, &payload, &mut out).expect("seal"));
        });

        // Opening needs a fresh counter each time (the window refuses a
        // replay), so each iteration seals and opens: the open cost is the
        // difference from the seal-only figure.
        let mut msg = vec![0u8; PAYLOAD + 32];
        group.bench_function(BenchmarkId::new("seal_open_1420", kind.name()), |b| {
            b.iter(|| {
                let n = tx.seal_into(T0, &payload, &mut msg).expect("seal");
                rx.open_in_place(T0, &mut msg[..n]).expect("open").len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);
