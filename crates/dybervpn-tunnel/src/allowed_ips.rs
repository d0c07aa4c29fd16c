//! Cryptokey routing: the allowed-IPs table.
//!
//! Maps IPv4 and IPv6 prefixes to a value (the daemon stores a peer index)
//! and answers longest-prefix-match queries. It is consulted twice per
//! packet: on the way out (which peer gets a packet for this destination?)
//! and on the way in (may this peer send from this source address?).
//!
//! # Structure
//!
//! One hash map per prefix length (33 for IPv4, 129 for IPv6), keyed by the
//! masked network address, plus the list of lengths that currently hold at
//! least one prefix, longest first. A lookup walks that list, masks the
//! address to each length and probes that length's map; the first hit is the
//! longest match. This is `O(distinct prefix lengths)` probes — at most 33 or
//! 129, in practice two or three (`/32`, a site `/24`, maybe `/0`) — with no
//! allocation and no pointer chasing through a tree.
//!
//! We chose this over the kernel's compressed binary trie because it is
//! obviously correct (insert, remove and remove-by-peer are plain map
//! operations with no node splitting or merging to get wrong), and because
//! WireGuard configurations use few distinct lengths. The trade-off is a
//! worst case of 129 probes for a table holding every IPv6 length; if a
//! benchmark ever shows that matters, a trie can replace this behind the same
//! API, checked by the same naive-reference test below.
//!
//! Keys come from the operator (configuration and the userspace API); only
//! lookups see addresses chosen by a peer, so hash flooding is not a concern
//! for the insert side, and lookups cost the same whatever the address.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::prefix::{mask_v4, mask_v6, Prefix};

/// An address family's integer form and its masking rule.
trait Bits: Copy + Eq + Hash {
    /// Address width: 32 or 128.
    const WIDTH: u8;
    fn mask(self, len: u8) -> Self;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    fn mask(self, len: u8) -> Self {
        mask_v4(self, len)
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    fn mask(self, len: u8) -> Self {
        mask_v6(self, len)
    }
}

/// The table for one address family.
#[derive(Debug, Clone)]
struct Family<K, V> {
    /// `by_len[l]` holds the prefixes of length `l`, keyed by network address.
    by_len: Vec<HashMap<K, V>>,
    /// The lengths whose map is non-empty, longest first.
    lengths: Vec<u8>,
}

impl<K: Bits, V: Clone + PartialEq> Family<K, V> {
    fn new() -> Self {
        Self {
            by_len: (0..=K::WIDTH).map(|_| HashMap::new()).collect(),
            lengths: Vec::new(),
        }
    }

    fn insert(&mut self, net: K, len: u8, value: V) -> Option<V> {
        let map = self.by_len.get_mut(usize::from(len))?;
        let previous = map.insert(net.mask(len), value);
        if previous.is_none() && map.len() == 1 {
            self.refresh_lengths();
        }
        previous
    }

    fn remove(&mut self, net: K, len: u8) -> Option<V> {
        let map = self.by_len.get_mut(usize::from(len))?;
        let previous = map.remove(&net.mask(len));
        if previous.is_some() && map.is_empty() {
            self.refresh_lengths();
        }
        previous
    }

    fn get(&self, net: K, len: u8) -> Option<&V> {
        self.by_len.get(usize::from(len))?.get(&net.mask(len))
    }

    fn remove_by_value(&mut self, value: &V) -> usize {
        let mut removed = 0;
        for map in &mut self.by_len {
            let before = map.len();
            map.retain(|_, v| v != value);
            removed += before - map.len();
        }
        if removed > 0 {
            self.refresh_lengths();
        }
        removed
    }

    fn refresh_lengths(&mut self) {
        self.lengths.clear();
        for (len, map) in self.by_len.iter().enumerate().rev() {
            if !map.is_empty() {
                // `by_len` has WIDTH + 1 <= 129 entries, so `len` fits in u8.
                self.lengths.push(u8::try_from(len).unwrap_or(u8::MAX));
            }
        }
    }

    fn lookup(&self, addr: K) -> Option<&V> {
        for &len in &self.lengths {
            if let Some(v) = self
                .by_len
                .get(usize::from(len))
                .and_then(|map| map.get(&addr.mask(len)))
            {
                return Some(v);
            }
        }
        None
    }

