//! An IP prefix (`address/length`) with its host bits cleared.
//!
//! Shared by the allowed-IPs table, the userspace API and route management,
//! so every place that accepts a prefix normalises it the same way the
//! kernel does: `10.0.0.7/24` is stored and shown as `10.0.0.0/24`.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 prefix whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixError {
    /// The length exceeds the family's address width (32 or 128).
    LengthTooLong {
        /// The length given.
        len: u8,
        /// The family's maximum (32 or 128).
        max: u8,
    },
    /// The text is not `address/length` with a numeric address and length.
    Syntax(String),
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthTooLong { len, max } => {
                write!(f, "prefix length /{len} exceeds the maximum /{max}")
            }
            Self::Syntax(text) => write!(
                f,
                "{text:?} is not a prefix: expected address/length, e.g. 10.0.0.0/24 or fd00::/64"
            ),
        }
    }
}

impl std::error::Error for PrefixError {}

/// Clears all but the top `len` bits of a 32-bit address.
#[must_use]
pub(crate) fn mask_v4(bits: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        1..=31 => bits & (u32::MAX << (32 - u32::from(len))),
        _ => bits,
    }
}

/// Clears all but the top `len` bits of a 128-bit address.
#[must_use]
pub(crate) fn mask_v6(bits: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        1..=127 => bits & (u128::MAX << (128 - u32::from(len))),
        _ => bits,
    }
}

impl Prefix {
    /// Builds a prefix, clearing host bits. Fails if `len` is longer than
    /// the address family allows.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return Err(PrefixError::LengthTooLong { len, max: 32 });
                }
                let bits = mask_v4(u32::from(a), len);
                Ok(Self {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    len,
                })
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return Err(PrefixError::LengthTooLong { len, max: 128 });
                }
                let bits = mask_v6(u128::from(a), len);
                Ok(Self {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    len,
                })
            }
        }
    }

    /// The network address (host bits zero).
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route of its family (`/0`).
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` lies inside this prefix (always false across families).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(u32::from(ip), self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.len) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `address/length`. A bare address is not accepted: the userspace
    /// API and the configuration always spell the length out.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(syntax)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let len: u8 = len.parse().map_err(|_| syntax())?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        Self::new(addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_cleared() {
        let p: Prefix = "10.1.2.3/8".parse().expect("valid");
        assert_eq!(p.to_string(), "10.0.0.0/8");
        let p: Prefix = "fd00::1234/64".parse().expect("valid");
        assert_eq!(p.to_string(), "fd00::/64");
        let p: Prefix = "1.2.3.4/0".parse().expect("valid");
        assert_eq!(p.to_string(), "0.0.0.0/0");
        let p: Prefix = "1.2.3.4/32".parse().expect("valid");
        assert_eq!(p.to_string(), "1.2.3.4/32");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn contains_respects_family_and_length() {
        let p: Prefix = "192.168.0.0/16".parse().expect("valid");
        assert!(p.contains("192.168.255.1".parse().expect("ip")));
        assert!(!p.contains("192.169.0.1".parse().expect("ip")));
        assert!(!p.contains("::ffff:192.168.0.1".parse().expect("ip")));
        let all: Prefix = "::/0".parse().expect("valid");
        assert!(all.contains("2001:db8::1".parse().expect("ip")));
        assert!(!all.contains("10.0.0.1".parse().expect("ip")));
    }
}
