//! Two devices talking in every mode, across backends.

mod common;

use common::*;
use dybervpn_crypto::{backend, BackendKind};
use std::net::SocketAddr;

use dybervpn_proto::{Action, Device, Mode, PeerConfig, ProtoError};

#[test]
fn every_mode_across_backends_in_both_directions() {
    for mode in Mode::ALL {
        for (ka, kb) in [
            (BackendKind::AwsLc, BackendKind::Libcrux),
            (BackendKind::Libcrux, BackendKind::AwsLc),
        ] {
            let p = pair(ka, kb, mode);
            let t = now(10);
            let packet = ip_packet(100, 0xaa);
            // No session yet: the packet is queued and an initiation goes out.
            let Out::Net(to, init) = p.a.send(t, &packet) else {
                panic!("expected an initiation")
            };
            assert_eq!(to, p.b.addr);
            assert_eq!(
                init.len(),
                dybervpn_proto::messages::initiation_layout(mode).len,
                "{mode}"
            );
            let (got_a, got_b) = p.exchange(t, init);
            assert!(got_a.is_empty());
            assert_eq!(got_b, vec![packet.clone()], "{mode} {ka}->{kb}");
            // And back, under b's now-confirmed session.
            let reply = ip_packet(60, 0xbb);
            let Out::Net(_, d) = p.b.send(t, &reply) else {
                panic!("b has a session")
            };
            assert_eq!(
                p.a.recv(t, p.b.addr, &d).expect("a receives"),
                Out::Tun(p.a.peer, reply)
            );
            let sa = p.a.device.peer_stats(p.a.peer).expect("stats");
            assert_eq!(sa.last_handshake_mode, Some(mode));
            assert_eq!(sa.handshakes, 1);
            let sb = p.b.device.peer_stats(p.b.peer).expect("stats");
            assert_eq!(sb.endpoint, Some(p.a.addr), "roamed to the source");
            assert_eq!(sb.rx_packets, 1);
        }
    }
}

/// A classic pair, at `t`, halfway through a handshake: A's initiation
/// answered by B, the response not yet delivered.
fn classic_handshake_answered(t: dybervpn_proto::Now) -> (Pair, Vec<u8>) {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Classic);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!("expected an initiation")
    };
    let Ok(Out::Net(_, response)) = p.b.recv(t, p.a.addr, &init) else {
        panic!("expected a response")
    };
    (p, response)
}

/// The configuration of the peer `other` raised to pq-only, with the same
/// pre-shared key as before (the pair's), so that only the mode changes.
fn raised_to_pq_only(other: &Side) -> PeerConfig {
    let mut raised = PeerConfig::new(other.public);
    raised.mode = Some(Mode::PqOnly);
    raised.mldsa_public_key = Some(other.mldsa.public.clone());
    raised.endpoint = Some(other.addr);
    raised.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
    raised
}

/// A peer's mode raised (classic to pq-only) while a classic handshake of
/// ours is in flight: the classic response that then arrives must not set
/// up a classic session, and the next initiation is pq-only.
#[test]
fn a_handshake_in_flight_is_abandoned_when_the_mode_changes() {
    let t = now(10);
    let (p, response) = classic_handshake_answered(t);
    p.a.device
        .update_peer(p.a.peer, raised_to_pq_only(&p.b))
        .expect("update");
    assert!(p.a.recv(t, p.b.addr, &response).is_err());
    let stats = p.a.device.peer_stats(p.a.peer).expect("stats");
    assert_eq!(stats.handshakes, 0, "a classic session was set up");
    let later = now(16);
    let sent = p.a.tick(later);
    let retry = sent.first().expect("a new initiation");
    assert_eq!(retry.len(), init_len(Mode::PqOnly));
}

