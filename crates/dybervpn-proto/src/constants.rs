//! Constants fixed by the specification: WireGuard's (the paper, "WireGuard:
//! Next Generation Kernel Network Tunnel", §5.4 for the messages and §6.1 for
//! the timer table) and DyberVPN's additions (`docs/protocol.md` §2).
//!
//! Changing any of these breaks interoperability or the protocol's security
//! argument. Knobs that are ours to choose live in [`crate::tuning`].

use std::time::Duration;

// --- Limits and timers (paper §6.1) -------------------------------------------

/// After this many messages sent under one session, the initiator of the
/// next message starts a new handshake (paper §6.1, §6.2: 2^60).
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;

/// No message is sent or accepted with a counter at or past this value
/// (paper §6.1, §6.2: 2^64 − 2^13 − 1). The margin of 2^13 keeps every
/// counter of the replay window below `u64::MAX`.
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);

/// The initiator of a session starts a new handshake when it sends under a
/// session this old (paper §6.1, §6.3).
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);

/// A session this old is neither used to send nor to receive (paper §6.1,
/// §6.2).
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

/// How long handshake initiations are retried before giving up (paper §6.1,
/// §6.4).
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);

/// How long to wait for a response before retrying an initiation (paper
/// §6.1, §6.4).
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest random delay added to [`REKEY_TIMEOUT`] so two peers do not
/// retry in lockstep (paper §6.4: "up to 333 milliseconds of jitter").
pub const REKEY_TIMEOUT_JITTER_MAX: Duration = Duration::from_millis(333);

/// A peer that received data and sent nothing back for this long sends a
/// keepalive (paper §6.1, §6.5).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The lifetime of a cookie secret and of a received cookie (paper §6.1,
/// §5.4.7).
pub const COOKIE_REFRESH_TIME: Duration = Duration::from_secs(120);

/// The retry limit of one handshake attempt:
/// `REKEY_ATTEMPT_TIME / REKEY_TIMEOUT` = 18 (paper §6.4; the kernel's
/// `MAX_TIMER_HANDSHAKES`). As in the kernel, it is compared with the
/// retries already made before one more is sent, so an initiation is
/// retried 19 times before the handshake is abandoned.
pub const MAX_TIMER_HANDSHAKES: u32 =
    (REKEY_ATTEMPT_TIME.as_secs() / REKEY_TIMEOUT.as_secs()) as u32;

/// A received-side rekey is due when the initiator's current session is this
/// old: `REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT` = 165 s
/// (paper §6.3), so a new session is in place before the old one is rejected.
pub const REKEY_AFTER_TIME_RECEIVING: Duration = Duration::from_secs(
    REJECT_AFTER_TIME.as_secs() - KEEPALIVE_TIMEOUT.as_secs() - REKEY_TIMEOUT.as_secs(),
);

/// Key material of a peer is erased after this long without a new session:
/// `3 × REJECT_AFTER_TIME` (the kernel's and wireguard-go's zero-key timer).
pub const ZERO_KEYS_AFTER: Duration = Duration::from_secs(3 * REJECT_AFTER_TIME.as_secs());

// --- Message types (paper §5.4; docs/protocol.md §2 for 5..=8) -----------------

/// Classic handshake initiation (paper §5.4.2).
pub const MSG_INITIATION: u8 = 1;
/// Classic handshake response (paper §5.4.3).
pub const MSG_RESPONSE: u8 = 2;
/// Cookie reply (paper §5.4.7).
pub const MSG_COOKIE_REPLY: u8 = 3;
/// Transport data (paper §5.4.6).
pub const MSG_TRANSPORT: u8 = 4;
/// Hybrid (X25519 + ML-KEM-768) initiation (docs/protocol.md §2).
pub const MSG_HYBRID_INITIATION: u8 = 5;
/// Hybrid response (docs/protocol.md §2).
pub const MSG_HYBRID_RESPONSE: u8 = 6;
/// Pq-only (hybrid + ML-DSA-65) initiation (docs/protocol.md §2).
pub const MSG_PQ_INITIATION: u8 = 7;
/// Pq-only response (docs/protocol.md §2).
pub const MSG_PQ_RESPONSE: u8 = 8;

// --- Message sizes ---------------------------------------------------------------

/// Classic initiation: 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16 (paper
/// §5.4.2).
pub const INITIATION_SIZE: usize = 148;
/// Classic response: 4 + 4 + 4 + 32 + 16 + 16 + 16 (paper §5.4.3).
pub const RESPONSE_SIZE: usize = 92;
/// Cookie reply: 4 + 4 + 24 + (16 + 16) (paper §5.4.7).
pub const COOKIE_REPLY_SIZE: usize = 64;
/// Hybrid initiation: the classic one plus the 1184-byte ML-KEM-768
/// encapsulation key.
pub const HYBRID_INITIATION_SIZE: usize = 1332;
/// Hybrid response: the classic one plus the 1088-byte ML-KEM-768
/// ciphertext.
pub const HYBRID_RESPONSE_SIZE: usize = 1180;
/// Pq-only initiation: the hybrid one plus a 3309-byte ML-DSA-65 signature.
pub const PQ_INITIATION_SIZE: usize = 4641;
/// Pq-only response: the hybrid one plus a 3309-byte ML-DSA-65 signature.
pub const PQ_RESPONSE_SIZE: usize = 4489;

/// Transport header: type(1) reserved(3) receiver(4) counter(8) (paper
/// §5.4.6).
pub const TRANSPORT_HEADER_SIZE: usize = 16;
/// The Poly1305 tag that ends every transport message.
pub const TRANSPORT_TAG_SIZE: usize = 16;
/// A keepalive: a transport message with an empty payload.
pub const KEEPALIVE_SIZE: usize = TRANSPORT_HEADER_SIZE + TRANSPORT_TAG_SIZE;
/// Transport plaintexts are zero-padded to a multiple of this (paper §5.4.6),
/// never beyond the MTU.
pub const PADDING_MULTIPLE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_match_the_paper() {
        assert_eq!(REJECT_AFTER_MESSAGES, u64::MAX - 8192);
        // 2^64 − 2^13 − 1, computed in u128 so nothing wraps.
        assert_eq!(
            u128::from(REJECT_AFTER_MESSAGES),
            (1u128 << 64) - (1 << 13) - 1
        );
        assert_eq!(MAX_TIMER_HANDSHAKES, 18);
        assert_eq!(REKEY_AFTER_TIME_RECEIVING, Duration::from_secs(165));
        assert_eq!(ZERO_KEYS_AFTER, Duration::from_secs(540));
        assert_eq!(KEEPALIVE_SIZE, 32);
    }

    #[test]
    fn sizes_add_up() {
        assert_eq!(
            INITIATION_SIZE,
            4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16
        );
        assert_eq!(RESPONSE_SIZE, 4 + 4 + 4 + 32 + 16 + 16 + 16);
        assert_eq!(COOKIE_REPLY_SIZE, 4 + 4 + 24 + 16 + 16);
        assert_eq!(HYBRID_INITIATION_SIZE, INITIATION_SIZE + 1184);
        assert_eq!(HYBRID_RESPONSE_SIZE, RESPONSE_SIZE + 1088);
        assert_eq!(PQ_INITIATION_SIZE, HYBRID_INITIATION_SIZE + 3309);
        assert_eq!(PQ_RESPONSE_SIZE, HYBRID_RESPONSE_SIZE + 3309);
    }
}