    fn iter(&self) -> impl Iterator<Item = (K, u8, &V)> + '_ {
        self.by_len.iter().enumerate().flat_map(|(len, map)| {
            let len = u8::try_from(len).unwrap_or(u8::MAX);
            map.iter().map(move |(k, v)| (*k, len, v))
        })
    }

    fn len(&self) -> usize {
        self.by_len.iter().map(HashMap::len).sum()
    }

    fn clear(&mut self) {
        for map in &mut self.by_len {
            map.clear();
        }
        self.lengths.clear();
    }
}

/// The allowed-IPs table: longest-prefix match over IPv4 and IPv6 prefixes.
///
/// `V` is the value stored per prefix, typically a small peer index.
#[derive(Debug, Clone)]
pub struct AllowedIps<V> {
    v4: Family<u32, V>,
    v6: Family<u128, V>,
}

impl<V: Clone + PartialEq> Default for AllowedIps<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + PartialEq> AllowedIps<V> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self {
            v4: Family::new(),
            v6: Family::new(),
        }
    }

    /// Maps `prefix` to `value`, returning the value it replaced. As in
    /// WireGuard, a prefix belongs to at most one peer: inserting it for a
    /// second peer moves it.
    pub fn insert(&mut self, prefix: Prefix, value: V) -> Option<V> {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), prefix.prefix_len(), value),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), prefix.prefix_len(), value),
        }
    }

    /// Removes exactly `prefix` (not the prefixes it contains), returning its
    /// value if it was present.
    pub fn remove(&mut self, prefix: Prefix) -> Option<V> {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.remove(u32::from(a), prefix.prefix_len()),
            IpAddr::V6(a) => self.v6.remove(u128::from(a), prefix.prefix_len()),
        }
    }

    /// The value of exactly `prefix` (not of a prefix containing it).
    #[must_use]
    pub fn get(&self, prefix: Prefix) -> Option<&V> {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.get(u32::from(a), prefix.prefix_len()),
            IpAddr::V6(a) => self.v6.get(u128::from(a), prefix.prefix_len()),
        }
    }

    /// Removes every prefix mapped to `value`; returns how many.
    pub fn remove_by_value(&mut self, value: &V) -> usize {
        self.v4.remove_by_value(value) + self.v6.remove_by_value(value)
    }

    /// The value of the longest prefix containing `addr`. Allocation-free.
    #[must_use]
    pub fn lookup(&self, addr: IpAddr) -> Option<&V> {
        match addr {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    /// Longest-prefix match for an IPv4 address.
    #[must_use]
    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Option<&V> {
        self.v4.lookup(u32::from(addr))
    }

    /// Longest-prefix match for an IPv6 address.
    #[must_use]
    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Option<&V> {
        self.v6.lookup(u128::from(addr))
    }

    /// Every `(prefix, value)` pair, IPv4 first, shorter prefixes first
    /// (order within one length is unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &V)> + '_ {
        let v4 = self.v4.iter().filter_map(|(k, len, v)| {
            Prefix::new(IpAddr::V4(Ipv4Addr::from(k)), len)
                .ok()
                .map(|p| (p, v))
        });
        let v6 = self.v6.iter().filter_map(|(k, len, v)| {
            Prefix::new(IpAddr::V6(Ipv6Addr::from(k)), len)
                .ok()
                .map(|p| (p, v))
        });
        v4.chain(v6)
    }

    /// The prefixes mapped to `value`, sorted (for stable output).
    #[must_use]
    pub fn prefixes_of(&self, value: &V) -> Vec<Prefix> {
        let mut out: Vec<Prefix> = self
            .iter()
            .filter(|(_, v)| *v == value)
            .map(|(p, _)| p)
            .collect();
        out.sort();
        out
    }

    /// Number of prefixes in the table.
    #[must_use]
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the table holds no prefix.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().expect("test prefix")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// The deliberately naive reference: a list scanned for the longest
    /// prefix containing the address.
    #[derive(Default)]
    struct Naive {
        entries: Vec<(Prefix, u32)>,
    }

    impl Naive {
        fn insert(&mut self, prefix: Prefix, value: u32) {
            self.entries.retain(|(q, _)| *q != prefix);
            self.entries.push((prefix, value));
        }
        fn remove(&mut self, prefix: Prefix) {
            self.entries.retain(|(q, _)| *q != prefix);
        }
        fn remove_by_value(&mut self, value: u32) {
            self.entries.retain(|(_, v)| *v != value);
        }
        fn lookup(&self, addr: IpAddr) -> Option<u32> {
            let mut best: Option<(u8, u32)> = None;
            for (prefix, value) in &self.entries {
                if prefix.contains(addr) && best.is_none_or(|(len, _)| prefix.prefix_len() > len) {
                    best = Some((prefix.prefix_len(), *value));
                }
            }
            best.map(|(_, v)| v)
        }
    }

    /// xorshift64*: a small seeded PRNG so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Addresses drawn from a small pool so prefixes overlap often.
    fn random_v4(rng: &mut Rng) -> Ipv4Addr {
        let base = [0x0a00_0000u32, 0xc0a8_0000, 0x0a01_0000, 0xffff_ff00][rng.below(4) as usize];
        Ipv4Addr::from(base ^ (rng.next() as u32 & 0x00ff_ffff >> rng.below(24)))
    }

    fn random_v6(rng: &mut Rng) -> Ipv6Addr {
        let base = [
            0xfd00_0000_0000_0000_0000_0000_0000_0000u128,
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            0,
        ][rng.below(3) as usize];
        let noise = (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> rng.below(128);
        Ipv6Addr::from(base ^ noise)
    }

    fn random_prefix(rng: &mut Rng) -> Prefix {
        if rng.below(2) == 0 {
            let len = [0, 8, 16, 24, 25, 31, 32][rng.below(7) as usize];
            let len = if rng.below(4) == 0 {
                rng.below(33) as u8
            } else {
                len
            };
            Prefix::new(IpAddr::V4(random_v4(rng)), len).expect("len <= 32")
        } else {
            let len = [0, 32, 48, 64, 127, 128][rng.below(6) as usize];
            let len = if rng.below(4) == 0 {
                rng.below(129) as u8
            } else {
                len
            };
            Prefix::new(IpAddr::V6(random_v6(rng)), len).expect("len <= 128")
        }
    }

    fn random_addr(rng: &mut Rng) -> IpAddr {
        if rng.below(2) == 0 {
            IpAddr::V4(random_v4(rng))
        } else {
            IpAddr::V6(random_v6(rng))
        }
    }

    #[test]
    fn matches_naive_reference_under_random_operations() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut table = AllowedIps::new();
            let mut naive = Naive::default();
            let mut inserted = Vec::new();
            let (mut hits, mut lookups) = (0u32, 0u32);
            for step in 0..3000 {
                match rng.below(10) {
                    0..=4 => {
                        let prefix = random_prefix(&mut rng);
                        let value = rng.below(8) as u32;
                        table.insert(prefix, value);
                        naive.insert(prefix, value);
                        inserted.push(prefix);
                    }
                    5 | 6 if !inserted.is_empty() => {
                        let prefix = inserted[rng.below(inserted.len() as u64) as usize];
                        table.remove(prefix);
                        naive.remove(prefix);
                    }
                    7 => {
                        let value = rng.below(8) as u32;
                        table.remove_by_value(&value);
                        naive.remove_by_value(value);
                    }
                    _ => {}
                }
                for _ in 0..8 {
                    let addr = random_addr(&mut rng);
                    lookups += 1;
                    hits += u32::from(naive.lookup(addr).is_some());
                    assert_eq!(
                        table.lookup(addr).copied(),
                        naive.lookup(addr),
                        "seed {seed} step {step} address {addr}"
                    );
                }
                assert_eq!(table.len(), naive.entries.len(), "seed {seed} step {step}");
            }
            // The pools overlap enough that both outcomes are exercised.
            assert!(
                hits > lookups / 10 && hits < lookups,
                "seed {seed}: {hits}/{lookups} hits"
            );
        }
    }

    #[test]
    fn overlapping_prefixes_pick_the_longest() {
        let mut t = AllowedIps::new();
        t.insert(p("192.168.4.0/24"), 'a');
        t.insert(p("192.168.4.4/32"), 'b');
        t.insert(p("192.168.0.0/16"), 'c');
        t.insert(p("192.95.5.64/27"), 'd');
        t.insert(p("192.95.5.65/32"), 'c');
        t.insert(p("0.0.0.0/0"), 'e');
        assert_eq!(t.lookup(ip("192.168.4.20")), Some(&'a'));
        assert_eq!(t.lookup(ip("192.168.4.0")), Some(&'a'));
        assert_eq!(t.lookup(ip("192.168.4.4")), Some(&'b'));
        assert_eq!(t.lookup(ip("192.168.200.182")), Some(&'c'));
        assert_eq!(t.lookup(ip("192.95.5.68")), Some(&'d'));
        assert_eq!(t.lookup(ip("192.95.5.65")), Some(&'c'));
        assert_eq!(t.lookup(ip("192.95.5.96")), Some(&'e'));
        assert_eq!(t.lookup(ip("8.8.8.8")), Some(&'e'));
        // The default route of one family never answers for the other.
        assert_eq!(t.lookup(ip("::1")), None);
    }

    #[test]
    fn ipv6_longest_match_and_full_length() {
        let mut t = AllowedIps::new();
        t.insert(p("2607:5300:6000:6b00::/64"), 'a');
        t.insert(p("2607:5300:6000:6b00::c05f:543/128"), 'b');
        t.insert(p("2607:5300:6000::/48"), 'c');
        t.insert(p("::/0"), 'd');
        assert_eq!(t.lookup(ip("2607:5300:6000:6b00::c05f:543")), Some(&'b'));
        assert_eq!(t.lookup(ip("2607:5300:6000:6b00::c05f:544")), Some(&'a'));
        assert_eq!(t.lookup(ip("2607:5300:6000:6b01::1")), Some(&'c'));
        assert_eq!(t.lookup(ip("2001:db8::1")), Some(&'d'));
        assert_eq!(t.lookup(ip("10.0.0.1")), None);
    }

    #[test]
    fn host_bits_in_inserted_prefix_are_masked() {
        let mut t = AllowedIps::new();
        t.insert(p("10.1.2.3/8"), 1);
        assert_eq!(t.lookup(ip("10.200.0.1")), Some(&1));
        // Removing with different host bits removes the same prefix.
        assert_eq!(t.remove(p("10.9.9.9/8")), Some(1));
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("10.200.0.1")), None);
    }

    #[test]
    fn reinsert_moves_a_prefix_to_the_new_peer() {
        let mut t = AllowedIps::new();
        assert_eq!(t.insert(p("10.0.0.0/24"), 1), None);
        assert_eq!(t.insert(p("10.0.0.0/24"), 2), Some(1));
        assert_eq!(t.lookup(ip("10.0.0.9")), Some(&2));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn slash_zero_and_slash_32_and_slash_128() {
        let mut t = AllowedIps::new();
        t.insert(p("0.0.0.0/0"), 0);
        t.insert(p("1.2.3.4/32"), 1);
        t.insert(p("::/0"), 2);
        t.insert(p("::1/128"), 3);
        assert_eq!(t.lookup(ip("1.2.3.4")), Some(&1));
        assert_eq!(t.lookup(ip("1.2.3.5")), Some(&0));
        assert_eq!(t.lookup(ip("255.255.255.255")), Some(&0));
        assert_eq!(t.lookup(ip("::1")), Some(&3));
        assert_eq!(t.lookup(ip("::2")), Some(&2));
        assert_eq!(t.remove(p("0.0.0.0/0")), Some(0));
        assert_eq!(t.lookup(ip("1.2.3.5")), None);
        assert_eq!(t.lookup(ip("1.2.3.4")), Some(&1));
    }

    #[test]
    fn remove_by_value_and_prefixes_of() {
        let mut t = AllowedIps::new();
        t.insert(p("10.0.0.0/8"), 1);
        t.insert(p("10.1.0.0/16"), 2);
        t.insert(p("fd00::/8"), 1);
        t.insert(p("fd00:1::/32"), 2);
        assert_eq!(t.prefixes_of(&1), vec![p("10.0.0.0/8"), p("fd00::/8")]);
        assert_eq!(t.remove_by_value(&2), 2);
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(&1));
        assert_eq!(t.lookup(ip("fd00:1::1")), Some(&1));
        assert_eq!(t.remove_by_value(&2), 0);
        assert_eq!(t.len(), 2);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("10.1.2.3")), None);
    }

    #[test]
    fn removing_an_absent_prefix_changes_nothing() {
        let mut t = AllowedIps::new();
        t.insert(p("10.0.0.0/24"), 1);
        assert_eq!(t.get(p("10.0.0.0/24")), Some(&1));
        assert_eq!(t.get(p("10.0.0.0/25")), None, "exact, not longest match");
        assert_eq!(t.get(p("10.0.0.0/23")), None);
        assert_eq!(t.remove(p("10.0.0.0/25")), None);
        assert_eq!(t.remove(p("10.0.0.0/23")), None);
        assert_eq!(t.lookup(ip("10.0.0.200")), Some(&1));
    }
}