/// The responder's side of the same: its classic session waits in `next`
/// for the initiator's first packet when the peer is raised to pq-only.
/// That packet must not promote it: no session of the old mode is set up
/// after the change.
#[test]
fn a_session_awaiting_confirmation_is_dropped_when_the_mode_changes() {
    let t = now(10);
    let (p, response) = classic_handshake_answered(t);
    p.b.device
        .update_peer(p.b.peer, raised_to_pq_only(&p.a))
        .expect("update");
    let Ok(Out::Net(_, first)) = p.a.recv(t, p.b.addr, &response) else {
        panic!("expected the queued packet")
    };
    assert!(
        p.b.recv(t, p.a.addr, &first).is_err(),
        "a classic session was confirmed after the change to pq-only"
    );
    let stats = p.b.device.peer_stats(p.b.peer).expect("stats");
    assert_eq!(stats.handshakes, 0, "a classic session was set up");
}

fn init_len(mode: Mode) -> usize {
    dybervpn_proto::messages::initiation_layout(mode).len
}

#[test]
fn transport_replay_is_refused_and_counted() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(1);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!()
    };
    p.exchange(t, init);
    let Out::Net(_, d) = p.a.send(t, &ip_packet(40, 2)) else {
        panic!()
    };
    assert!(matches!(p.b.recv(t, p.a.addr, &d), Ok(Out::Tun(..))));
    assert_eq!(p.b.recv(t, p.a.addr, &d), Err(ProtoError::Replay));
    assert_eq!(p.b.device.drop_count(dybervpn_proto::DropReason::Replay), 1);
}

#[test]
fn endpoint_roams_to_the_latest_authenticated_source() {
    let p = pair(BackendKind::Libcrux, BackendKind::Libcrux, Mode::Classic);
    let t = now(1);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!()
    };
    p.exchange(t, init);
    let Out::Net(_, d) = p.a.send(t, &ip_packet(40, 2)) else {
        panic!()
    };
    let roamed: std::net::SocketAddr = "198.51.100.7:4000".parse().expect("addr");
    p.b.recv(t, roamed, &d).expect("authentic");
    let Out::Net(to, _) = p.b.send(t, &ip_packet(40, 3)) else {
        panic!()
    };
    assert_eq!(to, roamed);
    // A forged packet from elsewhere does not move it.
    let mut forged = d.clone();
    forged[20] ^= 1;
    let elsewhere: std::net::SocketAddr = "203.0.113.9:1".parse().expect("addr");
    assert!(p.b.recv(t, elsewhere, &forged).is_err());
    assert_eq!(
        p.b.device.peer_stats(p.b.peer).expect("stats").endpoint,
        Some(roamed)
    );
}

#[test]
fn cookie_reply_under_load_then_mac2_admits_the_initiation() {
    let p = pair(BackendKind::AwsLc, BackendKind::Libcrux, Mode::Hybrid);
    p.b.device.set_under_load(Some(true));
    let t = now(1);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!()
    };
    let Out::Net(to, cookie) = p.b.recv(t, p.a.addr, &init).expect("cookie reply") else {
        panic!("expected a cookie reply")
    };
    assert_eq!((to, cookie.len(), cookie[0]), (p.a.addr, 64, 3));
    assert_eq!(
        p.b.device
            .drop_count(dybervpn_proto::DropReason::CookieRequired),
        1
    );
    assert_eq!(
        p.a.recv(t, p.b.addr, &cookie).expect("cookie"),
        Out::Nothing
    );
    // The retry after REKEY_TIMEOUT carries mac2 and is answered.
    let t2 = at(t.mono + std::time::Duration::from_secs(6));
    let retries = p.a.tick(t2);
    assert_eq!(retries.len(), 1);
    let (_, got_b) = p.exchange(t2, retries[0].clone());
    assert_eq!(got_b, vec![ip_packet(40, 1)]);
}

#[test]
fn pq_only_needs_mldsa_keys_on_both_sides() {
    let b = dybervpn_crypto::backend(BackendKind::Libcrux);
    let k = keys(&*b, 1);
    let other = keys(&*b, 2);
    assert!(matches!(
        dybervpn_proto::Device::new(k.secret.clone(), Mode::PqOnly, None, b.clone()),
        Err(dybervpn_proto::ConfigError::MissingMlDsaKey { .. })
    ));
    let d = dybervpn_proto::Device::new(k.secret, Mode::PqOnly, Some(k.mldsa), b).expect("device");
    let mut c = dybervpn_proto::PeerConfig::new(other.public);
    c.mode = Some(Mode::PqOnly);
    assert!(matches!(
        d.add_peer(c),
        Err(dybervpn_proto::ConfigError::MissingMlDsaKey { .. })
    ));
}

