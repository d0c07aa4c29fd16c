//! mac1, mac2 and cookies (WireGuard paper §5.4.4, §5.4.7;
//! `docs/protocol.md` §5): the cheap checks that run before any asymmetric
//! cryptography, and the cookie replies that make an attacker prove it owns
//! its source address while we are under load.
//!
//! ```text
//! mac1   = MAC(HASH("mac1----" || S_receiver^pub), msg[..mac1])
//! mac2   = MAC(cookie, msg[..mac2])                       (or 16 zero bytes)
//! cookie = MAC(R_secret, source IP || source port)         R_secret: 2 min
//! reply  = type 3 | receiver | nonce(24) | XAEAD(HASH("cookie--" || S_sender^pub),
//!                                                 nonce, cookie, mac1)
//! ```
//!
//! The labels are shared by every mode; mac1 covers the type field, so a
//! mac1 computed for one message type never validates another.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use dybervpn_crypto::{AeadKey, CryptoBackend, Secret, X25519PublicKey, AEAD_TAG_LEN, XNONCE_LEN};
use subtle::ConstantTimeEq;

use crate::constants::COOKIE_REFRESH_TIME;
use crate::error::ProtoError;
use crate::messages::{write_cookie_reply, CookieReply, MacFields, COOKIE_REPLY_LEN, MAC_LEN};
use crate::tuning::MAC1_BATCH;

const LABEL_MAC1: &[u8] = b"mac1----";
const LABEL_COOKIE: &[u8] = b"cookie--";

/// How long before a received cookie expires we stop using it (WireGuard
/// leaves a margin so the responder's secret has not rotated meanwhile).
const COOKIE_USE_MARGIN: Duration = Duration::from_secs(5);

/// `MAC(cookie, parts)`: keyed BLAKE2s-128 with the 16-byte cookie as key
/// (the key length is part of BLAKE2s's parameter block, so this is not the
/// backend's 32-byte-key `MAC`).
fn mac_with_cookie(cookie: &[u8; MAC_LEN], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    use blake2::digest::{consts::U16, FixedOutput, KeyInit, Update};
    let mut state = match <blake2::Blake2sMac<U16> as KeyInit>::new_from_slice(cookie) {
        Ok(s) => s,
        // A 16-byte key is always within BLAKE2s's limit of 32.
        Err(_) => return [0; MAC_LEN],
    };
    for part in parts {
        state.update(part);
    }
    state.finalize_fixed().into()
}

/// `mac2` of a handshake message to a peer whose cookie we hold:
/// `MAC(cookie, covered)`, `covered` being the message up to mac2. The
/// device adds mac2 itself; this is for tools that prepare messages ahead
/// and add mac2 as they send them (the load generator in
/// `dybervpn-tunnel/examples/handshake_load`).
#[must_use]
pub fn mac2_with_cookie(cookie: &[u8; MAC_LEN], covered: &[u8]) -> [u8; MAC_LEN] {
    mac_with_cookie(cookie, &[covered])
}

/// The cookie in `reply`, which answers a handshake message whose mac1 was
/// `mac1`, sent to the peer whose static public key is `responder`. For
/// the same tools as [`mac2_with_cookie`].
pub fn open_cookie_reply(
    b: &dyn CryptoBackend,
    responder: &X25519PublicKey,
    reply: &CookieReply<'_>,
    mac1: &[u8; MAC_LEN],
) -> Result<[u8; MAC_LEN], ProtoError> {
    open_reply(b, &cookie_key(b, responder), reply, mac1)
}

/// Decrypts the cookie of `reply` with the sender's cookie key.
fn open_reply(
    b: &dyn CryptoBackend,
    key: &AeadKey,
    reply: &CookieReply<'_>,
    mac1: &[u8; MAC_LEN],
) -> Result<[u8; MAC_LEN], ProtoError> {
    let mut cookie = [0u8; MAC_LEN];
    cookie.copy_from_slice(&reply.encrypted_cookie[..MAC_LEN]);
    let tag: &[u8; AEAD_TAG_LEN] = reply.encrypted_cookie[MAC_LEN..]
        .try_into()
        .map_err(|_| ProtoError::BadLength)?;
    b.xaead_open(key, reply.nonce, mac1, &mut cookie, tag)
        .map_err(|_| ProtoError::Decryption)?;
    Ok(cookie)
}

