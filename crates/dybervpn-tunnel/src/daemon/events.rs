//! What the daemon learns by watching handshake messages pass through the
//! data path, without the protocol core's help:
//!
//! * the handshake messages sent and received, counted with their bytes by
//!   type (so `status` and the demo can show the sizes on the wire);
//! * handshake outcomes for the metrics and the log: a response the core
//!   sends for a peer is a responder's success, a response it accepts is
//!   an initiator's success, an initiation sent while an earlier one is
//!   still unanswered is a timeout, and a refused handshake message is a
//!   `failure` or `refused` by the core's error;
//! * the initiator's handshake time: from sending the initiation that
//!   succeeded to receiving its response;
//! * heartbeats of the UDP loops (one per address family) and the timer
//!   loop, for `/health`.
//!
//! The hooks cost a branch on the first byte of each datagram; the
//! per-peer work happens only for handshake messages (a few per peer every
//! two minutes), and only for the peer concerned: nothing here visits every
//! peer, so the cost does not grow with their number.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use dybervpn_metrics::{
    DropReason as MetricDrop, HandshakeMode, HandshakeResult, LimitConfig, Role, WarnLimiter,
};
use dybervpn_proto::{DropReason as CoreDrop, Mode, PeerId, ProtoError};

use super::Shared;

use dybervpn_proto::constants::{
    MSG_COOKIE_REPLY, MSG_HYBRID_INITIATION, MSG_HYBRID_RESPONSE, MSG_INITIATION,
    MSG_PQ_INITIATION, MSG_PQ_RESPONSE, MSG_RESPONSE,
};

/// The kind of a handshake message, whatever its mode.
const INITIATION: u8 = MSG_INITIATION;
const RESPONSE: u8 = MSG_RESPONSE;
const COOKIE_REPLY: u8 = MSG_COOKIE_REPLY;

/// `(kind, mode)` of a message type byte (protocol.md, "Messages"); `None`
/// for transport messages and unknown types.
fn kind_of(msg_type: u8) -> Option<(u8, Option<Mode>)> {
    Some(match msg_type {
        MSG_INITIATION => (INITIATION, Some(Mode::Classic)),
        MSG_RESPONSE => (RESPONSE, Some(Mode::Classic)),
        MSG_HYBRID_INITIATION => (INITIATION, Some(Mode::Hybrid)),
        MSG_HYBRID_RESPONSE => (RESPONSE, Some(Mode::Hybrid)),
        MSG_PQ_INITIATION => (INITIATION, Some(Mode::PqOnly)),
        MSG_PQ_RESPONSE => (RESPONSE, Some(Mode::PqOnly)),
        MSG_COOKIE_REPLY => (COOKIE_REPLY, None),
        _ => return None,
    })
}

/// Most handshake outcomes kept for `status` and the demo (oldest dropped).
const MAX_RECENT: usize = 64;

/// Messages of one type in one direction.
#[derive(Debug, Default)]
pub struct WireCount {
    /// Messages.
    pub messages: AtomicU64,
    /// Their bytes (UDP payload).
    pub bytes: AtomicU64,
}