/// Peer byte counters count whole datagrams, handshake messages and
/// keepalives included, as WireGuard implementations do (so `wg show`
/// agrees whichever side runs DyberVPN).
#[test]
fn byte_counters_count_whole_datagrams_as_wireguard_does() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(10);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(100, 7)) else {
        panic!("expected an initiation")
    };
    let Out::Net(_, response) = p.b.recv(t, p.a.addr, &init).expect("b answers") else {
        panic!("expected a response")
    };
    let Out::Net(_, data) = p.a.recv(t, p.b.addr, &response).expect("a confirms") else {
        panic!("expected the queued packet")
    };
    assert_eq!(data.len(), 16 + 112 + 16, "100 bytes padded to 112");
    assert!(matches!(p.b.recv(t, p.a.addr, &data), Ok(Out::Tun(..))));

    // Ten seconds after receiving data with nothing to send, b sends a
    // keepalive: 32 bytes that carry no payload but still count. It names
    // its peer, so the caller learns where that peer is (daemon/sources.rs).
    let keepalives = p.b.tick(now(21));
    assert_eq!(keepalives.iter().map(Vec::len).collect::<Vec<_>>(), [32]);
    let mut out = vec![0u8; 64];
    assert_eq!(
        p.a.device
            .decapsulate(now(21), p.b.addr, &keepalives[0], &mut out)
            .expect("a receives"),
        Action::Keepalive { peer: p.a.peer }
    );

    let a = p.a.device.peer_stats(p.a.peer).expect("stats");
    let b = p.b.device.peer_stats(p.b.peer).expect("stats");
    assert_eq!((a.tx_bytes, a.rx_bytes), (1332 + 144, 1180 + 32));
    assert_eq!((b.tx_bytes, b.rx_bytes), (1180 + 32, 1332 + 144));
}

/// A timer round over many peers: every peer whose retransmission is due
/// sends exactly one initiation, and the round then ends. (`update_timers`
/// resumes where the previous call stopped; this checks it neither skips
/// nor repeats a peer when it wraps around.)
#[test]
fn a_timer_round_retransmits_for_every_peer_once_then_ends() {
    const PEERS: u16 = 150;
    let b = backend(BackendKind::AwsLc);
    let local = keys(&*b, 1);
    let device = Device::new(local.secret, Mode::Classic, None, b.clone()).expect("device");
    let mut ids = Vec::new();
    for i in 0..PEERS {
        let (_, public) = b.x25519_generate().expect("x25519");
        let mut c = PeerConfig::new(public);
        c.endpoint = Some(SocketAddr::from(([10, 1, 0, 1], 10_000 + i)));
        ids.push(device.add_peer(c).expect("peer"));
    }
    let mut out = vec![0u8; BUF];
    let t0 = now(100);
    for id in &ids {
        // No session: the packet is queued and the first initiation goes out.
        let first = device
            .encapsulate(t0, *id, &ip_packet(60, 1), &mut out)
            .expect("encapsulate");
        assert!(matches!(first, Action::SendToNetwork { .. }));
    }
    // Nothing else is due yet.
    assert!(matches!(
        device.update_timers(t0, &mut out).expect("timers"),
        Action::None
    ));
    // Past the retransmission timeout (5 s plus at most 1/3 s of jitter),
    // every peer retries once.
    let later = now(106);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..(2 * usize::from(PEERS)) {
        match device.update_timers(later, &mut out).expect("timers") {
            Action::SendToNetwork { to, datagram, .. } => {
                assert_eq!(datagram.first(), Some(&1), "an initiation");
                assert!(seen.insert(to), "{to} retried twice in one round");
            }
            Action::None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.len(), usize::from(PEERS));
    assert!(matches!(
        device.update_timers(later, &mut out).expect("timers"),
        Action::None
    ));
}

/// A responder with packets queued before the session is confirmed: the
/// initiator's first transport message confirms it, and the device says
/// timer work is due at once (so a daemon can wake its timer thread
/// instead of waiting for the next deadline), and the round sends them.
#[test]
fn key_confirmation_makes_the_responders_queue_due_at_once() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(10);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(60, 1)) else {
        panic!("initiation")
    };
    let Ok(Out::Net(_, response)) = p.b.recv(t, p.a.addr, &init) else {
        panic!("response")
    };
    // b has only the unconfirmed session: its packet waits in the queue
    // (and b may start a handshake of its own, which is not needed here).
    let queued = ip_packet(80, 2);
    let _ = p.b.send(t, &queued);
    assert!(!p.b.device.take_timers_due());
    let Ok(Out::Net(_, first)) = p.a.recv(t, p.b.addr, &response) else {
        panic!("a's first transport message")
    };
    assert!(matches!(p.b.recv(t, p.a.addr, &first), Ok(Out::Tun(..))));
    assert!(
        p.b.device.take_timers_due(),
        "confirmation made the queue due"
    );
    assert!(!p.b.device.take_timers_due(), "and the flag was cleared");
    let sent = p.b.tick(t);
    let delivered: Vec<_> = sent
        .iter()
        .filter_map(|d| match p.a.recv(t, p.b.addr, d) {
            Ok(Out::Tun(_, packet)) => Some(packet),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![queued]);
}

