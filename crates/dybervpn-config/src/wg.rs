//! WireGuard `.conf` import and export.
//!
//! Import reads the format `wg setconf` and `wg-quick` read: `[Interface]`
//! and `[Peer]` sections, `Key = Value` lines, keys without regard to case,
//! comma-separated lists, `#` comments, and repeated list keys accumulating.
//! The result is a classic-mode configuration that goes through the same
//! checks as a TOML file. `wg-quick`'s hooks (`PostUp` and friends), `Table`
//! and `SaveConfig` have no DyberVPN equivalent: they are dropped with a
//! warning, as are DNS search domains.
//!
//! Export writes a classic-mode configuration as a `.conf` file and refuses
//! anything WireGuard cannot speak.

use std::fmt;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use dybervpn_crypto::{PresharedKey, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;
use zeroize::Zeroizing;

use crate::cidr::Cidr;
use crate::diag::{self, ConfigErrors, Problem};
use crate::draft::{Ctx, InterfaceDraft, PeerDraft, Sp};
use crate::endpoint::Endpoint;
use crate::model::{Config, Loaded};
use crate::{suggest, validate};

const INTERFACE_KEYS: &[&str] = &[
    "PrivateKey",
    "ListenPort",
    "FwMark",
    "Address",
    "DNS",
    "MTU",
    "Table",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "SaveConfig",
];
const PEER_KEYS: &[&str] = &[
    "PublicKey",
    "PresharedKey",
    "Endpoint",
    "AllowedIPs",
    "PersistentKeepalive",
];

enum Section {
    None,
    Interface,
    Peer(usize),
}

/// Imports a WireGuard `.conf` text as a classic-mode configuration. `path`
/// names the file in diagnostics.
pub fn import(text: &str, path: &Path) -> Result<Loaded, ConfigErrors> {
    let mut ctx = Ctx::new(path, text);
    let mut iface: Option<InterfaceDraft> = None;
    let mut peers: Vec<PeerDraft> = Vec::new();
    let mut section = Section::None;
    // A byte-order mark, as Windows editors save files: not part of the
    // first line.
    let (body, mut offset) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (text, 0),
    };
    for raw_line in body.split_inclusive('\n') {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.split('#').next().unwrap_or("");
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let start = line_start + indent;
        if trimmed.starts_with('[') {
            let span = start..start + trimmed.len();
            match trimmed.to_ascii_lowercase().as_str() {
                "[interface]" => {
                    if iface.is_some() {
                        ctx.report(span.clone(), "", syntax("a second [Interface] section"));
                    }
                    iface.get_or_insert_with(|| InterfaceDraft {
                        span,
                        mode: Some(Sp::new(Mode::Classic, 0..0)),
                        ..InterfaceDraft::default()
                    });
                    section = Section::Interface;
                }
                "[peer]" => {
                    peers.push(PeerDraft {
                        span,
                        ..PeerDraft::default()
                    });
                    section = Section::Peer(peers.len() - 1);
                }
                _ => {
                    ctx.report(
                        span,
                        "",
                        syntax("unknown section; expected [Interface] or [Peer]"),
                    );
                    section = Section::None;
                }
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            ctx.report(start..start, "", syntax("expected Key = Value"));
            continue;
        };
        let key = key.trim();
        let value_text = value.trim();
        let value_start = start + trimmed.len() - value.trim_start().len();
        let value = Sp::new(value_text, value_start..value_start + value_text.len());
        let key_span = start..start + key.len();
        match &section {
            Section::None => ctx.report(
                key_span,
                "",
                syntax("a key outside any section; put it under [Interface] or [Peer]"),
            ),
            Section::Interface => {
                if let Some(d) = iface.as_mut() {
                    interface_line(&mut ctx, d, key, key_span, &value);
                }
            }
            Section::Peer(i) => {
                let i = *i;
                if let Some(d) = peers.get_mut(i) {
                    peer_line(&mut ctx, d, i, key, key_span, &value);
                }
            }
        }
    }
    if iface.is_none() {
        ctx.report(0..0, "", syntax("no [Interface] section"));
    }
    let config = validate::validate(&mut ctx, iface, peers);
    let warnings = diag::finish(ctx.diags)?;
    match config {
        Some(config) => Ok(Loaded { config, warnings }),
        None => Err(ConfigErrors {
            diagnostics: vec![crate::Diagnostic::whole_file(
                path,
                "",
                syntax("configuration is incomplete"),
            )],
        }),
    }
}

fn syntax(message: &str) -> Problem {
    Problem::Syntax {
        message: message.to_owned(),
    }
}

fn invalid(ctx: &mut Ctx<'_>, v: &Sp<&str>, field: &str, reason: impl Into<String>) {
    ctx.report(
        v.span.clone(),
        field,
        Problem::InvalidValue {
            value: v.value.to_owned(),
            reason: reason.into(),
        },
    );
}

/// A number, or `off` (0), as `wg` reads them; hexadecimal with `0x`.
fn number(ctx: &mut Ctx<'_>, v: &Sp<&str>, field: &str, max: u64) -> Option<u64> {
    let t = v.value;
    let n = if t.eq_ignore_ascii_case("off") {
        Some(0)
    } else if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else {
        t.parse::<u64>().ok()
    };
    match n {
        Some(n) if n <= max => Some(n),
        Some(_) => {
            ctx.report(
                v.span.clone(),
                field,
                Problem::OutOfRange {
                    value: t.to_owned(),
                    min: 0,
                    max: i64::try_from(max).unwrap_or(i64::MAX),
                    note: "",
                },
            );
            None
        }
        None => {
            invalid(ctx, v, field, "not a number");
            None
        }
    }
}

/// Splits a comma-separated list, keeping each item's span.
fn items<'t>(v: &Sp<&'t str>) -> Vec<Sp<&'t str>> {
    let mut out = Vec::new();
    let mut pos = v.span.start;
    for part in v.value.split(',') {
        let lead = part.len() - part.trim_start().len();
        let item = part.trim();
        if !item.is_empty() {
            out.push(Sp::new(item, pos + lead..pos + lead + item.len()));
        }
        pos += part.len() + 1;
    }
    out
}

