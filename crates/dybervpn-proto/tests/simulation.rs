//! Deterministic two-peer simulation: a virtual clock and an in-memory
//! network that loses, delays, reorders and duplicates datagrams, driven by
//! a seeded PRNG. Timing behaviour (handshake retries, rekeying, session
//! expiry, keepalives, roaming) is checked in milliseconds of real time, on
//! what the peers put on the wire — never on wall-clock time.
//!
//! The scenarios are written against the small [`Endpoint`] trait. Two
//! implementations exist:
//!
//! * [`stub::StubPeer`], a reference device assembled from the data-plane
//!   pieces alone (`Session`, `KeyRing`, `Timers`) with a toy,
//!   unauthenticated handshake. It shows how a device wires the timers and
//!   the key ring, and keeps those pieces tested as one.
//! * [`real::RealPeer`], the real `Device` (`src/device/`), in hybrid mode,
//!   with randomness from a seeded generator so runs are reproducible.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dybervpn_proto::Now;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

/// Wall-clock time at the simulation's start (only for TAI64N).
const UNIX_START: Duration = Duration::from_secs(1_700_000_000);

// --- The interface the scenarios drive --------------------------------------------

/// A datagram a peer wants sent.
#[derive(Debug, Clone)]
struct Datagram {
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// One VPN peer as the simulation sees it.
trait Endpoint {
    /// The application hands an inner IP packet to the tunnel.
    fn encapsulate(&mut self, now: Now, packet: &[u8], out: &mut Vec<Datagram>);
    /// A datagram arrived from `from`; inner packets go to `delivered`.
    fn decapsulate(
        &mut self,
        now: Now,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<Datagram>,
        delivered: &mut Vec<Vec<u8>>,
    );
    /// Runs due timers.
    fn update_timers(&mut self, now: Now, out: &mut Vec<Datagram>);
    /// When `update_timers` next has work.
    fn next_deadline(&self) -> Option<Duration>;
}

// --- Inner packets ---------------------------------------------------------------------

/// Tunnel addresses of peer 0 and peer 1.
const TUNNEL_IP: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2)];

/// A well-formed IPv4/UDP packet from peer `from` to the other, carrying a
/// sequence number, `len` bytes long.
fn inner_packet(from: usize, seq: u32, len: usize) -> Vec<u8> {
    let len = len.max(32);
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&TUNNEL_IP[from].octets());
    p[16..20].copy_from_slice(&TUNNEL_IP[1 - from].octets());
    let mut sum: u32 = 0;
    for pair in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[28..32].copy_from_slice(&seq.to_be_bytes());
    p
}

fn seq_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[28], packet[29], packet[30], packet[31]])
}

// --- The network -------------------------------------------------------------------------

/// xorshift64*: a tiny deterministic PRNG.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// How the network treats datagrams.
#[derive(Debug, Clone, Copy)]
struct Conditions {
    loss_per_mille: u64,
    duplicate_per_mille: u64,
    latency: Duration,
    /// Extra random delay up to this; makes datagrams overtake each other.
    jitter: Duration,
    /// Everything is dropped.
    partitioned: bool,
}

impl Conditions {
    fn perfect() -> Self {
        Self {
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            latency: 10 * MS,
            jitter: Duration::ZERO,
            partitioned: false,
        }
    }

    fn hostile() -> Self {
        Self {
            loss_per_mille: 100,
            duplicate_per_mille: 50,
            latency: 10 * MS,
            jitter: 120 * MS,
            partitioned: false,
        }
    }
}

/// What kind of message a datagram is, read from its first byte and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initiation,
    Response,
    CookieReply,
    Keepalive,
    Data,
    Other,
}

fn kind_of(bytes: &[u8]) -> Kind {
    match (bytes.first(), bytes.len()) {
        (Some(1 | 5 | 7), _) => Kind::Initiation,
        (Some(2 | 6 | 8), _) => Kind::Response,
        (Some(3), _) => Kind::CookieReply,
        (Some(4), 32) => Kind::Keepalive,
        (Some(4), _) => Kind::Data,
        _ => Kind::Other,
    }
}

/// A datagram as it was put on the wire.
#[derive(Debug, Clone)]
struct Sent {
    at: Duration,
    from_peer: usize,
    to: SocketAddr,
    kind: Kind,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    arrives: Duration,
    order: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Two peers, a network and a virtual clock.
struct Sim<E: Endpoint> {
    now: Duration,
    peers: [E; 2],
    addrs: [SocketAddr; 2],
    net: Conditions,
    rng: Rng,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Application sends still to come: (time, peer), sorted.
    schedule: Vec<(Duration, usize)>,
    next_seq: [u32; 2],
    /// Every datagram each peer sent.
    wire: Vec<Sent>,
    /// Inner packets each peer delivered: (time, sequence number).
    delivered: [Vec<(Duration, u32)>; 2],
    /// Inner packets each peer's application sent: (time, sequence number).
    app_sent: [Vec<(Duration, u32)>; 2],
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 51820)
}

impl<E: Endpoint> Sim<E> {
    fn new(peers: [E; 2], net: Conditions, seed: u64) -> Self {
        Self {
            now: Duration::ZERO,
            peers,
            addrs: [addr(1), addr(2)],
            net,
            rng: Rng::new(seed),
            in_flight: BinaryHeap::new(),
            order: 0,
            schedule: Vec::new(),
            next_seq: [0; 2],
            wire: Vec::new(),
            delivered: [Vec::new(), Vec::new()],
            app_sent: [Vec::new(), Vec::new()],
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.now,
            unix: UNIX_START + self.now,
        }
    }

