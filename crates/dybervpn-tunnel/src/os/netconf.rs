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
//!   longest prefixes first, skipping a prefix when a route via the
//!   interface already covers it (`wg-quick` asks
//!   `ip route show dev <if> match <prefix>`; the interface's own on-link
//!   network is the usual case). Routes this configuration added never count
//!   as covering: a reload may remove them later, and what they covered must
//!   keep its own route;
//! * a `/0` is not added to the main table (it would capture the tunnel's
//!   own UDP packets). Instead the default route goes into a separate table,
//!   the UDP sockets are marked with that table's number, and two rules
//!   send everything unmarked to that table while still honouring more
//!   specific routes in `main`:
//!   `ip rule add not fwmark <t> table <t>` and
//!   `ip rule add table main suppress_prefixlength 0`. Firewall rules
//!   per family (nftables, or iptables without `nft`) keep that mark on
//!   the tunnel's UDP flows for reverse-path filtering, and guard the
//!   tunnel's addresses (see [`super::firewall`]).
//!
//! Routes in the interface's own tables vanish with the interface; the
//! policy and firewall rules do not, so [`NetConfig`] records them and
//! removes them on [`NetConfig::teardown`] (also run on drop), and with
//! their default route when a reload drops a `/0`. It also records the
//! routes it added, so a reload removes only those.
//!
//! DNS servers are registered by [`super::dns`].
//!
//! Batching: a process per route would be 10,000 processes for 10,000
//! peers. Instead [`NetConfig::add_routes`] lists what the interface already
//! routes with one `ip route show dev <if>` per address family, and adds
//! every route with one `ip -force -batch -` fed on standard input (each line
//! an `ip` command an operator can run by hand). `-force` lets one refused
//! route not stop the others; each refusal is reported with its route.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Command;
use std::str::FromStr;

use super::command::{complete, ip, DEFAULT_TIMEOUT};
use super::dns::Dns;
use super::firewall::Firewall;
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

/// At most this many stale copies of a default route's fwmark rule are
/// removed before it is added (bounds the loop; a crash leaves one).
const STALE_RULES_REMOVED: usize = 64;

/// How many tables past [`DEFAULT_ROUTE_TABLE`] a default route looks at
/// for a free one; far more full tunnels than one host runs.
const TABLES_TRIED: u32 = 1000;

/// The first routing table from [`DEFAULT_ROUTE_TABLE`] up with no route
/// of either family, as `wg-quick` picks one: a second interface with a
/// default route gets its own table (and mark) instead of failing on the
/// first one's route.
/// A family `ip` cannot list (IPv6 disabled) counts as empty, as in
/// `wg-quick`.
fn free_table() -> Result<u32, OsError> {
    for table in DEFAULT_ROUTE_TABLE..DEFAULT_ROUTE_TABLE + TABLES_TRIED {
        let t = table.to_string();
        let used = ["-4", "-6"].iter().any(|fam| {
            ip(&[fam, "route", "show", "table", &t]).is_ok_and(|o| !o.stdout.trim().is_empty())
        });
        if !used {
            return Ok(table);
        }
    }
    Err(OsError::Command {
        command: format!("ip route show table {DEFAULT_ROUTE_TABLE}"),
        detail: format!(
            "routing tables {DEFAULT_ROUTE_TABLE} to {} all hold routes; \
             set `fwmark` to choose the table for the default route",
            DEFAULT_ROUTE_TABLE + TABLES_TRIED - 1
        ),
    })
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

/// What [`NetConfig::add_routes`] did.
#[derive(Debug, Default)]
#[must_use = "failed routes must be reported, and a policy table needs the sockets marked"]
pub struct RoutesAdded {
    /// Routes added to the main table, longest first.
    pub added: Vec<Prefix>,
    /// Prefixes skipped because a route via the interface already covers
    /// them (its on-link network, or an operator's route).
    pub already_routed: Vec<Prefix>,
    /// The policy table a default route went into, if one did; the caller
    /// must mark the device's UDP sockets with it so its own packets escape.
    pub policy_table: Option<u32>,
    /// The routes (and default-route rules) `ip` refused, each error naming
    /// the command equivalent to the refused line and `ip`'s message.
    pub failed: Vec<OsError>,
}

/// The `ip -force -batch -` invocation that adds and removes routes.
const BATCH: [&str; 3] = ["-force", "-batch", "-"];

/// Route types `ip route show` may print before the destination.
const ROUTE_TYPES: [&str; 11] = [
    "unicast",
    "local",
    "broadcast",
    "anycast",
    "multicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "nat",
    "xresolve",
];

/// The destinations of `ip route show` output for one family, as prefixes.
/// `ip` prints host routes without their length (`10.0.0.5`, `fd00::5`)
/// and default routes as `default`; lines it prints for other reasons
/// (multipath `nexthop` continuations) and destinations that do not parse
/// are skipped: the worst that follows is a route `ip` refuses as existing,
/// which is reported.
#[doc(hidden)]
pub fn parse_route_listing(text: &str, v6: bool) -> Vec<Prefix> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(mut dst) = words.next() else {
            continue;
        };
        if ROUTE_TYPES.contains(&dst) {
            let Some(next) = words.next() else { continue };
            dst = next;
        }
        let parsed = if dst == "default" {
            let any = if v6 {
                IpAddr::from([0u16; 8])
            } else {
                IpAddr::from([0u8; 4])
            };
            Prefix::new(any, 0).ok()
        } else if dst.contains('/') {
            dst.parse().ok()
        } else {
            dst.parse::<IpAddr>()
                .ok()
                .and_then(|a| Prefix::new(a, if a.is_ipv4() { 32 } else { 128 }).ok())
        };
        if let Some(p) = parsed.filter(|p| p.addr().is_ipv6() == v6) {
            out.push(p);
        }
    }
    out
}

