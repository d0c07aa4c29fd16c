//! Time since boot, time asleep included.
//!
//! The core measures session ages, rekey and expiry on the monotonic time
//! the daemon gives it. The standard library's `Instant` is
//! `CLOCK_MONOTONIC` on Linux, which stops while the machine is suspended:
//! after a night asleep a session would look minutes old and be used,
//! though the peer, which did not sleep, expired it long ago (180 s). The
//! kernel module dates sessions with `CLOCK_BOOTTIME` for that reason, and
//! so does the daemon where it can.

use std::time::Duration;

/// `CLOCK_BOOTTIME` on Linux; `None` elsewhere, or if the call fails.
#[must_use]
#[allow(unsafe_code)]
pub fn since_boot() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec that lives across the
        // call; clock_gettime writes only it and keeps no pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        if rc != 0 {
            return None;
        }
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::since_boot;

    /// The same clock as `/proc/uptime`'s first field (time since boot,
    /// suspend included), and it never goes back.
    #[test]
    fn reads_the_clock_proc_uptime_reads() {
        let uptime = |text: String| -> f64 {
            text.split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("uptime")
        };
        let before = uptime(std::fs::read_to_string("/proc/uptime").expect("/proc/uptime"));
        let ours = since_boot().expect("CLOCK_BOOTTIME").as_secs_f64();
        let after = uptime(std::fs::read_to_string("/proc/uptime").expect("/proc/uptime"));
        // /proc/uptime has centisecond resolution.
        assert!(
            ours >= before - 0.01 && ours <= after + 0.01,
            "{before} {ours} {after}"
        );
        let mut last = since_boot().expect("clock");
        for _ in 0..1000 {
            let now = since_boot().expect("clock");
            assert!(now >= last);
            last = now;
        }
    }
}
