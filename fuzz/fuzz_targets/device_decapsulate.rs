#![no_main]
//! `Device::decapsulate` on arbitrary datagrams, with the insecure test
//! backend (identity AEAD, all-zero MACs and tags) so that hand-made
//! handshake messages authenticate and the fuzzer reaches the peer lookup,
//! policy, replay, session and transport paths. Two peers are configured:
//! one hybrid and one pq-only; their static keys come from the insecure
//! backend's deterministic key generation. (TODO: a seed corpus with valid
//! initiations for both peers would take the fuzzer deeper faster.)
//!
//! Input: a sequence of records `len_hi len_lo src_byte datagram[len]`; each
//! datagram is processed in order, with time advancing, and after each the
//! timers are run, so a fuzzer can chain an initiation, transport data and
//! replays. Bit 0x80 of `src_byte` puts the device under load (cookies
//! required). Records with bit 0x40 set are gathered and go through
//! `Device::decapsulate_many` together (mac1 checked in a batch), under the
//! load state they asked for, when a record without 0x40, one asking for
//! the other load state, or the end comes. (The insecure backend's MACs
//! are zeros; the SIMD MAC itself is checked by `backends_agree`.)
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dybervpn_crypto::{CryptoBackend, MlDsaSeed};
use dybervpn_proto::insecure_backend::InsecureTestBackend;
use dybervpn_proto::{Device, Mode, Now, PeerConfig};
use libfuzzer_sys::fuzz_target;

fn device() -> Device {
    let b: Arc<dyn CryptoBackend> = Arc::new(InsecureTestBackend::new(7));
    let (s, _) = b.x25519_generate().expect("keygen");
    let m = b
        .mldsa_from_seed(&MlDsaSeed::from_bytes([1; 32]))
        .expect("mldsa");
    let d = Device::new(s, Mode::Hybrid, Some(m.clone()), b.clone()).expect("device");
    for (seed, mode) in [(2u8, Mode::Hybrid), (3u8, Mode::PqOnly)] {
        let (_, p) = b.x25519_generate().expect("keygen");
        let pm = b
            .mldsa_from_seed(&MlDsaSeed::from_bytes([seed; 32]))
            .expect("mldsa");
        let mut c = PeerConfig::new(p);
        c.mode = Some(mode);
        c.mldsa_public_key = Some(pm.public);
        c.endpoint = Some("10.9.9.9:9".parse().expect("addr"));
        d.add_peer(c).expect("peer");
    }
    d
}

fuzz_target!(|data: &[u8]| {
    let d = device();
    let mut out = vec![0u8; 8192];
    let mut rest = data;
    let mut t = Duration::from_secs(1000);
    // Records waiting to go through `decapsulate_many`, and the under-load
    // state the first of them asked for: the batch is sent when a record
    // without 0x40, or one asking for the other state, comes.
    let mut batch: Vec<(SocketAddr, &[u8])> = Vec::new();
    let mut batch_load = false;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let src_byte = rest[2];
        rest = &rest[3..];
        let take = len.min(rest.len());
        let (datagram, tail) = rest.split_at(take);
        rest = tail;
        let src = SocketAddr::from(([192, 0, 2, src_byte], 51820));
        let now = Now {
            mono: t,
            unix: Duration::from_secs(1_700_000_000) + t,
        };
        let load = src_byte & 0x80 != 0;
        let batched = src_byte & 0x40 != 0;
        if !batch.is_empty() && (!batched || load != batch_load) {
            d.set_under_load(Some(batch_load));
            d.decapsulate_many(|| now, &batch, &mut out, |_, _| {});
            batch.clear();
        }
        if batched {
            batch_load = load;
            batch.push((src, datagram));
            continue;
        }
        d.set_under_load(Some(load));
        let _ = d.decapsulate(now, src, datagram, &mut out);
        while let Ok(a) = d.update_timers(now, &mut out) {
            if a == dybervpn_proto::Action::None {
                break;
            }
        }
        t += Duration::from_millis(u64::from(src_byte) * 100);
    }
    let now = Now {
        mono: t,
        unix: Duration::from_secs(1_700_000_000) + t,
    };
    d.set_under_load(Some(batch_load));
    d.decapsulate_many(|| now, &batch, &mut out, |_, _| {});
});
