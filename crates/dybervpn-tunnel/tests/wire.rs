//! What goes on the wire, captured with `tcpdump` on the veth between two
//! DyberVPN daemons in their namespaces:
//!
//! * the handshake messages have exactly the sizes of `docs/protocol.md`
//!   §2 in each mode (148/92, 1332/1180, 4641/4489 bytes of UDP payload;
//!   pq-only messages arrive IP-fragmented and are reassembled), no other
//!   mode's types appear, and everything else is type-4 transport whose
//!   length is 32 plus the padded packet (a multiple of 16).
//!
//! Needs root, `ip`, `ping` and `tcpdump`; skipped otherwise.

mod support;

use dybervpn_proto::Mode;
use support::pcap::Datagram;
use support::{
    dybervpn_config, ping, report, skip_reason, tunnel, Capture, Daemon, Lab, PeerSpec, PORT,
};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_daemon() {
    support::inner_daemon();
}

/// (initiation type, its size, response type, its size) per mode.
fn handshake_layout(mode: Mode) -> (u8, usize, u8, usize) {
    match mode {
        Mode::Classic => (1, 148, 2, 92),
        Mode::Hybrid => (5, 1332, 6, 1180),
        Mode::PqOnly => (7, 4641, 8, 4489),
    }
}

fn describe(d: &[Datagram]) -> String {
    d.iter()
        .map(|g| {
            format!(
                "{}:{} -> {}:{} type {:?} {} B in {} fragment(s)",
                g.src,
                g.src_port,
                g.dst,
                g.dst_port,
                g.message_type(),
                g.payload.len(),
                g.fragments
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sizes_on_the_wire(mode: Mode) {
    if let Some(why) = skip_reason(&[("tcpdump", "tcpdump")]) {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    let lab = Lab::new("ws");
    let capture = Capture::start(&lab.b, &lab.dir, &lab.veth_b);
    let a = Daemon::dybervpn(
        &lab.a,
        &lab.dir,
        &dybervpn_config(1, mode, &PeerSpec::side(2, mode, true)),
    );
    let b = Daemon::dybervpn(
        &lab.b,
        &lab.dir,
        &dybervpn_config(2, mode, &PeerSpec::side(1, mode, false)),
    );
    let both = [&a, &b];
    ping(&lab.a, tunnel(2), 3, &both);
    ping(&lab.b, tunnel(1), 2, &both);
    let seen = capture.finish();
    let list = describe(&seen);
    let context = format!("captured:\n{list}\n{}", report(&both));

    let (init_type, init_len, resp_type, resp_len) = handshake_layout(mode);
    let (mut inits, mut resps, mut transport) = (0, 0, [0usize; 2]);
    for d in &seen {
        assert_eq!((d.src_port, d.dst_port), (PORT, PORT), "{context}");
        let len = d.payload.len();
        match d.message_type() {
            Some(t) if t == init_type => {
                assert_eq!(len, init_len, "initiation size\n{context}");
                assert_eq!(d.src, support::underlay(1), "a initiates\n{context}");
                inits += 1;
            }
            Some(t) if t == resp_type => {
                assert_eq!(len, resp_len, "response size\n{context}");
                resps += 1;
            }
            Some(4) => {
                assert!(
                    len >= 32 && (len - 32) % 16 == 0,
                    "transport length {len}\n{context}"
                );
                transport[usize::from(d.src == support::underlay(2))] += 1;
            }
            other => panic!("unexpected message type {other:?} ({len} B)\n{context}"),
        }
        // Reserved bytes are zero in every message.
        assert_eq!(d.payload.get(1..4), Some(&[0u8, 0, 0][..]), "{context}");
        if mode == Mode::PqOnly && d.message_type() != Some(4) {
            assert!(
                d.fragments > 1,
                "a pq-only handshake message fits in one packet?\n{context}"
            );
        }
    }
    assert!(
        inits >= 1 && resps >= 1,
        "a handshake on the wire\n{context}"
    );
    assert!(
        transport[0] >= 3 && transport[1] >= 3,
        "transport both ways\n{context}"
    );
}

#[test]
fn handshake_sizes_classic() {
    sizes_on_the_wire(Mode::Classic);
}

#[test]
fn handshake_sizes_hybrid() {
    sizes_on_the_wire(Mode::Hybrid);
}

#[test]
fn handshake_sizes_pq_only() {
    sizes_on_the_wire(Mode::PqOnly);
}
