//! What a default route through the tunnel needs from the firewall, as
//! `wg-quick` sets it up, for each address family it routes:
//!
//! * the tunnel's own UDP flows keep their mark in conntrack, and packets
//!   arriving on them get it back before routing. Reverse-path filtering
//!   then looks up the route to the peer's endpoint with the mark, finds it
//!   outside the tunnel, and accepts them: without the mark the lookup
//!   would find the tunnel's default route, and strict filtering (Fedora's
//!   and RHEL's default) would drop every datagram from the peer;
//! * packets for the tunnel's own addresses that arrive on another
//!   interface from a non-local source are dropped, so a neighbour on the
//!   LAN cannot reach the tunnel address or probe the tunnel's connections
//!   through it.
//!
//! Like `wg-quick`, the rules are written with `nft` where it is installed
//! (a table `dybervpn-<if>` per family, deleted whole at teardown), and
//! otherwise with `iptables-restore`/`ip6tables-restore` (rules in the
//! `raw` and `mangle` tables carrying the comment `dybervpn:<if>`, by
//! which teardown finds them in `iptables-save`'s listing). Ubuntu, for
//! one, ships iptables without nftables' command. Unlike `wg-quick`, an
//! `nft` that is installed but fails (no nf_tables in the kernel or the
//! container) falls back to iptables too, where that is installed.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use super::command::{run, run_with_input, DEFAULT_TIMEOUT};
use super::OsError;

/// The program that writes the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Nft,
    Iptables,
}

/// The firewall rules of one interface's default routes, remembered so
/// [`Firewall::teardown`] can remove them (its owner, `NetConfig`, runs it
/// on drop).
#[derive(Debug)]
pub struct Firewall {
    ifname: String,
    /// Each family guarded (`true` for IPv6) and the tool that did it.
    guarded: Vec<(bool, Tool)>,
}

/// The search path when the process has none (`execvp`'s default, with
/// the `sbin` directories where these tools live).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether `program` is an executable file in a directory of `PATH`, as
/// `wg-quick` asks with `type -p`.
fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(Path::new(&dir).join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn restore_program(v6: bool) -> &'static str {
    if v6 {
        "ip6tables-restore"
    } else {
        "iptables-restore"
    }
}

fn save_program(v6: bool) -> &'static str {
    if v6 {
        "ip6tables-save"
    } else {
        "iptables-save"
    }
}

const NEITHER: &str = "neither `nft` (nftables) nor `iptables-restore`/`ip6tables-restore` \
     (iptables) is installed; \
     a default route (an allowed IP of `0.0.0.0/0` or `::/0`) needs one of them \
     (Debian: `apt-get install nftables`)";

