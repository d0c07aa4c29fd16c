//! The per-source rate limiter for handshake messages under load (paper
//! §5.3; the kernel's `ratelimiter.c`, wireguard-go's `ratelimiter`).
//!
//! One token bucket per source: an IPv4 address, or an IPv6 /64 (one host
//! usually controls a whole /64, so per-address buckets would let it spend
//! 2^64 of them). IPv4-mapped IPv6 addresses count as the IPv4 address.
//! A bucket refills at [`RATE_LIMIT_PACKETS_PER_SECOND`] and holds at most
//! [`RATE_LIMIT_BURST`] packets; time is counted in nanoseconds so the
//! arithmetic is exact.
//!
//! Memory is bounded: buckets idle for [`RATE_LIMIT_GC_INTERVAL`] are
//! removed (an idle bucket is full again long before, so forgetting it
//! changes nothing), collection runs at most once per that interval as the
//! caller's time advances, and the table never exceeds its cap. While it
//! is full, new sources are refused until the next collection — failing
//! closed, as the kernel does, and without a scan per refused message. The table is a `HashMap` with std's randomly keyed
//! SipHash, so sources an attacker chooses cannot be made to collide.
//!
//! Sans-IO: the caller passes monotonic time to every call.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::tuning::{
    RATE_LIMIT_BURST, RATE_LIMIT_GC_INTERVAL, RATE_LIMIT_MAX_ENTRIES, RATE_LIMIT_PACKETS_PER_SECOND,
};

/// Nanoseconds of refill one packet costs.
const PACKET_COST: u64 = 1_000_000_000 / RATE_LIMIT_PACKETS_PER_SECOND;
/// A full bucket.
const TOKEN_MAX: u64 = PACKET_COST * RATE_LIMIT_BURST;

/// The unit a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    /// The upper 64 bits of the address.
    V6(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) >> 64;
                // The shift leaves 64 bits, so the conversion cannot fail.
                Self::V6(u64::try_from(bits).unwrap_or(u64::MAX))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Nanoseconds of credit, at most `TOKEN_MAX`.
    tokens: u64,
    last: Duration,
}

