//! The daemon's threads: one reads the TUN device and encrypts, one per
//! address family reads UDP and decrypts, one drives the timers. Each owns
//! its buffers for its whole life, allocated when first needed, so no packet
//! allocates once they exist.
//!
//! Both directions work in batches so the per-packet system calls and
//! trips through the kernel's stacks disappear (see `docs/performance.md`):
//! a TUN read with offload brings a whole TCP segment train (up to 64 KB),
//! whose encrypted datagrams leave in `UDP_SEGMENT` runs; a UDP read with
//! `UDP_GRO` brings up to 64 datagrams, whose decrypted packets are
//! coalesced back into large TCP segments for one TUN write.
//!
//! * TUN → [`Device::encapsulate`] → UDP. The destination address picks
//!   the peer (allowed-IPs longest match); no match: dropped and counted.
//! * UDP → [`Device::decapsulate`] → TUN (after checking the inner source
//!   address belongs to the sending peer: otherwise dropped and counted).
//!   Handshake messages go through a bounded queue to a worker thread per
//!   UDP reader (nice 10; dropped when the queue is full), which answers
//!   them and, after an accepted response, wakes the timer thread to send
//!   the packets queued while the handshake ran. The reader wakes it too
//!   when a transport message confirms a session with packets waiting
//!   ([`Device::take_timers_due`]).
//! * Timers: [`Device::update_timers`] until it has nothing more, then sleep
//!   until the earliest deadline its round saw ([`Device::deadline_after_round`];
//!   at most [`MAX_TIMER_SLEEP`], a second) or a wake.
#![forbid(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use dybervpn_proto::constants::{MSG_HYBRID_RESPONSE, MSG_PQ_RESPONSE, MSG_RESPONSE};
use dybervpn_proto::tuning::MAC1_BATCH;
#[cfg(doc)]
use dybervpn_proto::Device;
use dybervpn_proto::{Action, Now, PeerId, ProtoError};

use super::Shared;
use crate::os::gso;
use crate::os::priority;
use crate::os::tun::{TunReadBatch, TunWriteBatch};
use crate::packet;

/// Largest datagram or packet handled.
pub const MAX_PACKET: usize = 65_535;
/// Output buffers: a packet plus the transport overhead, or any handshake
/// message (4,641 bytes for pq-only).
pub const OUT_BUF: usize = MAX_PACKET + 64;
/// The timer thread wakes at least this often (it also wakes on demand).
///
/// Its sleep is the earliest deadline its last round saw, and other threads
/// arm later ones meanwhile. None of those is less than a second away (a
/// keepalive 10 s, a new handshake 15 s, a retry 5 s, a persistent
/// keepalive 1 s at least), so waking once a second is enough to meet them;
/// work due at once (packets a confirmed session can send, a response
/// accepted) wakes the thread. What waits for the next turn, a second at
/// most, is a rekey flagged by a packet at 120 s (or on receipt at 165 s),
/// well before the 180 s at which the session is rejected. Each turn visits
/// every peer: 100 ms turns cost 1.4–1.6% of a core at 10,000 idle peers,
/// one-second turns 0.2% (`docs/performance.md`).
pub const MAX_TIMER_SLEEP: Duration = Duration::from_secs(1);
/// Handshake messages waiting for the worker, at most (each buffer
/// [`HANDSHAKE_BUF`] bytes, allocated the first time the queue is that
/// deep and reused from then on).
const HANDSHAKE_QUEUE: usize = 256;
/// The largest handshake message (a pq-only initiation is 4,641 bytes).
const HANDSHAKE_BUF: usize = 4_800;
/// Most datagrams one timer round sends before sleeping (bounds a round).
const MAX_TIMER_ACTIONS: usize = 4096;

