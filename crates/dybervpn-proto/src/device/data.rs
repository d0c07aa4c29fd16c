//! The data path: sending IP packets (`encapsulate`), receiving transport
//! messages, and the queue of packets waiting for a session.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::constants::{TRANSPORT_HEADER_SIZE, TRANSPORT_TAG_SIZE};
use crate::error::ProtoError;
use crate::peer::{Peer, PeerId};
use crate::session::{Session, SessionError};
use crate::stats::DropReason;
use crate::transport::{self, padded_len, TransportError};
use crate::tuning::MAX_QUEUED_PACKETS_PER_PEER;
use crate::Now;

use super::{lock, lock_live, Action, Device, IndexEntry};

fn session_error(e: SessionError) -> ProtoError {
    match e {
        SessionError::Replay => ProtoError::Replay,
        SessionError::Decryption => ProtoError::TransportDecryption,
        SessionError::WrongReceiver => ProtoError::UnknownIndex,
        SessionError::BufferTooSmall { needed } => ProtoError::BufferTooSmall { needed },
        SessionError::Malformed(_) => ProtoError::BadLength,
        SessionError::Crypto(c) => ProtoError::Crypto(c),
        _ => ProtoError::SessionExpired,
    }
}

/// The length of the IP packet at the start of `plain` (which may carry
/// padding after it), or `None` if it is not a well-formed IPv4/IPv6 packet.
fn ip_packet_len(plain: &[u8]) -> Option<usize> {
    let len = match plain.first()? >> 4 {
        4 => usize::from(u16::from_be_bytes([*plain.get(2)?, *plain.get(3)?])),
        6 => 40 + usize::from(u16::from_be_bytes([*plain.get(4)?, *plain.get(5)?])),
        _ => return None,
    };
    (len >= 20 && len <= plain.len()).then_some(len)
}

