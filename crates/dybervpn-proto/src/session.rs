//! A transport session: the two keys a completed handshake derives, used to
//! send and receive transport messages (paper §5.4.6) until they expire
//! (§6.2).
//!
//! A [`Session`] is shared between threads (`Send + Sync`): sending takes
//! `&self` and draws its counter from an atomic, so several threads can
//! encrypt under one session at once. Receiving checks the replay window
//! under a short lock before decrypting, decrypts without the lock, and only
//! then records the counter, so a forged packet never moves the window.
//!
//! The session keeps no copy of its keys: [`Session::new`] hands them to the
//! backend's [`TransportCipher`]s and drops the [`SessionKeys`], which
//! zeroize. [`Session::invalidate`] stops all use at once, for when the
//! keys must be forgotten while another thread may still hold the session.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use dybervpn_crypto::{AeadKey, CryptoBackend, CryptoError, TransportCipher};

use crate::constants::{
    REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME,
    REKEY_AFTER_TIME_RECEIVING, TRANSPORT_HEADER_SIZE, TRANSPORT_TAG_SIZE,
};
use crate::replay::ReplayWindow;
use crate::transport::{self, Header, TransportError};
use crate::Mode;

/// What a completed handshake hands to the data plane.
#[derive(Debug)]
pub struct SessionKeys {
    /// The key for messages we send.
    pub send: AeadKey,
    /// The key for messages we receive.
    pub recv: AeadKey,
    /// Our index: peers put it in the receiver field of what they send us.
    pub local_index: u32,
    /// The peer's index: we put it in the receiver field of what we send.
    pub remote_index: u32,
    /// Whether we sent the initiation of the handshake that made the keys.
    pub initiator: bool,
    /// The mode of that handshake.
    pub mode: Mode,
}

/// Why a transport message could not be sent or received under a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is `REJECT_AFTER_TIME` (180 s) old or older.
    Expired,
    /// The session was invalidated (its keys were erased or retired).
    Invalidated,
    /// Sending: every counter below `REJECT_AFTER_MESSAGES` has been used.
    CounterExhausted,
    /// Receiving: the counter was already accepted, is too far behind the
    /// window, or is at or past `REJECT_AFTER_MESSAGES`. A peer's fault (or
    /// a network duplicate).
    Replay,
    /// Receiving: the message did not authenticate. A peer's or an
    /// attacker's fault.
    Decryption,
    /// Receiving: the message names another session's index.
    WrongReceiver,
    /// Receiving: the datagram is not a well-formed transport message.
    Malformed(TransportError),
    /// The caller's buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// The buffer size the call needs.
        needed: usize,
    },
    /// Sending: the backend failed to encrypt (a local failure).
    Crypto(CryptoError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired => f.write_str("session is older than REJECT_AFTER_TIME"),
            Self::Invalidated => f.write_str("session keys were erased"),
            Self::CounterExhausted => f.write_str("session send counter exhausted"),
            Self::Replay => f.write_str("transport counter replayed or outside the window"),
            Self::Decryption => f.write_str("transport message failed to authenticate"),
            Self::WrongReceiver => f.write_str("transport message is for another session"),
            Self::Malformed(e) => write!(f, "malformed transport message: {e}"),
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {needed} bytes needed")
            }
            Self::Crypto(e) => write!(f, "local encryption failure: {e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<TransportError> for SessionError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::BufferTooSmall { needed } => Self::BufferTooSmall { needed },
            other => Self::Malformed(other),
        }
    }
}

/// One direction pair of transport keys; see the module documentation.
pub struct Session {
    sender: Box<dyn TransportCipher>,
    receiver: Box<dyn TransportCipher>,
    local_index: u32,
    remote_index: u32,
    initiator: bool,
    mode: Mode,
    created: Duration,
    /// The counter of the next message sent.
    send_counter: AtomicU64,
    replay: Mutex<ReplayWindow>,
    invalidated: AtomicBool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("initiator", &self.initiator)
            .field("mode", &self.mode)
            .field("created", &self.created)
            .field("send_counter", &self.send_counter())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Prepares the two ciphers; the keys are zeroized when `keys` drops at
    /// the end of this call. `now_mono` is the session's birth time.
    #[must_use]
    pub fn new(keys: SessionKeys, backend: &dyn CryptoBackend, now_mono: Duration) -> Session {
        Session {
            sender: backend.transport_cipher(&keys.send),
            receiver: backend.transport_cipher(&keys.recv),
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            initiator: keys.initiator,
            mode: keys.mode,
            created: now_mono,
            send_counter: AtomicU64::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            invalidated: AtomicBool::new(false),
        }
    }

