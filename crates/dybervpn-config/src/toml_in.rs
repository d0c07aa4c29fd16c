//! Reading the TOML document into drafts: syntax, unknown keys, types and
//! single-field values. Every problem is reported; reading goes on past it.

use std::fmt::Write as _;
use std::ops::Range;
use std::str::FromStr;

use dybervpn_crypto::{MlDsaPublicKey, MlDsaSeed, PresharedKey, X25519PublicKey, X25519SecretKey};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::Problem;
use crate::draft::{Ctx, InterfaceDraft, PeerDraft, Sp};
use crate::keyfile;
use crate::suggest;

/// Keys of the `[interface]` table.
pub const INTERFACE_KEYS: &[&str] = &[
    "private_key",
    "private_key_file",
    "listen_port",
    "address",
    "mode",
    "mldsa_private_key",
    "mldsa_private_key_file",
    "mtu",
    "dns",
    "fwmark",
    "crypto_backend",
    "metrics_listen",
    "log_format",
];

/// Keys of a `[[peer]]` table.
pub const PEER_KEYS: &[&str] = &[
    "name",
    "public_key",
    "mode",
    "mldsa_public_key",
    "preshared_key",
    "endpoint",
    "allowed_ips",
    "persistent_keepalive",
];

const TOP_KEYS: &[&str] = &["interface", "peer"];

