//! Rate limiting for warnings a peer (or anyone on the internet) can cause,
//! so a flood of bad packets cannot fill the disk with log lines.
//!
//! Each key (typically a drop reason and a source address) may log
//! [`LimitConfig::burst`] lines per [`LimitConfig::interval`]; further events
//! in that window are counted, not logged. The count is reported on the
//! key's next logged line (`suppressed = K`) or by [`RateLimiter::expire`]
//! once the window has ended. The number of keys tracked is bounded too:
//! when the table is full, events for new keys are only counted.
//!
//! [`RateLimiter`] takes the time from its caller (tested with a virtual
//! clock); [`WarnLimiter`] is the thread-safe wrapper that reads the clock.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    /// Lines logged per key per interval.
    pub burst: u32,
    /// The window length.
    pub interval: Duration,
    /// The most keys tracked at once.
    pub max_keys: usize,
}

impl Default for LimitConfig {
    /// Tuning: five lines per key per ten seconds, 4,096 keys. A full table
    /// costs well under a megabyte.
    fn default() -> Self {
        Self {
            burst: 5,
            interval: Duration::from_secs(10),
            max_keys: 4096,
        }
    }
}

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Log it, mentioning how many similar events were suppressed since
    /// this key last logged (0 for none).
    Log {
        /// Events suppressed in the key's previous window.
        suppressed: u64,
    },
    /// Count it, do not log it.
    Suppress,
}

/// Suppressed counts whose windows have ended, from [`RateLimiter::expire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary<K> {
    /// Keys whose ended window suppressed at least one event, with the count.
    pub suppressed: Vec<(K, u64)>,
    /// Events not logged because the key table was full.
    pub untracked: u64,
}

impl<K> Summary<K> {
    /// Whether there is nothing to report.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.suppressed.is_empty() && self.untracked == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Duration,
    logged: u32,
    suppressed: u64,
}

/// The sans-clock core: every call takes `now`, a monotonic time.
#[derive(Debug)]
pub struct RateLimiter<K> {
    config: LimitConfig,
    windows: HashMap<K, Window>,
    untracked: u64,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// An empty limiter.
    #[must_use]
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config,
            windows: HashMap::new(),
            untracked: 0,
        }
    }

    /// Decides whether an event for `key` at `now` is logged.
    pub fn check(&mut self, key: K, now: Duration) -> Decision {
        let interval = self.config.interval;
        if !self.windows.contains_key(&key) && self.windows.len() >= self.config.max_keys {
            self.evict_ended(now);
            if self.windows.len() >= self.config.max_keys {
                self.untracked = self.untracked.saturating_add(1);
                return Decision::Suppress;
            }
        }
        let window = self.windows.entry(key).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.saturating_sub(window.start) >= interval {
            let suppressed = window.suppressed;
            *window = Window {
                start: now,
                logged: 1,
                suppressed: 0,
            };
            return Decision::Log { suppressed };
        }
        if window.logged < self.config.burst {
            window.logged += 1;
            Decision::Log { suppressed: 0 }
        } else {
            window.suppressed = window.suppressed.saturating_add(1);
            Decision::Suppress
        }
    }

    /// Forgets every window that has ended by `now` and returns the counts
    /// they suppressed, so they can be reported even if the key never logs
    /// again. Call it now and then (for example on the daemon's timer tick).
    pub fn expire(&mut self, now: Duration) -> Summary<K> {
        let interval = self.config.interval;
        let mut suppressed = Vec::new();
        self.windows.retain(|key, w| {
            let ended = now.saturating_sub(w.start) >= interval;
            if ended && w.suppressed > 0 {
                suppressed.push((key.clone(), w.suppressed));
            }
            !ended
        });
        Summary {
            suppressed,
            untracked: std::mem::take(&mut self.untracked),
        }
    }

    /// Keys tracked now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Makes room by dropping ended windows; their suppressed counts move to
    /// `untracked` so they are still reported.
    fn evict_ended(&mut self, now: Duration) {
        let interval = self.config.interval;
        let mut lost = 0u64;
        self.windows.retain(|_, w| {
            let ended = now.saturating_sub(w.start) >= interval;
            if ended {
                lost = lost.saturating_add(w.suppressed);
            }
            !ended
        });
        self.untracked = self.untracked.saturating_add(lost);
    }
}

/// A [`RateLimiter`] shared between threads, reading the monotonic clock.
///
/// ```
/// use std::net::IpAddr;
/// use dybervpn_metrics::{DropReason, ratelimit::{WarnLimiter, LimitConfig}};
///
/// let limiter: WarnLimiter<(DropReason, IpAddr)> = WarnLimiter::new(LimitConfig::default());
/// let source: IpAddr = [192, 0, 2, 7].into();
/// if let Some(suppressed) = limiter.admit((DropReason::BadMac1, source)) {
///     tracing::warn!(reason = "bad_mac1", %source, suppressed, "dropped handshake message");
/// }
/// // On the timer tick:
/// limiter.log_summaries();
/// ```
#[derive(Debug)]
pub struct WarnLimiter<K> {
    origin: Instant,
    inner: Mutex<RateLimiter<K>>,
}