    /// When the session was created (monotonic).
    #[must_use]
    pub fn created(&self) -> Duration {
        self.created
    }

    /// Our index for this session.
    #[must_use]
    pub fn local_index(&self) -> u32 {
        self.local_index
    }

    /// The peer's index for this session.
    #[must_use]
    pub fn remote_index(&self) -> u32 {
        self.remote_index
    }

    /// The handshake mode the session came from.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether we initiated the handshake that created the session.
    #[must_use]
    pub fn initiator(&self) -> bool {
        self.initiator
    }

    /// The counter the next message will carry (the number sent so far,
    /// failures included).
    #[must_use]
    pub fn send_counter(&self) -> u64 {
        self.send_counter.load(Ordering::Relaxed)
    }

    /// The session's age at `now`; zero if `now` is before its creation.
    #[must_use]
    pub fn age(&self, now: Duration) -> Duration {
        now.saturating_sub(self.created)
    }

    /// Stops every further use of the session, from every thread. The key
    /// material itself is released when the last reference drops.
    pub fn invalidate(&self) {
        self.invalidated.store(true, Ordering::Release);
    }

    /// Whether the session can no longer send or receive at `now`: it was
    /// invalidated, is `REJECT_AFTER_TIME` old, or (for sending) has used
    /// every counter.
    #[must_use]
    pub fn is_expired(&self, now: Duration) -> bool {
        self.invalidated.load(Ordering::Acquire)
            || self.age(now) >= REJECT_AFTER_TIME
            || self.send_counter() >= REJECT_AFTER_MESSAGES
    }

    /// Whether sending under this session should start a new handshake
    /// (paper §6.2, §6.3; the kernel's `keep_key_fresh` on send): after
    /// `REKEY_AFTER_MESSAGES` messages (either side), or, for the session's
    /// initiator, once it is `REKEY_AFTER_TIME` old. Only the initiator
    /// rekeys on time so the two peers do not both start a handshake.
    #[must_use]
    pub fn should_rekey(&self, now: Duration) -> bool {
        self.send_counter() >= REKEY_AFTER_MESSAGES
            || (self.initiator && self.age(now) >= REKEY_AFTER_TIME)
    }

    /// Whether receiving under this session should start a new handshake
    /// (paper §6.3; the kernel's `keep_key_fresh` on receive): the session's
    /// initiator does so once it is `REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT −
    /// REKEY_TIMEOUT` (165 s) old, so a new session exists before this one
    /// is rejected even if it has nothing to send. The caller acts on this
    /// once per session (see `Timers::take_last_minute_handshake`).
    #[must_use]
    pub fn should_rekey_on_receive(&self, now: Duration) -> bool {
        self.initiator && self.age(now) >= REKEY_AFTER_TIME_RECEIVING
    }

    fn check_usable(&self, now: Duration) -> Result<(), SessionError> {
        if self.invalidated.load(Ordering::Acquire) {
            return Err(SessionError::Invalidated);
        }
        if self.age(now) >= REJECT_AFTER_TIME {
            return Err(SessionError::Expired);
        }
        Ok(())
    }