/// Whether `prefix` or a shorter prefix containing it is in `routes`.
fn covered(routes: &HashSet<Prefix>, prefix: Prefix) -> bool {
    (0..=prefix.prefix_len())
        .filter_map(|len| Prefix::new(prefix.addr(), len).ok())
        .any(|p| routes.contains(&p))
}

/// What an `ip -force -batch -` that ran to completion reported.
#[derive(Debug, Default)]
struct BatchOutcome {
    /// Each refused line (1-based) with `ip`'s message.
    refused: Vec<(usize, String)>,
    /// Why `ip` failed, when it did without naming a line (it stops at a
    /// line it cannot parse).
    unexplained: Option<String>,
}

/// Splits `ip -force -batch -` standard error into each failed line's
/// message: `ip` prints a command's errors, then `Command failed -:<line>`.
fn batch_failures(stderr: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in stderr.lines() {
        if let Some(n) = line
            .strip_prefix("Command failed -:")
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            out.push((n, pending.join("; ")));
            pending.clear();
        } else if !line.trim().is_empty() {
            pending.push(line.trim());
        }
    }
    out
}

/// The network configuration applied to one interface, remembered so it can
/// be undone.
#[derive(Debug)]
pub struct NetConfig {
    ifname: String,
    /// `ip rule` argument lists to delete on teardown, in order added.
    rules: Vec<Vec<String>>,
    /// The default routes (`/0`) in place, each with its policy table.
    defaults: Vec<(Prefix, u32)>,
    /// The interface's own addresses, as added.
    addresses: Vec<IpAddr>,
    /// The firewall rules of its default routes.
    firewall: Firewall,
    /// Routes this configuration added to the main table (only these are
    /// ever removed, so a connected route of the interface's own address
    /// survives a reload that drops the same prefix from a peer).
    added: HashSet<Prefix>,
    /// The DNS servers registered for the interface.
    dns: Dns,
    /// The families (`-4`, `-6`) whose default route relies on the shared
    /// `suppress_prefixlength 0` rule (see [`NetConfig::release_suppress`]).
    suppress: Vec<&'static str>,
}

/// `ip rule` arguments of the rule that lets more specific routes in
/// `main` win over a policy table's default route. It is the same for every
/// tunnel with a default route, so one serves them all.
const SUPPRESS: [&str; 4] = ["table", "main", "suppress_prefixlength", "0"];

/// `ip <fam> rule <verb> table main suppress_prefixlength 0`.
fn suppress_rule(fam: &str, verb: &str) -> Result<(), OsError> {
    let mut args = vec![fam, "rule", verb];
    args.extend(SUPPRESS);
    ip(&args).map(drop)
}

/// Whether `ip <fam> rule show` lists a rule containing `needle`.
fn rule_listed(fam: &str, needle: &str) -> bool {
    ip(&[fam, "rule", "show"]).is_ok_and(|o| o.stdout.contains(needle))
}