/// Data-path counters the core does not keep.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets from the TUN device whose destination no peer's allowed IPs
    /// cover.
    pub no_route: AtomicU64,
    /// Decrypted packets whose source address is not in the sending peer's
    /// allowed IPs.
    pub bad_source: AtomicU64,
    /// Packets from the TUN device that are not IPv4/IPv6.
    pub not_ip: AtomicU64,
    /// Packets for a peer with no endpoint or another core refusal.
    pub encapsulate_failed: AtomicU64,
    /// UDP sends that failed.
    pub udp_send_errors: AtomicU64,
    /// TUN writes that failed.
    pub tun_write_errors: AtomicU64,
    /// Handshake messages dropped because the handshake worker was behind
    /// (or too long to be one).
    pub handshake_queue_full: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Sends `buf` (a run of `segment`-byte datagrams, or one datagram when
/// `segment` is its length) to `to` from `from` (see `daemon/sources.rs`).
/// If the kernel refuses `from` itself (the address is gone), `peer`'s
/// source is forgotten and the run goes again from the address the kernel
/// picks; any other failure is returned as it is.
fn send_from(
    shared: &Shared,
    socket: &UdpSocket,
    buf: &[u8],
    segment: usize,
    to: SocketAddr,
    from: Option<IpAddr>,
    peer: Option<PeerId>,
) -> io::Result<usize> {
    match gso::send_segments(socket, buf, segment, to, from) {
        Err(e) if from.is_some() && gso::source_refused(&e) => {
            shared.sources.forget(peer);
            gso::send_segments(socket, buf, segment, to, None)
        }
        sent => sent,
    }
}

/// One datagram to `to`: from `reply`'s local address when it answers the
/// datagram `reply` describes (same remote), else from `peer`'s known
/// source.
fn send(
    shared: &Shared,
    to: SocketAddr,
    datagram: &[u8],
    peer: Option<PeerId>,
    reply: Option<Reply>,
) {
    let from = reply
        .filter(|r| r.remote == to)
        .and_then(|r| r.local)
        .or_else(|| shared.sources.get(peer, to));
    let sent = shared
        .udp
        .for_destination(&to)
        .map(|s| send_from(shared, s, datagram, datagram.len(), to, from, peer));
    if !matches!(sent, Some(Ok(_))) {
        bump(&shared.counters.udp_send_errors);
    }
}

/// The datagram an action answers: where it came from and the local
/// address it reached.
#[derive(Debug, Clone, Copy)]
struct Reply {
    remote: SocketAddr,
    local: Option<IpAddr>,
}

fn perform(shared: &Shared, action: Action<'_>, reply: Option<Reply>) {
    match action {
        Action::SendToNetwork { to, datagram, peer } => {
            if datagram.first() != Some(&4) {
                let mono = shared.clock.now().mono;
                shared.events.sent(shared, datagram, peer, mono);
            }
            send(shared, to, datagram, peer, reply);
        }
        Action::DeliverToTunnel { peer, packet } => {
            if !source_allowed(shared, peer, packet) {
                bump(&shared.counters.bad_source);
            } else if shared.tun.send(packet).is_err() {
                bump(&shared.counters.tun_write_errors);
            }
        }
        _ => {}
    }
}

/// Encrypted datagrams waiting to be sent: runs of equal-sized datagrams
/// to one endpoint laid end to end in one buffer, each run leaving in one
/// `UDP_SEGMENT` send (the kernel's limit: [`gso::MAX_SEGMENTS`] datagrams,
/// [`gso::MAX_GSO_BYTES`] bytes; only the last datagram may be shorter).
struct UdpTx {
    buf: Vec<u8>,
    /// Where the next datagram is written.
    pos: usize,
    /// Start of the current run.
    run_start: usize,
    run_to: Option<SocketAddr>,
    /// The source address and peer of the current run.
    run_from: Option<IpAddr>,
    run_peer: Option<PeerId>,
    segment: usize,
    count: usize,
    /// A datagram shorter than `segment` ended the run.
    closed: bool,
    /// Cleared for good when the kernel refuses a segmented send.
    gso: bool,
}

impl UdpTx {
    fn new() -> Self {
        Self {
            buf: vec![0u8; gso::MAX_GSO_BYTES + OUT_BUF],
            pos: 0,
            run_start: 0,
            run_to: None,
            run_from: None,
            run_peer: None,
            segment: 0,
            count: 0,
            closed: false,
            gso: true,
        }
    }

    /// Room for the next datagram (at least [`OUT_BUF`] bytes).
    fn slot(&mut self, shared: &Shared) -> &mut [u8] {
        if self.pos >= gso::MAX_GSO_BYTES {
            self.flush(shared);
        }
        let pos = self.pos;
        &mut self.buf[pos..]
    }

    /// Adds the `len`-byte datagram just written at the slot, for `peer`
    /// at `to` from `from`, to the run.
    fn commit(
        &mut self,
        shared: &Shared,
        to: SocketAddr,
        from: Option<IpAddr>,
        peer: Option<PeerId>,
        len: usize,
    ) {
        if self.count > 0
            && (self.run_to != Some(to)
                || self.run_from != from
                || len > self.segment
                || self.closed
                || self.count >= gso::MAX_SEGMENTS
                || self.pos + len - self.run_start > gso::MAX_GSO_BYTES)
        {
            self.send_run(shared);
        }
        if self.count == 0 {
            self.run_to = Some(to);
            self.run_from = from;
            self.run_peer = peer;
            self.segment = len;
            self.closed = false;
        } else if len < self.segment {
            self.closed = true;
        }
        self.pos += len;
        self.count += 1;
    }

    fn send_run(&mut self, shared: &Shared) {
        let (start, end) = (self.run_start, self.pos);
        self.run_start = end;
        let count = std::mem::take(&mut self.count);
        let (Some(to), Some(run)) = (self.run_to, self.buf.get(start..end)) else {
            return;
        };
        let Some(socket) = shared.udp.for_destination(&to) else {
            shared
                .counters
                .udp_send_errors
                .fetch_add(count as u64, Ordering::Relaxed);
            return;
        };
        let (from, peer) = (self.run_from, self.run_peer);
        if self.gso && count > 1 {
            match send_from(shared, socket, run, self.segment, to, from, peer) {
                Ok(_) => return,
                // A full socket buffer: the run is lost, as a datagram would be.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    shared
                        .counters
                        .udp_send_errors
                        .fetch_add(count as u64, Ordering::Relaxed);
                    return;
                }
                // No GSO on this kernel or route: datagrams from now on.
                Err(e) if gso::unsupported(&e) => self.gso = false,
                // Larger than the route's MTU: this run goes as single
                // datagrams, which the kernel fragments (GSO stays on: the
                // next run may go elsewhere).
                Err(e) if gso::too_big(&e) => {}
                // Anything else (ENOBUFS, an unreachable route): this run
                // is lost, as a datagram would be.
                Err(_) => {
                    shared
                        .counters
                        .udp_send_errors
                        .fetch_add(count as u64, Ordering::Relaxed);
                    return;
                }
            }
        }
        for d in run.chunks(self.segment.max(1)) {
            if send_from(shared, socket, d, d.len(), to, from, peer).is_err() {
                bump(&shared.counters.udp_send_errors);
            }
        }
    }

    fn flush(&mut self, shared: &Shared) {
        if self.count > 0 {
            self.send_run(shared);
        }
        self.pos = 0;
        self.run_start = 0;
    }
}