    /// Peer `peer`'s application sends a packet every `every` in
    /// `[from, to)`.
    fn traffic(&mut self, peer: usize, from: Duration, to: Duration, every: Duration) {
        let mut t = from;
        while t < to {
            self.schedule.push((t, peer));
            t += every;
        }
        self.schedule.sort();
    }

    fn transmit(&mut self, from_peer: usize, out: Vec<Datagram>) {
        for d in out {
            self.wire.push(Sent {
                at: self.now,
                from_peer,
                to: d.to,
                kind: kind_of(&d.bytes),
            });
            if self.net.partitioned || self.rng.chance(self.net.loss_per_mille) {
                continue;
            }
            let copies = if self.rng.chance(self.net.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let jitter_ns = self.net.jitter.as_nanos() as u64;
                let delay = self.net.latency + Duration::from_nanos(self.rng.below(jitter_ns + 1));
                self.order += 1;
                self.in_flight.push(Reverse(InFlight {
                    arrives: self.now + delay,
                    order: self.order,
                    from: self.addrs[from_peer],
                    to: d.to,
                    bytes: d.bytes.clone(),
                }));
            }
        }
    }

    /// Runs the simulation until `end`, jumping from event to event.
    fn run_until(&mut self, end: Duration) {
        let mut idle_steps = 0;
        loop {
            let mut next = end;
            if let Some(&(t, _)) = self.schedule.first() {
                next = next.min(t);
            }
            if let Some(Reverse(f)) = self.in_flight.peek() {
                next = next.min(f.arrives);
            }
            for p in &self.peers {
                if let Some(d) = p.next_deadline() {
                    next = next.min(d);
                }
            }
            if next <= self.now {
                idle_steps += 1;
                assert!(idle_steps < 10_000, "no progress at {:?}", self.now);
            } else {
                idle_steps = 0;
                self.now = next;
            }
            self.step();
            if self.now >= end {
                return;
            }
        }
    }

    /// Handles everything due at `self.now`.
    fn step(&mut self) {
        let now = self.now();
        while let Some(&(t, peer)) = self.schedule.first() {
            if t > self.now {
                break;
            }
            self.schedule.remove(0);
            let seq = self.next_seq[peer];
            self.next_seq[peer] += 1;
            self.app_sent[peer].push((self.now, seq));
            let packet = inner_packet(peer, seq, 100 + (seq as usize * 37) % 1300);
            let mut out = Vec::new();
            self.peers[peer].encapsulate(now, &packet, &mut out);
            self.transmit(peer, out);
        }
        while let Some(Reverse(f)) = self.in_flight.peek() {
            if f.arrives > self.now {
                break;
            }
            let Some(Reverse(f)) = self.in_flight.pop() else {
                break;
            };
            // A datagram to an address no peer holds any more is lost.
            let Some(peer) = self.addrs.iter().position(|a| *a == f.to) else {
                continue;
            };
            let mut out = Vec::new();
            let mut delivered = Vec::new();
            self.peers[peer].decapsulate(now, f.from, &f.bytes, &mut out, &mut delivered);
            for p in delivered {
                self.delivered[peer].push((self.now, seq_of(&p)));
            }
            self.transmit(peer, out);
        }
        for peer in 0..2 {
            let due = self.peers[peer]
                .next_deadline()
                .is_some_and(|d| d <= self.now);
            if due {
                let mut out = Vec::new();
                self.peers[peer].update_timers(now, &mut out);
                self.transmit(peer, out);
            }
        }
    }

    fn sent_by(&self, peer: usize, kind: Kind) -> impl Iterator<Item = &Sent> + '_ {
        self.wire
            .iter()
            .filter(move |s| s.from_peer == peer && s.kind == kind)
    }

    fn count(&self, peer: usize, kind: Kind) -> usize {
        self.sent_by(peer, kind).count()
    }
}

// --- The reference device built from the data-plane pieces ------------------------

mod stub {
    //! A one-peer device made of `Session`, `KeyRing` and `Timers`, with a
    //! toy handshake: an initiation carries the initiator's index and a
    //! nonce, the response the responder's index and nonce, and both sides
    //! hash the two nonces into the keys. It authenticates nothing — it
    //! exists to exercise the data plane and the timers, not the handshake.

    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use dybervpn_crypto::{backend, AeadKey, BackendKind, CryptoBackend};
    use dybervpn_proto::constants::{INITIATION_SIZE, REKEY_TIMEOUT_JITTER_MAX, RESPONSE_SIZE};
    use dybervpn_proto::keyring::{KeyRing, Retired};
    use dybervpn_proto::session::{Session, SessionKeys};
    use dybervpn_proto::timers::{TimerEvent, Timers};
    use dybervpn_proto::transport;
    use dybervpn_proto::tuning::MAX_QUEUED_PACKETS_PER_PEER;
    use dybervpn_proto::{Mode, Now};

    use super::{Datagram, Endpoint, Rng};

    /// Reads a field of a message whose length was already checked.
    fn le32(msg: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(msg[at..at + 4].try_into().expect("length checked"))
    }

    fn bytes8(msg: &[u8], at: usize) -> [u8; 8] {
        msg[at..at + 8].try_into().expect("length checked")
    }