/// How each key's value is written, for a syntax error in one: the
/// parser's own message says what it met ("invalid float" for
/// `address = 10.0.0.1/24`), not what the key takes.
const EXAMPLES: &[(&str, &str)] = &[
    ("private_key", r#"private_key = "<base64 key>""#),
    (
        "private_key_file",
        r#"private_key_file = "/etc/dybervpn/dv0.key""#,
    ),
    ("listen_port", "listen_port = 51820 (one port)"),
    ("address", r#"address = ["10.8.0.1/24", "fd00:8::1/64"]"#),
    ("mode", r#"mode = "hybrid""#),
    (
        "mldsa_private_key",
        r#"mldsa_private_key = "<base64 seed>""#,
    ),
    (
        "mldsa_private_key_file",
        r#"mldsa_private_key_file = "/etc/dybervpn/dv0.mldsa""#,
    ),
    ("mtu", "mtu = 1420"),
    ("dns", r#"dns = ["10.8.0.1"]"#),
    ("fwmark", "fwmark = 51820"),
    ("crypto_backend", r#"crypto_backend = "aws-lc""#),
    ("metrics_listen", r#"metrics_listen = "127.0.0.1:9090""#),
    ("log_format", r#"log_format = "json""#),
    ("name", r#"name = "laptop""#),
    ("public_key", r#"public_key = "<base64 key>""#),
    ("mldsa_public_key", r#"mldsa_public_key = "<base64 key>""#),
    ("preshared_key", r#"preshared_key = "<base64 key>""#),
    ("endpoint", r#"endpoint = "vpn.example.com:51820""#),
    ("allowed_ips", r#"allowed_ips = ["10.8.0.2/32"]"#),
    ("persistent_keepalive", "persistent_keepalive = 25"),
];

/// The example for the key whose value holds byte `at` of `text`, on a
/// line `key = value`.
fn example_for_value_at(text: &str, at: usize) -> Option<&'static str> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let eq = line.find('=')?;
    let key = line.get(..eq)?.trim();
    if at <= line_start + eq {
        return None;
    }
    EXAMPLES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, example)| *example)
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Whether `s` is a TOML bare key (letters, digits, `_` and `-`): what a
/// duplicate-key error may quote without quoting anything else.
fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `text` into drafts. `None` for the interface when it is missing or
/// unreadable (already reported).
pub(crate) fn read(ctx: &mut Ctx<'_>) -> (Option<InterfaceDraft>, Vec<PeerDraft>) {
    let text = ctx.text;
    let (root, errors) = DeTable::parse_recoverable(text);
    let had_syntax_errors = !errors.is_empty();
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        let mut message = format!("invalid TOML: {}", e.message().trim_end());
        // The parser says which error, not which key: the span is the key.
        if e.message().trim_end() == "duplicate key" {
            if let Some(key) = text.get(span.clone()).filter(|k| is_bare_key(k)) {
                message = format!(
                    "invalid TOML: duplicate key {key:?}; a key may be given once in a table"
                );
            }
        }
        if let Some(example) = example_for_value_at(text, span.start) {
            let _ = write!(message, "; write it like {example}");
        }
        ctx.report(span, "", Problem::Syntax { message });
    }
    let mut interface = None;
    let mut peers = Vec::new();
    for (key, value) in root.get_ref() {
        match key.get_ref().as_ref() {
            "interface" => match value.get_ref() {
                DeValue::Table(t) => interface = Some(read_interface(ctx, t, value.span())),
                other => wrong_type(
                    ctx,
                    value.span(),
                    "interface",
                    "a table ([interface])",
                    other,
                ),
            },
            "peer" => match value.get_ref() {
                DeValue::Array(items) => {
                    for item in items {
                        let i = peers.len();
                        match item.get_ref() {
                            DeValue::Table(t) => peers.push(read_peer(ctx, t, item.span(), i)),
                            other => {
                                wrong_type(
                                    ctx,
                                    item.span(),
                                    format!("peer[{i}]"),
                                    "a table",
                                    other,
                                );
                                peers.push(PeerDraft::default());
                            }
                        }
                    }
                }
                DeValue::Table(_) => ctx.report(
                    value.span(),
                    "peer",
                    Problem::WrongType {
                        expected: "an array of tables: write [[peer]], with double brackets",
                        found: "a single table ([peer])",
                    },
                ),
                other => wrong_type(
                    ctx,
                    value.span(),
                    "peer",
                    "an array of tables ([[peer]])",
                    other,
                ),
            },
            other => unknown(ctx, key.span(), "", other, TOP_KEYS),
        }
    }
    if interface.is_none() && !had_syntax_errors {
        ctx.report(0..0, "interface", Problem::Missing);
    }
    (interface, peers)
}

fn unknown(ctx: &mut Ctx<'_>, span: Range<usize>, table: &str, key: &str, known: &[&str]) {
    let suggestion = suggest::closest(key, known).map(str::to_owned);
    ctx.report(
        span,
        table,
        Problem::UnknownKey {
            key: key.to_owned(),
            suggestion,
        },
    );
}

fn wrong_type(
    ctx: &mut Ctx<'_>,
    span: Range<usize>,
    field: impl Into<String>,
    expected: &'static str,
    found: &DeValue<'_>,
) {
    ctx.report(
        span,
        field,
        Problem::WrongType {
            expected,
            found: type_name(found),
        },
    );
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn string<'v>(ctx: &mut Ctx<'_>, v: &'v Value<'_>, field: &str) -> Option<&'v str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        other => {
            wrong_type(ctx, v.span(), field, "a string", other);
            None
        }
    }
}

/// A peer's name: it labels log lines and metric series, so a control
/// character (a newline would forge a log line) is refused.
fn peer_name(ctx: &mut Ctx<'_>, v: &Value<'_>, field: &str) -> Option<String> {
    let s = string(ctx, v, field)?;
    if s.chars().any(char::is_control) {
        ctx.report(
            v.span(),
            field,
            Problem::InvalidValue {
                value: s.to_owned(),
                reason: "a name labels log lines and metrics, so it may not contain control characters (newlines, tabs, escapes)".to_owned(),
            },
        );
        return None;
    }
    Some(s.to_owned())
}

/// A string parsed with `T::from_str`, whose error becomes the reason.
fn parsed<T: FromStr<Err = String>>(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    field: &str,
) -> Option<Sp<T>> {
    let s = string(ctx, v, field)?;
    match s.parse::<T>() {
        Ok(t) => Some(Sp::new(t, v.span())),
        Err(reason) => {
            ctx.report(
                v.span(),
                field,
                Problem::InvalidValue {
                    value: s.to_owned(),
                    reason,
                },
            );
            None
        }
    }
}

/// A list of strings parsed with `T::from_str`; a single string is taken as
/// a list of one.
fn list<T: FromStr<Err = String>>(ctx: &mut Ctx<'_>, v: &Value<'_>, field: &str) -> Vec<Sp<T>> {
    match v.get_ref() {
        DeValue::String(_) => parsed(ctx, v, field).into_iter().collect(),
        DeValue::Array(items) => items.iter().filter_map(|i| parsed(ctx, i, field)).collect(),
        other => {
            wrong_type(ctx, v.span(), field, "a list of strings", other);
            Vec::new()
        }
    }
}

/// An integer in `min..=max`.
fn integer(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    field: &str,
    min: i64,
    max: i64,
    note: &'static str,
) -> Option<i64> {
    let DeValue::Integer(i) = v.get_ref() else {
        wrong_type(ctx, v.span(), field, "an integer", v.get_ref());
        return None;
    };
    let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
    match n {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            ctx.report(
                v.span(),
                field,
                Problem::OutOfRange {
                    value: i.to_string(),
                    min,
                    max,
                    note,
                },
            );
            None
        }
    }
}

/// A base64 key decoded with `decode`, bad keys reported as such.
fn key<T>(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    field: &str,
    decode: impl Fn(&str, &str) -> Result<T, dybervpn_crypto::KeyError>,
) -> Option<Sp<T>> {
    let s = string(ctx, v, field)?;
    match decode(field, s) {
        Ok(k) => Some(Sp::new(k, v.span())),
        Err(e) => {
            ctx.report(v.span(), field, Problem::BadKey(e));
            None
        }
    }
}

fn read_interface(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: Range<usize>) -> InterfaceDraft {
    let mut d = InterfaceDraft {
        span,
        ..InterfaceDraft::default()
    };
    for (k, v) in table {
        let name = k.get_ref().as_ref();
        let field = format!("interface.{name}");
        let f = field.as_str();
        match name {
            "private_key" => {
                d.private_key_given = true;
                d.private_key = key(ctx, v, f, X25519SecretKey::from_base64);
            }
            "private_key_file" => {
                d.private_key_given = true;
                if let Some(path) = string(ctx, v, f) {
                    d.private_key_file = Some(path.into());
                    let read = keyfile::read(ctx, path, v.span(), f, X25519SecretKey::from_base64);
                    if let Some(secret) = read {
                        // Only one of the two may be given; the draft keeps the
                        // file's key unless the inline one was read already.
                        d.private_key.get_or_insert(Sp::new(secret, v.span()));
                    }
                }
            }
            "listen_port" => {
                d.listen_port = integer(ctx, v, f, 1, 65535, "leave it out to pick a random port")
                    .and_then(|n| u16::try_from(n).ok());
            }
            "address" => d.address = list(ctx, v, f),
            "mode" => d.mode = parsed(ctx, v, f),
            "mldsa_private_key" => d.mldsa_private_key = key(ctx, v, f, MlDsaSeed::from_base64),
            "mldsa_private_key_file" => {
                if let Some(path) = string(ctx, v, f) {
                    d.mldsa_private_key_file = Some(path.into());
                    let read = keyfile::read(ctx, path, v.span(), f, MlDsaSeed::from_base64);
                    if let Some(seed) = read {
                        // Both given is an error (reported below).
                        d.mldsa_private_key.get_or_insert(Sp::new(seed, v.span()));
                    }
                }
            }
            "mtu" => {
                let (min, max) = (crate::model::MIN_MTU, crate::model::MAX_MTU);
                d.mtu = integer(ctx, v, f, min.into(), max.into(), "")
                    .and_then(|n| u16::try_from(n).ok())
                    .map(|n| Sp::new(n, v.span()));
            }
            "dns" => {
                d.dns = list::<IpAddrText>(ctx, v, f)
                    .into_iter()
                    .map(|s| s.value.0)
                    .collect()
            }
            "fwmark" => {
                d.fwmark = integer(ctx, v, f, 0, u32::MAX.into(), "0 turns it off")
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n != 0);
            }
            "crypto_backend" => d.crypto_backend = parsed(ctx, v, f).map(|s| s.value),
            "metrics_listen" => {
                d.metrics_listen = parsed::<SocketAddrText>(ctx, v, f).map(|s| s.value.0);
            }
            "log_format" => d.log_format = parsed(ctx, v, f).map(|s| s.value),
            other => unknown(ctx, k.span(), "interface", other, INTERFACE_KEYS),
        }
    }
    for (inline, file) in [
        ("private_key", "interface.private_key_file"),
        ("mldsa_private_key", "interface.mldsa_private_key_file"),
    ] {
        let file_key = file.trim_start_matches("interface.");
        if let (Some(given), Some(_)) = (table.get(inline), table.get(file_key)) {
            ctx.report(
                given.span(),
                format!("interface.{inline}"),
                Problem::Conflict { other: file },
            );
        }
    }
    d
}

fn read_peer(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: Range<usize>, i: usize) -> PeerDraft {
    let mut d = PeerDraft {
        span,
        ..PeerDraft::default()
    };
    for (k, v) in table {
        let name = k.get_ref().as_ref();
        let field = format!("peer[{i}].{name}");
        let f = field.as_str();
        match name {
            "name" => d.name = peer_name(ctx, v, f),
            "public_key" => {
                d.public_key_given = true;
                d.public_key = key(ctx, v, f, X25519PublicKey::from_base64);
            }
            "mode" => d.mode = parsed(ctx, v, f),
            "mldsa_public_key" => {
                d.mldsa_public_key = key(ctx, v, f, MlDsaPublicKey::from_base64);
            }
            "preshared_key" => {
                d.preshared_key = key(ctx, v, f, PresharedKey::from_base64).map(|s| s.value);
            }
            "endpoint" => d.endpoint = parsed(ctx, v, f).map(|s| s.value),
            "allowed_ips" => d.allowed_ips = list(ctx, v, f),
            "persistent_keepalive" => {
                d.persistent_keepalive = integer(ctx, v, f, 0, 65535, "seconds; 0 turns it off")
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n != 0);
            }
            other => unknown(ctx, k.span(), &format!("peer[{i}]"), other, PEER_KEYS),
        }
    }
    d
}

/// `IpAddr` with a `String` error, for [`list`].
struct IpAddrText(std::net::IpAddr);

impl FromStr for IpAddrText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map(Self)
            .map_err(|_| "not an IPv4 or IPv6 address".to_owned())
    }
}

/// `SocketAddr` with a `String` error, for [`parsed`].
struct SocketAddrText(std::net::SocketAddr);

impl FromStr for SocketAddrText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map(Self)
            .map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:9090 or [::1]:9090".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_an_example_and_every_example_a_key() {
        for key in INTERFACE_KEYS.iter().chain(PEER_KEYS) {
            let example = EXAMPLES.iter().find(|(k, _)| k == key);
            assert!(
                example.is_some_and(|(_, e)| e.starts_with(&format!("{key} = "))),
                "{key}"
            );
        }
        for (key, _) in EXAMPLES {
            assert!(
                INTERFACE_KEYS.contains(key) || PEER_KEYS.contains(key),
                "{key}"
            );
        }
    }
}
