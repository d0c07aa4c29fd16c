//! WireGuard's per-peer timers (paper §6), as a pure state machine on
//! monotonic time. Nothing here reads a clock: the device reports events
//! with the current time, asks [`Timers::poll`] what is due, and sleeps until
//! [`Timers::next_deadline`].
//!
//! The timers, as in the kernel's `timers.c`:
//!
//! * **Retransmit handshake** — armed when an initiation is sent, for
//!   `REKEY_TIMEOUT` plus jitter; stopped when a handshake completes. On
//!   expiry the initiation is retried while the retries so far number at
//!   most `MAX_TIMER_HANDSHAKES` (18), so 19 in all, as in the kernel; when
//!   it expires after the last one (about 100 s after the first
//!   initiation), the handshake is given up,
//!   queued packets are dropped and the zero-keys timer is armed if it is not
//!   running. A retry that would come within `REKEY_TIMEOUT` of a response
//!   we sent waits until that has passed (the kernel skips it, and retries
//!   only when more data asks for a handshake).
//! * **Send keepalive** — armed when data is received, for
//!   `KEEPALIVE_TIMEOUT`, unless already running (then it is noted that
//!   another keepalive will be needed); stopped when any authenticated packet
//!   is sent. On expiry a keepalive is sent, and the timer is re-armed if
//!   another one was noted.
//! * **New handshake** — armed when data is sent, for `KEEPALIVE_TIMEOUT +
//!   REKEY_TIMEOUT` plus jitter, unless already running; stopped when any
//!   authenticated packet is received. On expiry (we sent data and heard
//!   nothing back, not even the peer's passive keepalive) a new handshake is
//!   started.
//! * **Zero key material** — armed when a session is derived, for
//!   `3 × REJECT_AFTER_TIME`. On expiry all sessions and handshake state of
//!   the peer are erased.
//! * **Persistent keepalive** — when configured, armed for its interval
//!   whenever an authenticated packet is sent or received. On expiry a
//!   keepalive is sent (which re-arms it).
//!
//! Besides the timers, [`Timers::want_handshake`] implements the rate limit
//! on initiations (at most one per `REKEY_TIMEOUT` after the last handshake
//! message sent, initiation or response) that the kernel applies in
//! `wg_packet_send_queued_handshake_initiation`, and
//! [`Timers::take_last_minute_handshake`] the "act once" flag of the
//! receive-side rekey rule.
//!
//! When the device calls what:
//!
//! | the device…                                  | calls                                         |
//! |----------------------------------------------|-----------------------------------------------|
//! | sends an initiation (new or retry)           | `handshake_initiated`, `authenticated_packet_sent`, `authenticated_packet_traversed` |
//! | sends a response                             | `session_derived`, `handshake_response_sent`, `authenticated_packet_sent`, `authenticated_packet_traversed` |
//! | receives a valid response                    | `session_derived`, `handshake_completed`, `authenticated_packet_received`, `authenticated_packet_traversed` |
//! | receives a valid initiation                  | `authenticated_packet_received`, `authenticated_packet_traversed` |
//! | gets key confirmation (first packet on next) | `handshake_completed`                         |
//! | sends a transport message with data          | `data_sent`                                   |
//! | sends any transport message (keepalive too)  | `authenticated_packet_sent`, `authenticated_packet_traversed` |
//! | receives an authenticated transport message  | `authenticated_packet_received`, `authenticated_packet_traversed` |
//! | … and it carried data (not a keepalive)      | `data_received`                               |
//! | has a packet to send but no usable session   | `want_handshake`                              |

use std::time::Duration;

use crate::constants::{
    KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX,
    ZERO_KEYS_AFTER,
};

/// What a timer asks the device to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimerEvent {
    /// Send a handshake initiation, then report it with
    /// [`Timers::handshake_initiated`]. `retry` is true for a
    /// retransmission of an unanswered one, false for a new handshake.
    SendInitiation {
        /// A retransmission (the attempt counter carries on) rather than a
        /// new handshake.
        retry: bool,
    },
    /// Send a keepalive (an empty transport message) under the current
    /// session; start a handshake if there is none.
    SendKeepalive,
    /// The persistent keepalive is due: send a keepalive as for
    /// [`TimerEvent::SendKeepalive`].
    SendPersistentKeepalive,
    /// The handshake was retried for `REKEY_ATTEMPT_TIME` without answer:
    /// drop the packets queued for the peer.
    HandshakeGaveUp,
    /// No new session for `3 × REJECT_AFTER_TIME`: erase the peer's
    /// sessions and handshake state.
    ZeroKeys,
}

