//! TAI64N timestamps, the anti-replay field of handshake initiations (paper
//! §5.1, §5.4.2).
//!
//! Twelve bytes: a big-endian 64-bit TAI64 label (seconds) followed by a
//! big-endian 32-bit nanosecond count. The label of a Unix time `t` is
//! `2^62 + 10 + t`: 2^62 marks a time after 1970 in TAI64, and 10 s is
//! TAI − UTC as of 1972. Like the kernel and wireguard-go we ignore the leap
//! seconds since, so our bytes equal theirs for the same clock.
//!
//! A responder accepts an initiation only if its timestamp is strictly
//! greater than the last one accepted from that peer, so comparison is all
//! that matters. Big-endian fields make the byte order the numeric order,
//! and [`Tai64n`]'s `Ord` is that byte order.
//!
//! **Whitening.** The nanoseconds are rounded down to a multiple of 2^24 ns
//! (about 16.8 ms), as wireguard-go does (the kernel rounds to the same
//! power of two). The initiation is encrypted, but the responder — or
//! whoever later learns its static key — would otherwise read our clock to
//! the nanosecond, which helps fingerprint a host and can leak timing of
//! local events. 16.8 ms is below the 20 ms flood limit
//! ([`crate::tuning::MIN_INITIATION_INTERVAL`]), so two initiations the
//! responder could accept still carry different timestamps.

use std::time::Duration;

/// The TAI64 label of the Unix epoch: 2^62 + 10.
const TAI64_UNIX_EPOCH: u64 = (1 << 62) + 10;

/// Nanosecond bits cleared by whitening (2^24 ns ≈ 16.8 ms).
const WHITENER_MASK: u32 = (1 << 24) - 1;

/// Length of a TAI64N timestamp.
pub const TAI64N_LEN: usize = 12;

/// A TAI64N timestamp; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tai64n([u8; TAI64N_LEN]);

impl Tai64n {
    /// The whitened timestamp of a wall-clock time given as the time since
    /// the Unix epoch (`Now::unix`).
    #[must_use]
    pub fn from_unix(unix: Duration) -> Self {
        let seconds = TAI64_UNIX_EPOCH.saturating_add(unix.as_secs());
        let nanos = unix.subsec_nanos() & !WHITENER_MASK;
        let mut bytes = [0u8; TAI64N_LEN];
        let (s, n) = bytes.split_at_mut(8);
        s.copy_from_slice(&seconds.to_be_bytes());
        n.copy_from_slice(&nanos.to_be_bytes());
        Self(bytes)
    }

    /// Wraps 12 bytes received in an initiation (any value is accepted;
    /// only its order matters).
    #[must_use]
    pub fn from_bytes(bytes: [u8; TAI64N_LEN]) -> Self {
        Self(bytes)
    }

    /// Copies a 12-byte slice; `None` for any other length.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The wire encoding.
    #[must_use]
    pub fn to_bytes(self) -> [u8; TAI64N_LEN] {
        self.0
    }

    /// The wire encoding, borrowed.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; TAI64N_LEN] {
        &self.0
    }

    /// Whether `self` is strictly later than `last`: the responder's test
    /// for a fresh (non-replayed) initiation.
    #[must_use]
    pub fn is_after(&self, last: &Tai64n) -> bool {
        self > last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_wireguard() {
        // 2021-01-01T00:00:00.123456789Z
        let t = Tai64n::from_unix(Duration::new(1_609_459_200, 123_456_789));
        let b = t.to_bytes();
        assert_eq!(
            &b[..8],
            &(0x4000_0000_0000_000a_u64 + 1_609_459_200).to_be_bytes()
        );
        // 123456789 rounded down to a multiple of 2^24 = 7 × 16777216.
        assert_eq!(u32::from_be_bytes([b[8], b[9], b[10], b[11]]), 117_440_512);
        assert_eq!(Tai64n::from_bytes(b), t);
        assert_eq!(Tai64n::from_slice(&b), Some(t));
        assert_eq!(Tai64n::from_slice(&b[..11]), None);
        assert_eq!(
            Tai64n::from_unix(Duration::ZERO).to_bytes(),
            [0x40, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0]
        );
    }

    #[test]
    fn whitening_hides_the_low_bits() {
        let a = Tai64n::from_unix(Duration::new(5, 0));
        let b = Tai64n::from_unix(Duration::new(5, (1 << 24) - 1));
        assert_eq!(a, b);
        let c = Tai64n::from_unix(Duration::new(5, 1 << 24));
        assert!(c.is_after(&a));
    }

    #[test]
    fn order_is_time_order() {
        let times = [
            Duration::new(0, 0),
            Duration::new(0, 999_999_999),
            Duration::new(1, 0),
            Duration::new(255, 0),
            Duration::new(256, 20_000_000),
            Duration::new(1_700_000_000, 0),
            Duration::new(1_700_000_000, 40_000_000),
        ];
        for w in times.windows(2) {
            let (a, b) = (Tai64n::from_unix(w[0]), Tai64n::from_unix(w[1]));
            assert!(b.is_after(&a), "{:?} then {:?}", w[0], w[1]);
            assert!(!a.is_after(&b));
            assert!(!a.is_after(&a), "strictly");
        }
        // Initiations at least the flood limit apart always differ.
        for i in 0..1000u64 {
            let t = Duration::from_nanos(1_700_000_000_000_000_000 + i * 7_919_993);
            let u = t + crate::tuning::MIN_INITIATION_INTERVAL;
            assert!(Tai64n::from_unix(u).is_after(&Tai64n::from_unix(t)));
        }
    }
}