/// Whether a TUN read error means the device is gone, as opposed to one
/// malformed offloaded packet: asked of the device itself, since `tun-rs`
/// reports a deleted device's `POLLERR` as an error of no particular kind.
fn device_gone(shared: &Shared, e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    ) && !shared.tun.attached()
}

/// Reads the TUN device until stopped: a batch of packets (with offload,
/// one TCP segment train split to the MTU), each encrypted into the
/// send buffer, then sent in runs.
pub(super) fn tun_reader(shared: &Shared) {
    let mut mtu = shared.tun.mtu().unwrap_or(1420);
    let mut batch = TunReadBatch::new(mtu);
    let mut tx = UdpTx::new();
    while !shared.stopping() {
        let n = match shared.tun.recv_batch(&mut batch) {
            Ok(n) => n,
            Err(e) if device_gone(shared, &e) => {
                shared.end(format!(
                    "its TUN interface {} was deleted",
                    shared.interface
                ));
                return;
            }
            Err(_) => {
                // A segment train split into pieces larger than the
                // buffers: the MTU went up (`ip link set … mtu`) since they
                // were made. New buffers for it; this train is lost, as a
                // malformed one is, and TCP sends it again.
                if let Ok(now_mtu) = shared.tun.mtu() {
                    if now_mtu > mtu {
                        mtu = now_mtu;
                        batch = TunReadBatch::new(mtu);
                    }
                }
                continue;
            }
        };
        let now = shared.clock.now();
        // The last peer's source, looked up once per peer and batch.
        let mut source: Option<(PeerId, SocketAddr, Option<IpAddr>)> = None;
        for i in 0..n {
            let packet = batch.packet(i);
            let Some(dst) = packet::destination(packet) else {
                bump(&shared.counters.not_ip);
                continue;
            };
            let peer = shared.table.read().ok().and_then(|t| t.route(dst));
            let Some(peer) = peer else {
                bump(&shared.counters.no_route);
                continue;
            };
            let slot = tx.slot(shared);
            let slot_start = slot.as_ptr();
            match shared.device.encapsulate(now, peer, packet, slot) {
                Ok(Action::SendToNetwork { to, datagram, .. })
                    if datagram.first() == Some(&4)
                        && std::ptr::eq(datagram.as_ptr(), slot_start) =>
                {
                    let len = datagram.len();
                    let from = match source {
                        Some((p, t, from)) if p == peer && t == to => from,
                        _ => {
                            let from = shared.sources.get(Some(peer), to);
                            source = Some((peer, to, from));
                            from
                        }
                    };
                    tx.commit(shared, to, from, Some(peer), len);
                }
                Ok(action) => perform(shared, action, None),
                Err(_) => bump(&shared.counters.encapsulate_failed),
            }
        }
        tx.flush(shared);
        // A packet queued just as a handshake finished on another thread
        // is sendable now (the core flags it): the timer thread sends it.
        if shared.device.take_timers_due() {
            shared.wake_timers();
        }
    }
}

