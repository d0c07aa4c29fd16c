//! The daemon's threads: one reads the TUN device and encrypts, one per
//! address family reads UDP and decrypts, one drives the timers. Each owns
//! its buffers for its whole life, so no packet allocates.
//!
//! * TUN → [`Device::encapsulate`] → UDP. The destination address picks
//!   the peer (allowed-IPs longest match); no match: dropped and counted.
//! * UDP → [`Device::decapsulate`] → TUN (after checking the inner source
//!   address belongs to the sending peer: otherwise dropped and counted) or
//!   a reply over UDP. Handshake messages wake the timer thread, which
//!   sends the packets queued while the handshake ran.
//! * Timers: [`Device::update_timers`] until it has nothing more, then sleep
//!   until [`Device::next_deadline`] (at most [`MAX_TIMER_SLEEP`]) or a wake.
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dybervpn_proto::{Action, Device};

use super::Shared;
use crate::packet;

/// Largest datagram or packet handled.
pub const MAX_PACKET: usize = 65_535;
/// Output buffers: a packet plus the transport overhead, or any handshake
/// message (4,641 bytes for pq-only).
pub const OUT_BUF: usize = MAX_PACKET + 64;
/// The timer thread wakes at least this often (it also wakes on demand).
pub const MAX_TIMER_SLEEP: Duration = Duration::from_millis(100);
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
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn send(shared: &Shared, to: SocketAddr, datagram: &[u8]) {
    let sent = shared
        .udp
        .for_destination(&to)
        .map(|s| s.send_to(datagram, to));
    if !matches!(sent, Some(Ok(_))) {
        bump(&shared.counters.udp_send_errors);
    }
}

fn perform(shared: &Shared, action: Action<'_>) {
    match action {
        Action::SendToNetwork { to, datagram, peer } => {
            if datagram.first() != Some(&4) {
                let mono = shared.clock.now().mono;
                shared.events.sent(shared, datagram, peer, mono);
            }
            send(shared, to, datagram);
        }
        Action::DeliverToTunnel { peer, packet } => {
            let allowed = packet::source(packet).is_some_and(|src| {
                shared
                    .table
                    .read()
                    .is_ok_and(|t| t.source_allowed(peer, src))
            });
            if !allowed {
                bump(&shared.counters.bad_source);
            } else if shared.tun.send(packet).is_err() {
                bump(&shared.counters.tun_write_errors);
            }
        }
        _ => {}
    }
}

/// Reads the TUN device until stopped.
pub(super) fn tun_reader(shared: &Shared) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut out = vec![0u8; OUT_BUF];
    while !shared.stopping() {
        let n = match shared.tun.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => {
                // The device is gone: nothing more to read.
                return;
            }
        };
        let Some(packet) = buf.get(..n) else { continue };
        let Some(dst) = packet::destination(packet) else {
            bump(&shared.counters.not_ip);
            continue;
        };
        let peer = shared.table.read().ok().and_then(|t| t.route(dst));
        let Some(peer) = peer else {
            bump(&shared.counters.no_route);
            continue;
        };
        match shared
            .device
            .encapsulate(shared.clock.now(), peer, packet, &mut out)
        {
            Ok(action) => perform(shared, action),
            Err(_) => bump(&shared.counters.encapsulate_failed),
        }
    }
}

/// Reads one UDP socket until stopped.
pub(super) fn udp_reader(shared: &Shared, socket: &UdpSocket) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut out = vec![0u8; OUT_BUF];
    while !shared.stopping() {
        let received = socket.recv_from(&mut buf);
        if shared.stopping() {
            return;
        }
        let now = shared.clock.now();
        shared.events.udp_turn(now.mono);
        let (n, src) = match received {
            Ok(r) => r,
            // ICMP-induced errors (ECONNREFUSED), EINTR and the like: go on.
            Err(_) => continue,
        };
        let Some(datagram) = buf.get(..n) else {
            continue;
        };
        let is_transport = datagram.first() == Some(&4);
        // Refusals are counted by the core.
        let result = shared.device.decapsulate(now, src, datagram, &mut out);
        if !is_transport {
            shared
                .events
                .received(shared, datagram, src, &result, now.mono);
        }
        if let Ok(action) = result {
            perform(shared, action);
        }
        if !is_transport {
            shared.wake_timers();
        }
    }
}

/// Drives the core's timers until stopped.
pub(super) fn timers(shared: &Shared) {
    let mut out = vec![0u8; OUT_BUF];
    while !shared.stopping() {
        let now = shared.clock.now();
        shared.events.tick(shared, now.mono);
        for _ in 0..MAX_TIMER_ACTIONS {
            match shared.device.update_timers(now, &mut out) {
                Ok(Action::None) => break,
                Ok(action) => perform(shared, action),
                // A peer without an endpoint and the like: try again later.
                Err(_) => break,
            }
        }
        let sleep = next_sleep(&shared.device, shared.clock.now().mono);
        std::thread::park_timeout(sleep);
    }
}

fn next_sleep(device: &Device, now: Duration) -> Duration {
    device
        .next_deadline()
        .map_or(MAX_TIMER_SLEEP, |d| d.saturating_sub(now))
        .clamp(Duration::from_millis(1), MAX_TIMER_SLEEP)
}
