//! A peer's sessions and their rotation (paper §5.4.6 and §6; the kernel's
//! `noise_keypairs`, wireguard-go's `Keypairs`).
//!
//! A peer has up to three sessions:
//!
//! * `current` — used to send, and to receive;
//! * `previous` — the one `current` replaced, kept to receive packets still
//!   in flight under it;
//! * `next` — a session we derived as **responder** and may not send under
//!   until the initiator proves it has the keys too. Its first authenticated
//!   transport message (data or keepalive) is that key confirmation.
//!
//! Rotation rules, as in the kernel's `add_new_keypair` and
//! `received_with_keypair`:
//!
//! 1. New session as **initiator** (we received the response, so the peer
//!    has the keys): it becomes `current`. The old `current` becomes
//!    `previous`, unless an unconfirmed `next` is waiting, in which case
//!    `next` becomes `previous` and the old `current` is dropped. (With
//!    simultaneous handshakes the peer may already be sending under that
//!    `next`; keeping it lets us decrypt those packets. The old `previous`
//!    is dropped either way.)
//! 2. New session as **responder**: it becomes `next`, replacing any
//!    waiting `next`; `previous` is dropped; `current` stays and goes on
//!    carrying our traffic.
//! 3. First authenticated message under `next`: `next` becomes `current`,
//!    `current` becomes `previous`, the old `previous` is dropped.
//!
//! The responder never sends under `next`, not even a keepalive: the kernel
//! and wireguard-go send only under `current`. Confirmation is the
//! initiator's job — having installed its session, it sends its queued
//! packets or, with none queued, a keepalive at once.
//!
//! Dropped sessions are invalidated (see [`Session::invalidate`]) and their
//! local indices are returned as [`Retired`], so the device can free them
//! from its index table.

use std::sync::Arc;
use std::time::Duration;

use crate::session::Session;

/// Local indices of sessions a [`KeyRing`] operation dropped; the device
/// removes them from its index table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "retired indices must be removed from the device's index table"]
pub struct Retired([Option<u32>; 3]);

impl Retired {
    fn push(&mut self, session: Option<Arc<Session>>) {
        if let Some(s) = session {
            s.invalidate();
            if let Some(slot) = self.0.iter_mut().find(|slot| slot.is_none()) {
                *slot = Some(s.local_index());
            }
        }
    }

    /// The retired local indices.
    pub fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flatten().copied()
    }

    /// Whether nothing was retired.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// A peer's `current`, `previous` and `next` sessions; see the module
/// documentation.
#[derive(Debug, Default)]
pub struct KeyRing {
    current: Option<Arc<Session>>,
    previous: Option<Arc<Session>>,
    next: Option<Arc<Session>>,
}

impl KeyRing {
    /// An empty key ring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a session just derived by a handshake, by rule 1 or 2
    /// according to [`Session::initiator`]. Returns the session and what
    /// was dropped.
    pub fn install(&mut self, session: Session) -> (Arc<Session>, Retired) {
        let session = Arc::new(session);
        let mut retired = Retired::default();
        if session.initiator() {
            if let Some(next) = self.next.take() {
                retired.push(self.previous.replace(next));
                retired.push(self.current.take());
            } else {
                retired.push(self.previous.take());
                self.previous = self.current.take();
            }
            self.current = Some(Arc::clone(&session));
        } else {
            retired.push(self.next.replace(Arc::clone(&session)));
            retired.push(self.previous.take());
        }
        (session, retired)
    }

    /// The session to send under, if any. It may be expired; sending under
    /// it then fails and the caller should start a handshake.
    #[must_use]
    pub fn current(&self) -> Option<&Arc<Session>> {
        self.current.as_ref()
    }

    /// The current session, if it has not expired at `now`: the one to
    /// send under.
    #[must_use]
    pub fn usable(&self, now: Duration) -> Option<&Arc<Session>> {
        self.current().filter(|s| !s.is_expired(now))
    }

    /// The session `current` replaced, kept for receiving.
    #[must_use]
    pub fn previous(&self) -> Option<&Arc<Session>> {
        self.previous.as_ref()
    }

