//! Deterministic test vectors for every handshake type (1, 2 and 5–8), with
//! every intermediate `C` and `H`, the ephemeral and KEM keys, the whole
//! messages, their mac1, the transport keys and a first transport message
//! (type 4, padded); hybrid also without a pre-shared key. Written to
//! `tests/vectors/handshake.txt` so another implementation can check itself
//! against ours. The test regenerates them and compares; set
//! `DYBERVPN_REGENERATE_VECTORS=1` to rewrite the file after a deliberate
//! change.

use std::fmt::Write as _;

use dybervpn_crypto::{CryptoBackend, LibcruxBackend, MlDsaSeed, PresharedKey};

use super::*;
use crate::messages::{
    initiation_layout, response_layout, Initiation, Response, MAX_HANDSHAKE_LEN,
};

fn line(out: &mut String, key: &str, value: &[u8]) {
    let _ = writeln!(out, "{key} = {}", hex::encode(value));
}

fn generate() -> String {
    let mut out = String::from(
        "# DyberVPN handshake test vectors (docs/protocol.md §3).\n\
         # Randomness: LibcruxBackend::insecure_deterministic, seed [1; 32] for the\n\
         # initiator and [2; 32] for the responder. Values are hex. '<step>.C' and\n\
         # '<step>.H' are the chaining key and transcript hash after each token.\n",
    );
    let sections = Mode::ALL
        .iter()
        .map(|m| (*m, [0x33; 32]))
        .chain(std::iter::once((Mode::Hybrid, [0; 32])));
    for (mode, psk) in sections {
        let bi = LibcruxBackend::insecure_deterministic([1; 32]);
        let br = LibcruxBackend::insecure_deterministic([2; 32]);
        let (ip, ipub) = bi.x25519_generate().expect("x25519");
        let (rp, rpub) = br.x25519_generate().expect("x25519");
        let im = bi
            .mldsa_from_seed(&MlDsaSeed::from_bytes([0x11; 32]))
            .expect("mldsa");
        let rm = br
            .mldsa_from_seed(&MlDsaSeed::from_bytes([0x22; 32]))
            .expect("mldsa");
        let no_psk = psk == [0; 32];
        if no_psk {
            let _ = writeln!(out, "\n[{mode}, no pre-shared key (Q = 32 zero bytes)]");
        } else {
            let _ = writeln!(out, "\n[{mode}]");
        }
        line(&mut out, "initiator.static.private", ip.expose());
        line(&mut out, "initiator.static.public", ipub.as_bytes());
        line(&mut out, "initiator.mldsa.seed", &[0x11; 32]);
        line(&mut out, "responder.static.private", rp.expose());
        line(&mut out, "responder.static.public", rpub.as_bytes());
        line(&mut out, "responder.mldsa.seed", &[0x22; 32]);
        line(&mut out, "psk", &psk);
        let timestamp = [0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 0];
        line(&mut out, "timestamp", &timestamp);
        let i = LocalIdentity {
            private: ip,
            public: ipub,
            mldsa: Some(im.clone()),
        };
        let r = LocalIdentity {
            private: rp,
            public: rpub,
            mldsa: Some(rm.clone()),
        };
        let i_peer = PeerCrypto::new(
            &bi,
            &i,
            mode,
            rpub,
            PresharedKey::from_bytes(psk),
            Some(rm.public.clone()),
        );
        let r_peer = PeerCrypto::new(
            &br,
            &r,
            mode,
            ipub,
            PresharedKey::from_bytes(psk),
            Some(im.public.clone()),
        );
        let mut buf = vec![0u8; MAX_HANDSHAKE_LEN];
        let (state, n) =
            create_initiation(&bi, &i, &i_peer, 0x0102_0304, &timestamp, &mut buf).expect("init");
        let init = buf[..n].to_vec();
        for (k, v) in state.trace() {
            line(&mut out, &format!("initiator.{k}"), v);
        }
        line(&mut out, "initiation (mac1, mac2 zero)", &init);
        // mac1 = MAC(HASH("mac1----" || S_r^pub), msg[0 .. offset(mac1)])
        let mac1_key = bi.hash(&[b"mac1----", rpub.as_bytes()]);
        let at = initiation_layout(mode).mac1;
        line(
            &mut out,
            "initiation.mac1",
            &bi.mac(&mac1_key, &[&init[..at]]),
        );
        let parsed = Initiation::parse(&init).expect("parse");
        let begun = consume_initiation_static(&br, &r, &parsed).expect("static");
        let consumed =
            consume_initiation_finish(&br, &r_peer, begun, &parsed, |_| Ok(())).expect("finish");
        let (rk, n) =
            create_response(&br, &r, &r_peer, consumed, 0x0a0b_0c0d, &mut buf).expect("resp");
        let resp = buf[..n].to_vec();
        for (k, v) in &rk.trace {
            line(&mut out, &format!("responder.{k}"), v);
        }
        line(&mut out, "response (mac1, mac2 zero)", &resp);
        let mac1_key = br.hash(&[b"mac1----", ipub.as_bytes()]);
        let at = response_layout(mode).mac1;
        line(
            &mut out,
            "response.mac1",
            &br.mac(&mac1_key, &[&resp[..at]]),
        );
        let ik = consume_response(
            &bi,
            &i,
            &i_peer,
            &state,
            &Response::parse(&resp).expect("parse"),
        )
        .expect("consume");
        assert_eq!(ik.send, rk.recv);
        assert_eq!(ik.recv, rk.send);
        line(&mut out, "transport.initiator_send", ik.send.expose());
        line(&mut out, "transport.initiator_recv", ik.recv.expose());
        // The initiator's first transport message: a 20-byte packet padded
        // to 32 with zeros, counter 0, empty associated data (§3.5).
        let packet: Vec<u8> = (0u8..20).collect();
        line(&mut out, "transport.packet", &packet);
        let mut sealed = packet.clone();
        sealed.resize(32, 0);
        let tag = bi.aead_seal(&ik.send, 0, &[], &mut sealed).expect("seal");
        let mut msg = vec![4, 0, 0, 0];
        msg.extend_from_slice(&0x0a0b_0c0d_u32.to_le_bytes());
        msg.extend_from_slice(&0u64.to_le_bytes());
        msg.extend_from_slice(&sealed);
        msg.extend_from_slice(&tag);
        line(&mut out, "transport.message", &msg);
        // The responder's own session opens it to the padded packet.
        let rs = crate::session::Session::new(
            crate::session::SessionKeys {
                send: rk.send,
                recv: rk.recv,
                local_index: rk.local_index,
                remote_index: rk.remote_index,
                initiator: false,
                mode,
            },
            &br,
            std::time::Duration::ZERO,
        );
        let tag: [u8; 16] = msg[48..].try_into().expect("tag");
        let mut body = msg[16..48].to_vec();
        rs.decrypt(std::time::Duration::ZERO, 0, &mut body, &tag)
            .expect("the responder opens the vector's transport message");
        assert_eq!(&body[..20], &packet[..]);
        assert!(body[20..].iter().all(|b| *b == 0));
    }
    out
}

#[test]
fn vectors_match_the_published_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/handshake.txt");
    let fresh = generate();
    // Generation is deterministic.
    assert_eq!(fresh, generate());
    if std::env::var_os("DYBERVPN_REGENERATE_VECTORS").is_some() {
        std::fs::write(path, &fresh).expect("write vectors");
        return;
    }
    let published = std::fs::read_to_string(path).expect("tests/vectors/handshake.txt exists");
    assert!(
        published == fresh,
        "handshake vectors changed; see the module docs"
    );
}