impl Device {
    /// Encrypts an IP packet for `peer` into `out`. Without a usable
    /// session the packet is queued (up to 128 per peer, oldest dropped
    /// first) and, unless one was sent in the last 5 s, an initiation is
    /// returned instead. `out` must hold the packet plus 32 bytes (and a
    /// whole initiation: 4641 bytes covers every mode).
    pub fn encapsulate<'o>(
        &self,
        now: Now,
        peer: PeerId,
        packet: &[u8],
        out: &'o mut [u8],
    ) -> Result<Action<'o>, ProtoError> {
        let peer_lock = self.peer(peer).ok_or(ProtoError::NoSuchPeer)?;
        // Short lock: take the session, release, encrypt without a lock.
        let (session, endpoint) = {
            let p = lock(&peer_lock);
            (p.keys.usable(now.mono).cloned(), p.endpoint)
        };
        if let Some(session) = session {
            let endpoint = endpoint.ok_or(ProtoError::NoEndpoint)?;
            let n = self.seal(now, &session, packet, out)?;
            let mut p = lock(&peer_lock);
            p.timers.data_sent(now.mono);
            p.timers.authenticated_packet_sent(now.mono);
            p.timers.authenticated_packet_traversed(now.mono);
            p.stats.tx_packets += 1;
            p.stats.tx_bytes += n as u64;
            if session.should_rekey(now.mono) {
                p.handshake_due = true;
            }
            return Ok(Action::SendToNetwork {
                to: endpoint,
                datagram: &out[..n],
                peer: Some(p.id),
            });
        }
        let mut p = lock_live(&peer_lock).ok_or(ProtoError::NoSuchPeer)?;
        if p.queue.len() >= MAX_QUEUED_PACKETS_PER_PEER {
            p.queue.pop_front();
            self.drops.count(DropReason::QueueFull);
        }
        p.queue.push_back(packet.to_vec());
        // A session may have come between the look above and this lock (a
        // handshake finished on another thread, which found the queue
        // empty): the timer thread sends the queue at once.
        if p.keys.usable(now.mono).is_some() {
            p.queue_ready = true;
            self.timers_due
                .store(true, std::sync::atomic::Ordering::Release);
            return Ok(Action::None);
        }
        if !p.timers.want_handshake(now.mono) {
            return Ok(Action::None);
        }
        let endpoint = p.endpoint.ok_or(ProtoError::NoEndpoint)?;
        let n = self.begin_handshake(now, &mut p, out)?;
        Ok(Action::SendToNetwork {
            to: endpoint,
            datagram: &out[..n],
            peer: Some(p.id),
        })
    }

    /// Copies `payload` after the header in `out`, pads it and encrypts it
    /// under `session`; returns the message length.
    fn seal(
        &self,
        now: Now,
        session: &Session,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        let mtu = self.mtu.load(Ordering::Relaxed);
        let needed = TRANSPORT_HEADER_SIZE + padded_len(payload.len(), mtu) + TRANSPORT_TAG_SIZE;
        let too_small = ProtoError::BufferTooSmall { needed };
        let body = out.get_mut(TRANSPORT_HEADER_SIZE..).ok_or(too_small)?;
        body.get_mut(..payload.len())
            .ok_or(too_small)?
            .copy_from_slice(payload);
        let padded = transport::pad(body, payload.len(), mtu).map_err(|_| too_small)?;
        session
            .encrypt(now.mono, out, padded)
            .map_err(session_error)
    }

    /// Writes the oldest queued packet for `peer`, or a keepalive when the
    /// queue is empty, under its current session.
    pub(super) fn send_queued_or_keepalive(
        &self,
        now: Now,
        peer: &mut Peer,
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        let session = peer
            .keys
            .current()
            .cloned()
            .ok_or(ProtoError::SessionExpired)?;
        let packet = peer.queue.pop_front();
        let n = match self.seal(now, &session, packet.as_deref().unwrap_or(&[]), out) {
            Ok(n) => n,
            Err(ProtoError::SessionExpired) => {
                // The session can send no more (it aged out or spent its
                // counter since another thread checked it): the packet
                // waits for the next session, which a handshake brings, as
                // the kernel requeues the packets it could not encrypt.
                // Nothing is sendable until then, so no keepalive goes out
                // in its place.
                if let Some(packet) = packet {
                    peer.queue.push_front(packet);
                }
                peer.handshake_due = true;
                peer.queue_ready = false;
                return Err(ProtoError::SessionExpired);
            }
            Err(e) => {
                // This packet is lost; the rest of the queue stays ready
                // (and an empty queue does not turn into a keepalive).
                peer.queue_ready = !peer.queue.is_empty();
                return Err(e);
            }
        };
        peer.queue_ready = !peer.queue.is_empty();
        if packet.is_some() {
            peer.timers.data_sent(now.mono);
        }
        peer.stats.tx_packets += 1;
        peer.stats.tx_bytes += n as u64;
        peer.timers.authenticated_packet_sent(now.mono);
        peer.timers.authenticated_packet_traversed(now.mono);
        // As after any data packet: a keepalive can be what ages the session
        // past the rekey point, and a peer that only sends keepalives must
        // still rekey before its session is rejected.
        if session.should_rekey(now.mono) {
            peer.handshake_due = true;
        }
        Ok(n)
    }

    pub(super) fn handle_transport<'o>(
        &self,
        now: Now,
        src: SocketAddr,
        datagram: &[u8],
        out: &'o mut [u8],
    ) -> Result<Action<'o>, ProtoError> {
        let msg = transport::split(datagram).map_err(|e| match e {
            TransportError::NotTransport => ProtoError::UnknownMessageType,
            _ => ProtoError::BadLength,
        })?;
        let Some(IndexEntry::Session(id, session)) = self.lookup_index(msg.header.receiver) else {
            return Err(ProtoError::UnknownIndex);
        };
        let plain_len = msg.payload.len();
        let plain = out
            .get_mut(..plain_len)
            .ok_or(ProtoError::BufferTooSmall { needed: plain_len })?;
        plain.copy_from_slice(msg.payload);
        // No lock held: the AEAD runs concurrently with other packets.
        session
            .decrypt(now.mono, msg.header.counter, plain, msg.tag)
            .map_err(session_error)?;
        self.after_receive(now, src, id, &session, plain_len, datagram.len())?;
        if plain_len == 0 {
            return Ok(Action::Keepalive { peer: id });
        }
        let Some(len) = ip_packet_len(&out[..plain_len]) else {
            return Err(ProtoError::BadInnerPacket);
        };
        Ok(Action::DeliverToTunnel {
            peer: id,
            packet: &out[..len],
        })
    }

    /// Bookkeeping after an authenticated transport message: key
    /// confirmation, timers, roaming, statistics, the receive-side rekey.
    fn after_receive(
        &self,
        now: Now,
        src: SocketAddr,
        id: PeerId,
        session: &Arc<Session>,
        plain_len: usize,
        datagram_len: usize,
    ) -> Result<(), ProtoError> {
        let peer = self.peer(id).ok_or(ProtoError::UnknownIndex)?;
        let mut p = lock(&peer);
        if let Some(retired) = p.keys.received_on(session.local_index()) {
            self.free_indices(retired.indices());
            p.timers.handshake_completed(now.mono);
            p.stats.handshake_completed(now, session.mode());
            // A handshake completed: an initiation of ours still pending
            // (one that crossed the peer's) is moot. Left, it would never
            // be retried or given up, and would hold its index.
            if let Some(ours) = p.pending.take() {
                self.free_indices(std::iter::once(ours.state.local_index));
            }
            p.queue_ready = !p.queue.is_empty();
            if p.queue_ready {
                self.timers_due
                    .store(true, std::sync::atomic::Ordering::Release);
            }
        }
        p.endpoint = Some(src);
        p.timers.authenticated_packet_received(now.mono);
        p.timers.authenticated_packet_traversed(now.mono);
        if plain_len > 0 {
            p.timers.data_received(now.mono);
        }
        p.stats.rx_packets += 1;
        p.stats.rx_bytes += datagram_len as u64;
        // Whichever session the packet came on, the rule looks at the
        // current one, as the kernel's `keep_key_fresh` does.
        if p.keys
            .current()
            .is_some_and(|c| c.should_rekey_on_receive(now.mono))
            && p.timers.take_last_minute_handshake()
        {
            p.handshake_due = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ip_packet_len;

    #[test]
    fn inner_packet_lengths() {
        let mut v4 = [0u8; 32];
        v4[0] = 0x45;
        v4[3] = 28;
        assert_eq!(ip_packet_len(&v4), Some(28));
        v4[3] = 33;
        assert_eq!(ip_packet_len(&v4), None);
        let mut v6 = [0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert_eq!(ip_packet_len(&v6), Some(48));
        assert_eq!(ip_packet_len(&[0x45]), None);
        assert_eq!(ip_packet_len(&[0x10; 40]), None);
        assert_eq!(ip_packet_len(&[]), None);
    }
}