impl Firewall {
    /// No rules yet for interface `ifname`.
    #[must_use]
    pub fn new(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            guarded: Vec::new(),
        }
    }

    /// Writes (or rewrites: it is idempotent) the rules for one family,
    /// given the mark of the tunnel's UDP sockets and the interface's own
    /// addresses of that family.
    ///
    /// `nft` first, where installed. If it fails (a kernel or container
    /// without nf_tables, say: `nft -f` applies all or nothing, so nothing
    /// is left half done) and iptables is installed, iptables is tried
    /// next; if that fails too, the error names both.
    pub fn guard(&mut self, v6: bool, mark: u32, own: &[IpAddr]) -> Result<(), OsError> {
        let has_iptables = installed(restore_program(v6));
        let tool = if installed("nft") {
            match nft(&nft_script(v6, &self.ifname, mark, own)) {
                Ok(()) => Tool::Nft,
                Err(e) if has_iptables => {
                    tracing::warn!(
                        interface = %self.ifname,
                        "nft failed ({e}); writing the default route's rules with iptables"
                    );
                    self.write_iptables(v6, mark, own)
                        .map_err(|e2| OsError::Command {
                            command: "nft -f - / iptables-restore -n".to_owned(),
                            detail: format!("both failed: {e}; {e2}"),
                        })?;
                    Tool::Iptables
                }
                Err(e) => return Err(e),
            }
        } else if has_iptables {
            self.write_iptables(v6, mark, own)?;
            Tool::Iptables
        } else {
            return Err(OsError::Command {
                command: "nft -f - / iptables-restore -n".to_owned(),
                detail: NEITHER.to_owned(),
            });
        };
        if !self.guarded.contains(&(v6, tool)) {
            self.guarded.push((v6, tool));
        }
        Ok(())
    }

    /// The rules of one family through `iptables-restore`, replacing any
    /// this interface already has (a killed daemon's would otherwise be
    /// doubled).
    fn write_iptables(&self, v6: bool, mark: u32, own: &[IpAddr]) -> Result<(), OsError> {
        self.remove_iptables(v6)?;
        iptables_restore(v6, &iptables_script(&self.ifname, mark, own))
    }

    /// Removes every rule [`Firewall::guard`] wrote. Idempotent; best
    /// effort (a failure is logged, and the rest still removed).
    pub fn teardown(&mut self) {
        self.release(false);
        self.release(true);
    }

    /// Removes the rules of one family (its default route is gone).
    /// Idempotent; best effort, as [`Firewall::teardown`].
    pub fn release(&mut self, v6: bool) {
        let (these, others): (Vec<_>, Vec<_>) =
            self.guarded.iter().partition(|(family, _)| *family == v6);
        self.guarded = others;
        for (_, tool) in these {
            let result = match tool {
                Tool::Nft => delete_nft_table(v6, &self.ifname),
                Tool::Iptables => self.remove_iptables(v6).map(drop),
            };
            if let Err(e) = result {
                tracing::warn!(interface = %self.ifname, "removing the firewall rules: {e}");
            }
        }
    }

    /// Deletes this interface's iptables rules of one family: those whose
    /// comment names it in `iptables-save`'s listing. Returns whether there
    /// were any.
    fn remove_iptables(&self, v6: bool) -> Result<bool, OsError> {
        let saved = run(&mut Command::new(save_program(v6)), DEFAULT_TIMEOUT)?;
        let script = iptables_deletions(&saved.stdout, &comment(&self.ifname));
        if script.is_empty() {
            return Ok(false);
        }
        iptables_restore(v6, &script).map(|()| true)
    }
}

/// Deletes interface `ifname`'s nftables table of one family.
fn delete_nft_table(v6: bool, ifname: &str) -> Result<(), OsError> {
    nft(&format!(
        "delete table {} {}\n",
        nft_family(v6),
        table_name(ifname)
    ))
}

/// Removes the rules a daemon for `ifname` left behind when it was killed
/// before its teardown (SIGKILL, the OOM killer): its nftables tables and
/// its commented iptables rules, in both families. Returns what it
/// removed, for the operator. Only rules named after `ifname` are touched.
pub fn remove_leftovers(ifname: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for v6 in [false, true] {
        let (family, table) = (nft_family(v6), table_name(ifname));
        if installed("nft")
            && run(
                Command::new("nft").args(["list", "table", family, &table]),
                DEFAULT_TIMEOUT,
            )
            .is_ok()
            && delete_nft_table(v6, ifname).is_ok()
        {
            removed.push(format!("nftables table {family} {table}"));
        }
        if installed(save_program(v6))
            && Firewall::new(ifname)
                .remove_iptables(v6)
                .is_ok_and(|any| any)
        {
            removed.push(format!(
                "{} rules marked {}",
                save_program(v6),
                comment(ifname)
            ));
        }
    }
    removed
}

/// The nftables table of interface `ifname` (one per address family).
fn table_name(ifname: &str) -> String {
    format!("dybervpn-{ifname}")
}

fn nft_family(v6: bool) -> &'static str {
    if v6 {
        "ip6"
    } else {
        "ip"
    }
}

