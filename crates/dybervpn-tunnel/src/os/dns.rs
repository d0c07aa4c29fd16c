//! An interface's DNS servers, as `wg-quick` registers them: the `dns`
//! servers go to `resolvconf -a <name> -m 0 -x` as `nameserver` lines on
//! standard input, and `resolvconf -d <name> -f` takes them away on
//! teardown. `<name>` is the interface's,
//! prefixed as Debian's resolvconf orders interfaces: the first `name*`
//! pattern in `/etc/resolvconf/interface-order` (`tun*` there) gives the
//! prefix `name.` (`tun.wg0`), so the tunnel's servers come first.
//! openresolv and systemd-resolved's `resolvconf` take the plain name.
//!
//! An empty list registers nothing and removes what was registered, which
//! is also what the interface's teardown does.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::IpAddr;

use super::command::run_with_input;
use super::OsError;

/// Where Debian's resolvconf lists the order in which interfaces' servers
/// are used.
const INTERFACE_ORDER: &str = "/etc/resolvconf/interface-order";

/// The name under which `resolvconf` records `ifname`'s servers, given the
/// text of [`INTERFACE_ORDER`] if the file exists (see the module
/// documentation).
fn resolvconf_record(ifname: &str, interface_order: Option<&str>) -> String {
    let prefix = interface_order.and_then(|text| {
        text.lines().map(str::trim).find_map(|line| {
            let name = line.strip_suffix('*')?;
            let plain =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            plain.then_some(name)
        })
    });
    match prefix {
        Some(p) => format!("{p}.{ifname}"),
        None => ifname.to_owned(),
    }
}

/// What `resolvconf -a` reads: one `nameserver` line per server.
fn resolvconf_input(servers: &[IpAddr]) -> String {
    servers.iter().fold(String::new(), |mut s, ip| {
        let _ = writeln!(s, "nameserver {ip}");
        s
    })
}

/// Runs `resolvconf` with `args`, feeding it `input`.
fn resolvconf(args: &[&str], input: &str) -> Result<(), OsError> {
    run_with_input(
        "resolvconf",
        args,
        input,
        "`resolvconf` is not installed; the `dns` setting needs it (Debian: \
         `apt-get install openresolv`, or systemd-resolved's `resolvconf`), \
         or remove `dns` from the configuration",
    )
}

/// The DNS servers registered for one interface.
#[derive(Debug)]
pub struct Dns {
    ifname: String,
    /// The `resolvconf` record name and its servers, once registered.
    registered: Option<(String, Vec<IpAddr>)>,
}

impl Dns {
    /// Nothing registered yet for `ifname`.
    #[must_use]
    pub fn new(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            registered: None,
        }
    }

    /// Registers `servers` with `resolvconf` for the interface, replacing
    /// what was registered before; an empty list removes the record. Does
    /// nothing if `servers` are the ones registered.
    pub fn set(&mut self, servers: &[IpAddr]) -> Result<(), OsError> {
        if servers == self.servers() {
            return Ok(());
        }
        if servers.is_empty() {
            return self.remove();
        }
        let order = std::fs::read_to_string(INTERFACE_ORDER).ok();
        let record = resolvconf_record(&self.ifname, order.as_deref());
        resolvconf(
            &["-a", &record, "-m", "0", "-x"],
            &resolvconf_input(servers),
        )?;
        self.registered = Some((record, servers.to_vec()));
        Ok(())
    }

    /// The servers registered for the interface.
    #[must_use]
    pub fn servers(&self) -> &[IpAddr] {
        self.registered
            .as_ref()
            .map_or(&[], |(_, servers)| servers.as_slice())
    }

    /// Removes the servers [`Dns::set`] registered, if any.
    fn remove(&mut self) -> Result<(), OsError> {
        match self.registered.take() {
            Some((record, _)) => resolvconf(&["-d", &record, "-f"], ""),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvconf_records_take_the_first_plain_pattern_as_prefix() {
        // Debian resolvconf's own interface-order, abridged.
        let debian = "# interface-order(5)\nlo.inet6\nlo.inet\nlo.@(dnsmasq|pdnsd)\n\
                      lo.!(pdns|pdns-recursor)\nlo\ntun*\ntap*\nhso*\nem+([0-9])?(_+([0-9]))*\n\
                      *\n";
        assert_eq!(resolvconf_record("wg0", Some(debian)), "tun.wg0");
        assert_eq!(
            resolvconf_record("wg0", Some("  vpn-x* \ntun*\n")),
            "vpn-x.wg0"
        );
        // No file (openresolv, systemd-resolved), or no plain pattern in it.
        assert_eq!(resolvconf_record("wg0", None), "wg0");
        assert_eq!(
            resolvconf_record("wg0", Some("lo\n*\nem+([0-9])*\n")),
            "wg0"
        );
    }

    #[test]
    fn resolvconf_reads_one_nameserver_line_per_server() {
        let servers: Vec<IpAddr> = ["10.0.0.53", "fd00::53"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect();
        assert_eq!(
            resolvconf_input(&servers),
            "nameserver 10.0.0.53\nnameserver fd00::53\n"
        );
    }
}
