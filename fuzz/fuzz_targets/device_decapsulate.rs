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
//! replays. Records whose `src_byte` has bit 0x40 set are gathered and go
//! through `Device::decapsulate_many` together (mac1 checked in a batch)
//! when the next record without it, or the end, comes.
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
    let m = b.mldsa_from_seed(&MlDsaSeed::from_bytes([1; 32])).expect("mldsa");
    let d = Device::new(s, Mode::Hybrid, Some(m.clone()), b.clone()).expect("device");
    for (seed, mode) in [(2u8, Mode::Hybrid), (3u8, Mode::PqOnly)] {
        let (_, p) = b.x25519_generate().expect("keygen");
        let pm = b.mldsa_from_seed(&MlDsaSeed::from_bytes([seed; 32])).expect("mldsa");
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
    let mut batch: Vec<(SocketAddr, &[u8])> = Vec::new();
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
        d.set_under_load(Some(src_byte & 0x80 != 0));
        if src_byte & 0x40 != 0 {
            batch.push((src, datagram));
            continue;
        }
        d.decapsulate_many(|| now, &batch, &mut out, |_, _| {});
        batch.clear();
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
    d.decapsulate_many(|| now, &batch, &mut out, |_, _| {});
});