/// One peer's timers; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    retransmit_handshake: Option<Duration>,
    send_keepalive: Option<Duration>,
    new_handshake: Option<Duration>,
    zero_key_material: Option<Duration>,
    persistent_keepalive: Option<Duration>,

    persistent_interval: Option<Duration>,
    need_another_keepalive: bool,
    handshake_attempts: u32,
    /// When the first initiation since the last completed handshake was
    /// sent: since then the peer has not been reached. Kept across a
    /// give-up and the attempts after it, cleared only by a handshake that
    /// completes. For readiness.
    failing_since: Option<Duration>,
    /// When the last attempt was given up, if no initiation has been sent
    /// since (a new attempt clears it) and no handshake has completed.
    gave_up_at: Option<Duration>,
    /// When the last initiation or response was sent.
    last_handshake_sent: Option<Duration>,
    sent_last_minute_handshake: bool,
    /// The jitter of the last initiation, reused for the new-handshake
    /// timer (see [`Timers::data_sent`]).
    jitter: Duration,
}

fn due(deadline: Option<Duration>, now: Duration) -> bool {
    deadline.is_some_and(|d| d <= now)
}

impl Timers {
    /// Timers with nothing armed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets or clears the persistent keepalive interval. Turning it on
    /// (from none) makes a keepalive due at once, as the kernel sends one
    /// when the option is set; turning it off stops the timer.
    pub fn set_persistent_keepalive(&mut self, interval: Option<Duration>) {
        let interval = interval.filter(|i| !i.is_zero());
        match interval {
            None => self.persistent_keepalive = None,
            Some(_) if self.persistent_interval.is_none() => {
                self.persistent_keepalive = Some(Duration::ZERO);
            }
            Some(_) => {}
        }
        self.persistent_interval = interval;
    }

    /// The persistent keepalive interval, if any.
    #[must_use]
    pub fn persistent_keepalive_interval(&self) -> Option<Duration> {
        self.persistent_interval
    }

    /// Retries of the current handshake so far.
    #[must_use]
    pub fn handshake_attempts(&self) -> u32 {
        self.handshake_attempts
    }

    /// When the first initiation since the last completed handshake was
    /// sent, if the peer has not been reached since.
    #[must_use]
    pub fn failing_since(&self) -> Option<Duration> {
        self.failing_since
    }

    /// When the last handshake attempt was given up, if no attempt has
    /// started and no handshake has completed since.
    #[must_use]
    pub fn gave_up_at(&self) -> Option<Duration> {
        self.gave_up_at
    }

    /// An initiation was just sent. `jitter` is a random delay below
    /// `REKEY_TIMEOUT_JITTER_MAX` the caller drew from the backend (larger
    /// values are clamped).
    pub fn handshake_initiated(&mut self, now: Duration, jitter: Duration) {
        self.jitter = jitter.min(REKEY_TIMEOUT_JITTER_MAX);
        self.failing_since.get_or_insert(now);
        self.gave_up_at = None;
        self.last_handshake_sent = Some(now);
        self.retransmit_handshake = Some(now + REKEY_TIMEOUT + self.jitter);
    }

    /// A response was just sent. The peer is completing that handshake, so
    /// no initiation of ours for `REKEY_TIMEOUT` (as the kernel's
    /// `last_sent_handshake`): otherwise a packet to send before its key
    /// confirmation arrives would start a second handshake, and the two
    /// sides could end up sending on different sessions.
    pub fn handshake_response_sent(&mut self, now: Duration) {
        self.last_handshake_sent = Some(now);
    }

    /// A handshake completed: as initiator on receiving the response, as
    /// responder on key confirmation.
    pub fn handshake_completed(&mut self, _now: Duration) {
        self.retransmit_handshake = None;
        self.failing_since = None;
        self.gave_up_at = None;
        self.handshake_attempts = 0;
        self.sent_last_minute_handshake = false;
    }

    /// A new session was derived (either role).
    pub fn session_derived(&mut self, now: Duration) {
        self.zero_key_material = Some(now + ZERO_KEYS_AFTER);
    }

    /// A transport message carrying data was sent. Arms the new-handshake
    /// timer with the jitter of the last initiation: it keeps the two
    /// peers' timers apart as well as a fresh draw would, and a peer that
    /// never initiated has no jitter, which still differs from the other's.
    pub fn data_sent(&mut self, now: Duration) {
        if self.new_handshake.is_none() {
            self.new_handshake = Some(now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + self.jitter);
        }
    }

