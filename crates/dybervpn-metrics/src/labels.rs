//! The closed sets of label values used by the metrics.
//!
//! Every label except `peer` takes its value from one of these enums, so the
//! number of series each metric can have is fixed at compile time. The
//! spellings are the ones the configuration file and `docs/protocol.md` use.

use std::fmt;
use std::str::FromStr;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// Implements `Display`, `FromStr`, `EncodeLabelValue` and an `ALL` list for a
/// label enum from its `as_str` table.
macro_rules! label_enum {
    ($ty:ident, $what:literal) => {
        impl $ty {
            /// Parses the label spelling (the inverse of `as_str`).
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownLabel;

            fn from_str(s: &str) -> Result<Self, UnknownLabel> {
                Self::from_name(s).ok_or(UnknownLabel { what: $what })
            }
        }

        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
                fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

/// A string that names none of a label enum's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabel {
    what: &'static str,
}

impl fmt::Display for UnknownLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}", self.what)
    }
}

impl std::error::Error for UnknownLabel {}

/// The handshake mode, label `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeMode {
    /// `classic`: WireGuard's Noise IKpsk2.
    Classic,
    /// `hybrid`: X25519 and ML-KEM-768.
    Hybrid,
    /// `pq-only`: hybrid plus ML-DSA-65 signatures.
    PqOnly,
}

impl HandshakeMode {
    /// Every mode.
    pub const ALL: [Self; 3] = [Self::Classic, Self::Hybrid, Self::PqOnly];

    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Hybrid => "hybrid",
            Self::PqOnly => "pq-only",
        }
    }
}
label_enum!(HandshakeMode, "handshake mode");

/// Which side of the handshake this daemon played, label `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the initiation.
    Initiator,
    /// We answered an initiation.
    Responder,
}

impl Role {
    /// Both roles.
    pub const ALL: [Self; 2] = [Self::Initiator, Self::Responder];

    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiator => "initiator",
            Self::Responder => "responder",
        }
    }
}
label_enum!(Role, "handshake role");

/// How a handshake ended, label `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeResult {
    /// Both sides derived session keys.
    Success,
    /// A message failed authentication or decryption, or was malformed.
    Failure,
    /// The initiator gave up waiting for a response (REKEY_TIMEOUT).
    Timeout,
    /// The message was valid but refused by policy (mode downgrade, stale
    /// timestamp, rate limit).
    Refused,
}

impl HandshakeResult {
    /// Every result.
    pub const ALL: [Self; 4] = [Self::Success, Self::Failure, Self::Timeout, Self::Refused];

    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
        }
    }
}
label_enum!(HandshakeResult, "handshake result");

/// Why a packet or handshake message was dropped, label `reason`.
///
/// Every variant has a series from start-up (at zero), so `rate()` works
/// before the first drop and a dashboard shows every reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Too short, wrong length for its type, or an unknown message type.
    Malformed,
    /// A handshake message whose mac1 did not verify (not for us).
    BadMac1,
    /// Under load, a handshake message without a valid mac2; a cookie reply
    /// was sent instead of an answer.
    CookieRequired,
    /// A handshake message over the per-source rate limit.
    RateLimited,
    /// A handshake from a static key that is not a configured peer.
    UnknownPeer,
    /// A handshake initiation whose timestamp is not newer than the last
    /// one from that peer (a replayed initiation).
    StaleTimestamp,
    /// A handshake in a weaker mode than the peer is configured for.
    DowngradeRefused,
    /// A handshake message or cookie reply that failed decryption,
    /// signature or key checks.
    HandshakeAuthFailure,
    /// A transport message whose receiver index matches no session.
    UnknownIndex,
    /// A transport message whose counter was already seen or is too old.
    Replay,
    /// A transport message that failed AEAD decryption.
    DecryptionFailure,
    /// A transport message on a session past REJECT_AFTER_TIME or
    /// REJECT_AFTER_MESSAGES.
    KeysExpired,
    /// A decrypted packet whose inner source address is not in the
    /// sending peer's allowed IPs.
    SourceNotAllowed,
    /// An outgoing packet whose destination matches no peer's allowed IPs.
    NoRoute,
    /// An outgoing packet dropped because the queue waiting for a
    /// handshake was full.
    QueueFull,
    /// A received handshake message dropped because the daemon's handshake
    /// queue was full (the worker was behind: a flood, or more handshakes
    /// than the CPU can answer).
    HandshakeQueueFull,
    /// A local failure (a buffer too small, a crypto backend error).
    Other,
}

impl DropReason {
    /// Every reason, in the order they are encoded.
    pub const ALL: [Self; 17] = [
        Self::Malformed,
        Self::BadMac1,
        Self::CookieRequired,
        Self::RateLimited,
        Self::UnknownPeer,
        Self::StaleTimestamp,
        Self::DowngradeRefused,
        Self::HandshakeAuthFailure,
        Self::UnknownIndex,
        Self::Replay,
        Self::DecryptionFailure,
        Self::KeysExpired,
        Self::SourceNotAllowed,
        Self::NoRoute,
        Self::QueueFull,
        Self::HandshakeQueueFull,
        Self::Other,
    ];

    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadMac1 => "bad_mac1",
            Self::CookieRequired => "cookie_required",
            Self::RateLimited => "rate_limited",
            Self::UnknownPeer => "unknown_peer",
            Self::StaleTimestamp => "stale_timestamp",
            Self::DowngradeRefused => "downgrade_refused",
            Self::HandshakeAuthFailure => "handshake_auth_failure",
            Self::UnknownIndex => "unknown_index",
            Self::Replay => "replay",
            Self::DecryptionFailure => "decryption_failure",
            Self::KeysExpired => "keys_expired",
            Self::SourceNotAllowed => "source_not_allowed",
            Self::NoRoute => "no_route",
            Self::QueueFull => "queue_full",
            Self::HandshakeQueueFull => "handshake_queue_full",
            Self::Other => "other",
        }
    }

    /// The position of this reason in [`DropReason::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
label_enum!(DropReason, "drop reason");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in HandshakeMode::ALL {
            assert_eq!(m.as_str().parse::<HandshakeMode>(), Ok(m));
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        for r in HandshakeResult::ALL {
            assert_eq!(r.as_str().parse::<HandshakeResult>(), Ok(r));
        }
        for r in DropReason::ALL {
            assert_eq!(r.as_str().parse::<DropReason>(), Ok(r));
        }
        assert_eq!(
            "pqonly".parse::<HandshakeMode>().map_err(|e| e.to_string()),
            Err("unknown handshake mode".to_owned())
        );
    }

    #[test]
    fn drop_reason_index_matches_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