fn cidrs(ctx: &mut Ctx<'_>, v: &Sp<&str>, field: &str) -> Vec<Sp<Cidr>> {
    let mut out = Vec::new();
    for item in items(v) {
        match item.value.parse::<Cidr>() {
            Ok(c) => out.push(Sp::new(c, item.span)),
            Err(reason) => invalid(ctx, &item, field, reason),
        }
    }
    out
}

fn unknown(ctx: &mut Ctx<'_>, span: Range<usize>, field: &str, key: &str, known: &[&str]) {
    ctx.report(
        span,
        field,
        Problem::UnknownKey {
            key: key.to_owned(),
            suggestion: suggest::closest(key, known).map(str::to_owned),
        },
    );
}

fn interface_line(
    ctx: &mut Ctx<'_>,
    d: &mut InterfaceDraft,
    key: &str,
    key_span: Range<usize>,
    v: &Sp<&str>,
) {
    match key.to_ascii_lowercase().as_str() {
        "privatekey" => {
            d.private_key_given = true;
            let f = "interface.private_key";
            match X25519SecretKey::from_base64(f, v.value) {
                Ok(k) => d.private_key = Some(Sp::new(k, v.span.clone())),
                Err(e) => ctx.report(v.span.clone(), f, Problem::BadKey(e)),
            }
        }
        "listenport" => {
            let n = number(ctx, v, "interface.listen_port", 65535);
            d.listen_port = n.and_then(|n| u16::try_from(n).ok()).filter(|&p| p != 0);
        }
        "fwmark" => {
            let n = number(ctx, v, "interface.fwmark", u32::MAX.into());
            d.fwmark = n.and_then(|n| u32::try_from(n).ok()).filter(|&m| m != 0);
        }
        "address" => d.address.extend(cidrs(ctx, v, "interface.address")),
        "dns" => {
            for item in items(v) {
                match item.value.parse() {
                    Ok(ip) => d.dns.push(ip),
                    Err(_) => ctx.report(
                        item.span,
                        "interface.dns",
                        Problem::Ignored {
                            reason: "DNS search domains are not supported",
                        },
                    ),
                }
            }
        }
        "mtu" => {
            let f = "interface.mtu";
            if let Some(n) = number(ctx, v, f, u16::MAX.into()) {
                let (min, max) = (crate::model::MIN_MTU, crate::model::MAX_MTU);
                match u16::try_from(n).ok().filter(|n| (min..=max).contains(n)) {
                    Some(n) => d.mtu = Some(Sp::new(n, v.span.clone())),
                    None => ctx.report(
                        v.span.clone(),
                        f,
                        Problem::OutOfRange {
                            value: v.value.to_owned(),
                            min: min.into(),
                            max: max.into(),
                            note: "",
                        },
                    ),
                }
            }
        }
        "table" | "preup" | "postup" | "predown" | "postdown" | "saveconfig" => ctx.report(
            key_span,
            format!("Interface.{key}"),
            Problem::Ignored {
                reason: "a wg-quick setting DyberVPN has no equivalent for",
            },
        ),
        _ => unknown(ctx, key_span, "Interface", key, INTERFACE_KEYS),
    }
}