impl NetConfig {
    /// Configuration of `ifname` (which must exist).
    #[must_use]
    pub fn new(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            rules: Vec::new(),
            defaults: Vec::new(),
            addresses: Vec::new(),
            firewall: Firewall::new(ifname),
            added: HashSet::new(),
            dns: Dns::new(ifname),
            suppress: Vec::new(),
        }
    }

    /// The default routes (`/0`) in place, each with the policy table
    /// (and so the socket mark) it needs.
    #[must_use]
    pub fn default_tables(&self) -> &[(Prefix, u32)] {
        &self.defaults
    }

    /// Registers `servers` for this interface's DNS (see [`Dns::set`]).
    pub fn set_dns(&mut self, servers: &[IpAddr]) -> Result<(), OsError> {
        self.dns.set(servers)
    }

    /// The DNS servers registered for this interface.
    #[must_use]
    pub fn dns_servers(&self) -> &[IpAddr] {
        self.dns.servers()
    }

    /// `ip address add <addr> dev <if>`.
    pub fn add_address(&mut self, addr: &InterfaceAddress) -> Result<(), OsError> {
        let a = addr.to_string();
        ip(&[family(addr.addr), "address", "add", &a, "dev", &self.ifname])?;
        self.addresses.push(addr.addr);
        Ok(())
    }

    /// The routes of one family via the interface in the main table.
    fn routes_via_interface(&self, v6: bool) -> Result<Vec<Prefix>, OsError> {
        let fam = if v6 { "-6" } else { "-4" };
        let out = ip(&[fam, "route", "show", "dev", &self.ifname])?;
        Ok(parse_route_listing(&out.stdout, v6))
    }

    /// The routes of the families in `prefixes` via the interface.
    fn existing_routes(&self, prefixes: &[Prefix]) -> Result<HashSet<Prefix>, OsError> {
        let mut existing = HashSet::new();
        for v6 in [false, true] {
            if prefixes.iter().any(|p| p.addr().is_ipv6() == v6) {
                existing.extend(self.routes_via_interface(v6)?);
            }
        }
        Ok(existing)
    }

    /// Runs `lines` (commands without the leading `ip`) through one
    /// `ip -force -batch -`.
    fn batch(lines: &str) -> Result<BatchOutcome, OsError> {
        let out = complete(
            Command::new("ip").args(BATCH),
            Some(lines.as_bytes()),
            DEFAULT_TIMEOUT,
        )?;
        if out.status.success() {
            return Ok(BatchOutcome::default());
        }
        let refused = batch_failures(&out.stderr);
        let unexplained = refused
            .is_empty()
            .then(|| format!("{}: {}", out.status, out.stderr.trim()));
        Ok(BatchOutcome {
            refused,
            unexplained,
        })
    }

    /// Adds the routes for a set of allowed IPs, `wg-quick` style (see the
    /// module documentation): deduplicated, longest prefix first, covered
    /// prefixes skipped, every other route through one `ip -force -batch -`,
    /// and a `/0` into a policy table with its two rules. `fwmark` is the
    /// device's current mark (0 if none); a default route uses it as its
    /// table when set, else the first table from [`DEFAULT_ROUTE_TABLE`] up
    /// that holds no route (see [`free_table`]), returned in
    /// [`RoutesAdded::policy_table`] for the caller to mark its sockets
    /// with.
    ///
    /// Fails only if `ip` cannot be run at all (or times out); routes it
    /// refuses are in [`RoutesAdded::failed`], the others are added.
    pub fn add_routes(&mut self, prefixes: &[Prefix], fwmark: u32) -> Result<RoutesAdded, OsError> {
        let planned = plan_routes(prefixes);
        let (defaults, specific): (Vec<Prefix>, Vec<Prefix>) =
            planned.into_iter().partition(Prefix::is_default);
        let mut report = RoutesAdded::default();
        let mut to_add = Vec::new();
        if !specific.is_empty() {
            let existing = self.existing_routes(&specific)?;
            let foreign: HashSet<Prefix> = existing.difference(&self.added).copied().collect();
            for p in specific {
                if self.added.contains(&p) {
                    // Ours already (a reload re-adding it): nothing to do.
                } else if covered(&foreign, p) {
                    report.already_routed.push(p);
                } else {
                    to_add.push(p);
                }
            }
        }
        if !to_add.is_empty() {
            let mut lines = String::new();
            for p in &to_add {
                let _ = writeln!(lines, "route add {p} dev {}", self.ifname);
            }
            let BatchOutcome {
                refused: failures,
                unexplained,
            } = Self::batch(&lines)?;
            // When `ip` failed, what is routed now is the truth: a line it
            // aborted on (rather than refused) is not reported per line.
            let now_routed = if failures.is_empty() && unexplained.is_none() {
                None
            } else {
                Some(self.existing_routes(&to_add)?)
            };
            for (i, p) in to_add.into_iter().enumerate() {
                let routed = now_routed.as_ref().is_none_or(|r| r.contains(&p));
                let refused = failures.iter().find(|(n, _)| *n == i + 1);
                if routed && refused.is_none() {
                    self.added.insert(p);
                    report.added.push(p);
                    continue;
                }
                let detail = match (refused, &unexplained) {
                    (Some((_, msg)), _) => msg.clone(),
                    (None, Some(why)) => format!("not routed afterwards; `ip` exited with {why}"),
                    (None, None) => "not routed afterwards".to_owned(),
                };
                report.failed.push(OsError::Command {
                    command: format!(
                        "ip route add {p} dev {} (line {} of `ip {}`)",
                        self.ifname,
                        i + 1,
                        BATCH.join(" ")
                    ),
                    detail,
                });
            }
        }
        // A /0 already in place keeps its route and the table it was given.
        let fresh: Vec<Prefix> = defaults
            .into_iter()
            .filter(|p| !self.defaults.iter().any(|(d, _)| d == p))
            .collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        let table = if fwmark != 0 { fwmark } else { free_table()? };
        for p in fresh {
            match self.add_default_route(p, table) {
                Ok(()) => report.policy_table = Some(table),
                Err(e) => report.failed.push(e),
            }
        }
        Ok(report)
    }

    /// A `/0`: the route into policy table `table`, and the two rules.
    fn add_default_route(&mut self, prefix: Prefix, table: u32) -> Result<(), OsError> {
        let fam = family(prefix.addr());
        let p = prefix.to_string();
        let t = table.to_string();
        ip(&[fam, "route", "add", &p, "dev", &self.ifname, "table", &t])?;
        self.defaults.push((prefix, table));
        // The table is ours now (its default route is); a rule for it can
        // only be a daemon's that was killed before its teardown, so it goes
        // rather than piling up with every crash.
        for _ in 0..STALE_RULES_REMOVED {
            if ip(&[fam, "rule", "delete", "not", "fwmark", &t, "table", &t]).is_err() {
                break;
            }
        }
        self.add_rule(&[fam, "rule", "add", "not", "fwmark", &t, "table", &t])?;
        // One suppress rule serves every tunnel: one already there (another
        // tunnel's, or one a killed daemon left) is used, not doubled, so
        // crashes do not pile them up.
        if !self.suppress.contains(&fam) {
            if !rule_listed(fam, "lookup main suppress_prefixlength 0") {
                suppress_rule(fam, "add")?;
            }
            self.suppress.push(fam);
        }
        if prefix.addr().is_ipv4() {
            // Let reverse-path filtering see the mark, as wg-quick does.
            let _ = std::fs::write("/proc/sys/net/ipv4/conf/all/src_valid_mark", b"1");
        }
        self.guard_firewall(prefix.addr().is_ipv6(), table)
    }

    /// The firewall rules a default route needs (see [`Firewall`]).
    fn guard_firewall(&mut self, v6: bool, table: u32) -> Result<(), OsError> {
        let own: Vec<IpAddr> = self
            .addresses
            .iter()
            .copied()
            .filter(|a| a.is_ipv6() == v6)
            .collect();
        self.firewall.guard(v6, table, &own)
    }

    /// Removes the routes for allowed IPs that are no longer allowed (used
    /// by `reload`): only those this configuration added, through one
    /// `ip -force -batch -`. A route already gone is not an error; `ip`
    /// failing to run is. A default route goes with its policy rules and
    /// firewall rules: left in place, it would keep sending everything
    /// into the tunnel, where no peer would take it any more.
    pub fn remove_routes(&mut self, prefixes: &[Prefix]) -> Result<(), OsError> {
        let mut lines = String::new();
        for p in prefixes {
            if p.is_default() {
                self.remove_default_route(*p);
            } else if self.added.remove(p) {
                let _ = writeln!(lines, "route del {p} dev {}", self.ifname);
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        Self::batch(&lines).map(drop)
    }

    /// Undoes [`NetConfig::add_default_route`] for `prefix`, if it is in
    /// place. Best effort: each step's failure is logged, and the rest
    /// still done.
    fn remove_default_route(&mut self, prefix: Prefix) {
        let Some(at) = self.defaults.iter().position(|(d, _)| *d == prefix) else {
            return;
        };
        let (_, table) = self.defaults.remove(at);
        let fam = family(prefix.addr());
        let (p, t) = (prefix.to_string(), table.to_string());
        if let Err(e) = ip(&[fam, "route", "del", &p, "dev", &self.ifname, "table", &t]) {
            tracing::warn!(interface = %self.ifname, "removing the default route: {e}");
        }
        let (these, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rules)
            .into_iter()
            .partition(|rule| rule.first().map(String::as_str) == Some(fam));
        self.rules = others;
        for rule in these.iter().rev() {
            if let Err(e) = delete_rule(rule) {
                tracing::warn!(interface = %self.ifname, "removing a policy rule: {e}");
            }
        }
        self.release_suppress(fam);
        self.firewall.release(prefix.addr().is_ipv6());
    }

    /// Stops relying on the `suppress_prefixlength 0` rule of family
    /// `fam`; removes it (every copy) if no tunnel's fwmark rule is left in
    /// that family to need it, as `wg-quick` removes them at `down`.
    fn release_suppress(&mut self, fam: &'static str) {
        let Some(at) = self.suppress.iter().position(|f| *f == fam) else {
            return;
        };
        self.suppress.remove(at);
        if rule_listed(fam, "not from all fwmark") {
            return;
        }
        for _ in 0..STALE_RULES_REMOVED {
            if suppress_rule(fam, "delete").is_err() {
                break;
            }
        }
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

    /// Removes the DNS servers and the policy rules this configuration
    /// added. Idempotent; best effort (a rule already gone is fine). Routes
    /// and addresses go with the interface.
    pub fn teardown(&mut self) {
        if let Err(e) = self.dns.set(&[]) {
            tracing::warn!(interface = %self.ifname, "removing DNS servers: {e}");
        }
        self.firewall.teardown();
        self.defaults.clear();
        while let Some(rule) = self.rules.pop() {
            let _ = delete_rule(&rule);
        }
        for fam in self.suppress.clone() {
            self.release_suppress(fam);
        }
    }
}

/// Runs one of the `ip rule delete …` argument lists
/// [`NetConfig::add_rule`] recorded.
fn delete_rule(rule: &[String]) -> Result<(), OsError> {
    let args: Vec<&str> = rule.iter().map(String::as_str).collect();
    ip(&args).map(drop)
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
    fn route_listings_are_read_as_prefixes() {
        // As iproute2 6.1 prints them, host routes without their length.
        let v4 = "10.5.0.0/24 proto kernel scope link src 10.5.0.1 \n\
                  10.6.0.0/16 scope link \n\
                  10.7.0.1 scope link \n\
                  default scope link \n\
                  broadcast 10.5.0.255 proto kernel scope link src 10.5.0.1 \n\
                  \tnexthop via 10.5.0.9 weight 1\n\
                  garbage\n";
        let got: Vec<String> = parse_route_listing(v4, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "10.5.0.0/24",
                "10.6.0.0/16",
                "10.7.0.1/32",
                "0.0.0.0/0",
                "10.5.0.255/32"
            ]
        );
        let v6 = "fd00::/64 metric 1024 pref medium\n\
                  fd00::5 metric 1024 pref medium\n\
                  fe80::/64 proto kernel metric 256 pref medium\n";
        let got: Vec<String> = parse_route_listing(v6, true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["fd00::/64", "fd00::5/128", "fe80::/64"]);
        // A listing of the other family contributes nothing.
        assert!(parse_route_listing(v6, false).is_empty());
    }

    #[test]
    fn covered_means_equal_or_inside() {
        let routes: HashSet<Prefix> = [p("10.5.0.0/24"), p("10.7.0.1/32")].into();
        assert!(covered(&routes, p("10.5.0.0/24")));
        assert!(covered(&routes, p("10.5.0.9/32")));
        assert!(covered(&routes, p("10.7.0.1/32")));
        assert!(!covered(&routes, p("10.5.0.0/23")));
        assert!(!covered(&routes, p("10.7.0.2/32")));
        assert!(!covered(&routes, p("::/0")));
    }

    #[test]
    fn batch_errors_are_tied_to_their_lines() {
        let stderr = "RTNETLINK answers: File exists\n\
                      Command failed -:2\n\
                      Error: Nexthop has invalid gateway.\n\
                      RTNETLINK answers: Invalid argument\n\
                      Command failed -:7\n";
        assert_eq!(
            batch_failures(stderr),
            [
                (2, "RTNETLINK answers: File exists".to_owned()),
                (
                    7,
                    "Error: Nexthop has invalid gateway.; RTNETLINK answers: Invalid argument"
                        .to_owned()
                )
            ]
        );
        assert!(batch_failures("Error: any valid prefix is expected\n").is_empty());
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