    pub struct StubPeer {
        backend: Arc<dyn CryptoBackend>,
        ring: KeyRing,
        timers: Timers,
        queue: VecDeque<Vec<u8>>,
        endpoint: SocketAddr,
        /// Our index and nonce of the initiation awaiting its response.
        pending: Option<(u32, [u8; 8])>,
        next_index: u32,
        rng: Rng,
        pub retired: Vec<u32>,
    }

    impl StubPeer {
        pub fn new(id: u32, endpoint: SocketAddr, persistent_keepalive: Option<Duration>) -> Self {
            let mut timers = Timers::new();
            timers.set_persistent_keepalive(persistent_keepalive);
            Self {
                backend: backend(BackendKind::Libcrux),
                ring: KeyRing::new(),
                timers,
                queue: VecDeque::new(),
                endpoint,
                pending: None,
                next_index: id << 24,
                rng: Rng::new(u64::from(id) + 77),
                retired: Vec::new(),
            }
        }

        fn retire(&mut self, r: Retired) {
            self.retired.extend(r.indices());
        }

        fn derive(&self, ni: &[u8; 8], nr: &[u8; 8]) -> (AeadKey, AeadKey) {
            let i2r = self.backend.hash(&[b"sim i2r", ni, nr]);
            let r2i = self.backend.hash(&[b"sim r2i", ni, nr]);
            (AeadKey::new(i2r), AeadKey::new(r2i))
        }

        fn index(&mut self) -> u32 {
            self.next_index += 1;
            self.next_index
        }

        fn send_initiation(&mut self, now: Duration, out: &mut Vec<Datagram>) {
            let index = self.index();
            let nonce = self.rng.next().to_le_bytes();
            self.pending = Some((index, nonce));
            let mut msg = vec![0u8; INITIATION_SIZE];
            msg[0] = 1;
            msg[4..8].copy_from_slice(&index.to_le_bytes());
            msg[8..16].copy_from_slice(&nonce);
            out.push(Datagram {
                to: self.endpoint,
                bytes: msg,
            });
            let jitter_ms = self.rng.below(REKEY_TIMEOUT_JITTER_MAX.as_millis() as u64);
            self.timers
                .handshake_initiated(now, Duration::from_millis(jitter_ms));
            self.timers.authenticated_packet_sent(now);
            self.timers.authenticated_packet_traversed(now);
        }

        fn maybe_initiate(&mut self, now: Duration, out: &mut Vec<Datagram>) {
            if self.timers.want_handshake(now) {
                self.send_initiation(now, out);
            }
        }

        /// Sends `payload` (possibly empty) under the current session.
        fn send_transport(
            &mut self,
            now: Duration,
            payload: &[u8],
            out: &mut Vec<Datagram>,
        ) -> bool {
            let Some(session) = self.ring.current().cloned() else {
                return false;
            };
            let padded = transport::padded_len(payload.len(), 1420);
            let mut buf = vec![0u8; padded + 32];
            buf[16..16 + payload.len()].copy_from_slice(payload);
            let Ok(n) = session.encrypt(now, &mut buf, padded) else {
                return false;
            };
            buf.truncate(n);
            out.push(Datagram {
                to: self.endpoint,
                bytes: buf,
            });
            if !payload.is_empty() {
                self.timers.data_sent(now);
            }
            self.timers.authenticated_packet_sent(now);
            self.timers.authenticated_packet_traversed(now);
            if session.should_rekey(now) {
                self.maybe_initiate(now, out);
            }
            true
        }

        fn flush_queue(&mut self, now: Duration, out: &mut Vec<Datagram>) -> bool {
            let mut sent_any = false;
            while let Some(p) = self.queue.pop_front() {
                if !self.send_transport(now, &p, out) {
                    self.queue.push_front(p);
                    break;
                }
                sent_any = true;
            }
            sent_any
        }

        fn send_keepalive(&mut self, now: Duration, out: &mut Vec<Datagram>) {
            if !self.send_transport(now, &[], out) {
                self.maybe_initiate(now, out);
            }
        }
    }

    impl Endpoint for StubPeer {
        fn encapsulate(&mut self, now: Now, packet: &[u8], out: &mut Vec<Datagram>) {
            let now = now.mono;
            if !self.send_transport(now, packet, out) {
                if self.queue.len() >= MAX_QUEUED_PACKETS_PER_PEER {
                    self.queue.pop_front();
                }
                self.queue.push_back(packet.to_vec());
                self.maybe_initiate(now, out);
            }
        }