/// The rules (see the module's documentation) as an `nft -f -` script,
/// idempotent: the table is flushed first.
fn nft_script(v6: bool, ifname: &str, mark: u32, own: &[IpAddr]) -> String {
    let family = nft_family(v6);
    let t = format!("{family} {}", table_name(ifname));
    let mut s = format!(
        "add table {t}\nflush table {t}\n\
         add chain {t} preraw {{ type filter hook prerouting priority -300; }}\n\
         add chain {t} premangle {{ type filter hook prerouting priority -150; }}\n\
         add chain {t} postmangle {{ type filter hook postrouting priority -150; }}\n"
    );
    for a in own {
        let _ = writeln!(
            s,
            "add rule {t} preraw iifname != \"{ifname}\" {family} daddr {a} fib saddr type != local drop"
        );
    }
    let _ = writeln!(
        s,
        "add rule {t} postmangle meta l4proto udp mark {mark} ct mark set mark"
    );
    let _ = writeln!(
        s,
        "add rule {t} premangle meta l4proto udp meta mark set ct mark"
    );
    s
}

/// Runs `nft -f -` on `script`.
fn nft(script: &str) -> Result<(), OsError> {
    run_with_input("nft", &["-f", "-"], script, NEITHER)
}

/// The comment marking this interface's iptables rules. Interface names
/// are letters, digits, `_`, `-` and `.` only, so it needs no quoting.
fn comment(ifname: &str) -> String {
    format!("dybervpn:{ifname}")
}

/// The same rules as [`nft_script`], as `iptables-restore -n` (or
/// `ip6tables-restore -n`) input: the same for both families.
fn iptables_script(ifname: &str, mark: u32, own: &[IpAddr]) -> String {
    let c = comment(ifname);
    let mut s = String::new();
    if !own.is_empty() {
        s.push_str("*raw\n");
        for a in own {
            let _ = writeln!(
                s,
                "-I PREROUTING ! -i {ifname} -d {a} -m addrtype ! --src-type LOCAL \
                 -m comment --comment \"{c}\" -j DROP"
            );
        }
        s.push_str("COMMIT\n");
    }
    let _ = write!(
        s,
        "*mangle\n\
         -I POSTROUTING -p udp -m mark --mark {mark} -m comment --comment \"{c}\" \
         -j CONNMARK --save-mark\n\
         -I PREROUTING -p udp -m comment --comment \"{c}\" -j CONNMARK --restore-mark\n\
         COMMIT\n"
    );
    s
}

/// From an `iptables-save` listing, the `iptables-restore -n` input that
/// deletes every rule carrying comment `c` (and nothing else): each such
/// `-A` line turned into `-D`, under its table. Empty if there is none.
fn iptables_deletions(saved: &str, c: &str) -> String {
    let mut out = String::new();
    let mut table = "";
    let mut rules: Vec<String> = Vec::new();
    for line in saved.lines() {
        if line.starts_with('*') {
            table = line;
            rules.clear();
        } else if line == "COMMIT" {
            if !rules.is_empty() {
                let _ = writeln!(out, "{table}");
                for r in rules.drain(..) {
                    let _ = writeln!(out, "{r}");
                }
                out.push_str("COMMIT\n");
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            if has_comment(rule, c) {
                rules.push(format!("-D {rule}"));
            }
        }
    }
    out
}

/// Whether a rule's `--comment` is exactly `c` (quoted or not), so that
/// `dybervpn:wg0` does not match `dybervpn:wg01`.
fn has_comment(rule: &str, c: &str) -> bool {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--comment" && words.next().map(|v| v.trim_matches('"')) == Some(c) {
            return true;
        }
    }
    false
}

