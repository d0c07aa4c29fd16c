//! Interface addresses and routes, as `wg-quick` sets them up, by running
//! `ip` from iproute2.
//!
//! Why `ip` and not netlink directly: it is what `wg-quick` does, so an
//! operator can read the exact commands in the log and run them by hand,
//! and it keeps netlink message building (and its `unsafe`) out of this
//! crate. The cost, a process per command, is paid only at `up` and
//! `reload`, never on the packet path.
//!
//! Routes, as `wg-quick` does:
//!
//! * every allowed IP of every peer gets `ip route add <prefix> dev <if>`,
//!   longest prefixes first, skipping prefixes already routed via the
//!   interface;
//! * a `/0` is not added to the main table (it would capture the tunnel's
//!   own UDP packets). Instead the default route goes into a separate table,
//!   the UDP sockets are marked with that table's number, and two rules
//!   send everything unmarked to that table while still honouring more
//!   specific routes in `main`:
//!   `ip rule add not fwmark <t> table <t>` and
//!   `ip rule add table main suppress_prefixlength 0`.
//!
//! Routes in the interface's own tables vanish with the interface; the
//! rules do not, so [`NetConfig`] records them and removes them on
//! [`NetConfig::teardown`] (also run on drop).
#![forbid(unsafe_code)]

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::command::ip;
use super::OsError;
use crate::prefix::Prefix;

/// The routing table (and fwmark) `wg-quick` starts from for default routes.
pub const DEFAULT_ROUTE_TABLE: u32 = 51820;

/// An address assigned to the interface, with its prefix length; unlike a
/// [`Prefix`], host bits are kept (`10.0.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length of the on-link network.
    pub prefix_len: u8,
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for InterfaceAddress {
    type Err = crate::prefix::PrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Validate through Prefix, then keep the host bits.
        let prefix: Prefix = s.parse()?;
        let addr = s
            .split_once('/')
            .and_then(|(a, _)| a.parse().ok())
            .unwrap_or(prefix.addr());
        Ok(Self {
            addr,
            prefix_len: prefix.prefix_len(),
        })
    }
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "-4"
    } else {
        "-6"
    }
}

/// The routes to add for a set of allowed IPs: deduplicated, longest prefix
/// first (so a `/0` comes last), IPv4 before IPv6 at equal length.
#[must_use]
pub fn plan_routes(allowed: &[Prefix]) -> Vec<Prefix> {
    let mut routes: Vec<Prefix> = allowed.to_vec();
    routes.sort_by(|a, b| {
        b.prefix_len()
            .cmp(&a.prefix_len())
            .then(a.addr().is_ipv6().cmp(&b.addr().is_ipv6()))
            .then(a.cmp(b))
    });
    routes.dedup();
    routes
}

/// What `add_route` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    /// A route was added to the main table.
    Added,
    /// The interface already routes this prefix.
    AlreadyRouted,
    /// A default route went into policy table `table`; the caller must mark
    /// the device's UDP sockets with `table` so its own packets escape.
    PolicyDefault {
        /// The table number, also the fwmark.
        table: u32,
    },
}

/// The network configuration applied to one interface, remembered so it can
/// be undone.
#[derive(Debug)]
pub struct NetConfig {
    ifname: String,
    /// `ip rule` argument lists to delete on teardown, in order added.
    rules: Vec<Vec<String>>,
    /// Routes this configuration added to the main table (only these are
    /// ever removed, so a connected route of the interface's own address
    /// survives a reload that drops the same prefix from a peer).
    added: Vec<Prefix>,
}

