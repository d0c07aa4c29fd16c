//! The device's handshake paths, in the order of `docs/protocol.md` §5:
//! length and type → mac1 → (under load) mac2 or a cookie reply → rate
//! limit → asymmetric work → peer policy → replay and flood checks.

use std::net::SocketAddr;
use std::time::Duration;

use crate::constants::{REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX};
use crate::error::ProtoError;
use crate::handshake::{
    consume_initiation_finish, consume_initiation_static, consume_response, create_initiation,
    create_response, HandshakeKeys,
};
use crate::messages::{CookieReply, Initiation, MacFields, Response, COOKIE_REPLY_LEN};
use crate::peer::{Peer, Pending};
use crate::session::{Session, SessionKeys};
use crate::stats::DropReason;
use crate::tai64n::Tai64n;
use crate::tuning::MIN_INITIATION_INTERVAL;
use crate::Now;

use super::{lock, lock_live, Action, Device, IndexEntry, Mac1};

impl Device {
    /// mac1, then under load mac2 (or a cookie reply), then the rate
    /// limiter. Returns `Ok(Some(len))` when a cookie reply was written to
    /// `out` instead of processing the message.
    fn cheap_checks(
        &self,
        now: Now,
        src: SocketAddr,
        sender: u32,
        macs: &MacFields<'_>,
        mac1: Mac1,
        out: &mut [u8],
    ) -> Result<Option<usize>, ProtoError> {
        let b = &*self.backend;
        let mac1_valid = match mac1 {
            Mac1::Checked(valid) => valid,
            Mac1::Unchecked => self.checker.mac1_valid(b, macs),
        };
        if !mac1_valid {
            return Err(ProtoError::BadMac1);
        }
        if !self.under_load(now.mono) {
            return Ok(None);
        }
        if !self.checker.mac2_valid(b, now.mono, src, macs)? {
            // The reply (64 bytes) is smaller than any handshake message.
            let n = self
                .checker
                .make_reply(b, now.mono, src, sender, macs.mac1, out)?;
            self.drops.count(DropReason::CookieRequired);
            return Ok(Some(n));
        }
        if !lock(&self.limiter).allow(now.mono, src.ip()) {
            return Err(ProtoError::RateLimited);
        }
        Ok(None)
    }