    /// The responder's session awaiting key confirmation.
    #[must_use]
    pub fn next(&self) -> Option<&Arc<Session>> {
        self.next.as_ref()
    }

    /// The session with this local index, for decrypting a message whose
    /// receiver field names it.
    #[must_use]
    pub fn get(&self, local_index: u32) -> Option<Arc<Session>> {
        [&self.current, &self.previous, &self.next]
            .into_iter()
            .flatten()
            .find(|s| s.local_index() == local_index)
            .cloned()
    }

    /// Reports that a transport message authenticated under the session
    /// with `local_index`. If that is `next`, this is key confirmation and
    /// rule 3 rotates the ring: returns `Some` with what was dropped (the
    /// caller then treats the handshake as complete and sends its queued
    /// packets). Otherwise returns `None`.
    pub fn received_on(&mut self, local_index: u32) -> Option<Retired> {
        let confirms = self
            .next
            .as_ref()
            .is_some_and(|n| n.local_index() == local_index);
        if !confirms {
            return None;
        }
        let mut retired = Retired::default();
        retired.push(self.previous.take());
        self.previous = self.current.take();
        self.current = self.next.take();
        Some(retired)
    }

    /// Drops the responder's session awaiting confirmation, if any (its
    /// peer's mode changed: it must not become `current` afterwards).
    pub fn drop_next(&mut self) -> Retired {
        let mut retired = Retired::default();
        retired.push(self.next.take());
        retired
    }

    /// Drops every session that can no longer be used at `now` (older than
    /// `REJECT_AFTER_TIME`, counter exhausted or invalidated).
    pub fn expire(&mut self, now: Duration) -> Retired {
        let mut retired = Retired::default();
        for slot in [&mut self.current, &mut self.previous, &mut self.next] {
            if slot.as_ref().is_some_and(|s| s.is_expired(now)) {
                retired.push(slot.take());
            }
        }
        retired
    }

    /// Drops and invalidates every session (the zero-keys timer, or the
    /// peer's removal). Key material is freed, and zeroized by the backend's
    /// ciphers, once the last reference to each session drops.
    pub fn clear(&mut self) -> Retired {
        let mut retired = Retired::default();
        retired.push(self.current.take());
        retired.push(self.previous.take());
        retired.push(self.next.take());
        retired
    }

    /// Whether the ring holds no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.previous.is_none() && self.next.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::REJECT_AFTER_TIME;
    use crate::session::SessionKeys;
    use crate::Mode;
    use dybervpn_crypto::{backend, AeadKey, BackendKind};

    const T0: Duration = Duration::from_secs(50);

    fn session(index: u32, initiator: bool, now: Duration) -> Session {
        let b = backend(BackendKind::Libcrux);
        let keys = SessionKeys {
            send: AeadKey::new([index as u8; 32]),
            recv: AeadKey::new([index as u8 ^ 0xff; 32]),
            local_index: index,
            remote_index: index + 1000,
            initiator,
            mode: Mode::Classic,
        };
        Session::new(keys, &*b, now)
    }

    fn ids(ring: &KeyRing) -> (Option<u32>, Option<u32>, Option<u32>) {
        (
            ring.current().map(|s| s.local_index()),
            ring.previous().map(|s| s.local_index()),
            ring.next().map(|s| s.local_index()),
        )
    }

    fn retired(r: Retired) -> Vec<u32> {
        r.indices().collect()
    }

    #[test]
    fn initiator_sessions_become_current_and_shift_to_previous() {
        let mut ring = KeyRing::new();
        let (_, r) = ring.install(session(1, true, T0));
        assert!(r.is_empty());
        assert_eq!(ids(&ring), (Some(1), None, None));
        let (_, r) = ring.install(session(2, true, T0));
        assert!(r.is_empty());
        assert_eq!(ids(&ring), (Some(2), Some(1), None));
        let one = ring.get(1).expect("previous still reachable");
        let (_, r) = ring.install(session(3, true, T0));
        assert_eq!(retired(r), vec![1]);
        assert_eq!(ids(&ring), (Some(3), Some(2), None));
        assert!(one.is_expired(T0), "a dropped session is invalidated");
        assert!(ring.get(1).is_none());
    }