fn iptables_restore(v6: bool, script: &str) -> Result<(), OsError> {
    run_with_input(restore_program(v6), &["-n"], script, NEITHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_route_gets_wg_quick_s_nftables_rules() {
        let own: Vec<IpAddr> = vec!["10.8.0.2".parse().expect("ip")];
        let script = nft_script(false, "wg0", 51820, &own);
        assert_eq!(
            script,
            "add table ip dybervpn-wg0\n\
             flush table ip dybervpn-wg0\n\
             add chain ip dybervpn-wg0 preraw { type filter hook prerouting priority -300; }\n\
             add chain ip dybervpn-wg0 premangle { type filter hook prerouting priority -150; }\n\
             add chain ip dybervpn-wg0 postmangle { type filter hook postrouting priority -150; }\n\
             add rule ip dybervpn-wg0 preraw iifname != \"wg0\" ip daddr 10.8.0.2 \
             fib saddr type != local drop\n\
             add rule ip dybervpn-wg0 postmangle meta l4proto udp mark 51820 ct mark set mark\n\
             add rule ip dybervpn-wg0 premangle meta l4proto udp meta mark set ct mark\n"
        );
        let v6 = nft_script(true, "wg0", 7, &["fd00::2".parse().expect("ip")]);
        assert!(v6.contains("ip6 daddr fd00::2 fib"), "{v6}");
        assert!(v6.contains("udp mark 7 ct mark set mark"), "{v6}");
    }

    #[test]
    fn without_nft_the_same_rules_go_through_iptables_restore() {
        let own: Vec<IpAddr> = vec!["10.8.0.2".parse().expect("ip")];
        assert_eq!(
            iptables_script("wg0", 51820, &own),
            "*raw\n\
             -I PREROUTING ! -i wg0 -d 10.8.0.2 -m addrtype ! --src-type LOCAL \
             -m comment --comment \"dybervpn:wg0\" -j DROP\n\
             COMMIT\n\
             *mangle\n\
             -I POSTROUTING -p udp -m mark --mark 51820 -m comment --comment \"dybervpn:wg0\" \
             -j CONNMARK --save-mark\n\
             -I PREROUTING -p udp -m comment --comment \"dybervpn:wg0\" \
             -j CONNMARK --restore-mark\n\
             COMMIT\n"
        );
        // No address of the family: no raw table at all.
        assert!(iptables_script("wg0", 7, &[]).starts_with("*mangle\n"));
    }

    #[test]
    fn teardown_deletes_only_this_interface_s_iptables_rules() {
        // iptables-save's listing (1.8.9) after two interfaces' rules and
        // one of the administrator's.
        let saved = "# Generated by iptables-save v1.8.9 (nf_tables)\n\
            *mangle\n\
            :PREROUTING ACCEPT [0:0]\n\
            :POSTROUTING ACCEPT [0:0]\n\
            -A PREROUTING -p udp -m comment --comment \"dybervpn:wg01\" -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n\
            -A PREROUTING -p udp -m comment --comment \"dybervpn:wg0\" -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n\
            -A POSTROUTING -p udp -m mark --mark 0xca6c -m comment --comment dybervpn:wg0 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff\n\
            COMMIT\n\
            # Completed\n\
            *filter\n\
            -A INPUT -p tcp --dport 22 -j ACCEPT\n\
            COMMIT\n\
            *raw\n\
            -A PREROUTING -d 10.8.0.2/32 ! -i wg0 -m addrtype ! --src-type LOCAL -m comment --comment \"dybervpn:wg0\" -j DROP\n\
            COMMIT\n";
        assert_eq!(
            iptables_deletions(saved, "dybervpn:wg0"),
            "*mangle\n\
             -D PREROUTING -p udp -m comment --comment \"dybervpn:wg0\" -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n\
             -D POSTROUTING -p udp -m mark --mark 0xca6c -m comment --comment dybervpn:wg0 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff\n\
             COMMIT\n\
             *raw\n\
             -D PREROUTING -d 10.8.0.2/32 ! -i wg0 -m addrtype ! --src-type LOCAL -m comment --comment \"dybervpn:wg0\" -j DROP\n\
             COMMIT\n"
        );
        assert_eq!(iptables_deletions(saved, "dybervpn:wg9"), "");
    }

    #[test]
    fn installed_looks_for_an_executable_on_the_path() {
        assert!(installed("sh"));
        assert!(!installed("dybervpn-no-such-program"));
    }
}
