//! A full handshake, both sides on one core, in each mode, with the aws-lc
//! backend: the initiator builds the initiation, the responder consumes it
//! and builds the response, the initiator consumes the response and sends
//! its first (queued) packet. Setting up the devices is not timed.
//!
//! Targets (docs/protocol.md): classic ≤ 160 µs, hybrid ≤ 200 µs,
//! pq-only ≤ 650 µs. Never asserted in tests.
//!
//! Also the responder's cost per datagram of an initiation flood, the
//! work a flood makes the handshake worker do: a wrong mac1 (dropped after
//! one keyed BLAKE2s), and a valid mac1 with no cookie while under load
//! (answered with a cookie reply).

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dybervpn_crypto::{backend, BackendKind, MlDsaSeed};
use dybervpn_proto::{Action, Device, Mode, Now, PeerConfig, PeerId};

struct Pair {
    a: Device,
    b: Device,
    a_peer: PeerId,
}

const A: &str = "10.0.0.1:1";
const B: &str = "10.0.0.2:1";

fn setup(mode: Mode) -> Pair {
    let be = backend(BackendKind::AwsLc);
    let (sa, pa) = be.x25519_generate().expect("keygen");
    let (sb, pb) = be.x25519_generate().expect("keygen");
    let ma = be
        .mldsa_from_seed(&MlDsaSeed::from_bytes([1; 32]))
        .expect("mldsa");
    let mb = be
        .mldsa_from_seed(&MlDsaSeed::from_bytes([2; 32]))
        .expect("mldsa");
    let a = Device::new(sa, mode, Some(ma.clone()), be.clone()).expect("device");
    let b = Device::new(sb, mode, Some(mb.clone()), be).expect("device");
    let mut ca = PeerConfig::new(pb);
    ca.mldsa_public_key = Some(mb.public);
    ca.endpoint = Some(B.parse().expect("addr"));
    let mut cb = PeerConfig::new(pa);
    cb.mldsa_public_key = Some(ma.public);
    let a_peer = a.add_peer(ca).expect("peer");
    b.add_peer(cb).expect("peer");
    Pair { a, b, a_peer }
}

fn handshake(p: &Pair, buf: &mut [u8], buf2: &mut [u8], packet: &[u8]) {
    let now = Now {
        mono: Duration::from_secs(100),
        unix: Duration::from_secs(1_700_000_000),
    };
    let a_addr: SocketAddr = A.parse().expect("addr");
    let b_addr: SocketAddr = B.parse().expect("addr");
    let Ok(Action::SendToNetwork { datagram: init, .. }) =
        p.a.encapsulate(now, p.a_peer, packet, buf)
    else {
        panic!("initiation")
    };
    let Ok(Action::SendToNetwork { datagram: resp, .. }) = p.b.decapsulate(now, a_addr, init, buf2)
    else {
        panic!("response")
    };
    let Ok(Action::SendToNetwork { .. }) = p.a.decapsulate(now, b_addr, resp, buf) else {
        panic!("first packet")
    };
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake/aws-lc");
    let packet = {
        let mut p = vec![0u8; 64];
        p[0] = 0x45;
        p[3] = 64;
        p
    };
    for mode in Mode::ALL {
        let mut buf = vec![0u8; 8192];
        let mut buf2 = vec![0u8; 8192];
        group.bench_function(mode.name(), |bench| {
            // `_ref`: the devices are built and dropped outside the timing.
            bench.iter_batched_ref(
                || setup(mode),
                |p| handshake(p, &mut buf, &mut buf2, &packet),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// An initiation of `mode`'s size from an unknown source: random bytes,
/// mac2 zero, mac1 valid for `to` if `valid_mac1`.
fn flood_message(mode: Mode, to: &dybervpn_crypto::X25519PublicKey, valid_mac1: bool) -> Vec<u8> {
    let layout = dybervpn_proto::messages::initiation_layout(mode);
    let mut m = vec![0u8; layout.len];
    backend(BackendKind::AwsLc)
        .fill_random(&mut m)
        .expect("random");
    m[..4].copy_from_slice(&[layout.msg_type, 0, 0, 0]);
    let at = m.len() - 32;
    m[at + 16..].fill(0);
    if valid_mac1 {
        let key = dybervpn_crypto::blake2s::hash(&[b"mac1----", to.as_bytes()]);
        let mac = dybervpn_crypto::blake2s::mac(&key, &[&m[..at]]);
        m[at..at + 16].copy_from_slice(&mac);
    }
    m
}

fn flood(c: &mut Criterion) {
    let mut group = c.benchmark_group("flood/aws-lc");
    let src: SocketAddr = A.parse().expect("addr");
    let now = Now {
        mono: Duration::from_secs(100),
        unix: Duration::from_secs(1_700_000_000),
    };
    for mode in Mode::ALL {
        let p = setup(mode);
        p.b.set_under_load(Some(true));
        let mut out = vec![0u8; 8192];
        let wrong = flood_message(mode, &p.b.public_key(), false);
        group.bench_function(format!("{}/wrong_mac1", mode.name()), |bench| {
            bench.iter(|| {
                let r = p.b.decapsulate(now, src, &wrong, &mut out);
                assert!(r.is_err());
            });
        });
        let valid = flood_message(mode, &p.b.public_key(), true);
        group.bench_function(format!("{}/cookie_reply", mode.name()), |bench| {
            bench.iter(|| {
                let r = p.b.decapsulate(now, src, &valid, &mut out);
                assert!(matches!(r, Ok(Action::SendToNetwork { peer: None, .. })));
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench, flood);
criterion_main!(benches);