/// Per-source token buckets; see the module documentation.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<Source, Bucket>,
    max_entries: usize,
    last_gc: Duration,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// A limiter tracking at most `RATE_LIMIT_MAX_ENTRIES` sources.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_entries(RATE_LIMIT_MAX_ENTRIES)
    }

    /// A limiter tracking at most `max_entries` sources.
    #[must_use]
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            buckets: HashMap::new(),
            max_entries,
            last_gc: Duration::ZERO,
        }
    }

    /// Whether a handshake message from `ip` may be processed at `now`;
    /// takes a token if so.
    #[must_use]
    pub fn allow(&mut self, now: Duration, ip: IpAddr) -> bool {
        self.collect_if_due(now);
        let source = Source::of(ip);
        if let Some(bucket) = self.buckets.get_mut(&source) {
            let elapsed = now.saturating_sub(bucket.last).as_nanos();
            let refill = u64::try_from(elapsed).unwrap_or(u64::MAX);
            bucket.tokens = bucket.tokens.saturating_add(refill).min(TOKEN_MAX);
            bucket.last = now;
            return match bucket.tokens.checked_sub(PACKET_COST) {
                Some(left) => {
                    bucket.tokens = left;
                    true
                }
                None => false,
            };
        }
        // Full: refused until the next collection, at most a second away.
        // Collecting here instead would scan the whole table (65,536
        // entries) for every message from a new source while it stays
        // full, which is what a flood from many addresses would make it.
        if self.buckets.len() >= self.max_entries {
            return false;
        }
        self.buckets.insert(
            source,
            Bucket {
                tokens: TOKEN_MAX - PACKET_COST,
                last: now,
            },
        );
        true
    }

    /// Collects (see [`RateLimiter::collect`]) if the last collection was
    /// `RATE_LIMIT_GC_INTERVAL` or more ago: a scan of the table at most
    /// once per interval, however often this is called. `allow` calls it;
    /// so may a caller's periodic work.
    pub fn collect_if_due(&mut self, now: Duration) {
        if now.saturating_sub(self.last_gc) >= RATE_LIMIT_GC_INTERVAL {
            self.collect(now);
        }
    }

    /// Removes buckets idle for `RATE_LIMIT_GC_INTERVAL` or longer, now.
    pub fn collect(&mut self, now: Duration) {
        self.last_gc = now;
        self.buckets
            .retain(|_, b| now.saturating_sub(b.last) < RATE_LIMIT_GC_INTERVAL);
    }

    /// Sources currently tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const COST: Duration = Duration::from_nanos(PACKET_COST);

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// The kernel selftest's sequence: a burst of 5, refused, one more
    /// after 1/20 s, refused, two more after 2/20 s, refused.
    fn kernel_sequence(rl: &mut RateLimiter, start: Duration, ip: IpAddr) {
        let burst = usize::try_from(RATE_LIMIT_BURST).expect("small");
        let mut expected: Vec<(bool, Duration)> = vec![(true, Duration::ZERO); burst];
        expected.extend([
            (false, Duration::ZERO),
            (true, COST),
            (false, Duration::ZERO),
            (true, 2 * COST),
            (true, Duration::ZERO),
            (false, Duration::ZERO),
        ]);
        let mut now = start;
        for (i, (allowed, wait)) in expected.into_iter().enumerate() {
            now += wait;
            assert_eq!(rl.allow(now, ip), allowed, "packet {i} from {ip}");
        }
    }

    #[test]
    fn kernel_selftest_sequence_v4_and_v6() {
        let mut rl = RateLimiter::new();
        let t = Duration::from_secs(100);
        kernel_sequence(&mut rl, t, v4(192, 168, 1, 1));
        // Another source has its own bucket.
        kernel_sequence(&mut rl, t, v4(192, 168, 1, 2));
        let six = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1));
        kernel_sequence(&mut rl, t, six);
    }

    #[test]
    fn refill_is_capped_at_the_burst() {
        let mut rl = RateLimiter::new();
        let ip = v4(10, 0, 0, 1);
        let t = Duration::from_secs(5);
        for _ in 0..RATE_LIMIT_BURST {
            assert!(rl.allow(t, ip));
        }
        assert!(!rl.allow(t, ip));
        // A long pause (but under the GC interval) refills only the burst.
        let later = t + Duration::from_millis(900);
        for _ in 0..RATE_LIMIT_BURST {
            assert!(rl.allow(later, ip));
        }
        assert!(!rl.allow(later, ip));
    }

    #[test]
    fn steady_rate_is_twenty_per_second() {
        let mut rl = RateLimiter::new();
        let ip = v4(10, 0, 0, 1);
        let mut now = Duration::from_secs(1);
        let mut allowed = 0;
        // Offer 1000 packets per second for 10 s.
        for _ in 0..10_000 {
            now += Duration::from_millis(1);
            allowed += u64::from(rl.allow(now, ip));
        }
        let most = 10 * RATE_LIMIT_PACKETS_PER_SECOND + RATE_LIMIT_BURST;
        assert!(allowed <= most && allowed >= most - 2, "{allowed}");
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        let mut rl = RateLimiter::new();
        let t = Duration::from_secs(1);
        for host in 0..RATE_LIMIT_BURST {
            let ip = IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                7,
                0xdead,
                0,
                0,
                host as u16,
            ));
            assert!(rl.allow(t, ip));
        }
        let same64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 1, 2, 3, 4));
        assert!(!rl.allow(t, same64));
        let other64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 8, 1, 2, 3, 4));
        assert!(rl.allow(t, other64));
        assert_eq!(rl.len(), 2);
    }

    #[test]
    fn ipv4_mapped_counts_as_ipv4() {
        let mut rl = RateLimiter::new();
        let t = Duration::from_secs(1);
        let ip = Ipv4Addr::new(203, 0, 113, 9);
        for _ in 0..RATE_LIMIT_BURST {
            assert!(rl.allow(t, IpAddr::V4(ip)));
        }
        assert!(!rl.allow(t, IpAddr::V6(ip.to_ipv6_mapped())));
    }

    #[test]
    fn idle_entries_are_collected() {
        let mut rl = RateLimiter::new();
        let t = Duration::from_secs(1);
        for i in 0..100u8 {
            assert!(rl.allow(t, v4(10, 0, 1, i)));
        }
        assert_eq!(rl.len(), 100);
        // Half a second later one source is active again; nothing collected
        // yet (the last collection was at t).
        assert!(rl.allow(t + Duration::from_millis(500), v4(10, 0, 1, 0)));
        assert_eq!(rl.len(), 100);
        // A second after t: the 99 idle ones go, the active one stays.
        assert!(rl.allow(t + RATE_LIMIT_GC_INTERVAL, v4(10, 0, 2, 0)));
        assert_eq!(rl.len(), 2);
    }

    #[test]
    fn a_full_table_refuses_new_sources_until_collection() {
        let mut rl = RateLimiter::with_max_entries(3);
        let t = Duration::from_secs(1);
        for i in 0..3 {
            assert!(rl.allow(t, v4(10, 0, 0, i)));
        }
        assert!(!rl.allow(t, v4(10, 0, 0, 3)), "table full: fail closed");
        assert!(rl.allow(t, v4(10, 0, 0, 0)), "known sources still served");
        assert_eq!(rl.len(), 3);
        // New sources while it is full cost no scan of the table: the
        // next collection stays where the clock puts it.
        for i in 4..100 {
            let soon = t + Duration::from_millis(u64::from(i) * 5);
            assert!(!rl.allow(soon, v4(10, 0, 0, i)));
        }
        assert_eq!(rl.last_gc, t, "a refused source caused a collection");
        let later = t + RATE_LIMIT_GC_INTERVAL;
        assert!(rl.allow(later, v4(10, 0, 0, 3)));
        assert_eq!(rl.len(), 1);
    }
}
