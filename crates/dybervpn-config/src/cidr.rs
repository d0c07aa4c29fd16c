//! IP prefixes in CIDR notation (`10.0.0.0/24`, `fd00::/64`).
//!
//! A [`Cidr`] keeps the address as written, host bits included: in
//! `interface.address` they are the interface's own address
//! (`10.0.0.1/24`), while in `allowed_ips` only the network counts
//! ([`Cidr::network`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Builds a prefix; `None` if `prefix_len` is longer than the address.
    #[must_use]
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= max_len(addr)).then_some(Self { addr, prefix_len })
    }

    /// The address as written (host bits kept).
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The prefix with host bits cleared.
    #[must_use]
    pub fn network(&self) -> Self {
        Self {
            addr: from_bits(self.addr, to_bits(self.addr) & self.mask()),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether any host bit is set.
    #[must_use]
    pub fn has_host_bits(&self) -> bool {
        self.network() != *self
    }

    /// Whether `ip` lies inside this prefix.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && to_bits(ip) & self.mask() == self.network_bits()
    }

    /// Whether the two prefixes share at least one address (one is equal to
    /// or inside the other; CIDR prefixes cannot partially overlap).
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        let shorter = if self.prefix_len <= other.prefix_len {
            self
        } else {
            other
        };
        let longer = if std::ptr::eq(shorter, self) {
            other
        } else {
            self
        };
        shorter.contains(longer.addr)
    }

    /// Whether `other` lies entirely inside this prefix.
    #[must_use]
    pub fn covers(&self, other: &Self) -> bool {
        self.prefix_len <= other.prefix_len && self.contains(other.addr)
    }

    /// The `n`th address of the network (0 is the network address itself),
    /// or `None` past its end.
    #[must_use]
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let host_bits = u32::from(max_len(self.addr) - self.prefix_len);
        if host_bits < 128 && n >> host_bits != 0 {
            return None;
        }
        Some(from_bits(self.addr, self.network_bits() | n))
    }

    fn mask(&self) -> u128 {
        let len = u32::from(max_len(self.addr));
        let host = len - u32::from(self.prefix_len);
        let all = if len == 128 {
            u128::MAX
        } else {
            (1u128 << len) - 1
        };
        all.checked_shr(host)
            .unwrap_or(0)
            .checked_shl(host)
            .unwrap_or(0)
    }

    fn network_bits(&self) -> u128 {
        to_bits(self.addr) & self.mask()
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// An address of the same family as `like` from its bits.
fn from_bits(like: IpAddr, bits: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Parses `ADDR/LEN`, or a bare address meaning a single host (`/32` or
/// `/128`), as WireGuard does. The error says what was wrong.
impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not an IPv4 or IPv6 address", addr_text.trim()))?;
        let max = max_len(addr);
        let prefix_len = match len_text {
            None => max,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("prefix length must be a number from 0 to {max}"))?,
        };
        Ok(Self { addr, prefix_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect("valid test prefix")
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(c("10.0.0.1/24").to_string(), "10.0.0.1/24");
        assert_eq!(c("10.0.0.1").to_string(), "10.0.0.1/32");
        assert_eq!(c("fd00::1").to_string(), "fd00::1/128");
        assert_eq!(c("::/0").to_string(), "::/0");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("fd00::/129".parse::<Cidr>().is_err());
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }

    #[test]
    fn network_and_host_bits() {
        assert_eq!(c("10.0.0.7/24").network(), c("10.0.0.0/24"));
        assert!(c("10.0.0.7/24").has_host_bits());
        assert!(!c("0.0.0.0/0").has_host_bits());
        assert_eq!(c("1.2.3.4/0").network(), c("0.0.0.0/0"));
        assert_eq!(c("fd00::5/64").network(), c("fd00::/64"));
        assert_eq!(c("fd00::5/128").network(), c("fd00::5/128"));
    }

    #[test]
    fn overlap_is_equality_or_nesting() {
        assert!(c("10.0.0.0/24").overlaps(&c("10.0.0.0/16")));
        assert!(c("10.0.0.0/16").overlaps(&c("10.0.0.0/24")));
        assert!(c("10.0.0.0/24").overlaps(&c("10.0.0.0/24")));
        assert!(c("0.0.0.0/0").overlaps(&c("192.168.1.1/32")));
        assert!(!c("10.0.1.0/24").overlaps(&c("10.0.0.0/24")));
        assert!(!c("0.0.0.0/0").overlaps(&c("::/0")));
        assert!(c("fd00::/64").overlaps(&c("fd00::1/128")));
    }

    /// Checks `overlaps` against a naive reference: two prefixes overlap
    /// iff some address of the smaller lies in the other.
    #[test]
    fn overlap_matches_brute_force_on_small_prefixes() {
        let base = [10u8, 0, 0, 0];
        for a_len in 28..=32u8 {
            for b_len in 28..=32u8 {
                for a_low in 0..16u8 {
                    for b_low in 0..16u8 {
                        let a = Cidr::new(
                            IpAddr::V4(Ipv4Addr::new(base[0], base[1], base[2], a_low)),
                            a_len,
                        )
                        .expect("valid")
                        .network();
                        let b = Cidr::new(
                            IpAddr::V4(Ipv4Addr::new(base[0], base[1], base[2], b_low)),
                            b_len,
                        )
                        .expect("valid")
                        .network();
                        let naive = (0..=255u8)
                            .map(|x| IpAddr::V4(Ipv4Addr::new(10, 0, 0, x)))
                            .any(|ip| a.contains(ip) && b.contains(ip));
                        assert_eq!(a.overlaps(&b), naive, "{a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn nth_address() {
        assert_eq!(
            c("10.0.0.9/24").nth(2),
            Some("10.0.0.2".parse().expect("ip"))
        );
        assert_eq!(
            c("10.0.0.0/24").nth(255),
            Some("10.0.0.255".parse().expect("ip"))
        );
        assert_eq!(c("10.0.0.0/24").nth(256), None);
        assert_eq!(c("10.0.0.1/32").nth(1), None);
        assert_eq!(c("fd00::/64").nth(3), Some("fd00::3".parse().expect("ip")));
        assert_eq!(
            c("::/0").nth(u128::MAX),
            Some(
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                    .parse()
                    .expect("ip")
            )
        );
    }
}
