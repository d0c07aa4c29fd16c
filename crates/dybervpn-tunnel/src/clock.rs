//! The real clock the daemon feeds the sans-IO core.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dybervpn_proto::Now;

use crate::os::boottime::since_boot;

/// Monotonic time since the device started, plus wall-clock time.
///
/// The monotonic part counts time asleep where the system can say
/// (`CLOCK_BOOTTIME` on Linux, see `os/boottime.rs`), so sessions age
/// through a suspend as they do on the peer; elsewhere it is `Instant`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Time since boot when the clock was made, if the system tells it.
    boot: Option<Duration>,
    origin: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose monotonic origin is now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            boot: since_boot(),
            origin: Instant::now(),
        }
    }

    /// The current time. A wall clock set before 1970 reads as the epoch;
    /// it only feeds TAI64N timestamps.
    #[must_use]
    pub fn now(&self) -> Now {
        let boot = self
            .boot
            .and_then(|start| Some(since_boot()?.saturating_sub(start)));
        Now {
            mono: boot.unwrap_or_else(|| self.origin.elapsed()),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn monotonic_part_never_goes_back() {
        let c = Clock::new();
        let mut last = c.now().mono;
        for _ in 0..1000 {
            let t = c.now();
            assert!(t.mono >= last);
            assert!(t.unix.as_secs() > 1_600_000_000);
            last = t.mono;
        }
    }
}