    /// Takes the next send counter, refusing once `REJECT_AFTER_MESSAGES`
    /// would be reached. The counter never wraps, however often this is
    /// called.
    fn next_counter(&self) -> Result<u64, SessionError> {
        self.send_counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < REJECT_AFTER_MESSAGES).then_some(c + 1)
            })
            .map_err(|_| SessionError::CounterExhausted)
    }

    /// Encrypts a payload already in place and frames it: `msg[16..16 +
    /// payload_len]` holds the plaintext (padded by the caller, see
    /// [`transport::pad`]); this writes the header into `msg[..16]`, the
    /// ciphertext over the plaintext and the tag after it, and returns the
    /// message length (`payload_len + 32`). Nothing is allocated.
    ///
    /// A buffer that is too small is refused before a counter is used.
    pub fn encrypt(
        &self,
        now: Duration,
        msg: &mut [u8],
        payload_len: usize,
    ) -> Result<usize, SessionError> {
        self.check_usable(now)?;
        let len = transport::check_capacity(msg, payload_len)?;
        let counter = self.next_counter()?;
        transport::write_header(
            msg,
            Header {
                receiver: self.remote_index,
                counter,
            },
        )?;
        let too_small = SessionError::BufferTooSmall { needed: len };
        let tag_at = TRANSPORT_HEADER_SIZE + payload_len;
        let payload = msg
            .get_mut(TRANSPORT_HEADER_SIZE..tag_at)
            .ok_or(too_small)?;
        let tag = self
            .sender
            .seal(counter, payload)
            .map_err(SessionError::Crypto)?;
        msg.get_mut(tag_at..tag_at + TRANSPORT_TAG_SIZE)
            .ok_or(too_small)?
            .copy_from_slice(&tag);
        Ok(len)
    }

    /// Copies `payload` into `out` after the header and encrypts it there
    /// (see [`Session::encrypt`]); returns the message length. An empty
    /// payload makes a keepalive.
    pub fn seal_into(
        &self,
        now: Duration,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.check_usable(now)?;
        transport::check_capacity(out, payload.len())?;
        let end = TRANSPORT_HEADER_SIZE + payload.len();
        out.get_mut(TRANSPORT_HEADER_SIZE..end)
            .ok_or(SessionError::BufferTooSmall { needed: end })?
            .copy_from_slice(payload);
        self.encrypt(now, out, payload.len())
    }

    /// Authenticates and decrypts `in_out` (the payload of a message with
    /// this `counter`) in place. The replay window is checked first (cheap)
    /// and updated only after the tag verified.
    pub fn decrypt(
        &self,
        now: Duration,
        counter: u64,
        in_out: &mut [u8],
        tag: &[u8; TRANSPORT_TAG_SIZE],
    ) -> Result<(), SessionError> {
        self.check_usable(now)?;
        if !self.window().check(counter) {
            return Err(SessionError::Replay);
        }
        if self.receiver.open(counter, in_out, tag).is_err() {
            // The buffer holds garbage now; make that visible rather than
            // leave half-decrypted bytes behind.
            in_out.fill(0);
            return Err(SessionError::Decryption);
        }
        // Another thread may have accepted the same counter meanwhile.
        if !self.window().update(counter) {
            in_out.fill(0);
            return Err(SessionError::Replay);
        }
        Ok(())
    }

    /// Opens a whole type-4 datagram in place and returns its plaintext
    /// (still padded), which lives inside `msg`.
    pub fn open_in_place<'m>(
        &self,
        now: Duration,
        msg: &'m mut [u8],
    ) -> Result<&'m mut [u8], SessionError> {
        let view = transport::parse(msg)?;
        if view.header.receiver != self.local_index {
            return Err(SessionError::WrongReceiver);
        }
        self.decrypt(now, view.header.counter, view.payload, &view.tag)?;
        Ok(view.payload)
    }

    fn window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // The window is a plain bitmap with no invariant a panic elsewhere
        // could break half-way, so a poisoned lock is still sound to use.
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{KEEPALIVE_SIZE, REKEY_AFTER_TIME_RECEIVING};
    use dybervpn_crypto::{backend, BackendKind};
    use std::sync::Arc;

    const T0: Duration = Duration::from_secs(1000);

    fn pair(kind: BackendKind, initiator_first: bool) -> (Session, Session) {
        let b = backend(kind);
        let k1 = AeadKey::new([1; 32]);
        let k2 = AeadKey::new([2; 32]);
        let a = SessionKeys {
            send: k1.clone(),
            recv: k2.clone(),
            local_index: 10,
            remote_index: 20,
            initiator: initiator_first,
            mode: Mode::Hybrid,
        };
        let b_keys = SessionKeys {
            send: k2,
            recv: k1,
            local_index: 20,
            remote_index: 10,
            initiator: !initiator_first,
            mode: Mode::Hybrid,
        };
        (Session::new(a, &*b, T0), Session::new(b_keys, &*b, T0))
    }

    fn roundtrip(kind: BackendKind) {
        let (a, b) = pair(kind, true);
        let mut buf = [0u8; 1500];
        let payload = b"an inner IP packet, padded by the caller to 32 bytes";
        let n = a.seal_into(T0, payload, &mut buf).expect("seal");
        assert_eq!(n, payload.len() + 32);
        assert_eq!(
            transport::parse_header(&buf[..n]).expect("hdr").receiver,
            20
        );
        assert_ne!(&buf[16..16 + payload.len()], &payload[..]);
        let plain = b.open_in_place(T0, &mut buf[..n]).expect("open");
        assert_eq!(plain, &payload[..]);
        // The same datagram again is a replay.
        let n2 = a.seal_into(T0, payload, &mut buf).expect("seal");
        let copy = buf;
        assert!(b.open_in_place(T0, &mut buf[..n2]).is_ok());
        let mut again = copy;
        assert_eq!(
            b.open_in_place(T0, &mut again[..n2]),
            Err(SessionError::Replay)
        );
    }

    #[test]
    fn roundtrip_libcrux() {
        roundtrip(BackendKind::Libcrux);
    }

    #[test]
    fn roundtrip_aws_lc() {
        roundtrip(BackendKind::AwsLc);
    }

    #[test]
    fn keepalive_is_32_bytes() {
        let (a, b) = pair(BackendKind::Libcrux, true);
        let mut buf = [0u8; 64];
        let n = a.seal_into(T0, &[], &mut buf).expect("seal");
        assert_eq!(n, KEEPALIVE_SIZE);
        assert!(b.open_in_place(T0, &mut buf[..n]).expect("open").is_empty());
    }

    #[test]
    fn a_forged_packet_does_not_move_the_window() {
        let (a, b) = pair(BackendKind::Libcrux, true);
        let mut buf = [0u8; 100];
        let n = a.seal_into(T0, b"hello", &mut buf).expect("seal");
        // Forge a packet with a huge counter: it fails to authenticate and
        // must not advance the window past the genuine packet's counter 0.
        let mut forged = buf;
        forged[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert_eq!(
            b.open_in_place(T0, &mut forged[..n]),
            Err(SessionError::Decryption)
        );
        assert_eq!(
            b.open_in_place(T0, &mut buf[..n]).expect("genuine"),
            b"hello"
        );
        // A flipped bit in the tag fails too.
        let n = a.seal_into(T0, b"hello", &mut buf).expect("seal");
        buf[n - 1] ^= 1;
        assert_eq!(
            b.open_in_place(T0, &mut buf[..n]),
            Err(SessionError::Decryption)
        );
    }

    #[test]
    fn wrong_receiver_and_malformed_are_refused() {
        let (a, _b) = pair(BackendKind::Libcrux, true);
        let mut buf = [0u8; 64];
        let n = a.seal_into(T0, b"x", &mut buf).expect("seal");
        // `a` receives with index 10, the message is for 20.
        assert_eq!(
            a.open_in_place(T0, &mut buf[..n]),
            Err(SessionError::WrongReceiver)
        );
        assert_eq!(
            a.open_in_place(T0, &mut buf[..31]),
            Err(SessionError::Malformed(TransportError::TooShort))
        );
    }

    #[test]
    fn short_buffer_is_an_error_and_uses_no_counter() {
        let (a, _b) = pair(BackendKind::Libcrux, true);
        let mut small = [0u8; 40];
        assert_eq!(
            a.seal_into(T0, &[0u8; 9], &mut small),
            Err(SessionError::BufferTooSmall { needed: 41 })
        );
        assert_eq!(
            a.encrypt(T0, &mut small, 100),
            Err(SessionError::BufferTooSmall { needed: 132 })
        );
        assert_eq!(a.send_counter(), 0);
    }

    #[test]
    fn expires_after_reject_after_time() {
        let (a, b) = pair(BackendKind::Libcrux, true);
        let mut buf = [0u8; 64];
        let almost = T0 + REJECT_AFTER_TIME - Duration::from_nanos(1);
        let n = a.seal_into(almost, b"x", &mut buf).expect("still valid");
        assert!(!a.is_expired(almost));
        let late = T0 + REJECT_AFTER_TIME;
        assert!(a.is_expired(late));
        assert_eq!(
            a.seal_into(late, b"x", &mut buf),
            Err(SessionError::Expired)
        );
        assert_eq!(
            b.open_in_place(late, &mut buf[..n]),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn invalidated_sessions_refuse_everything() {
        let (a, b) = pair(BackendKind::Libcrux, true);
        let mut buf = [0u8; 64];
        let n = a.seal_into(T0, b"x", &mut buf).expect("seal");
        b.invalidate();
        assert!(b.is_expired(T0));
        assert_eq!(
            b.open_in_place(T0, &mut buf[..n]),
            Err(SessionError::Invalidated)
        );
    }

    #[test]
    fn counter_stops_before_reject_after_messages() {
        let (a, b) = pair(BackendKind::Libcrux, true);
        a.send_counter
            .store(REJECT_AFTER_MESSAGES - 1, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        let n = a.seal_into(T0, b"last", &mut buf).expect("last counter");
        assert_eq!(
            transport::parse_header(&buf[..n]).expect("hdr").counter,
            REJECT_AFTER_MESSAGES - 1
        );
        assert_eq!(b.open_in_place(T0, &mut buf[..n]).expect("open"), b"last");
        for _ in 0..10_000 {
            assert_eq!(
                a.seal_into(T0, b"x", &mut buf),
                Err(SessionError::CounterExhausted)
            );
        }
        assert_eq!(a.send_counter(), REJECT_AFTER_MESSAGES);
        assert!(a.is_expired(T0));
    }

    #[test]
    fn rekey_rules() {
        let (init, resp) = pair(BackendKind::Libcrux, true);
        let before = T0 + REKEY_AFTER_TIME - Duration::from_millis(1);
        assert!(!init.should_rekey(before));
        assert!(init.should_rekey(T0 + REKEY_AFTER_TIME));
        // The responder never rekeys on time...
        assert!(!resp.should_rekey(T0 + REJECT_AFTER_TIME));
        assert!(!resp.should_rekey_on_receive(T0 + REJECT_AFTER_TIME));
        // ...but does on message count.
        resp.send_counter
            .store(REKEY_AFTER_MESSAGES, Ordering::Relaxed);
        assert!(resp.should_rekey(T0));
        assert!(!init
            .should_rekey_on_receive(T0 + REKEY_AFTER_TIME_RECEIVING - Duration::from_millis(1)));
        assert!(init.should_rekey_on_receive(T0 + REKEY_AFTER_TIME_RECEIVING));
    }

    #[test]
    fn two_threads_encrypt_on_one_session_without_reusing_a_counter() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Session>();
        let (a, b) = pair(BackendKind::Libcrux, true);
        let a = Arc::new(a);
        let per_thread = 500;
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let a = Arc::clone(&a);
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    for _ in 0..per_thread {
                        let mut buf = vec![0u8; 64];
                        let n = a.seal_into(T0, b"data", &mut buf).expect("seal");
                        buf.truncate(n);
                        out.push(buf);
                    }
                    out
                })
            })
            .collect();
        let mut msgs = Vec::new();
        for h in handles {
            msgs.extend(h.join().expect("thread"));
        }
        let mut counters: Vec<u64> = msgs
            .iter()
            .map(|m| transport::parse_header(m).expect("hdr").counter)
            .collect();
        counters.sort_unstable();
        counters.dedup();
        assert_eq!(counters.len(), 2 * per_thread);
        for mut m in msgs {
            assert!(b.open_in_place(T0, &mut m).is_ok());
        }
    }
}