impl<K: Hash + Eq + Clone + Debug> WarnLimiter<K> {
    /// An empty limiter whose clock starts now.
    #[must_use]
    pub fn new(config: LimitConfig) -> Self {
        Self {
            origin: Instant::now(),
            inner: Mutex::new(RateLimiter::new(config)),
        }
    }

    /// `Some(suppressed)` when the caller should log this event (with
    /// `suppressed` as a field), `None` when it should stay quiet.
    #[must_use]
    pub fn admit(&self, key: K) -> Option<u64> {
        let now = self.origin.elapsed();
        let decision = self
            .inner
            .lock()
            .map(|mut l| l.check(key, now))
            .unwrap_or(Decision::Suppress);
        match decision {
            Decision::Log { suppressed } => Some(suppressed),
            Decision::Suppress => None,
        }
    }

    /// Logs one `warn` line per key whose ended window suppressed events,
    /// and one for events not tracked because the table was full.
    pub fn log_summaries(&self) {
        let now = self.origin.elapsed();
        let Ok(summary) = self.inner.lock().map(|mut l| l.expire(now)) else {
            return;
        };
        for (key, suppressed) in &summary.suppressed {
            tracing::warn!(key = ?key, suppressed, "suppressed {suppressed} similar messages");
        }
        if summary.untracked > 0 {
            let untracked = summary.untracked;
            tracing::warn!(
                suppressed = untracked,
                "suppressed {untracked} messages from too many distinct sources"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn limiter(burst: u32, max_keys: usize) -> RateLimiter<&'static str> {
        RateLimiter::new(LimitConfig {
            burst,
            interval: Duration::from_secs(10),
            max_keys,
        })
    }

    fn logged(d: Decision) -> bool {
        matches!(d, Decision::Log { .. })
    }

    #[test]
    fn a_flood_logs_burst_lines_per_interval() {
        let mut l = limiter(3, 16);
        // 1,000 events in one second: three logged.
        let n = (0..1000)
            .filter(|i| logged(l.check("bad_mac1", MS(*i))))
            .count();
        assert_eq!(n, 3);
        // The next window's first line reports the 997 suppressed.
        assert_eq!(
            l.check("bad_mac1", MS(10_000)),
            Decision::Log { suppressed: 997 }
        );
        assert_eq!(
            l.check("bad_mac1", MS(10_001)),
            Decision::Log { suppressed: 0 }
        );
    }

    #[test]
    fn keys_are_limited_independently() {
        let mut l = limiter(1, 16);
        assert!(logged(l.check("a", MS(0))));
        assert!(!logged(l.check("a", MS(1))));
        assert!(logged(l.check("b", MS(2))));
    }

    #[test]
    fn expire_reports_windows_that_ended_and_forgets_them() {
        let mut l = limiter(1, 16);
        let _ = l.check("a", MS(0));
        let _ = l.check("a", MS(1));
        let _ = l.check("a", MS(2));
        let _ = l.check("b", MS(5_000));
        assert!(l.expire(MS(9_999)).is_empty());
        let s = l.expire(MS(10_000));
        assert_eq!(s.suppressed, vec![("a", 2)]);
        assert_eq!(l.len(), 1, "b's window is still open");
        // Reported once only; the key starts afresh.
        assert!(l.expire(MS(20_000)).is_empty());
        assert!(l.is_empty());
        assert_eq!(l.check("a", MS(20_001)), Decision::Log { suppressed: 0 });
    }

    #[test]
    fn the_key_table_is_bounded() {
        let mut l: RateLimiter<u32> = RateLimiter::new(LimitConfig {
            burst: 1,
            interval: Duration::from_secs(10),
            max_keys: 4,
        });
        // A spoofed flood from 1,000 sources.
        let n = (0..1000u32).filter(|k| logged(l.check(*k, MS(0)))).count();
        assert_eq!(n, 4);
        assert_eq!(l.len(), 4);
        // Known keys keep their own budget.
        assert!(!logged(l.check(0, MS(1))));
        let s = l.expire(MS(1));
        assert_eq!(s.untracked, 996);
        // Once windows end, new keys get room again.
        assert!(logged(l.check(5000, MS(10_000))));
    }

    #[test]
    fn evicted_counts_are_not_lost() {
        let mut l: RateLimiter<u32> = RateLimiter::new(LimitConfig {
            burst: 1,
            interval: Duration::from_secs(10),
            max_keys: 1,
        });
        let _ = l.check(1, MS(0));
        let _ = l.check(1, MS(1)); // suppressed
        assert!(logged(l.check(2, MS(10_000)))); // evicts key 1's ended window
        assert_eq!(l.expire(MS(10_000)).untracked, 1);
    }

    #[test]
    fn time_going_backwards_does_not_reopen_windows() {
        let mut l = limiter(1, 4);
        let _ = l.check("a", MS(5_000));
        assert!(!logged(l.check("a", MS(0))));
    }

    #[test]
    fn the_wrapper_admits_the_burst_then_stays_quiet() {
        let w: WarnLimiter<&str> = WarnLimiter::new(LimitConfig {
            burst: 2,
            interval: Duration::from_secs(3600),
            max_keys: 8,
        });
        assert_eq!(w.admit("replay"), Some(0));
        assert_eq!(w.admit("replay"), Some(0));
        assert_eq!(w.admit("replay"), None);
        w.log_summaries(); // nothing ended yet; must not panic
    }
}