/// A handshake message waiting for the handshake worker.
struct Queued {
    buf: Box<[u8]>,
    len: usize,
    reply: Reply,
}

/// Reads one UDP socket until stopped. With `UDP_GRO` one read brings a
/// train of datagrams from one source; transport messages are decrypted
/// into the TUN write batch, which coalesces TCP segments before writing.
///
/// Handshake messages (initiations, responses, cookie replies) go to a
/// worker thread through a bounded queue of at most [`HANDSHAKE_QUEUE`]
/// reused buffers ([`HandshakeBufs`]); when it is full they are dropped, as the kernel
/// module drops them when its handshake queue is full. So a flood of
/// initiations — even with a valid mac1, each costing a Diffie-Hellman until
/// the cookie mechanism engages — cannot stall the decryption of an
/// established tunnel's packets behind it.
pub(super) fn udp_reader(shared: &Shared, socket: &UdpSocket) {
    let (queue, work) = mpsc::sync_channel::<Queued>(HANDSHAKE_QUEUE);
    let (give_back, free) = mpsc::sync_channel::<Box<[u8]>>(HANDSHAKE_QUEUE);
    // "wg0-udp4" reads, "wg0-hs4" answers handshakes: told apart in `top -H`
    // and in profiles.
    let worker_name = std::thread::current()
        .name()
        .map_or_else(|| "handshakes".to_owned(), |n| n.replace("-udp", "-hs"));
    let what = worker_name
        .trim_start_matches(&format!("{}-", shared.interface))
        .to_owned();
    std::thread::scope(|scope| {
        let spawned =
            std::thread::Builder::new()
                .name(worker_name)
                .spawn_scoped(scope, move || {
                    super::watched(
                        &what,
                        super::Returning::IsExpected,
                        || shared.stopping(),
                        |why| shared.fail(why),
                        || handshake_worker(shared, &work, &give_back),
                    );
                });
        if spawned.is_err() {
            // No worker, no handshakes: a tunnel that cannot set up
            // sessions says so by ending, rather than looking healthy.
            shared.fail("cannot start its handshake worker thread".to_owned());
        }
        let mut bufs = HandshakeBufs {
            free: &free,
            allocated: 0,
        };
        udp_loop(shared, socket, &queue, &mut bufs);
        // Dropping `queue` here ends the worker.
        drop(queue);
    });
}

/// The UDP reader's handshake buffers: those the worker gave back are
/// reused; a new one is allocated only while fewer than [`HANDSHAKE_QUEUE`]
/// exist. An idle daemon holds none (they were all allocated at start
/// before: 1.2 MB per reader), a busy one at most [`HANDSHAKE_QUEUE`], and no allocation
/// happens once the pool has grown to what the load needs.
struct HandshakeBufs<'a> {
    free: &'a mpsc::Receiver<Box<[u8]>>,
    allocated: usize,
}

