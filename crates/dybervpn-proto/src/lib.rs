//! DyberVPN's protocol core: WireGuard's handshake and data plane, with the
//! hybrid (ML-KEM-768) and pq-only (ML-KEM-768 + ML-DSA-65) modes.
//!
//! The core is sans-IO: it never reads a clock, opens a socket or spawns a
//! thread. Callers pass the current time ([`Now`]), datagrams and output
//! buffers, and get back what to send or deliver. `docs/protocol.md` is the
//! specification this code follows.
#![forbid(unsafe_code)]

pub mod constants;
mod cookie;
mod device;
mod error;
mod handshake;
pub mod keyring;
pub mod messages;
mod mode;
mod peer;
pub mod ratelimit;
pub mod replay;
pub mod session;
mod stats;
pub mod tai64n;
pub mod timers;
pub mod transport;
pub mod tuning;

#[cfg(any(test, feature = "insecure-test-backend"))]
pub mod insecure_backend;

pub use cookie::{mac2_with_cookie, open_cookie_reply};
pub use device::{Action, Device, DEFAULT_MTU};
pub use error::{ConfigError, ErrorKind, ProtoError};
pub use mode::Mode;
pub use peer::{PeerConfig, PeerId};
pub use stats::{DropReason, PeerStats};

use std::time::Duration;

/// The current time, supplied by the caller on every call that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Now {
    /// Monotonic time since an arbitrary origin fixed for the device's life.
    /// All timers are computed from this.
    pub mono: Duration,
    /// Wall-clock time since the Unix epoch; used only for the TAI64N
    /// timestamp in handshake initiations.
    pub unix: Duration,
}