fn mac1_key(b: &dyn CryptoBackend, public: &X25519PublicKey) -> [u8; 32] {
    b.hash(&[LABEL_MAC1, public.as_bytes()])
}

fn cookie_key(b: &dyn CryptoBackend, public: &X25519PublicKey) -> AeadKey {
    Secret::new(b.hash(&[LABEL_COOKIE, public.as_bytes()]))
}

/// The source address as the cookie covers it: IP octets, then the port in
/// network byte order.
fn address_bytes(src: SocketAddr, out: &mut [u8; 18]) -> &[u8] {
    let ip_len = match src.ip() {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            out[..16].copy_from_slice(&v6.octets());
            16
        }
    };
    out[ip_len..ip_len + 2].copy_from_slice(&src.port().to_be_bytes());
    &out[..ip_len + 2]
}

/// Cookie-reply nonces drawn from the backend at once.
const NONCES_PER_DRAW: usize = 32;

/// Cookie-reply nonces, drawn [`NONCES_PER_DRAW`] at a time. Each is random,
/// used once and then sent in the clear in its reply, so drawing them ahead
/// changes nothing but the cost: one call to the backend's generator has a
/// fixed cost (0.8–1.2 µs for aws-lc with its CPU-jitter source, which
/// consults RDRAND on every call), as much as the rest of a cookie reply,
/// and under a flood every answer is a cookie reply.
struct NoncePool {
    bytes: [u8; XNONCE_LEN * NONCES_PER_DRAW],
    /// Nonces handed out since the last draw.
    used: usize,
}

impl NoncePool {
    fn new() -> Self {
        Self {
            bytes: [0; XNONCE_LEN * NONCES_PER_DRAW],
            // Empty: the first reply draws.
            used: NONCES_PER_DRAW,
        }
    }

    fn take(&mut self, b: &dyn CryptoBackend) -> Result<[u8; XNONCE_LEN], ProtoError> {
        if self.used >= NONCES_PER_DRAW {
            // On failure the pool stays empty: no nonce is ever handed out twice.
            b.fill_random(&mut self.bytes).map_err(ProtoError::Crypto)?;
            self.used = 0;
        }
        let at = self.used * XNONCE_LEN;
        let mut nonce = [0u8; XNONCE_LEN];
        let fresh = self
            .bytes
            .get(at..at + XNONCE_LEN)
            .ok_or(ProtoError::Crypto(dybervpn_crypto::CryptoError::Random))?;
        nonce.copy_from_slice(fresh);
        self.used += 1;
        Ok(nonce)
    }
}

/// The receiving side: checks mac1/mac2 of handshake messages addressed to
/// this device and makes cookie replies. One per device.
pub(crate) struct CookieChecker {
    mac1_key: [u8; 32],
    cookie_key: AeadKey,
    /// `R_secret` and when it was drawn (monotonic); `None` until first use.
    secret: Mutex<Option<(Secret<32>, Duration)>>,
    nonces: Mutex<NoncePool>,
}

impl CookieChecker {
    pub(crate) fn new(b: &dyn CryptoBackend, local_public: &X25519PublicKey) -> Self {
        Self {
            mac1_key: mac1_key(b, local_public),
            cookie_key: cookie_key(b, local_public),
            secret: Mutex::new(None),
            nonces: Mutex::new(NoncePool::new()),
        }
    }

    /// Whether mac1 is right: the sender knows our public key. Constant time.
    #[must_use]
    pub(crate) fn mac1_valid(&self, b: &dyn CryptoBackend, macs: &MacFields<'_>) -> bool {
        let expected = b.mac(&self.mac1_key, &[macs.before_mac1]);
        expected.ct_eq(macs.mac1).into()
    }