    #[test]
    fn responder_sessions_wait_in_next_until_confirmed() {
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, true, T0));
        let _ = ring.install(session(2, true, T0));
        let (_, r) = ring.install(session(3, false, T0));
        // Previous is dropped, current keeps sending.
        assert_eq!(retired(r), vec![1]);
        assert_eq!(ids(&ring), (Some(2), None, Some(3)));
        assert_eq!(ring.current().map(|s| s.local_index()), Some(2));
        // Traffic under current confirms nothing.
        assert!(ring.received_on(2).is_none());
        assert!(ring.received_on(99).is_none());
        // The first packet under next rotates.
        let r = ring.received_on(3).expect("confirmation");
        assert!(r.is_empty());
        assert_eq!(ids(&ring), (Some(3), Some(2), None));
        // Only once.
        assert!(ring.received_on(3).is_none());
    }

    #[test]
    fn a_second_responder_session_replaces_the_waiting_one() {
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, false, T0));
        assert_eq!(ids(&ring), (None, None, Some(1)));
        assert!(ring.current().is_none(), "nothing to send under yet");
        let (_, r) = ring.install(session(2, false, T0));
        assert_eq!(retired(r), vec![1]);
        assert_eq!(ids(&ring), (None, None, Some(2)));
        let r = ring.received_on(2).expect("confirmation");
        assert!(r.is_empty());
        assert_eq!(ids(&ring), (Some(2), None, None));
    }

    #[test]
    fn initiator_session_demotes_a_waiting_next_to_previous() {
        // Simultaneous handshakes: we responded to the peer's initiation
        // (next = 2) and then got the response to ours (3).
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, true, T0));
        let _ = ring.install(session(2, false, T0));
        let (_, r) = ring.install(session(3, true, T0));
        assert_eq!(retired(r), vec![1]);
        assert_eq!(ids(&ring), (Some(3), Some(2), None));
        assert!(
            ring.get(2).is_some(),
            "peer's packets under 2 still decrypt"
        );
    }

    #[test]
    fn lookup_finds_each_slot() {
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, true, T0));
        let _ = ring.install(session(2, true, T0));
        let _ = ring.install(session(3, false, T0));
        let _ = ring.install(session(4, true, T0));
        // 4 current, 3 previous (demoted next), 2 dropped.
        assert_eq!(ids(&ring), (Some(4), Some(3), None));
        let _ = ring.install(session(5, false, T0));
        assert_eq!(ids(&ring), (Some(4), None, Some(5)));
        for i in [4, 5] {
            assert_eq!(ring.get(i).map(|s| s.local_index()), Some(i));
        }
        for i in [1, 2, 3] {
            assert!(ring.get(i).is_none());
        }
    }

    #[test]
    fn expire_drops_sessions_past_reject_after_time() {
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, true, T0));
        let later = T0 + Duration::from_secs(100);
        let _ = ring.install(session(2, true, later));
        assert!(ring
            .expire(T0 + REJECT_AFTER_TIME - Duration::from_nanos(1))
            .is_empty());
        let r = ring.expire(T0 + REJECT_AFTER_TIME);
        assert_eq!(retired(r), vec![1]);
        assert_eq!(ids(&ring), (Some(2), None, None));
        let r = ring.expire(later + REJECT_AFTER_TIME);
        assert_eq!(retired(r), vec![2]);
        assert!(ring.is_empty());
    }

    #[test]
    fn clear_invalidates_everything() {
        let mut ring = KeyRing::new();
        let _ = ring.install(session(1, true, T0));
        let _ = ring.install(session(2, true, T0));
        let _ = ring.install(session(3, false, T0));
        let held = ring.get(2).expect("current");
        let mut r = retired(ring.clear());
        r.sort_unstable();
        assert_eq!(r, vec![2, 3]);
        assert!(ring.is_empty());
        assert!(
            held.is_expired(T0),
            "a session held elsewhere stops working"
        );
        let mut buf = [0u8; 64];
        assert!(held.seal_into(T0, b"x", &mut buf).is_err());
    }
}