impl WireCount {
    fn add(&self, len: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(u64::try_from(len).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// `(messages, bytes)`.
    #[must_use]
    pub fn get(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Handshake messages on the wire, by type and direction.
#[derive(Debug, Default)]
pub struct HandshakeWire {
    /// Initiations sent.
    pub initiation_sent: WireCount,
    /// Initiations received (whether accepted or not).
    pub initiation_received: WireCount,
    /// Responses sent.
    pub response_sent: WireCount,
    /// Responses received (whether accepted or not).
    pub response_received: WireCount,
    /// Cookie replies sent.
    pub cookie_sent: WireCount,
    /// Cookie replies received.
    pub cookie_received: WireCount,
}

impl HandshakeWire {
    /// Every counter with its stable name (`status` and its JSON use these).
    #[must_use]
    pub fn named(&self) -> [(&'static str, &WireCount); 6] {
        [
            ("initiation_sent", &self.initiation_sent),
            ("initiation_received", &self.initiation_received),
            ("response_sent", &self.response_sent),
            ("response_received", &self.response_received),
            ("cookie_reply_sent", &self.cookie_sent),
            ("cookie_reply_received", &self.cookie_received),
        ]
    }
}

/// One handshake outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeEvent {
    /// The peer, when known.
    pub peer: Option<PeerId>,
    /// The mode of the handshake.
    pub mode: Mode,
    /// Our role.
    pub role: Role,
    /// How it ended.
    pub result: HandshakeResult,
    /// Initiator successes: sending the initiation to receiving the response.
    pub duration: Option<Duration>,
}

impl HandshakeEvent {
    /// An outcome with `peer` known and no duration.
    fn of(peer: PeerId, mode: Mode, role: Role, result: HandshakeResult) -> Self {
        Self {
            peer: Some(peer),
            mode,
            role,
            result,
            duration: None,
        }
    }
}

#[derive(Debug, Default)]
struct Track {
    /// When the unanswered initiation was sent (monotonic).
    initiation_sent: Option<Duration>,
    /// The peer's completed handshakes (the core's count) when it was sent.
    completed_then: u64,
    /// How long the last handshake we initiated took.
    last_duration: Option<Duration>,
    /// What the log last said of the peer's handshakes, so that a rekey
    /// (success after success) and a retry (failure after failure) go to
    /// debug, and only a change is logged at info or warn.
    logged: Logged,
}

/// See [`Track::logged`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Logged {
    #[default]
    Nothing,
    Success,
    Failure,
}

impl Track {
    /// Notes a handshake outcome; returns whether it changes what the log
    /// last said of the peer (the first outcome, a success after a failure,
    /// a failure after a success).
    fn is_news(&mut self, success: bool) -> bool {
        let now = if success {
            Logged::Success
        } else {
            Logged::Failure
        };
        std::mem::replace(&mut self.logged, now) != now
    }

    /// An initiation is sent at `mono`, with `completed` handshakes done
    /// with the peer so far. Returns whether the one before it timed out:
    /// it was never answered, and no handshake completed since it was
    /// sent. A handshake that completed meanwhile (the peer's, crossing
    /// ours, confirmed) overtook it; the core dropped it unanswered, which
    /// is not a timeout.
    fn initiation(&mut self, mono: Duration, completed: u64) -> bool {
        let timed_out = self.initiation_sent.is_some() && self.completed_then == completed;
        self.initiation_sent = Some(mono);
        self.completed_then = completed;
        timed_out
    }
}

/// The daemon's event state; one per interface.
#[derive(Debug)]
pub struct Events {
    /// Handshake messages on the wire.
    pub wire: HandshakeWire,
    /// The IPv4 and the IPv6 UDP loop, each its own thread.
    heartbeat_udp: [AtomicU64; 2],
    heartbeat_timers: AtomicU64,
    tracks: Mutex<HashMap<PeerId, Track>>,
    recent: Mutex<VecDeque<HandshakeEvent>>,
    limiter: WarnLimiter<(MetricDrop, IpAddr)>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            wire: HandshakeWire::default(),
            heartbeat_udp: [AtomicU64::new(0), AtomicU64::new(0)],
            heartbeat_timers: AtomicU64::new(0),
            tracks: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
            limiter: WarnLimiter::new(LimitConfig::default()),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The metrics label of a mode.
#[must_use]
pub fn metric_mode(mode: Mode) -> HandshakeMode {
    match mode {
        Mode::Classic => HandshakeMode::Classic,
        Mode::Hybrid => HandshakeMode::Hybrid,
        Mode::PqOnly => HandshakeMode::PqOnly,
    }
}

/// The metrics' reason for a core drop reason (docs/architecture.md lists
/// the mapping).
#[must_use]
pub fn metric_drop(reason: CoreDrop) -> MetricDrop {
    match reason {
        CoreDrop::BadMac1 => MetricDrop::BadMac1,
        CoreDrop::CookieRequired => MetricDrop::CookieRequired,
        CoreDrop::RateLimited | CoreDrop::InitiationFlood => MetricDrop::RateLimited,
        CoreDrop::UnknownIndex | CoreDrop::StaleHandshake => MetricDrop::UnknownIndex,
        CoreDrop::UnknownPeer => MetricDrop::UnknownPeer,
        CoreDrop::DowngradeRefused => MetricDrop::DowngradeRefused,
        CoreDrop::DecryptionFailure => MetricDrop::DecryptionFailure,
        CoreDrop::HandshakeDecryption | CoreDrop::BadHandshakeKey | CoreDrop::BadSignature => {
            MetricDrop::HandshakeAuthFailure
        }
        CoreDrop::Replay => MetricDrop::Replay,
        CoreDrop::StaleTimestamp => MetricDrop::StaleTimestamp,
        CoreDrop::QueueFull => MetricDrop::QueueFull,
        CoreDrop::SessionExpired => MetricDrop::KeysExpired,
        CoreDrop::Other => MetricDrop::Other,
        // BadLength, BadInnerPacket and reasons added later.
        _ => MetricDrop::Malformed,
    }
}

impl Events {
    /// Records that the UDP loop of one family went round at `mono`.
    pub(crate) fn udp_turn(&self, v6: bool, mono: Duration) {
        self.heartbeat_udp[usize::from(v6)].store(nanos(mono), Ordering::Relaxed);
    }

    /// Records that the timer loop went round at `mono`.
    pub(crate) fn timers_turn(&self, mono: Duration) {
        self.heartbeat_timers.store(nanos(mono), Ordering::Relaxed);
    }

    /// The last turn of the IPv4 or the IPv6 UDP loop, monotonic.
    #[must_use]
    pub fn udp_heartbeat(&self, v6: bool) -> Duration {
        Duration::from_nanos(self.heartbeat_udp[usize::from(v6)].load(Ordering::Relaxed))
    }

    /// The timer loop's last turn, monotonic.
    #[must_use]
    pub fn timers_heartbeat(&self) -> Duration {
        Duration::from_nanos(self.heartbeat_timers.load(Ordering::Relaxed))
    }

    /// The most recent handshake outcomes, oldest first.
    #[must_use]
    pub fn recent(&self) -> Vec<HandshakeEvent> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn push(&self, shared: &Shared, event: HandshakeEvent) {
        let m = &shared.metrics;
        let mode = metric_mode(event.mode);
        m.record_handshake(mode, event.role, event.result);
        if let Some(d) = event.duration {
            m.observe_handshake_duration(mode, d);
        }
        // A change for a known peer is news; more of the same (a rekey, a
        // retry) is not: 10,000 peers rekeying every two minutes would
        // otherwise write 80 lines a second at info.
        let news = event.peer.is_some_and(|p| {
            let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
            tracks
                .entry(p)
                .or_default()
                .is_news(event.result == HandshakeResult::Success)
        });
        let peer = event
            .peer
            .map_or_else(|| "unknown".to_owned(), |p| shared.peer_label(p));
        let role = event.role.as_str();
        let result = event.result.as_str();
        match event.result {
            HandshakeResult::Success => {
                let duration_ms = event.duration.map(|d| d.as_secs_f64() * 1e3);
                if news {
                    tracing::info!(
                        interface = %shared.interface, %peer, mode = %event.mode, role, duration_ms,
                        "handshake complete"
                    );
                } else {
                    tracing::debug!(
                        interface = %shared.interface, %peer, mode = %event.mode, role, duration_ms,
                        "handshake complete"
                    );
                }
            }
            _ if news => {
                tracing::warn!(
                    interface = %shared.interface, %peer, mode = %event.mode, role, result,
                    "handshake did not complete; retrying while there is traffic for the peer"
                );
            }
            _ => {
                tracing::debug!(
                    interface = %shared.interface, %peer, mode = %event.mode, role, result,
                    "handshake did not complete"
                );
            }
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() >= MAX_RECENT {
            recent.pop_front();
        }
        recent.push_back(event);
    }

    /// Hook: a datagram is about to be sent (data path).
    pub(crate) fn sent(
        &self,
        shared: &Shared,
        datagram: &[u8],
        peer: Option<PeerId>,
        mono: Duration,
    ) {
        let Some((kind, mode)) = datagram.first().and_then(|t| kind_of(*t)) else {
            return;
        };
        match kind {
            INITIATION => self.wire.initiation_sent.add(datagram.len()),
            RESPONSE => self.wire.response_sent.add(datagram.len()),
            _ => self.wire.cookie_sent.add(datagram.len()),
        }
        let (Some(peer), Some(mode)) = (peer, mode) else {
            return;
        };
        if kind == RESPONSE {
            // The core answers an initiation only once it has derived the
            // session: the responder's side of the handshake is complete.
            self.push(
                shared,
                HandshakeEvent::of(peer, mode, Role::Responder, HandshakeResult::Success),
            );
            return;
        }
        let completed = shared.device.peer_stats(peer).map_or(0, |s| s.handshakes);
        let timed_out = self
            .tracks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(peer)
            .or_default()
            .initiation(mono, completed);
        if timed_out {
            self.push(
                shared,
                HandshakeEvent::of(peer, mode, Role::Initiator, HandshakeResult::Timeout),
            );
        }
    }

    /// Hook: a handshake message (not a transport message) was received
    /// and handed to the core, which accepted it (`Ok`, with the peer it
    /// came from when the core named one) or refused it.
    pub(crate) fn received(
        &self,
        shared: &Shared,
        datagram: &[u8],
        src: SocketAddr,
        result: Result<Option<PeerId>, &ProtoError>,
        mono: Duration,
    ) {
        let Some((kind, mode)) = datagram.first().and_then(|t| kind_of(*t)) else {
            return;
        };
        match kind {
            INITIATION => self.wire.initiation_received.add(datagram.len()),
            RESPONSE => self.wire.response_received.add(datagram.len()),
            _ => self.wire.cookie_received.add(datagram.len()),
        }
        let err = match result {
            Ok(peer) => {
                if let (RESPONSE, Some(peer), Some(mode)) = (kind, peer, mode) {
                    self.initiator_succeeded(shared, peer, mode, mono);
                }
                return;
            }
            Err(e) => e,
        };
        let reason = CoreDrop::of(err);
        let outcome = match reason {
            CoreDrop::DowngradeRefused | CoreDrop::Replay | CoreDrop::RateLimited => {
                Some(HandshakeResult::Refused)
            }
            CoreDrop::DecryptionFailure | CoreDrop::BadSignature => Some(HandshakeResult::Failure),
            _ => None,
        };
        let role = if kind == INITIATION {
            Role::Responder
        } else {
            Role::Initiator
        };
        if let (Some(result), Some(mode)) = (outcome, mode) {
            self.push(
                shared,
                HandshakeEvent {
                    peer: None,
                    mode,
                    role,
                    result,
                    duration: None,
                },
            );
        }
        let metric = metric_drop(reason);
        let loud = matches!(
            metric,
            MetricDrop::DowngradeRefused
                | MetricDrop::UnknownPeer
                | MetricDrop::HandshakeAuthFailure
        ) || outcome == Some(HandshakeResult::Failure);
        if loud {
            if let Some(suppressed) = self.limiter.admit((metric, src.ip())) {
                tracing::warn!(
                    interface = %shared.interface, reason = metric.as_str(), source = %src,
                    suppressed, "dropped handshake message: {err}"
                );
            }
        } else {
            tracing::debug!(
                interface = %shared.interface, reason = metric.as_str(), source = %src,
                "dropped handshake message: {err}"
            );
        }
    }

    /// The core accepted a response from `peer`: the handshake this side
    /// initiated is complete. Its time runs from sending the initiation.
    fn initiator_succeeded(&self, shared: &Shared, peer: PeerId, mode: Mode, mono: Duration) {
        let duration = {
            let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
            let t = tracks.entry(peer).or_default();
            let duration = t
                .initiation_sent
                .take()
                .map(|sent| mono.saturating_sub(sent));
            if duration.is_some() {
                t.last_duration = duration;
            }
            duration
        };
        let success = HandshakeEvent::of(peer, mode, Role::Initiator, HandshakeResult::Success);
        self.push(
            shared,
            HandshakeEvent {
                duration,
                ..success
            },
        );
    }

    /// Timer thread: its heartbeat, and the rate limiter's summaries.
    pub(crate) fn tick(&self, mono: Duration) {
        self.timers_turn(mono);
        self.limiter.log_summaries();
    }

    /// How long the last handshake this side initiated with `peer` took.
    #[must_use]
    pub fn last_duration(&self, peer: PeerId) -> Option<Duration> {
        self.tracks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            .and_then(|t| t.last_duration)
    }

    /// A peer was removed or replaced: forget its pending initiation.
    pub(crate) fn forget(&self, peer: PeerId) {
        self.tracks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&peer);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_a_change_in_a_peer_s_handshakes_is_news_for_the_log() {
        let mut t = super::Track::default();
        assert!(t.is_news(true), "the first handshake");
        assert!(!t.is_news(true), "a rekey");
        assert!(!t.is_news(true), "another rekey");
        assert!(t.is_news(false), "the first failure");
        assert!(!t.is_news(false), "a retry failing too");
        assert!(t.is_news(true), "back after failing");
    }

    use super::*;

    #[test]
    fn message_types_name_their_kinds_and_modes() {
        assert_eq!(kind_of(1), Some((INITIATION, Some(Mode::Classic))));
        assert_eq!(kind_of(2), Some((RESPONSE, Some(Mode::Classic))));
        assert_eq!(kind_of(5), Some((INITIATION, Some(Mode::Hybrid))));
        assert_eq!(kind_of(6), Some((RESPONSE, Some(Mode::Hybrid))));
        assert_eq!(kind_of(7), Some((INITIATION, Some(Mode::PqOnly))));
        assert_eq!(kind_of(8), Some((RESPONSE, Some(Mode::PqOnly))));
        assert_eq!(kind_of(3), Some((COOKIE_REPLY, None)));
        assert_eq!(kind_of(4), None);
        assert_eq!(kind_of(9), None);
    }

    /// An initiation replaced by the next one timed out only if no
    /// handshake completed in between.
    #[test]
    fn an_overtaken_initiation_is_not_a_timeout() {
        let s = Duration::from_secs;
        let mut t = Track::default();
        assert!(!t.initiation(s(0), 0), "the first");
        assert!(t.initiation(s(5), 0), "retried, unanswered");
        // A handshake completed (the peer's, confirmed), overtaking ours;
        // the next initiation, at the rekey, reports nothing.
        assert!(!t.initiation(s(125), 1));
        assert!(t.initiation(s(130), 1));
    }

    #[test]
    fn every_core_reason_maps_to_a_metric_reason() {
        for r in CoreDrop::ALL {
            let _ = metric_drop(r);
        }
        assert_eq!(
            metric_drop(CoreDrop::DowngradeRefused),
            MetricDrop::DowngradeRefused
        );
        assert_eq!(metric_drop(CoreDrop::BadLength), MetricDrop::Malformed);
    }
}