    /// [`CookieChecker::mac1_valid`] for each message of `macs` into
    /// `valid` (`None` where `macs` has none), the MACs computed together
    /// ([`CryptoBackend::mac_many`]). At most [`MAC1_BATCH`] messages:
    /// any beyond are left unchecked (`None`).
    pub(crate) fn mac1_valid_many(
        &self,
        b: &dyn CryptoBackend,
        macs: &[Option<MacFields<'_>>],
        valid: &mut [Option<bool>],
    ) {
        let mut covered: [&[u8]; MAC1_BATCH] = [&[]; MAC1_BATCH];
        let mut n = 0;
        for (c, m) in covered.iter_mut().zip(macs.iter().flatten()) {
            *c = m.before_mac1;
            n += 1;
        }
        let mut expected = [[0u8; MAC_LEN]; MAC1_BATCH];
        b.mac_many(&self.mac1_key, &covered[..n], &mut expected[..n]);
        let mut expected = expected[..n].iter();
        for (v, m) in valid.iter_mut().zip(macs) {
            *v = match m {
                Some(m) => expected.next().map(|e| e.ct_eq(m.mac1).into()),
                None => None,
            };
        }
    }

    /// The cookie the source address `src` should hold now.
    fn cookie(
        &self,
        b: &dyn CryptoBackend,
        now: Duration,
        src: SocketAddr,
    ) -> Result<[u8; MAC_LEN], ProtoError> {
        let mut guard = self.secret.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh =
            matches!(&*guard, Some((_, born)) if now.saturating_sub(*born) < COOKIE_REFRESH_TIME);
        if !fresh {
            let mut s = Secret::<32>::default();
            b.fill_random(s.expose_mut()).map_err(ProtoError::Crypto)?;
            *guard = Some((s, now));
        }
        let Some((secret, _)) = &*guard else {
            return Err(ProtoError::Crypto(dybervpn_crypto::CryptoError::Random));
        };
        let mut addr = [0u8; 18];
        Ok(b.mac(secret.expose(), &[address_bytes(src, &mut addr)]))
    }

    /// Whether mac2 is a valid cookie MAC for `src`. Constant time in the
    /// cookie; an all-zero mac2 (what an initiator without a cookie sends,
    /// and all a flood without cookies can send) is refused without
    /// computing anything.
    pub(crate) fn mac2_valid(
        &self,
        b: &dyn CryptoBackend,
        now: Duration,
        src: SocketAddr,
        macs: &MacFields<'_>,
    ) -> Result<bool, ProtoError> {
        if macs.mac2.iter().all(|&x| x == 0) {
            // Public data; a real MAC is all zeros with probability 2^-128.
            return Ok(false);
        }
        let cookie = self.cookie(b, now, src)?;
        let expected = mac_with_cookie(&cookie, &[macs.before_mac2]);
        Ok(expected.ct_eq(macs.mac2).into())
    }

    /// Writes a cookie reply to a handshake message with sender index
    /// `receiver` and the given mac1 into `out`; returns its length (64).
    pub(crate) fn make_reply(
        &self,
        b: &dyn CryptoBackend,
        now: Duration,
        src: SocketAddr,
        receiver: u32,
        mac1: &[u8; MAC_LEN],
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        let out = out
            .get_mut(..COOKIE_REPLY_LEN)
            .ok_or(ProtoError::BufferTooSmall {
                needed: COOKIE_REPLY_LEN,
            })?;
        let nonce = self
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(b)?;
        let mut sealed = [0u8; MAC_LEN + AEAD_TAG_LEN];
        sealed[..MAC_LEN].copy_from_slice(&self.cookie(b, now, src)?);
        let tag = b
            .xaead_seal(&self.cookie_key, &nonce, mac1, &mut sealed[..MAC_LEN])
            .map_err(ProtoError::Crypto)?;
        sealed[MAC_LEN..].copy_from_slice(&tag);
        write_cookie_reply(out, receiver, &nonce, &sealed);
        Ok(COOKIE_REPLY_LEN)
    }
}

/// The sending side, one per peer: computes mac1/mac2 for messages to the
/// peer and stores the cookie the peer sent us.
pub(crate) struct CookieState {
    mac1_key: [u8; 32],
    cookie_key: AeadKey,
    /// The last cookie received and when (monotonic).
    cookie: Option<([u8; MAC_LEN], Duration)>,
    /// mac1 of the last handshake message sent, the associated data of the
    /// cookie reply that may answer it.
    last_mac1: Option<[u8; MAC_LEN]>,
}

impl CookieState {
    pub(crate) fn new(b: &dyn CryptoBackend, peer_public: &X25519PublicKey) -> Self {
        Self {
            mac1_key: mac1_key(b, peer_public),
            cookie_key: cookie_key(b, peer_public),
            cookie: None,
            last_mac1: None,
        }
    }

