//! A peer's endpoint, `host:port`, kept unresolved until the daemon starts so
//! that checking a configuration never touches the network.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::str::FromStr;

/// The host part of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A literal IPv6 address and the interface it is reached through,
    /// by name or index, as a link-local address needs: `fe80::1%eth0`,
    /// `fe80::1%2`. The name is looked up when the endpoint is resolved.
    ScopedIp(Ipv6Addr, String),
    /// A DNS name, resolved by [`Endpoint::resolve`].
    Name(String),
}

/// `host:port` as written in the configuration: `vpn.example.com:51820`,
/// `192.0.2.1:51820`, `[2001:db8::1]:51820` or `[fe80::1%eth0]:51820`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The host.
    pub host: Host,
    /// The UDP port (never 0).
    pub port: u16,
}

impl Endpoint {
    /// Resolves the endpoint to the first address the system resolver
    /// returns. Literal addresses need no lookup.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::ScopedIp(ip, scope) => {
                let index = scope
                    .parse::<u32>()
                    .ok()
                    .or_else(|| interface_index(scope))
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("no network interface named {scope:?} for {ip}"),
                        )
                    })?;
                Ok(SocketAddrV6::new(*ip, self.port, 0, index).into())
            }
            Host::Name(name) => (name.as_str(), self.port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{name} has no IPv4 or IPv6 address"),
                    )
                }),
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        let host = match addr {
            SocketAddr::V6(v6) if v6.scope_id() != 0 => {
                Host::ScopedIp(*v6.ip(), v6.scope_id().to_string())
            }
            _ => Host::Ip(addr.ip()),
        };
        Self {
            host,
            port: addr.port(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::ScopedIp(ip, scope) => write!(f, "[{ip}%{scope}]:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// Whether `name` is a syntactically valid DNS name (RFC 1123 labels).
fn is_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// The index of the network interface `name` in this process's network
/// namespace. The system resolver finds it for a numeric link-local
/// address with that scope (`if_nametoindex` underneath, no lookup on the
/// network); it accepts scopes only on link-local addresses, so it is
/// asked about `fe80::` whatever address the endpoint has.
fn interface_index(name: &str) -> Option<u32> {
    let mut found = (format!("fe80::%{name}").as_str(), 0)
        .to_socket_addrs()
        .ok()?;
    match found.next()? {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => Some(v6.scope_id()),
        _ => None,
    }
}

/// Whether `scope` can name a network interface: an index (not 0, which
/// names none), or a Linux interface name (1 to 15 bytes, no "/", ":",
/// "%" or white space).
fn is_interface(scope: &str) -> bool {
    scope.parse::<u32>() != Ok(0)
        && (1..=15).contains(&scope.len())
        && scope
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':' | '%' | '[' | ']'))
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (host_text, port_text) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once(']')
                .ok_or("missing \"]\" after the IPv6 address")?;
            let p = p
                .strip_prefix(':')
                .ok_or("expected \":PORT\" after \"]\"")?;
            (h, p)
        } else {
            let (h, p) = s
                .rsplit_once(':')
                .ok_or("expected HOST:PORT, e.g. vpn.example.com:51820")?;
            if h.contains(':') {
                return Err("an IPv6 address must be in brackets: [2001:db8::1]:51820".into());
            }
            (h, p)
        };
        let port: u16 = port_text
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("port {port_text:?} is not a number from 1 to 65535"))?;
        let host = if s.starts_with('[') {
            let (ip_text, scope) = match host_text.split_once('%') {
                Some((ip, scope)) => (ip, Some(scope)),
                None => (host_text, None),
            };
            let ip: Ipv6Addr = ip_text
                .parse()
                .map_err(|_| format!("{ip_text:?} is not an IPv6 address"))?;
            match scope {
                None => Host::Ip(IpAddr::V6(ip)),
                Some(scope) if is_interface(scope) => Host::ScopedIp(ip, scope.to_owned()),
                Some(scope) => {
                    return Err(format!(
                        "{scope:?} after \"%\" is not an interface name or index \
                         (as in [fe80::1%eth0]:51820)"
                    ))
                }
            }
        } else if let Ok(ip) = host_text.parse::<std::net::Ipv4Addr>() {
            Host::Ip(IpAddr::V4(ip))
        } else if is_hostname(host_text)
            && !host_text.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            Host::Name(host_text.to_owned())
        } else {
            return Err(format!(
                "{host_text:?} is neither an IP address nor a host name"
            ));
        };
        Ok(Self { host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        let e: Endpoint = "vpn.example.com:51820".parse().expect("name");
        assert_eq!(e.host, Host::Name("vpn.example.com".into()));
        assert_eq!(e.port, 51820);
        let e: Endpoint = "192.0.2.1:1".parse().expect("v4");
        assert_eq!(e.to_string(), "192.0.2.1:1");
        let e: Endpoint = "[::1]:51820".parse().expect("v6");
        assert_eq!(e.host, Host::Ip("::1".parse().expect("ip")));
        assert_eq!(e.to_string(), "[::1]:51820");
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "vpn.example.com",
            "vpn.example.com:0",
            "vpn.example.com:65536",
            "::1:51820",
            "[::1]51820",
            "[::1:51820",
            "[vpn]:1",
            "bad_host!:1",
            "1.2.3:1",
            ":1",
            "-x.example:1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn literal_resolves_without_network() {
        let e: Endpoint = "[2001:db8::1]:51820".parse().expect("v6");
        assert_eq!(
            e.resolve().expect("literal"),
            "[2001:db8::1]:51820".parse::<SocketAddr>().expect("addr")
        );
    }

    #[test]
    fn link_local_with_an_interface() {
        let e: Endpoint = "[fe80::1%lo]:51820".parse().expect("named scope");
        assert_eq!(
            e.host,
            Host::ScopedIp("fe80::1".parse().expect("ip"), "lo".into())
        );
        assert_eq!(e.to_string(), "[fe80::1%lo]:51820");
        // The loopback interface is index 1 in every network namespace.
        assert_eq!(
            e.resolve().expect("lo exists"),
            SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse().expect("ip"),
                51820,
                0,
                1
            ))
        );
        let e: Endpoint = "[fe80::1%7]:9".parse().expect("index");
        let SocketAddr::V6(v6) = e.resolve().expect("an index needs no lookup") else {
            panic!("v6")
        };
        assert_eq!(v6.scope_id(), 7);
        assert_eq!(Endpoint::from(SocketAddr::V6(v6)), e);
        let e: Endpoint = "[fe80::1%nosuchif0]:9".parse().expect("syntax is fine");
        let err = e.resolve().expect_err("no such interface");
        assert!(err.to_string().contains("nosuchif0"), "{err}");
        for bad in [
            "[fe80::1%]:9",
            "[fe80::1%0]:9",
            "[fe80::1%a/b]:9",
            "[fe80::1%waytoolonginterface]:9",
        ] {
            let err = bad.parse::<Endpoint>().expect_err(bad);
            assert!(err.contains("interface"), "{bad}: {err}");
        }
    }

    #[test]
    fn localhost_resolves() {
        let e: Endpoint = "localhost:51820".parse().expect("name");
        assert_eq!(e.resolve().expect("localhost").port(), 51820);
    }
}
