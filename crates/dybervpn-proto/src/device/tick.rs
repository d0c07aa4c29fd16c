//! Time-driven work: the per-peer timers ([`crate::timers`]), expired
//! sessions, pending rekeys and queues that became sendable.

use std::time::Duration;

use crate::error::ProtoError;
use crate::peer::{Peer, PeerId};
use crate::timers::TimerEvent;
use crate::Now;

use super::{lock, read, Action, Device};

impl Device {
    /// Runs whatever is due at `now` and returns the first datagram to send
    /// (a handshake initiation, a keepalive or a queued packet). Call it
    /// again until it returns [`Action::None`], whenever
    /// [`Device::next_deadline`] has passed and after every
    /// [`Device::decapsulate`] (queued packets become sendable when a
    /// handshake completes). `out` should hold 4641 bytes (any initiation)
    /// or the largest queued packet plus 32.
    ///
    /// Each call resumes with the peer the previous call stopped at, so a
    /// round of calls that sends `k` datagrams visits each of `n` peers
    /// about once (`O(n + k)`), not once per datagram. An error concerns
    /// one peer only; the next call goes on with the ones after it.
    pub fn update_timers<'o>(&self, now: Now, out: &'o mut [u8]) -> Result<Action<'o>, ProtoError> {
        let table = read(&self.peers);
        let start = *lock(&self.timer_cursor);
        let after_start = table.by_id.range(start..);
        let before_start = table.by_id.range(..start);
        // Noted on the way, for a call that gets through every peer.
        let mut earliest: Option<Duration> = None;
        for (id, peer) in after_start.chain(before_start) {
            let mut p = lock(peer);
            let ticked = self.tick_peer(now, &mut p, out);
            // Stay on a peer that sent (it may have more queued), step past
            // one that failed (it would fail again at once).
            match &ticked {
                Ok(None) => {
                    earliest = earliest.into_iter().chain(peer_deadline(&p)).min();
                    continue;
                }
                Ok(Some(_)) => *lock(&self.timer_cursor) = *id,
                Err(_) => *lock(&self.timer_cursor) = PeerId(id.0.saturating_add(1)),
            }
            if let Some(n) = ticked? {
                let to = p.endpoint.ok_or(ProtoError::NoEndpoint)?;
                return Ok(Action::SendToNetwork {
                    to,
                    datagram: &out[..n],
                    peer: Some(p.id),
                });
            }
        }
        // Noted before the table is released, so a peer added meanwhile
        // (which takes the table for writing) leaves its "now" in place.
        *lock(&self.round_deadline) = earliest;
        drop(table);
        lock(&self.limiter).collect_if_due(now.mono);
        Ok(Action::None)
    }

    /// What [`Device::next_deadline`] would have said at the end of the last
    /// call to [`Device::update_timers`] that returned [`Action::None`]: that
    /// call visited every peer and noted each one's deadline on the way, so
    /// a timer loop that just finished its round need not lock every peer a
    /// second time. Packets handled on other threads since then may have
    /// set earlier deadlines; a caller bounds its sleep for them (or is
    /// woken), as it would after [`Device::next_deadline`]. Before the first
    /// round, and after a peer is added or changed, it says "now".
    #[must_use]
    pub fn deadline_after_round(&self) -> Option<Duration> {
        *lock(&self.round_deadline)
    }

    /// One peer's due work; `Some(len)` when a datagram was written.
    fn tick_peer(
        &self,
        now: Now,
        p: &mut Peer,
        out: &mut [u8],
    ) -> Result<Option<usize>, ProtoError> {
        let retired = p.keys.expire(now.mono);
        self.free_indices(retired.indices());

        let usable = p.keys.usable(now.mono).is_some();
        if p.queue_ready && usable && p.endpoint.is_some() {
            return self.send_queued_or_keepalive(now, p, out).map(Some);
        }
        if p.handshake_due && p.endpoint.is_some() {
            p.handshake_due = false;
            if p.timers.want_handshake(now.mono) {
                return self.begin_handshake(now, p, out).map(Some);
            }
        }
        while let Some(event) = p.timers.poll(now.mono) {
            let sendable = p.endpoint.is_some();
            match event {
                TimerEvent::SendInitiation { .. } if sendable => {
                    return self.begin_handshake(now, p, out).map(Some);
                }
                TimerEvent::SendKeepalive | TimerEvent::SendPersistentKeepalive if sendable => {
                    if usable {
                        let session = p.keys.current().cloned();
                        if let Some(s) = session {
                            let n = self.seal_keepalive(now, &s, out)?;
                            p.stats.tx_packets += 1;
                            p.stats.tx_bytes += n as u64;
                            p.timers.authenticated_packet_sent(now.mono);
                            p.timers.authenticated_packet_traversed(now.mono);
                            if s.should_rekey(now.mono) {
                                p.handshake_due = true;
                            }
                            return Ok(Some(n));
                        }
                    } else if p.timers.want_handshake(now.mono) {
                        return self.begin_handshake(now, p, out).map(Some);
                    }
                }
                TimerEvent::HandshakeGaveUp => {
                    p.queue.clear();
                    p.queue_ready = false;
                    if let Some(old) = p.pending.take() {
                        self.free_indices(std::iter::once(old.state.local_index));
                    }
                }
                TimerEvent::ZeroKeys => {
                    let retired = p.keys.clear();
                    self.free_indices(retired.indices());
                    if let Some(old) = p.pending.take() {
                        self.free_indices(std::iter::once(old.state.local_index));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    fn seal_keepalive(
        &self,
        now: Now,
        session: &crate::session::Session,
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        session
            .seal_into(now.mono, &[], out)
            .map_err(|_| ProtoError::SessionExpired)
    }

    /// The earliest monotonic time at which [`Device::update_timers`] has
    /// work; `Some(Duration::ZERO)` means "now". `None`: nothing scheduled.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        let peers = read(&self.peers);
        peers
            .by_id
            .values()
            .filter_map(|peer| peer_deadline(&lock(peer)))
            .min()
    }
}

/// The earliest time one peer has timer work; `Duration::ZERO` for "now".
fn peer_deadline(p: &Peer) -> Option<Duration> {
    // The same conditions under which `tick_peer` acts at once; without an
    // endpoint (or a session for the queue) nothing can be sent, so "now"
    // would only make the caller spin.
    let can_send = p.endpoint.is_some();
    if can_send && (p.handshake_due || (p.queue_ready && p.keys.current().is_some())) {
        return Some(Duration::ZERO);
    }
    let session_expiry = [p.keys.current(), p.keys.previous(), p.keys.next()]
        .into_iter()
        .flatten()
        .map(|s| s.created() + crate::constants::REJECT_AFTER_TIME)
        .min();
    [p.timers.next_deadline(), session_expiry]
        .into_iter()
        .flatten()
        .min()
}