    /// Fills mac1 and mac2 (the last 32 bytes) of a handshake message.
    pub(crate) fn add_macs(&mut self, b: &dyn CryptoBackend, now: Duration, msg: &mut [u8]) {
        let Some(mac1_at) = msg.len().checked_sub(2 * MAC_LEN) else {
            return;
        };
        let mac1 = b.mac(&self.mac1_key, &[&msg[..mac1_at]]);
        msg[mac1_at..mac1_at + MAC_LEN].copy_from_slice(&mac1);
        self.last_mac1 = Some(mac1);
        let usable = self.cookie.filter(|(_, received)| {
            now.saturating_sub(*received) < COOKIE_REFRESH_TIME - COOKIE_USE_MARGIN
        });
        let mac2 = match usable {
            Some((cookie, _)) => mac_with_cookie(&cookie, &[&msg[..mac1_at + MAC_LEN]]),
            None => [0u8; MAC_LEN],
        };
        msg[mac1_at + MAC_LEN..].copy_from_slice(&mac2);
    }

    /// Decrypts and stores the cookie of a reply to our last handshake
    /// message.
    pub(crate) fn consume_reply(
        &mut self,
        b: &dyn CryptoBackend,
        now: Duration,
        reply: &CookieReply<'_>,
    ) -> Result<(), ProtoError> {
        let mac1 = self.last_mac1.ok_or(ProtoError::UnexpectedResponse)?;
        let cookie = open_reply(b, &self.cookie_key, reply, &mac1)?;
        self.cookie = Some((cookie, now));
        // One reply per message sent, as the kernel does: a recorded reply
        // replayed later must not make an old cookie look fresh.
        self.last_mac1 = None;
        Ok(())
    }

    /// Checks mac1 of a handshake message (a response) the peer sent us;
    /// keyed by our own public key, so this is the device's checker's job —
    /// kept here only for symmetry in tests.
    #[cfg(test)]
    pub(crate) fn has_cookie(&self) -> bool {
        self.cookie.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Initiation, INITIATION_LEN, MSG_INITIATION};
    use dybervpn_crypto::{backend, BackendKind};

    #[test]
    fn cookie_reply_nonces_are_never_repeated_across_draws() {
        let b = backend(BackendKind::AwsLc);
        let mut pool = NoncePool::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 * NONCES_PER_DRAW + 5 {
            assert!(seen.insert(pool.take(&*b).expect("nonce")));
        }
    }

    /// A responder's checker, an initiator's sending side towards it, the
    /// initiator's address, a time, and an initiation with its macs.
    struct Exchange {
        b: std::sync::Arc<dyn CryptoBackend>,
        responder: X25519PublicKey,
        checker: CookieChecker,
        sender: CookieState,
        src: SocketAddr,
        now: Duration,
        msg: Vec<u8>,
    }

    fn exchange(kind: BackendKind) -> Exchange {
        let b = backend(kind);
        let (_, responder) = b.x25519_generate().expect("keygen");
        let checker = CookieChecker::new(&*b, &responder);
        let mut sender = CookieState::new(&*b, &responder);
        let now = Duration::from_secs(10);
        let mut msg = vec![0u8; INITIATION_LEN];
        msg[0] = MSG_INITIATION;
        msg[4] = 77;
        sender.add_macs(&*b, now, &mut msg);
        Exchange {
            b,
            responder,
            checker,
            sender,
            src: "192.0.2.1:51820".parse().expect("addr"),
            now,
            msg,
        }
    }