impl HandshakeBufs<'_> {
    fn take(&mut self) -> Option<Box<[u8]>> {
        if let Ok(b) = self.free.try_recv() {
            return Some(b);
        }
        if self.allocated >= HANDSHAKE_QUEUE {
            return None;
        }
        self.allocated += 1;
        Some(vec![0u8; HANDSHAKE_BUF].into_boxed_slice())
    }

    /// A buffer that will not come back (its message could not be queued).
    fn lost(&mut self) {
        self.allocated = self.allocated.saturating_sub(1);
    }
}

fn udp_loop(
    shared: &Shared,
    socket: &UdpSocket,
    queue: &mpsc::SyncSender<Queued>,
    bufs: &mut HandshakeBufs<'_>,
) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut rx = TunWriteBatch::new();
    let _ = gso::enable_gro(socket);
    let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
    let _ = gso::enable_pktinfo(socket, v6);
    while !shared.stopping() {
        let received = gso::recv_segments(socket, &mut buf);
        if shared.stopping() {
            return;
        }
        let now = shared.clock.now();
        shared.events.udp_turn(v6, now.mono);
        let (n, src, segment) = match received {
            Ok(r) => (r.len, r.src, r.segment),
            // ICMP-induced errors (ECONNREFUSED), EINTR and the like: go on.
            Err(_) => continue,
        };
        let reply = Reply {
            remote: src,
            local: received.ok().and_then(|r| r.local),
        };
        // Every datagram of a train has the same source and local address:
        // the first one authenticated (data or keepalive) teaches them.
        let mut learned = false;
        let mut learn_once = |peer: PeerId| {
            if !learned {
                shared.sources.learn(peer, src, reply.local);
                learned = true;
            }
        };
        let Some(train) = buf.get(..n) else {
            continue;
        };
        for datagram in train.chunks(segment.max(1)) {
            if datagram.first() == Some(&4) {
                if rx.is_full() {
                    flush_tun(shared, &mut rx);
                }
                let Some(slot) = rx.slot(datagram.len()) else {
                    continue;
                };
                let slot_start = slot.as_ptr();
                // Refusals are counted by the core.
                match shared.device.decapsulate(now, src, datagram, slot) {
                    Ok(Action::DeliverToTunnel { peer, packet })
                        if std::ptr::eq(packet.as_ptr(), slot_start) =>
                    {
                        learn_once(peer);
                        if source_allowed(shared, peer, packet) {
                            let len = packet.len();
                            rx.commit(len);
                        } else {
                            bump(&shared.counters.bad_source);
                        }
                    }
                    Ok(Action::Keepalive { peer }) => learn_once(peer),
                    Ok(action) => perform(shared, action, Some(reply)),
                    Err(_) => {}
                }
                continue;
            }
            // Handshake messages: to the worker, or dropped when it is
            // behind (no free buffer). One longer than any handshake message
            // is refused (and counted) by the core's length check at once.
            if datagram.len() > HANDSHAKE_BUF {
                let _ = shared.device.decapsulate(now, src, datagram, &mut []);
                continue;
            }
            let Some(mut b) = bufs.take() else {
                bump(&shared.counters.handshake_queue_full);
                continue;
            };
            let len = datagram.len();
            if let Some(dst) = b.get_mut(..len) {
                dst.copy_from_slice(datagram);
            }
            if queue.try_send(Queued { buf: b, len, reply }).is_err() {
                bufs.lost();
                bump(&shared.counters.handshake_queue_full);
            }
        }
        flush_tun(shared, &mut rx);
        // A confirmed session made queued packets sendable: the timer
        // thread sends them now, not at its next deadline (up to a second).
        if shared.device.take_timers_due() {
            shared.wake_timers();
        }
    }
}