impl NetConfig {
    /// Configuration of `ifname` (which must exist).
    #[must_use]
    pub fn new(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            rules: Vec::new(),
            added: Vec::new(),
        }
    }

    /// `ip address add <addr> dev <if>`.
    pub fn add_address(&mut self, addr: &InterfaceAddress) -> Result<(), OsError> {
        let a = addr.to_string();
        ip(&[family(addr.addr), "address", "add", &a, "dev", &self.ifname]).map(drop)
    }

    /// Adds the route for one allowed IP, `wg-quick` style. `fwmark` is the
    /// device's current mark (0 if none); a default route uses it as its
    /// table when set, else [`DEFAULT_ROUTE_TABLE`].
    pub fn add_route(&mut self, prefix: Prefix, fwmark: u32) -> Result<RouteOutcome, OsError> {
        let fam = family(prefix.addr());
        let p = prefix.to_string();
        if prefix.is_default() {
            let table = if fwmark != 0 {
                fwmark
            } else {
                DEFAULT_ROUTE_TABLE
            };
            let t = table.to_string();
            ip(&[fam, "route", "add", &p, "dev", &self.ifname, "table", &t])?;
            self.add_rule(&[fam, "rule", "add", "not", "fwmark", &t, "table", &t])?;
            self.add_rule(&[
                fam,
                "rule",
                "add",
                "table",
                "main",
                "suppress_prefixlength",
                "0",
            ])?;
            if prefix.addr().is_ipv4() {
                // Let reverse-path filtering see the mark, as wg-quick does.
                let _ = std::fs::write("/proc/sys/net/ipv4/conf/all/src_valid_mark", b"1");
            }
            return Ok(RouteOutcome::PolicyDefault { table });
        }
        let existing = ip(&[fam, "route", "show", "dev", &self.ifname, "match", &p])?;
        if existing
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(p.as_str()))
        {
            return Ok(RouteOutcome::AlreadyRouted);
        }
        ip(&[fam, "route", "add", &p, "dev", &self.ifname])?;
        self.added.push(prefix);
        Ok(RouteOutcome::Added)
    }

    /// Removes the route for one allowed IP (used by `reload`), if this
    /// configuration added it. A missing route is not an error.
    pub fn remove_route(&mut self, prefix: Prefix) -> Result<(), OsError> {
        if prefix.is_default() {
            // Default routes live in the policy table, removed at teardown.
            return Ok(());
        }
        let Some(i) = self.added.iter().position(|p| *p == prefix) else {
            return Ok(());
        };
        self.added.swap_remove(i);
        let p = prefix.to_string();
        let _ = ip(&[
            family(prefix.addr()),
            "route",
            "del",
            &p,
            "dev",
            &self.ifname,
        ]);
        Ok(())
    }

    fn add_rule(&mut self, args: &[&str]) -> Result<(), OsError> {
        ip(args)?;
        let mut del: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        if let Some(verb) = del.get_mut(2) {
            *verb = "delete".to_owned();
        }
        self.rules.push(del);
        Ok(())
    }

    /// Removes the policy rules this configuration added. Idempotent; best
    /// effort (a rule already gone is fine). Routes and addresses go with
    /// the interface.
    pub fn teardown(&mut self) {
        while let Some(rule) = self.rules.pop() {
            let args: Vec<&str> = rule.iter().map(String::as_str).collect();
            let _ = ip(&args);
        }
    }
}

impl Drop for NetConfig {
    fn drop(&mut self) {
        self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().expect("prefix")
    }

    #[test]
    fn routes_are_planned_longest_first_without_duplicates() {
        let planned = plan_routes(&[
            p("0.0.0.0/0"),
            p("10.0.0.0/8"),
            p("::/0"),
            p("10.1.0.0/16"),
            p("fd00::/64"),
            p("10.0.0.0/8"),
            p("10.9.9.9/32"),
        ]);
        let text: Vec<String> = planned.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "fd00::/64",
                "10.9.9.9/32",
                "10.1.0.0/16",
                "10.0.0.0/8",
                "0.0.0.0/0",
                "::/0"
            ]
        );
    }

    #[test]
    fn interface_addresses_keep_host_bits() {
        let a: InterfaceAddress = "10.0.0.1/24".parse().expect("valid");
        assert_eq!(a.to_string(), "10.0.0.1/24");
        let a: InterfaceAddress = "fd00::1/64".parse().expect("valid");
        assert_eq!(a.to_string(), "fd00::1/64");
        assert!("10.0.0.1".parse::<InterfaceAddress>().is_err());
        assert!("10.0.0.1/40".parse::<InterfaceAddress>().is_err());
    }
}