        fn decapsulate(
            &mut self,
            now: Now,
            from: SocketAddr,
            datagram: &[u8],
            out: &mut Vec<Datagram>,
            delivered: &mut Vec<Vec<u8>>,
        ) {
            let now = now.mono;
            match datagram.first() {
                Some(1) if datagram.len() == INITIATION_SIZE => {
                    let their_index = le32(datagram, 4);
                    let ni: [u8; 8] = bytes8(datagram, 8);
                    let nr = self.rng.next().to_le_bytes();
                    let (i2r, r2i) = self.derive(&ni, &nr);
                    let index = self.index();
                    let keys = SessionKeys {
                        send: r2i,
                        recv: i2r,
                        local_index: index,
                        remote_index: their_index,
                        initiator: false,
                        mode: Mode::Classic,
                    };
                    let (_, r) = self.ring.install(Session::new(keys, &*self.backend, now));
                    self.retire(r);
                    self.endpoint = from;
                    let mut msg = vec![0u8; RESPONSE_SIZE];
                    msg[0] = 2;
                    msg[4..8].copy_from_slice(&index.to_le_bytes());
                    msg[8..12].copy_from_slice(&their_index.to_le_bytes());
                    msg[12..20].copy_from_slice(&nr);
                    out.push(Datagram {
                        to: from,
                        bytes: msg,
                    });
                    self.timers.authenticated_packet_received(now);
                    self.timers.authenticated_packet_traversed(now);
                    self.timers.session_derived(now);
                    self.timers.authenticated_packet_sent(now);
                }
                Some(2) if datagram.len() == RESPONSE_SIZE => {
                    let their_index = le32(datagram, 4);
                    let receiver = le32(datagram, 8);
                    let nr: [u8; 8] = bytes8(datagram, 12);
                    let Some((index, ni)) = self.pending else {
                        return;
                    };
                    if index != receiver {
                        return;
                    }
                    self.pending = None;
                    let (i2r, r2i) = self.derive(&ni, &nr);
                    let keys = SessionKeys {
                        send: i2r,
                        recv: r2i,
                        local_index: index,
                        remote_index: their_index,
                        initiator: true,
                        mode: Mode::Classic,
                    };
                    let (_, r) = self.ring.install(Session::new(keys, &*self.backend, now));
                    self.retire(r);
                    self.endpoint = from;
                    self.timers.authenticated_packet_received(now);
                    self.timers.authenticated_packet_traversed(now);
                    self.timers.session_derived(now);
                    self.timers.handshake_completed(now);
                    // Confirm the session: queued data, or a keepalive.
                    if !self.flush_queue(now, out) {
                        self.send_keepalive(now, out);
                    }
                }
                Some(4) => {
                    let Ok(header) = transport::parse_header(datagram) else {
                        return;
                    };
                    let Some(session) = self.ring.get(header.receiver) else {
                        return;
                    };
                    let mut buf = datagram.to_vec();
                    let Ok(plain) = session.open_in_place(now, &mut buf) else {
                        return;
                    };
                    let plain_len = plain.len();
                    let inner = if plain_len >= 4 {
                        let total = usize::from(u16::from_be_bytes([plain[2], plain[3]]));
                        plain.get(..total).map(<[u8]>::to_vec)
                    } else {
                        None
                    };
                    self.endpoint = from;
                    if let Some(r) = self.ring.received_on(header.receiver) {
                        self.retire(r);
                        self.timers.handshake_completed(now);
                        self.flush_queue(now, out);
                    }
                    self.timers.authenticated_packet_received(now);
                    self.timers.authenticated_packet_traversed(now);
                    if plain_len > 0 {
                        self.timers.data_received(now);
                        if let Some(p) = inner {
                            delivered.push(p);
                        }
                    }
                    let current = self.ring.current().cloned();
                    if current.is_some_and(|c| c.should_rekey_on_receive(now))
                        && self.timers.take_last_minute_handshake()
                    {
                        self.maybe_initiate(now, out);
                    }
                }
                _ => {}
            }
        }

        fn update_timers(&mut self, now: Now, out: &mut Vec<Datagram>) {
            let now = now.mono;
            let r = self.ring.expire(now);
            self.retire(r);
            while let Some(event) = self.timers.poll(now) {
                match event {
                    TimerEvent::SendInitiation { .. } => self.send_initiation(now, out),
                    TimerEvent::SendKeepalive | TimerEvent::SendPersistentKeepalive => {
                        self.send_keepalive(now, out);
                    }
                    TimerEvent::HandshakeGaveUp => self.queue.clear(),
                    TimerEvent::ZeroKeys => {
                        let r = self.ring.clear();
                        self.retire(r);
                        self.pending = None;
                    }
                    _ => {}
                }
            }
        }

        fn next_deadline(&self) -> Option<Duration> {
            self.timers.next_deadline()
        }
    }
}

// --- The real Device --------------------------------------------------------------------

mod real {
    //! The scenarios against `dybervpn_proto::Device`. Randomness (indices,
    //! jitter) comes from a seeded generator so runs are reproducible; the
    //! primitives themselves are aws-lc's.

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use dybervpn_crypto::*;
    use dybervpn_proto::{Action, Device, Mode, Now, PeerConfig, PeerId};

    use super::{Datagram, Endpoint, Rng};

    /// aws-lc for every primitive, but `fill_random` from a seeded PRNG.
    #[derive(Debug)]
    struct SeededBackend {
        inner: Arc<dyn CryptoBackend>,
        rng: Mutex<Rng>,
    }