    /// A transport message carrying data (not a keepalive) authenticated.
    pub fn data_received(&mut self, now: Duration) {
        if self.send_keepalive.is_none() {
            self.send_keepalive = Some(now + KEEPALIVE_TIMEOUT);
        } else {
            self.need_another_keepalive = true;
        }
    }

    /// Any authenticated packet (handshake or transport) was sent.
    pub fn authenticated_packet_sent(&mut self, _now: Duration) {
        self.send_keepalive = None;
    }

    /// Any authenticated packet (handshake or transport) was received.
    pub fn authenticated_packet_received(&mut self, _now: Duration) {
        self.new_handshake = None;
    }

    /// Any authenticated packet was sent or received: restarts the
    /// persistent keepalive interval.
    pub fn authenticated_packet_traversed(&mut self, now: Duration) {
        if let Some(interval) = self.persistent_interval {
            self.persistent_keepalive = Some(now + interval);
        }
    }

    /// The device has a packet to send and no usable session (or a session
    /// that [`crate::session::Session::should_rekey`]). Starts a new
    /// handshake — the retry count starts over — and returns whether to
    /// send an initiation now: not if one was sent less than
    /// `REKEY_TIMEOUT` ago. If true, send it and call
    /// [`Timers::handshake_initiated`].
    ///
    /// As in the kernel and wireguard-go, a steady stream of outgoing
    /// packets keeps restarting the count, so the handshake is given up only
    /// once the device stops asking.
    #[must_use]
    pub fn want_handshake(&mut self, now: Duration) -> bool {
        self.handshake_attempts = 0;
        self.initiation_allowed(now)
    }

    fn initiation_allowed(&self, now: Duration) -> bool {
        self.last_handshake_sent
            .is_none_or(|sent| now.saturating_sub(sent) >= REKEY_TIMEOUT)
    }

    /// For the receive-side rekey rule (paper §6.3: "…and it has not yet
    /// acted upon this event"): returns true the first time it is called
    /// after a handshake completed, false after that.
    #[must_use]
    pub fn take_last_minute_handshake(&mut self) -> bool {
        !std::mem::replace(&mut self.sent_last_minute_handshake, true)
    }