/// Having answered an initiation, the responder waits for its key
/// confirmation: a packet to send before it arrives is queued, not the
/// start of a second handshake (the kernel's `last_sent_handshake` counts
/// responses too), and goes out once the session is confirmed. Only then
/// does the responder count the handshake as completed (`wg show`'s
/// "latest handshake"), as the kernel does.
#[test]
fn a_responder_does_not_initiate_while_its_answer_is_in_flight() {
    let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
    let t = now(1);
    let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!("an initiation")
    };
    let Ok(Out::Net(_, response)) = p.b.recv(t, p.a.addr, &init) else {
        panic!("a response")
    };
    let completed = |side: &Side| {
        let s = side.device.peer_stats(side.peer).expect("stats");
        (s.handshakes, s.last_handshake.is_some())
    };
    // Answered is not completed: that waits for the key confirmation.
    assert_eq!(completed(&p.b), (0, false));
    let soon = at(t.mono + std::time::Duration::from_millis(5));
    assert_eq!(p.b.send(soon, &ip_packet(60, 2)), Out::Nothing);
    // Nor does its timer thread start one.
    assert!(p.b.tick(soon).is_empty());
    // A completes and confirms with its queued packet; B then sends its own.
    let Ok(Out::Net(_, confirmation)) = p.a.recv(soon, p.b.addr, &response) else {
        panic!("the confirmation")
    };
    assert!(matches!(
        p.b.recv(soon, p.a.addr, &confirmation),
        Ok(Out::Tun(_, ref got)) if *got == ip_packet(40, 1)
    ));
    assert_eq!(completed(&p.a), (1, true));
    assert_eq!(completed(&p.b), (1, true));
    let queued = p.b.tick(soon);
    assert_eq!(queued.len(), 1, "B's queued packet");
    assert!(matches!(
        p.a.recv(soon, p.b.addr, &queued[0]),
        Ok(Out::Tun(_, ref got)) if *got == ip_packet(60, 2)
    ));
}