    impl CryptoBackend for SeededBackend {
        fn name(&self) -> &'static str {
            "seeded-aws-lc"
        }
        fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
            let mut rng = self.rng.lock().expect("rng");
            for chunk in out.chunks_mut(8) {
                let bytes = rng.next().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            Ok(())
        }
        fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
            self.inner.x25519_generate()
        }
        fn x25519_public_key(&self, s: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
            self.inner.x25519_public_key(s)
        }
        fn x25519(
            &self,
            s: &X25519SecretKey,
            p: &X25519PublicKey,
        ) -> Result<SharedSecret, CryptoError> {
            self.inner.x25519(s, p)
        }
        fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
            self.inner.mlkem_generate()
        }
        fn mlkem_check_encaps_key(&self, ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
            self.inner.mlkem_check_encaps_key(ek)
        }
        fn mlkem_encapsulate(
            &self,
            ek: &MlKemEncapsKey,
        ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
            self.inner.mlkem_encapsulate(ek)
        }
        fn mlkem_decapsulate(
            &self,
            dk: &MlKemDecapsKey,
            ct: &MlKemCiphertext,
        ) -> Result<SharedSecret, CryptoError> {
            self.inner.mlkem_decapsulate(dk, ct)
        }
        fn mldsa_from_seed(&self, seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
            self.inner.mldsa_from_seed(seed)
        }
        fn mldsa_sign(
            &self,
            key: &MlDsaKeyPair,
            context: &[u8],
            message: &[u8],
        ) -> Result<MlDsaSignature, CryptoError> {
            self.inner.mldsa_sign(key, context, message)
        }
        fn mldsa_verify(
            &self,
            public: &MlDsaPublicKey,
            context: &[u8],
            message: &[u8],
            signature: &MlDsaSignature,
        ) -> Result<(), CryptoError> {
            self.inner.mldsa_verify(public, context, message, signature)
        }
        fn aead_seal(
            &self,
            key: &AeadKey,
            counter: u64,
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
            self.inner.aead_seal(key, counter, aad, in_out)
        }
        fn aead_open(
            &self,
            key: &AeadKey,
            counter: u64,
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; AEAD_TAG_LEN],
        ) -> Result<(), CryptoError> {
            self.inner.aead_open(key, counter, aad, in_out, tag)
        }
        fn transport_cipher(&self, key: &AeadKey) -> Box<dyn TransportCipher> {
            self.inner.transport_cipher(key)
        }
        fn xaead_seal(
            &self,
            key: &AeadKey,
            nonce: &[u8; XNONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
            self.inner.xaead_seal(key, nonce, aad, in_out)
        }
        fn xaead_open(
            &self,
            key: &AeadKey,
            nonce: &[u8; XNONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; AEAD_TAG_LEN],
        ) -> Result<(), CryptoError> {
            self.inner.xaead_open(key, nonce, aad, in_out, tag)
        }
    }

    const BUF: usize = 8192;

    pub struct RealPeer {
        device: Device,
        peer: PeerId,
    }

    impl RealPeer {
        fn push(action: Action<'_>, out: &mut Vec<Datagram>, delivered: &mut Vec<Vec<u8>>) {
            match action {
                Action::SendToNetwork { to, datagram, .. } => out.push(Datagram {
                    to,
                    bytes: datagram.to_vec(),
                }),
                Action::DeliverToTunnel { packet, .. } => delivered.push(packet.to_vec()),
                _ => {}
            }
        }

        fn drain_timers(&self, now: Now, out: &mut Vec<Datagram>) {
            let mut buf = vec![0u8; BUF];
            for _ in 0..1000 {
                match self.device.update_timers(now, &mut buf) {
                    Ok(Action::None) => return,
                    Ok(action) => Self::push(action, out, &mut Vec::new()),
                    // As the daemon does: the core goes on with the next peer.
                    Err(_) => {}
                }
            }
            panic!("update_timers never returned Action::None");
        }

        /// Two devices configured for each other, both knowing the other's
        /// endpoint.
        pub fn pair(
            addrs: [SocketAddr; 2],
            keepalive: [Option<Duration>; 2],
            mode: Mode,
        ) -> [RealPeer; 2] {
            let make = |seed: u64| -> Arc<dyn CryptoBackend> {
                Arc::new(SeededBackend {
                    inner: backend(BackendKind::AwsLc),
                    rng: Mutex::new(Rng::new(seed)),
                })
            };
            let backends = [make(101), make(202)];
            let statics: Vec<_> = backends
                .iter()
                .map(|b| b.x25519_generate().expect("x25519"))
                .collect();
            let mldsa: Vec<_> = backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    b.mldsa_from_seed(&MlDsaSeed::from_bytes([i as u8 + 1; 32]))
                        .expect("mldsa")
                })
                .collect();
            let mut peers = Vec::new();
            for i in 0..2 {
                let other = 1 - i;
                let device = Device::new(
                    statics[i].0.clone(),
                    mode,
                    Some(mldsa[i].clone()),
                    Arc::clone(&backends[i]),
                )
                .expect("device");
                let mut config = PeerConfig::new(statics[other].1);
                config.mode = Some(mode);
                config.mldsa_public_key = Some(mldsa[other].public.clone());
                config.endpoint = Some(addrs[other]);
                config.persistent_keepalive = keepalive[i];
                let peer = device.add_peer(config).expect("peer");
                peers.push(RealPeer { device, peer });
            }
            let b = peers.pop().expect("two");
            let a = peers.pop().expect("two");
            [a, b]
        }
    }

    impl Endpoint for RealPeer {
        fn encapsulate(&mut self, now: Now, packet: &[u8], out: &mut Vec<Datagram>) {
            let mut buf = vec![0u8; BUF];
            if let Ok(action) = self.device.encapsulate(now, self.peer, packet, &mut buf) {
                Self::push(action, out, &mut Vec::new());
            }
            self.drain_timers(now, out);
        }

        fn decapsulate(
            &mut self,
            now: Now,
            from: SocketAddr,
            datagram: &[u8],
            out: &mut Vec<Datagram>,
            delivered: &mut Vec<Vec<u8>>,
        ) {
            let mut buf = vec![0u8; BUF];
            if let Ok(action) = self.device.decapsulate(now, from, datagram, &mut buf) {
                Self::push(action, out, delivered);
            }
            self.drain_timers(now, out);
        }

        fn update_timers(&mut self, now: Now, out: &mut Vec<Datagram>) {
            self.drain_timers(now, out);
        }

        /// What the daemon sleeps on: the deadline the last round of
        /// timers noted. Nothing happens between rounds here, so it must
        /// be what a fresh scan of every peer says; only before the first
        /// round may it say "now" instead (which costs one early round).
        fn next_deadline(&self) -> Option<Duration> {
            let seen = self.device.deadline_after_round();
            if seen != Some(Duration::ZERO) {
                assert_eq!(seen, self.device.next_deadline());
            }
            seen
        }
    }
}