/// Runs handshake messages through the core until the reader hangs up.
///
/// Whatever is waiting when the worker wakes, up to [`MAC1_BATCH`]
/// messages, goes to the core together, which checks their mac1 in one
/// SIMD pass ([`Device::decapsulate_many`]): idle, a message is handled
/// alone as soon as it arrives; under a flood, the messages that piled up
/// meanwhile cost about a quarter as much each to refuse.
fn handshake_worker(
    shared: &Shared,
    work: &mpsc::Receiver<Queued>,
    give_back: &mpsc::SyncSender<Box<[u8]>>,
) {
    // Below the data path (see os/priority.rs); if the system refuses, the
    // worker simply competes as an equal, as before.
    let _ = priority::set_current_thread_nice(priority::HANDSHAKE_WORKER_NICE);
    let mut out = vec![0u8; OUT_BUF];
    let mut batch: Vec<Queued> = Vec::with_capacity(MAC1_BATCH);
    while let Ok(first) = work.recv() {
        batch.push(first);
        while batch.len() < MAC1_BATCH {
            match work.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut datagrams: [(SocketAddr, &[u8]); MAC1_BATCH] = [(unspecified, &[]); MAC1_BATCH];
        for (d, q) in datagrams.iter_mut().zip(&batch) {
            *d = (q.reply.remote, q.buf.get(..q.len).unwrap_or_default());
        }
        let datagrams = &datagrams[..batch.len().min(MAC1_BATCH)];
        shared.device.decapsulate_many(
            || shared.clock.now(),
            datagrams,
            &mut out,
            |i, result| {
                if let (Some(&(_, datagram)), Some(q)) = (datagrams.get(i), batch.get(i)) {
                    answer(shared, shared.clock.now(), datagram, q.reply, result);
                }
            },
        );
        for q in batch.drain(..) {
            let _ = give_back.try_send(q.buf);
        }
    }
}

/// What the worker does with the core's verdict on one handshake message.
fn answer(
    shared: &Shared,
    now: Now,
    datagram: &[u8],
    reply: Reply,
    result: Result<Action<'_>, ProtoError>,
) {
    let src = reply.remote;
    let from = result.as_ref().map(|action| match action {
        Action::SendToNetwork { peer, .. } => *peer,
        Action::DeliverToTunnel { peer, .. } => Some(*peer),
        _ => None,
    });
    if let Ok(Some(peer)) = from {
        shared.sources.learn(peer, src, reply.local);
    }
    shared
        .events
        .received(shared, datagram, src, from, now.mono);
    // Only an accepted response makes timer work due at once: the
    // packets queued while the handshake ran, beyond the first that
    // the core sent with its answer. Anything else — an answered
    // initiation, a refusal, a cookie reply, all of a flood —
    // leaves the timer thread to its own schedule, so handshake
    // load does not turn into scans of the whole peer table.
    let response = matches!(
        datagram.first(),
        Some(&(MSG_RESPONSE | MSG_HYBRID_RESPONSE | MSG_PQ_RESPONSE))
    );
    if let Ok(action) = result {
        perform(shared, action, Some(reply));
        if response {
            shared.wake_timers();
        }
    }
}

fn source_allowed(shared: &Shared, peer: dybervpn_proto::PeerId, packet: &[u8]) -> bool {
    packet::source(packet).is_some_and(|src| {
        shared
            .table
            .read()
            .is_ok_and(|t| t.source_allowed(peer, src))
    })
}

fn flush_tun(shared: &Shared, rx: &mut TunWriteBatch) {
    if !rx.is_empty() && shared.tun.send_batch(rx).is_err() {
        bump(&shared.counters.tun_write_errors);
    }
}

/// Drives the core's timers until stopped.
pub(super) fn timers(shared: &Shared) {
    let mut out = vec![0u8; OUT_BUF];
    let mut socket_checked = Duration::ZERO;
    while !shared.stopping() {
        let now = shared.clock.now();
        shared.events.tick(now.mono);
        // Once a second at most: a `stat` of the userspace-API socket.
        if now.mono.saturating_sub(socket_checked) >= MAX_TIMER_SLEEP {
            socket_checked = now.mono;
            shared.check_uapi_socket();
        }
        // The call that returns `None` has visited every peer and noted the
        // earliest deadline; a round cut short has more to do at once.
        let mut deadline = Some(Duration::ZERO);
        for _ in 0..MAX_TIMER_ACTIONS {
            match shared.device.update_timers(now, &mut out) {
                Ok(Action::None) => {
                    deadline = shared.device.deadline_after_round();
                    break;
                }
                Ok(action) => perform(shared, action, None),
                // One peer's failure (no endpoint and the like); the core
                // goes on with the next peer on the next call.
                Err(_) => {}
            }
        }
        let sleep = sleep_until(deadline, shared.clock.now().mono);
        std::thread::park_timeout(sleep);
    }
}

fn sleep_until(deadline: Option<Duration>, now: Duration) -> Duration {
    deadline
        .map_or(MAX_TIMER_SLEEP, |d| d.saturating_sub(now))
        .clamp(Duration::from_millis(1), MAX_TIMER_SLEEP)
}