    /// The earliest armed deadline; `poll` has something to do at or after
    /// it. `Duration::ZERO` means "now".
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.retransmit_handshake,
            self.send_keepalive,
            self.new_handshake,
            self.zero_key_material,
            self.persistent_keepalive,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires the timers due at `now`, one event per call; call until `None`.
    pub fn poll(&mut self, now: Duration) -> Option<TimerEvent> {
        if due(self.zero_key_material, now) {
            self.zero_key_material = None;
            return Some(TimerEvent::ZeroKeys);
        }
        if due(self.retransmit_handshake, now) {
            if self.initiation_allowed(now) {
                self.retransmit_handshake = None;
                if self.handshake_attempts > MAX_TIMER_HANDSHAKES {
                    self.send_keepalive = None;
                    self.gave_up_at = Some(now);
                    if self.zero_key_material.is_none() {
                        self.zero_key_material = Some(now + ZERO_KEYS_AFTER);
                    }
                    return Some(TimerEvent::HandshakeGaveUp);
                }
                self.handshake_attempts += 1;
                return Some(TimerEvent::SendInitiation { retry: true });
            }
            // A response went out since the initiation: the retry waits
            // until REKEY_TIMEOUT after it (later than now, so not due).
            self.retransmit_handshake = self.last_handshake_sent.map(|t| t + REKEY_TIMEOUT);
        }
        if due(self.new_handshake, now) {
            self.new_handshake = None;
            if self.want_handshake(now) {
                return Some(TimerEvent::SendInitiation { retry: false });
            }
        }
        if due(self.send_keepalive, now) {
            self.send_keepalive = None;
            if std::mem::take(&mut self.need_another_keepalive) {
                self.send_keepalive = Some(now + KEEPALIVE_TIMEOUT);
            }
            return Some(TimerEvent::SendKeepalive);
        }
        if due(self.persistent_keepalive, now) {
            // Re-armed here too, so the interval holds even if the device
            // does not report the keepalive as traversing.
            self.persistent_keepalive = self.persistent_interval.map(|i| now + i);
            return Some(TimerEvent::SendPersistentKeepalive);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{REJECT_AFTER_TIME, REKEY_ATTEMPT_TIME};

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    /// A virtual clock that advances to each deadline and collects events.
    fn run_until(
        t: &mut Timers,
        now: &mut Duration,
        until: Duration,
    ) -> Vec<(Duration, TimerEvent)> {
        let mut events = Vec::new();
        loop {
            while let Some(e) = t.poll(*now) {
                events.push((*now, e));
            }
            match t.next_deadline() {
                Some(d) if d <= until => *now = d.max(*now),
                _ => break,
            }
        }
        *now = until;
        events
    }

    #[test]
    fn nothing_armed_nothing_happens() {
        let mut t = Timers::new();
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.poll(Duration::from_secs(10_000)), None);
    }

    #[test]
    fn retransmit_retries_then_gives_up() {
        let mut t = Timers::new();
        let mut now = 100 * S;
        let jitter = 100 * MS;
        assert!(t.want_handshake(now));
        t.handshake_initiated(now, jitter);
        let mut initiations = vec![now];
        let gave_up_at;
        loop {
            let d = t.next_deadline().expect("retransmit armed");
            now = d;
            match t.poll(now) {
                Some(TimerEvent::SendInitiation { retry: true }) => {
                    assert_eq!(
                        now - *initiations.last().expect("one"),
                        REKEY_TIMEOUT + jitter
                    );
                    t.handshake_initiated(now, jitter);
                    initiations.push(now);
                }
                Some(TimerEvent::HandshakeGaveUp) => {
                    gave_up_at = now;
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // The first initiation plus MAX_TIMER_HANDSHAKES + 1 retries, as in
        // the kernel (it gives up when attempts > MAX_TIMER_HANDSHAKES).
        assert_eq!(initiations.len() as u32, MAX_TIMER_HANDSHAKES + 2);
        assert!(gave_up_at - 100 * S >= REKEY_ATTEMPT_TIME);
        // What readiness reads: failing since the first initiation, given
        // up at the last; a new attempt keeps the first and clears the
        // give-up.
        assert_eq!(t.failing_since(), Some(100 * S));
        assert_eq!(t.gave_up_at(), Some(gave_up_at));
        let mut again = t.clone();
        again.handshake_initiated(gave_up_at + S, jitter);
        assert_eq!(
            (again.failing_since(), again.gave_up_at()),
            (Some(100 * S), None)
        );
        // Giving up arms the zero-keys timer.
        assert_eq!(t.next_deadline(), Some(gave_up_at + ZERO_KEYS_AFTER));
        assert_eq!(
            t.poll(gave_up_at + ZERO_KEYS_AFTER),
            Some(TimerEvent::ZeroKeys)
        );
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn completed_handshake_stops_the_retries() {
        let mut t = Timers::new();
        let now = 10 * S;
        t.handshake_initiated(now, Duration::ZERO);
        assert_eq!(
            t.poll(now + REKEY_TIMEOUT),
            Some(TimerEvent::SendInitiation { retry: true })
        );
        t.handshake_initiated(now + REKEY_TIMEOUT, Duration::ZERO);
        assert_eq!(t.handshake_attempts(), 1);
        assert_eq!(t.failing_since(), Some(now), "a retry is the same attempt");
        t.handshake_completed(now + REKEY_TIMEOUT + S);
        assert_eq!(t.handshake_attempts(), 0);
        assert_eq!((t.failing_since(), t.gave_up_at()), (None, None));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn jitter_is_clamped() {
        let mut t = Timers::new();
        t.handshake_initiated(Duration::ZERO, 10 * S);
        assert_eq!(
            t.next_deadline(),
            Some(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX)
        );
    }

    #[test]
    fn initiations_are_rate_limited_to_one_per_rekey_timeout() {
        let mut t = Timers::new();
        assert!(t.want_handshake(S));
        t.handshake_initiated(S, Duration::ZERO);
        assert!(!t.want_handshake(S + REKEY_TIMEOUT - MS));
        assert!(t.want_handshake(S + REKEY_TIMEOUT));
    }

    #[test]
    fn keepalive_after_receiving_data_with_nothing_sent() {
        let mut t = Timers::new();
        let mut now = 5 * S;
        t.data_received(now);
        let events = run_until(&mut t, &mut now, 60 * S);
        assert_eq!(
            events,
            vec![(5 * S + KEEPALIVE_TIMEOUT, TimerEvent::SendKeepalive)]
        );
    }

    #[test]
    fn sending_anything_cancels_the_keepalive() {
        let mut t = Timers::new();
        let mut now = 5 * S;
        t.data_received(now);
        t.authenticated_packet_sent(now + S);
        assert!(run_until(&mut t, &mut now, 60 * S).is_empty());
    }

    #[test]
    fn more_data_while_the_keepalive_is_pending_asks_for_another() {
        let mut t = Timers::new();
        let mut now = Duration::ZERO;
        t.data_received(now);
        t.data_received(now + 3 * S); // timer already running: noted
        let events = run_until(&mut t, &mut now, 60 * S);
        assert_eq!(
            events,
            vec![
                (KEEPALIVE_TIMEOUT, TimerEvent::SendKeepalive),
                (2 * KEEPALIVE_TIMEOUT, TimerEvent::SendKeepalive)
            ]
        );
    }

    #[test]
    fn new_handshake_when_data_sent_gets_no_answer() {
        let mut t = Timers::new();
        t.handshake_initiated(Duration::ZERO, 7 * MS);
        t.handshake_completed(S);
        let mut now = 20 * S;
        t.data_sent(now);
        t.data_sent(now + S); // already armed: unchanged
        let events = run_until(&mut t, &mut now, 100 * S);
        assert_eq!(
            events,
            vec![(
                20 * S + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 7 * MS,
                TimerEvent::SendInitiation { retry: false }
            )]
        );
    }

    #[test]
    fn receiving_anything_cancels_the_new_handshake() {
        let mut t = Timers::new();
        let mut now = 20 * S;
        t.data_sent(now);
        t.authenticated_packet_received(now + 14 * S);
        assert!(run_until(&mut t, &mut now, 100 * S).is_empty());
    }

    #[test]
    fn new_handshake_respects_the_initiation_rate_limit() {
        let mut t = Timers::new();
        let now = 20 * S;
        t.data_sent(now);
        // An initiation went out just before the timer fires.
        let fire = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT;
        t.handshake_initiated(fire - S, Duration::ZERO);
        assert_eq!(t.poll(fire), None);
    }

    #[test]
    fn zero_keys_three_reject_after_times_after_the_last_session() {
        let mut t = Timers::new();
        let mut now = Duration::ZERO;
        t.session_derived(10 * S);
        t.session_derived(100 * S); // re-armed by the newer session
        let events = run_until(&mut t, &mut now, 2000 * S);
        assert_eq!(
            events,
            vec![(100 * S + 3 * REJECT_AFTER_TIME, TimerEvent::ZeroKeys)]
        );
    }

    #[test]
    fn persistent_keepalive_every_interval_of_silence() {
        let mut t = Timers::new();
        let interval = 25 * S;
        let mut now = 3 * S;
        t.set_persistent_keepalive(Some(interval));
        // Turning it on makes one due at once.
        assert_eq!(t.next_deadline(), Some(Duration::ZERO));
        let mut sent = Vec::new();
        for _ in 0..4 {
            let at = now;
            let e = run_until(&mut t, &mut now, at);
            assert_eq!(e, vec![(now, TimerEvent::SendPersistentKeepalive)]);
            sent.push(now);
            t.authenticated_packet_traversed(now);
            now = t.next_deadline().expect("armed");
        }
        assert_eq!(sent, vec![3 * S, 28 * S, 53 * S, 78 * S]);
        // Traffic pushes it back.
        let before = t.next_deadline().expect("armed");
        t.authenticated_packet_traversed(before - S);
        assert_eq!(t.next_deadline(), Some(before - S + interval));
        // Changing the interval does not fire at once; clearing stops it.
        t.set_persistent_keepalive(Some(10 * S));
        assert_eq!(t.next_deadline(), Some(before - S + interval));
        t.set_persistent_keepalive(None);
        assert_eq!(t.next_deadline(), None);
        t.authenticated_packet_traversed(now);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn last_minute_handshake_is_taken_once_per_handshake() {
        let mut t = Timers::new();
        assert!(t.take_last_minute_handshake());
        assert!(!t.take_last_minute_handshake());
        t.handshake_completed(S);
        assert!(t.take_last_minute_handshake());
    }

    /// A response sent holds our initiations for REKEY_TIMEOUT, as an
    /// initiation does; a retry that falls due meanwhile waits for it
    /// rather than being lost.
    #[test]
    fn a_response_holds_initiations_and_retries() {
        let mut t = Timers::new();
        t.handshake_initiated(S, Duration::ZERO);
        t.handshake_response_sent(3 * S);
        assert!(!t.want_handshake(7 * S));
        assert_eq!(t.poll(6 * S), None, "the retry waits");
        assert_eq!(t.next_deadline(), Some(8 * S));
        assert_eq!(
            t.poll(8 * S),
            Some(TimerEvent::SendInitiation { retry: true })
        );
        assert!(t.want_handshake(8 * S));
    }
}