/// Crossed initiations: the side with the larger public key leaves the
/// peer's initiation unanswered while its own could still cross it (sent
/// less than REKEY_TIMEOUT ago, to the address the peer's comes from). An
/// initiation of its own that is older, or was sent to an address the peer
/// has left, does not keep the peer out: the peer's is answered, and the
/// endpoint follows it.
#[test]
fn only_a_live_crossed_initiation_outranks_the_peers() {
    let roamed: SocketAddr = "192.0.2.99:40000".parse().expect("addr");
    for case in ["crossed", "stale", "roamed"] {
        let p = pair(BackendKind::AwsLc, BackendKind::AwsLc, Mode::Hybrid);
        // b learns a's endpoint too, so either can initiate.
        let mut c = PeerConfig::new(p.a.public);
        c.mode = Some(Mode::Hybrid);
        c.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
        c.mldsa_public_key = Some(p.a.mldsa.public.clone());
        c.endpoint = Some(p.a.addr);
        p.b.device.update_peer(p.b.peer, c).expect("endpoint");
        let (big, small) = if p.a.public > p.b.public {
            (&p.a, &p.b)
        } else {
            (&p.b, &p.a)
        };
        let t = now(1);
        let Out::Net(_, _ours) = big.send(t, &ip_packet(40, 1)) else {
            panic!("the larger side's initiation")
        };
        let Out::Net(_, theirs) = small.send(t, &ip_packet(40, 2)) else {
            panic!("the smaller side's initiation")
        };
        let (when, from, answered) = match case {
            "crossed" => (t, small.addr, false),
            "stale" => (
                at(t.mono + std::time::Duration::from_secs(5)),
                small.addr,
                true,
            ),
            _ => (t, roamed, true),
        };
        let got = big.recv(when, from, &theirs).expect("authentic");
        match (answered, got) {
            (false, Out::Nothing) => {}
            (true, Out::Net(to, response)) => {
                assert_eq!((to, response.len()), (from, 1180), "{case}");
                let stats = big.device.peer_stats(big.peer).expect("stats");
                assert_eq!(stats.endpoint, Some(from), "{case}");
            }
            (_, other) => panic!("{case}: {other:?}"),
        }
    }
}

/// A second device with `p.b`'s keys and its peer `p.a`: what `p.a` sends
/// is as valid for it as for `p.b`.
fn twin_of_b(p: &Pair, mode: Mode) -> Device {
    let d = Device::new(
        p.b.secret.clone(),
        mode,
        Some(p.b.mldsa.clone()),
        backend(BackendKind::AwsLc),
    )
    .expect("device");
    let mut c = PeerConfig::new(p.a.public);
    c.mode = Some(mode);
    c.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([7; 32]));
    c.mldsa_public_key = Some(p.a.mldsa.public.clone());
    d.add_peer(c).expect("peer");
    d
}

/// What a result says, without the random parts of a datagram (ephemeral
/// keys, indices, nonces): its type byte and length, and where it goes.
fn gist(r: Result<Action<'_>, ProtoError>) -> Result<(u8, usize, Option<SocketAddr>), ProtoError> {
    r.map(|a| match a {
        Action::SendToNetwork { to, datagram, .. } => (datagram[0], datagram.len(), Some(to)),
        Action::DeliverToTunnel { packet, .. } => (0, packet.len(), None),
        _ => (0, 0, None),
    })
}