// --- Scenarios -----------------------------------------------------------------------------

/// Builds the two peers of a scenario; `keepalive[i]` is peer i's
/// persistent keepalive interval.
trait Pair: Endpoint + Sized {
    fn pair(addrs: [SocketAddr; 2], keepalive: [Option<Duration>; 2]) -> [Self; 2];
}

impl Pair for stub::StubPeer {
    fn pair(addrs: [SocketAddr; 2], keepalive: [Option<Duration>; 2]) -> [Self; 2] {
        [
            stub::StubPeer::new(1, addrs[1], keepalive[0]),
            stub::StubPeer::new(2, addrs[0], keepalive[1]),
        ]
    }
}

impl Pair for real::RealPeer {
    fn pair(addrs: [SocketAddr; 2], keepalive: [Option<Duration>; 2]) -> [Self; 2] {
        real::RealPeer::pair(addrs, keepalive, dybervpn_proto::Mode::Hybrid)
    }
}

fn sim<E: Pair>(net: Conditions, seed: u64, keepalive: [Option<Duration>; 2]) -> Sim<E> {
    let peers = E::pair([addr(1), addr(2)], keepalive);
    Sim::new(peers, net, seed)
}

/// 50 % loss each way: initiations are retried every REKEY_TIMEOUT until a
/// handshake gets through, then traffic flows. (A round trip succeeds with
/// probability 1/4, so some seeds need many tries; 300 s of traffic makes a
/// failure a 1-in-10^7 event, and the seeds are fixed anyway.)
fn handshake_retries_under_loss<E: Pair>() {
    let mut retried = 0;
    for seed in 1..=20 {
        let mut net = Conditions::perfect();
        net.loss_per_mille = 500;
        let mut s = sim::<E>(net, seed, [None, None]);
        s.traffic(0, Duration::ZERO, 300 * S, S);
        s.run_until(300 * S);
        let inits = s.count(0, Kind::Initiation);
        assert!(inits >= 1);
        if inits > 1 {
            retried += 1;
        }
        assert!(
            !s.delivered[1].is_empty(),
            "seed {seed}: nothing delivered after {inits} initiations"
        );
        // Never more than one initiation per REKEY_TIMEOUT (plus the first).
        let times: Vec<Duration> = s.sent_by(0, Kind::Initiation).map(|x| x.at).collect();
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= 5 * S,
                "seed {seed}: initiations {w:?} too close"
            );
        }
        // Once a session exists, most later packets arrive.
        let first = s.delivered[1][0].0;
        let later = s.app_sent[0]
            .iter()
            .filter(|(t, _)| *t > first + 20 * S)
            .count();
        let got = s.delivered[1]
            .iter()
            .filter(|(t, _)| *t > first + 20 * S)
            .count();
        assert!(got * 3 >= later, "seed {seed}: {got} of {later}");
    }
    assert!(retried >= 10, "only {retried} of 20 runs needed a retry");
}

/// Steady traffic both ways for 400 s: the initiator rekeys about every
/// REKEY_AFTER_TIME and no packet is lost across the rotations.
fn rekey_under_steady_traffic<E: Pair>() {
    let mut s = sim::<E>(Conditions::perfect(), 7, [None, None]);
    s.traffic(0, Duration::ZERO, 400 * S, 100 * MS);
    s.traffic(1, 50 * MS, 400 * S, 100 * MS);
    s.run_until(401 * S);
    let inits: Vec<Duration> = s
        .wire
        .iter()
        .filter(|x| x.kind == Kind::Initiation)
        .map(|x| x.at)
        .collect();
    let responses = s.wire.iter().filter(|x| x.kind == Kind::Response).count();
    assert_eq!(inits.len(), responses, "every initiation answered");
    assert!(inits.len() >= 4, "handshakes at {inits:?}");
    // The first is at once; each rekey comes REKEY_AFTER_TIME after the
    // previous handshake, within one packet interval.
    assert_eq!(inits[0], Duration::ZERO);
    for w in inits.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= 120 * S && gap <= 120 * S + 200 * MS,
            "rekey gap {gap:?}"
        );
    }
    // Nothing lost: every packet sent was delivered exactly once.
    for peer in 0..2 {
        let mut got: Vec<u32> = s.delivered[1 - peer].iter().map(|d| d.1).collect();
        got.sort_unstable();
        let want: Vec<u32> = s.app_sent[peer].iter().map(|d| d.1).collect();
        assert_eq!(got, want, "peer {peer}'s packets");
    }
}