fn peer_line(
    ctx: &mut Ctx<'_>,
    d: &mut PeerDraft,
    i: usize,
    key: &str,
    key_span: Range<usize>,
    v: &Sp<&str>,
) {
    match key.to_ascii_lowercase().as_str() {
        "publickey" => {
            d.public_key_given = true;
            let f = format!("peer[{i}].public_key");
            match X25519PublicKey::from_base64(&f, v.value) {
                Ok(k) => d.public_key = Some(Sp::new(k, v.span.clone())),
                Err(e) => ctx.report(v.span.clone(), f, Problem::BadKey(e)),
            }
        }
        "presharedkey" => {
            let f = format!("peer[{i}].preshared_key");
            match PresharedKey::from_base64(&f, v.value) {
                Ok(k) => d.preshared_key = Some(k),
                Err(e) => ctx.report(v.span.clone(), f, Problem::BadKey(e)),
            }
        }
        "endpoint" => match v.value.parse::<Endpoint>() {
            Ok(e) => d.endpoint = Some(e),
            Err(reason) => invalid(ctx, v, &format!("peer[{i}].endpoint"), reason),
        },
        "allowedips" => {
            let f = format!("peer[{i}].allowed_ips");
            d.allowed_ips.extend(cidrs(ctx, v, &f));
        }
        "persistentkeepalive" => {
            let n = number(ctx, v, &format!("peer[{i}].persistent_keepalive"), 65535);
            d.persistent_keepalive = n.and_then(|n| u16::try_from(n).ok()).filter(|&k| k != 0);
        }
        _ => unknown(ctx, key_span, &format!("Peer[{i}]"), key, PEER_KEYS),
    }
}

/// Why a configuration cannot be written as a WireGuard `.conf` file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The interface's default mode is post-quantum: exporting would silently
    /// make it (and any peer added later) classic.
    InterfaceNotClassic {
        /// The interface's mode.
        mode: Mode,
    },
    /// A peer uses a post-quantum mode, which WireGuard cannot speak.
    NotClassic {
        /// The peer's index.
        peer: usize,
        /// Its name, if any.
        name: Option<String>,
        /// Its effective mode.
        mode: Mode,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InterfaceNotClassic { mode } => write!(
                f,
                "the interface uses {mode} mode, which WireGuard cannot speak; set \
                 interface.mode = \"classic\" to export"
            ),
            Self::NotClassic { peer, name, mode } => {
                write!(f, "peer[{peer}]")?;
                if let Some(n) = name {
                    write!(f, " ({n:?})")?;
                }
                write!(
                    f,
                    " uses {mode} mode, which WireGuard cannot speak; only classic-mode \
                     peers can be exported to a .conf file"
                )
            }
        }
    }
}

impl std::error::Error for ExportError {}

impl Config {
    /// The configuration as a WireGuard `.conf` file (wiped on drop: it holds
    /// the private key). Refuses if the interface's or any peer's mode is not
    /// classic. Fields WireGuard has no place for (backend, metrics, log
    /// format) are left out; peer names become comments.
    pub fn to_wg_conf(&self) -> Result<Zeroizing<String>, ExportError> {
        if self.interface.mode != Mode::Classic {
            return Err(ExportError::InterfaceNotClassic {
                mode: self.interface.mode,
            });
        }
        if let Some((i, p)) = self
            .peers
            .iter()
            .enumerate()
            .find(|(_, p)| p.mode != Mode::Classic)
        {
            return Err(ExportError::NotClassic {
                peer: i,
                name: p.name.clone(),
                mode: p.mode,
            });
        }
        let mut s = Zeroizing::new(String::new());
        // Writing to a String cannot fail.
        let _ = self.write_wg(&mut s);
        Ok(s)
    }

    fn write_wg(&self, s: &mut String) -> fmt::Result {
        let i = &self.interface;
        writeln!(s, "[Interface]")?;
        writeln!(s, "PrivateKey = {}", i.private_key.to_base64().as_str())?;
        if let Some(p) = i.listen_port {
            writeln!(s, "ListenPort = {p}")?;
        }
        if let Some(m) = i.fwmark {
            writeln!(s, "FwMark = {m:#x}")?;
        }
        if !i.address.is_empty() {
            writeln!(s, "Address = {}", join(&i.address))?;
        }
        if !i.dns.is_empty() {
            writeln!(s, "DNS = {}", join(&i.dns))?;
        }
        if i.mtu != crate::model::DEFAULT_MTU {
            writeln!(s, "MTU = {}", i.mtu)?;
        }
        for p in &self.peers {
            writeln!(s)?;
            if let Some(n) = &p.name {
                writeln!(s, "# {}", n.replace('\n', " "))?;
            }
            writeln!(s, "[Peer]")?;
            writeln!(s, "PublicKey = {}", p.public_key.to_base64())?;
            if let Some(k) = &p.preshared_key {
                writeln!(s, "PresharedKey = {}", k.to_base64().as_str())?;
            }
            if let Some(e) = &p.endpoint {
                writeln!(s, "Endpoint = {e}")?;
            }
            writeln!(s, "AllowedIPs = {}", join(&p.allowed_ips))?;
            if let Some(k) = p.persistent_keepalive {
                writeln!(s, "PersistentKeepalive = {k}")?;
            }
        }
        Ok(())
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