/// `decapsulate_many` (mac1 checked in batches) gives, message by message,
/// what `decapsulate` gives, and counts the same drops: two devices with the
/// same keys get the same mixed batch, one all at once, the other one by
/// one; unloaded and under load (cookie replies), across two batches of
/// mac1.
#[test]
fn decapsulate_many_gives_what_decapsulate_gives() {
    let rng = backend(BackendKind::AwsLc);
    let random_like = |like: &[u8]| {
        let mut d = vec![0u8; like.len()];
        rng.fill_random(&mut d).expect("rng");
        d[..4].copy_from_slice(&like[..4]);
        d
    };
    for mode in Mode::ALL {
        for under_load in [false, true] {
            let counting = Counting::new(backend(BackendKind::AwsLc));
            let p = pair_with(backend(BackendKind::AwsLc), counting.clone(), mode, mode);
            let (batched, twin) = (&p.b.device, twin_of_b(&p, mode));
            if under_load {
                batched.set_under_load(Some(true));
                twin.set_under_load(Some(true));
            }
            let t = now(1);
            let Out::Net(_, init) = p.a.send(t, &ip_packet(40, 1)) else {
                panic!("initiation")
            };
            let mut wrong_mac1 = init.clone();
            let at = init.len() - 32;
            wrong_mac1[at] ^= 1;
            let mut response = vec![0u8; dybervpn_proto::messages::response_layout(mode).len];
            response[0] = init[0] + 1;
            let response = random_like(&response);
            let mut transport = vec![0u8; 48];
            transport[0] = 4;
            let mut cookie = vec![0u8; 64];
            cookie[0] = 3;
            let batch: Vec<Vec<u8>> = vec![
                wrong_mac1.clone(),
                init.clone(),
                init.clone(),
                random_like(&init),
                transport,
                cookie,
                vec![5, 0, 0],
                response,
                random_like(&init),
                wrong_mac1,
                init,
            ];
            let from = p.a.addr;
            let datagrams: Vec<(SocketAddr, &[u8])> =
                batch.iter().map(|d| (from, d.as_slice())).collect();
            let mut got = Vec::new();
            let mut out = vec![0u8; BUF];
            batched.decapsulate_many(|| t, &datagrams, &mut out, |i, r| got.push((i, gist(r))));
            let want: Vec<_> = batch
                .iter()
                .enumerate()
                .map(|(i, d)| (i, gist(twin.decapsulate(t, from, d, &mut out))))
                .collect();
            assert_eq!(got, want, "{mode}, under load: {under_load}");
            assert_eq!(batched.drop_counts(), twin.drop_counts(), "{mode}");
            // The batch did reach past mac1: the genuine initiation was
            // answered (or, under load, sent a cookie).
            let answer = if under_load { 3 } else { init_type(mode) + 1 };
            assert!(matches!(got[1].1, Ok((t, _, Some(to))) if t == answer && to == from));
            assert_eq!(
                batched.drop_count(dybervpn_proto::DropReason::BadMac1),
                5,
                "{mode}"
            );
            // And the mac1 were computed in batches: one per chunk of
            // MAC1_BATCH datagrams with more than one handshake message.
            let batches = batch
                .chunks(dybervpn_proto::tuning::MAC1_BATCH)
                .filter(|c| {
                    c.iter()
                        .filter(|d| dybervpn_proto::messages::handshake_macs(d).is_some())
                        .count()
                        > 1
                })
                .count();
            assert!(batches > 0);
            assert_eq!(
                counting
                    .batched_macs
                    .load(std::sync::atomic::Ordering::SeqCst),
                batches,
                "{mode}"
            );
        }
    }
}

fn init_type(mode: Mode) -> u8 {
    dybervpn_proto::messages::initiation_layout(mode).msg_type
}

/// An initiation that could not be built (the random generator failed)
/// counts as a lost one: the peer is retried REKEY_TIMEOUT later without
/// waiting for its next packet.
#[test]
fn a_retry_that_fails_locally_is_retried_again() {
    let ca = Counting::new(backend(BackendKind::AwsLc));
    let p = pair_with(
        ca.clone(),
        backend(BackendKind::AwsLc),
        Mode::Hybrid,
        Mode::Hybrid,
    );
    let t = now(10);
    let Out::Net(_, _lost) = p.a.send(t, &ip_packet(40, 1)) else {
        panic!("initiation")
    };
    // The retry falls due (REKEY_TIMEOUT plus at most 333 ms of jitter)
    // while the generator is broken: nothing can be sent.
    ca.broken_rng
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let t2 = at(t.mono + std::time::Duration::from_millis(5_400));
    let mut out = vec![0u8; BUF];
    for _ in 0..4 {
        match p.a.device.update_timers(t2, &mut out) {
            Ok(Action::None) => break,
            Ok(other) => panic!("nothing can be built, got {other:?}"),
            Err(_) => {}
        }
    }
    ca.broken_rng
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // Repaired: the next retry goes out on its own, and completes.
    let t3 = at(t2.mono + std::time::Duration::from_millis(5_400));
    let retries = p.a.tick(t3);
    assert_eq!(retries.len(), 1, "a retry after the failed one");
    assert_eq!(retries[0][0], init_type(Mode::Hybrid));
    let (_, got_b) = p.exchange(t3, retries[0].clone());
    assert_eq!(got_b, vec![ip_packet(40, 1)], "the queued packet arrives");
}