/// The peer becomes unreachable: the sessions expire REJECT_AFTER_TIME
/// after the last handshake, no data is sent under them after that,
/// initiations continue at most one per REKEY_TIMEOUT, and when the network
/// heals a new handshake restores traffic.
fn reject_after_time_when_unreachable<E: Pair>() {
    let mut s = sim::<E>(Conditions::perfect(), 11, [None, None]);
    s.traffic(0, Duration::ZERO, 900 * S, 500 * MS);
    s.run_until(30 * S);
    let handshake_at = s.sent_by(1, Kind::Response).last().expect("handshake").at;
    s.net.partitioned = true;
    s.run_until(600 * S);
    let expiry = handshake_at + 180 * S;
    let late_data: Vec<Duration> = s
        .sent_by(0, Kind::Data)
        .map(|x| x.at)
        .filter(|t| *t >= expiry)
        .collect();
    assert!(
        late_data.is_empty(),
        "data sent under an expired session: {late_data:?}"
    );
    // Data was sent under the session until just before it expired.
    let last_data = s.sent_by(0, Kind::Data).map(|x| x.at).max().expect("data");
    assert!(last_data >= expiry - S, "last data at {last_data:?}");
    // Initiations keep being tried, never more often than REKEY_TIMEOUT.
    let inits: Vec<Duration> = s
        .sent_by(0, Kind::Initiation)
        .map(|x| x.at)
        .filter(|t| *t > 30 * S)
        .collect();
    assert!(
        inits.len() >= 50,
        "{} initiations while unreachable",
        inits.len()
    );
    for w in inits.windows(2) {
        assert!(w[1] - w[0] >= 5 * S, "{w:?}");
    }
    let delivered_before = s.delivered[1].len();
    s.net.partitioned = false;
    s.run_until(700 * S);
    assert!(
        s.delivered[1].len() > delivered_before + 100,
        "traffic resumed after the partition healed"
    );
}

/// A peer that received data and has nothing to send answers with one
/// keepalive KEEPALIVE_TIMEOUT later; the other side does not answer a
/// keepalive.
fn passive_keepalive<E: Pair>() {
    let mut s = sim::<E>(Conditions::perfect(), 3, [None, None]);
    s.traffic(0, Duration::ZERO, S, 10 * S); // one packet at t = 0
    s.run_until(100 * S);
    assert_eq!(s.delivered[1].len(), 1);
    let received = s.delivered[1][0].0;
    let keepalives: Vec<Duration> = s.sent_by(1, Kind::Keepalive).map(|x| x.at).collect();
    assert_eq!(keepalives.len(), 1, "{keepalives:?}");
    let after = keepalives[0] - received;
    assert!(
        after >= 10 * S && after < 10 * S + 100 * MS,
        "keepalive {after:?} after data"
    );
    assert_eq!(s.count(0, Kind::Keepalive), 0);
    assert_eq!(s.count(0, Kind::Initiation), 1, "no spurious new handshake");
}

/// With a persistent keepalive of 25 s and no traffic, the peer sends a
/// keepalive every 25 s (rekeying as needed); the other peer stays silent
/// apart from handshake responses.
fn persistent_keepalive<E: Pair>() {
    let interval = 25 * S;
    let mut s = sim::<E>(Conditions::perfect(), 5, [None, Some(interval)]);
    s.run_until(400 * S);
    let sends: Vec<Duration> = s.sent_by(1, Kind::Keepalive).map(|x| x.at).collect();
    assert!(sends.len() >= 15, "{sends:?}");
    for w in sends.windows(2) {
        assert!(w[1] - w[0] <= interval + 100 * MS, "gap {:?}", w[1] - w[0]);
    }
    assert_eq!(s.count(0, Kind::Keepalive), 0);
    assert_eq!(s.count(0, Kind::Data), 0);
    // The sessions were renewed: the keepalives went on past 180 s.
    assert!(*sends.last().expect("some") > 400 * S - interval - 100 * MS);
    assert!(s.count(1, Kind::Initiation) >= 3);
}

/// Peer 0 moves to a new address mid-stream; peer 1 follows it as soon as
/// an authenticated packet arrives from there.
fn roaming<E: Pair>() {
    let mut s = sim::<E>(Conditions::perfect(), 9, [None, None]);
    s.traffic(0, Duration::ZERO, 60 * S, 200 * MS);
    s.traffic(1, 100 * MS, 60 * S, 200 * MS);
    s.run_until(30 * S);
    let new_addr = addr(3);
    s.addrs[0] = new_addr;
    let moved_at = s.now;
    s.run_until(61 * S);
    // Peer 1's datagrams go to the new address from (about) one packet
    // interval after the move.
    let late: Vec<&Sent> = s
        .wire
        .iter()
        .filter(|x| x.from_peer == 1 && x.at > moved_at + 300 * MS)
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter().all(|x| x.to == new_addr),
        "peer 1 still sends to the old address"
    );
    // Peer 0 keeps receiving peer 1's traffic at its new address.
    let got_after = s.delivered[0].iter().filter(|d| d.0 > moved_at + S).count();
    assert!(got_after >= 140, "{got_after}");
}