    #[test]
    fn mac1_mac2_and_cookie_reply_round_trip() {
        let Exchange {
            b,
            checker,
            mut sender,
            src,
            now,
            mut msg,
            ..
        } = exchange(BackendKind::Libcrux);
        let p = Initiation::parse(&msg).expect("parse");
        assert!(checker.mac1_valid(&*b, &p.macs));
        assert!(!checker.mac2_valid(&*b, now, src, &p.macs).expect("mac2"));

        // Flip one bit of the covered bytes: mac1 fails.
        let mut bad = msg.clone();
        bad[20] ^= 1;
        assert!(!checker.mac1_valid(&*b, &Initiation::parse(&bad).expect("parse").macs));

        let mut reply = [0u8; COOKIE_REPLY_LEN];
        let n = checker
            .make_reply(&*b, now, src, 77, p.macs.mac1, &mut reply)
            .expect("reply");
        assert_eq!(n, 64);
        let parsed = CookieReply::parse(&reply).expect("parse reply");
        assert_eq!(parsed.receiver, 77);
        // A tampered reply is refused and stores nothing.
        let mut tampered = reply;
        tampered[40] ^= 1;
        assert!(sender
            .consume_reply(&*b, now, &CookieReply::parse(&tampered).expect("p"))
            .is_err());
        assert!(!sender.has_cookie());
        sender.consume_reply(&*b, now, &parsed).expect("cookie");
        // The same reply again (recorded and replayed later) is refused:
        // it would make the cookie look fresh.
        assert_eq!(
            sender.consume_reply(&*b, now + Duration::from_secs(100), &parsed),
            Err(ProtoError::UnexpectedResponse)
        );

        sender.add_macs(&*b, now, &mut msg);
        let p = Initiation::parse(&msg).expect("parse");
        assert!(checker.mac2_valid(&*b, now, src, &p.macs).expect("mac2"));
        // The cookie is bound to the source address and port.
        let other: SocketAddr = "192.0.2.1:51821".parse().expect("addr");
        assert!(!checker.mac2_valid(&*b, now, other, &p.macs).expect("mac2"));
        // And it expires with the secret after two minutes.
        let later = now + COOKIE_REFRESH_TIME;
        assert!(!checker.mac2_valid(&*b, later, src, &p.macs).expect("mac2"));
    }

    /// The two public helpers for tools that add mac2 themselves do what
    /// the device's own sending side does.
    #[test]
    fn the_public_cookie_helpers_agree_with_the_device() {
        let Exchange {
            b,
            responder,
            checker,
            mut sender,
            src,
            now,
            mut msg,
        } = exchange(BackendKind::AwsLc);
        let mac1: [u8; MAC_LEN] = msg[INITIATION_LEN - 32..INITIATION_LEN - 16]
            .try_into()
            .expect("mac1");

        let mut reply = [0u8; COOKIE_REPLY_LEN];
        checker
            .make_reply(&*b, now, src, 77, &mac1, &mut reply)
            .expect("reply");
        let parsed = CookieReply::parse(&reply).expect("parse reply");
        let cookie = open_cookie_reply(&*b, &responder, &parsed, &mac1).expect("cookie");
        let mut wrong = mac1;
        wrong[0] ^= 1;
        assert!(open_cookie_reply(&*b, &responder, &parsed, &wrong).is_err());

        let mac2 = mac2_with_cookie(&cookie, &msg[..INITIATION_LEN - 16]);
        sender.consume_reply(&*b, now, &parsed).expect("cookie");
        sender.add_macs(&*b, now, &mut msg);
        assert_eq!(&msg[INITIATION_LEN - 16..], &mac2[..]);
        let p = Initiation::parse(&msg).expect("parse");
        assert!(checker.mac2_valid(&*b, now, src, &p.macs).expect("mac2"));
    }
}