    pub(super) fn handle_initiation<'o>(
        &self,
        now: Now,
        src: SocketAddr,
        datagram: &[u8],
        out: &'o mut [u8],
        mac1: Mac1,
    ) -> Result<Action<'o>, ProtoError> {
        let b = &*self.backend;
        let msg = Initiation::parse(datagram)?;
        if let Some(n) = self.cheap_checks(now, src, msg.sender, &msg.macs, mac1, out)? {
            return Ok(cookie_action(src, out, n));
        }

        // e, ekem, es, s: who claims to be initiating?
        let begun = consume_initiation_static(b, &self.local, &msg)?;
        let peer = {
            let table = super::read(&self.peers);
            let id = table
                .by_key
                .get(&begun.remote_static)
                .ok_or(ProtoError::UnknownPeer)?;
            table
                .by_id
                .get(id)
                .cloned()
                .ok_or(ProtoError::UnknownPeer)?
        };
        let mut peer = lock_live(&peer).ok_or(ProtoError::UnknownPeer)?;
        // Policy, the peer's configured mode only (no downgrade), is
        // checked in `consume_initiation_finish` once `ss` has
        // authenticated the static key.

        // ss, {t}, sig: a replayed or too frequent initiation is refused
        // before its signature is verified; the timestamp is recorded only
        // once everything has.
        let (last_timestamp, last_consumed) = (peer.last_timestamp, peer.last_initiation_consumed);
        let consumed = consume_initiation_finish(b, &peer.crypto, begun, &msg, |t| {
            if last_timestamp.is_some_and(|last| !Tai64n::from_bytes(*t).is_after(&last)) {
                return Err(ProtoError::ReplayedTimestamp);
            }
            if last_consumed.is_some_and(|t| now.mono.saturating_sub(t) < MIN_INITIATION_INTERVAL) {
                return Err(ProtoError::InitiationFlood);
            }
            Ok(())
        })?;
        peer.last_timestamp = Some(Tai64n::from_bytes(consumed.timestamp));
        peer.last_initiation_consumed = Some(now.mono);
        // Crossed initiations: both sides sent one before seeing the
        // other's. Were both answered, both handshakes would complete and
        // each side would send on the one it initiated, each rekey
        // dropping the other side's packets in flight. The one from the
        // larger public key goes on: with the larger key we leave this one
        // unanswered (the peer answers ours); with the smaller we answer it
        // and keep ours pending, so that a peer which, like the kernel,
        // answers ours and drops its own completes ours instead. (The
        // kernel abandons its own initiation when it answers, so between
        // two kernels both handshakes fail and are retried.)
        //
        // Only an initiation of ours that can still cross this one counts:
        // sent less than REKEY_TIMEOUT ago, to the address this one comes
        // from. One sent to an address the peer has left, or long lost,
        // would otherwise keep the peer out for as long as we retry it.
        let crossed = peer.pending.as_ref().is_some_and(|ours| {
            ours.sent_to == Some(src) && now.mono.saturating_sub(ours.sent_at) < REKEY_TIMEOUT
        });
        if crossed && self.public_key() > peer.crypto.remote_static {
            return Ok(Action::None);
        }

        // The response; it is never larger than the initiation.
        let local_index = self.allocate_index(IndexEntry::Handshake(peer.id))?;
        let (keys, n) =
            match create_response(b, &self.local, &peer.crypto, consumed, local_index, out) {
                Ok(r) => r,
                Err(e) => {
                    self.free_indices(std::iter::once(local_index));
                    return Err(e);
                }
            };
        let msg_out = &mut out[..n];
        peer.cookie.add_macs(b, now.mono, msg_out);
        self.install_session(&mut peer, now, keys);
        peer.endpoint = Some(src);
        peer.stats.rx_bytes += datagram.len() as u64;
        peer.stats.tx_bytes += n as u64;
        peer.timers.handshake_response_sent(now.mono);
        peer.timers.authenticated_packet_received(now.mono);
        peer.timers.authenticated_packet_sent(now.mono);
        peer.timers.authenticated_packet_traversed(now.mono);
        Ok(Action::SendToNetwork {
            to: src,
            datagram: &out[..n],
            peer: Some(peer.id),
        })
    }

    pub(super) fn handle_response<'o>(
        &self,
        now: Now,
        src: SocketAddr,
        datagram: &[u8],
        out: &'o mut [u8],
        mac1: Mac1,
    ) -> Result<Action<'o>, ProtoError> {
        let b = &*self.backend;
        let msg = Response::parse(datagram)?;
        if let Some(n) = self.cheap_checks(now, src, msg.sender, &msg.macs, mac1, out)? {
            return Ok(cookie_action(src, out, n));
        }
        // One state per initiation: only the index of the pending one is in
        // the table; superseded initiations' indices were freed.
        let Some(IndexEntry::Handshake(id)) = self.lookup_index(msg.receiver) else {
            return Err(ProtoError::UnknownIndex);
        };
        let peer = self.peer(id).ok_or(ProtoError::UnknownIndex)?;
        let mut peer = lock_live(&peer).ok_or(ProtoError::UnknownIndex)?;
        let state = peer
            .pending
            .as_ref()
            .filter(|p| p.state.local_index == msg.receiver)
            .ok_or(ProtoError::UnexpectedResponse)?;
        // e, ee, se, kem, psk, sig, {}: on failure the initiation stays
        // pending for the genuine response.
        let keys = consume_response(b, &self.local, &peer.crypto, &state.state, &msg)?;
        peer.pending = None;
        self.install_session(&mut peer, now, keys);
        peer.endpoint = Some(src);
        peer.stats.rx_bytes += datagram.len() as u64;
        peer.timers.handshake_completed(now.mono);
        peer.timers.authenticated_packet_received(now.mono);
        peer.timers.authenticated_packet_traversed(now.mono);
        // Key confirmation: send a queued packet, or a keepalive.
        let n = self.send_queued_or_keepalive(now, &mut peer, out)?;
        Ok(Action::SendToNetwork {
            to: src,
            datagram: &out[..n],
            peer: Some(peer.id),
        })
    }

    pub(super) fn handle_cookie_reply<'o>(
        &self,
        now: Now,
        datagram: &[u8],
    ) -> Result<Action<'o>, ProtoError> {
        let msg = CookieReply::parse(datagram)?;
        let entry = self
            .lookup_index(msg.receiver)
            .ok_or(ProtoError::UnknownIndex)?;
        let peer = self.peer(entry.peer()).ok_or(ProtoError::UnknownIndex)?;
        lock(&peer)
            .cookie
            .consume_reply(&*self.backend, now.mono, &msg)?;
        Ok(Action::None)
    }

    /// Turns handshake keys into a session, installs it in the peer's key
    /// ring and the index table, and frees what the ring retired.
    pub(super) fn install_session(&self, peer: &mut Peer, now: Now, keys: HandshakeKeys) {
        let keys = SessionKeys {
            send: keys.send,
            recv: keys.recv,
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            initiator: keys.initiator,
            mode: keys.mode,
        };
        let session = Session::new(keys, &*self.backend, now.mono);
        let mode = session.mode();
        let (session, retired) = peer.keys.install(session);
        {
            let mut index = super::write(&self.index);
            index.insert(
                session.local_index(),
                IndexEntry::Session(peer.id, session.clone()),
            );
            for i in retired.indices() {
                index.remove(&i);
            }
        }
        peer.timers.session_derived(now.mono);
        // A responder's handshake completes with its key confirmation
        // (`data.rs`), and is counted then, as the kernel does.
        if session.initiator() {
            peer.queue_ready = !peer.queue.is_empty();
            peer.stats.handshake_completed(now, mode);
        }
    }

    /// Builds a new initiation for `peer` into `out` (replacing and
    /// freeing any pending one) and reports it to the timers.
    ///
    /// A local failure (the random generator refusing, say) still counts
    /// as an attempt: the retransmit timer is armed as for an initiation
    /// lost on the way, so the peer is retried after `REKEY_TIMEOUT` and
    /// given up on after `REKEY_ATTEMPT_TIME`, rather than left without a
    /// handshake until its next packet.
    pub(super) fn begin_handshake(
        &self,
        now: Now,
        peer: &mut Peer,
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        let b = &*self.backend;
        if let Some(old) = peer.pending.take() {
            self.free_indices(std::iter::once(old.state.local_index));
        }
        let built = self.build_initiation(now, peer, out);
        // Without a random jitter, none: the timers stay correct.
        let mut r = [0u8; 2];
        let jitter_ms = b.fill_random(&mut r).map_or(0, |()| {
            u64::from(u16::from_le_bytes(r)) % (REKEY_TIMEOUT_JITTER_MAX.as_millis() as u64 + 1)
        });
        peer.timers
            .handshake_initiated(now.mono, Duration::from_millis(jitter_ms));
        peer.handshake_due = false;
        let (state, n) = built?;
        peer.cookie.add_macs(b, now.mono, &mut out[..n]);
        peer.pending = Some(Box::new(Pending {
            state,
            sent_at: now.mono,
            sent_to: peer.endpoint,
        }));
        peer.stats.tx_bytes += n as u64;
        peer.timers.authenticated_packet_sent(now.mono);
        peer.timers.authenticated_packet_traversed(now.mono);
        Ok(n)
    }

    /// `create_initiation` under a fresh receiver index, freed again if it
    /// fails.
    fn build_initiation(
        &self,
        now: Now,
        peer: &Peer,
        out: &mut [u8],
    ) -> Result<(crate::handshake::InitiatorHandshake, usize), ProtoError> {
        let local_index = self.allocate_index(IndexEntry::Handshake(peer.id))?;
        let timestamp = Tai64n::from_unix(now.unix);
        create_initiation(
            &*self.backend,
            &self.local,
            &peer.crypto,
            local_index,
            timestamp.as_bytes(),
            out,
        )
        .inspect_err(|_| self.free_indices(std::iter::once(local_index)))
    }
}

fn cookie_action(src: SocketAddr, out: &[u8], n: usize) -> Action<'_> {
    debug_assert_eq!(n, COOKIE_REPLY_LEN);
    Action::SendToNetwork {
        to: src,
        datagram: &out[..n],
        peer: None,
    }
}