/// Hostile network (loss, duplicates, reordering): everything that gets
/// through is delivered once, and traffic keeps flowing across rekeys.
fn hostile_network<E: Pair>() {
    for seed in 1..=3 {
        let mut s = sim::<E>(Conditions::hostile(), seed, [None, None]);
        s.traffic(0, Duration::ZERO, 150 * S, 50 * MS);
        s.traffic(1, 25 * MS, 150 * S, 50 * MS);
        s.run_until(151 * S);
        for peer in 0..2 {
            let mut got: Vec<u32> = s.delivered[1 - peer].iter().map(|d| d.1).collect();
            let n = got.len();
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), n, "seed {seed}: a packet was delivered twice");
            let sent = s.app_sent[peer].len();
            assert!(
                n * 10 >= sent * 8,
                "seed {seed}: peer {peer} delivered {n} of {sent}"
            );
        }
    }
}

/// Both peers start sending at the same instant, so their first
/// initiations cross. Only the one from the larger public key is answered,
/// so one handshake completes at once and both peers send on its session.
/// Then only its initiator rekeys, and no packet is lost across the rekeys
/// (two sessions, one per direction, would each lose the packets in flight
/// when the other side's rekey retired the one it was sent on; and the
/// crossing would repeat at every rekey).
fn simultaneous_start<E: Pair>() {
    for seed in 1..=3 {
        let mut s = sim::<E>(Conditions::perfect(), seed, [None, None]);
        s.traffic(0, Duration::ZERO, 400 * S, 10 * MS);
        s.traffic(1, Duration::ZERO, 400 * S, 10 * MS);
        s.run_until(401 * S);
        // Settled once the first handshakes are over (REKEY_TIMEOUT plus
        // jitter at most); from then on, one initiator per rekey.
        let settled = 6 * S;
        let early = s
            .wire
            .iter()
            .filter(|x| x.kind == Kind::Response && x.at <= settled)
            .count();
        assert_eq!(early, 1, "seed {seed}: one handshake at the start");
        let late: Vec<(Duration, usize)> = s
            .wire
            .iter()
            .filter(|x| x.kind == Kind::Initiation && x.at > settled)
            .map(|x| (x.at, x.from_peer))
            .collect();
        assert!(late.len() >= 2, "seed {seed}: rekeys at {late:?}");
        assert!(
            late.iter().all(|(_, p)| *p == late[0].1),
            "seed {seed}: both peers rekey: {late:?}"
        );
        for peer in 0..2 {
            let got: std::collections::HashSet<u32> =
                s.delivered[1 - peer].iter().map(|d| d.1).collect();
            let lost: Vec<(Duration, u32)> = s.app_sent[peer]
                .iter()
                .filter(|(t, seq)| *t > settled && !got.contains(seq))
                .copied()
                .collect();
            assert!(
                lost.is_empty(),
                "seed {seed}: peer {peer} lost {} packets after {settled:?}, first {:?}",
                lost.len(),
                lost.first()
            );
        }
    }
}

mod with_stub {
    use super::stub::StubPeer;

    #[test]
    fn handshake_retries_under_loss() {
        super::handshake_retries_under_loss::<StubPeer>();
    }

    #[test]
    fn rekey_under_steady_traffic() {
        super::rekey_under_steady_traffic::<StubPeer>();
    }

    #[test]
    fn reject_after_time_when_unreachable() {
        super::reject_after_time_when_unreachable::<StubPeer>();
    }

    #[test]
    fn passive_keepalive() {
        super::passive_keepalive::<StubPeer>();
    }

    #[test]
    fn persistent_keepalive() {
        super::persistent_keepalive::<StubPeer>();
    }

    #[test]
    fn roaming() {
        super::roaming::<StubPeer>();
    }

    #[test]
    fn hostile_network() {
        super::hostile_network::<StubPeer>();
    }

    /// The key ring reports the indices it drops, for the device's index
    /// table.
    #[test]
    fn rotations_retire_old_indices() {
        let mut s = super::sim::<StubPeer>(super::Conditions::perfect(), 1, [None, None]);
        s.traffic(0, std::time::Duration::ZERO, 400 * super::S, super::S);
        s.run_until(400 * super::S);
        // Handshakes at about 0, 120, 240 and 360 s: the first two sessions
        // have been dropped by the initiator by now.
        assert!(s.peers[0].retired.len() >= 2, "{:?}", s.peers[0].retired);
        assert!(s.peers[1].retired.len() >= 2, "{:?}", s.peers[1].retired);
    }
}

mod with_device {
    use super::real::RealPeer;

    #[test]
    fn handshake_retries_under_loss() {
        super::handshake_retries_under_loss::<RealPeer>();
    }

    #[test]
    fn rekey_under_steady_traffic() {
        super::rekey_under_steady_traffic::<RealPeer>();
    }

    #[test]
    fn reject_after_time_when_unreachable() {
        super::reject_after_time_when_unreachable::<RealPeer>();
    }

    #[test]
    fn passive_keepalive() {
        super::passive_keepalive::<RealPeer>();
    }

    // A peer that only sends persistent keepalives must still rekey: the
    // device applies `Session::should_rekey` after every keepalive, as the
    // kernel's `keep_key_fresh` does for every data packet.
    #[test]
    fn persistent_keepalive() {
        super::persistent_keepalive::<RealPeer>();
    }

    #[test]
    fn roaming() {
        super::roaming::<RealPeer>();
    }

    #[test]
    fn hostile_network() {
        super::hostile_network::<RealPeer>();
    }

    #[test]
    fn simultaneous_start() {
        super::simultaneous_start::<RealPeer>();
    }
}
