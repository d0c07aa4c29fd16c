//! `set=1`: parsing a request into a fully validated [`ChangeSet`].
//!
//! The request is parsed completely before anything is applied. A request
//! with any bad line yields an error and no change-set, so a device can
//! never be left half-configured by a bad request. Applying the change-set
//! is the target's job ([`super::UapiTarget::apply`]), which must also be
//! all-or-nothing.
//!
//! Keys, in the order the cross-platform API allows them:
//!
//! * device: `private_key`, `listen_port`, `fwmark`, `replace_peers`;
//! * then, from the first `public_key` on, per peer: `public_key`, `remove`,
//!   `update_only`, `preshared_key`, `endpoint`,
//!   `persistent_keepalive_interval`, `replace_allowed_ips`, `allowed_ip`
//!   (`allowed_ip=-<prefix>` removes one),
//!   `protocol_version`, and DyberVPN's `dybervpn_mode` and
//!   `dybervpn_mldsa_public_key`.
//!
//! Keys are hex (either case accepted, lowercase produced); a key of all
//! zeros means "none" for `private_key` and `preshared_key`; `fwmark=0` and
//! `persistent_keepalive_interval=0` mean "off". Boolean keys accept only
//! `true`, as in wireguard-go.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;

use dybervpn_crypto::{MlDsaPublicKey, PresharedKey, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;
use zeroize::Zeroizing;

use super::error::UapiError;
use super::hexkey;
use crate::prefix::Prefix;

/// A validated `set=1` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    /// `Some(Some(k))` sets the private key, `Some(None)` removes it (all
    /// zeros on the wire), `None` leaves it.
    pub private_key: Option<Option<X25519SecretKey>>,
    /// A new listen port (0 asks for a random one).
    pub listen_port: Option<u16>,
    /// `Some(0)` removes the mark.
    pub fwmark: Option<u32>,
    /// Remove every existing peer before applying `peers`
    /// (`replace_peers=true`).
    pub replace_peers: bool,
    /// Per-peer changes, in request order.
    pub peers: Vec<PeerChange>,
}

/// The changes to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerChange {
    /// The peer, created unless `update_only` (or `remove`) is set.
    pub public_key: X25519PublicKey,
    /// Remove the peer; no other field is set when this is.
    pub remove: bool,
    /// Change the peer only if it exists; never create it.
    pub update_only: bool,
    /// `Some(None)` removes the pre-shared key.
    pub preshared_key: Option<Option<PresharedKey>>,
    /// A new endpoint.
    pub endpoint: Option<SocketAddr>,
    /// Seconds; `Some(0)` turns persistent keepalive off.
    pub persistent_keepalive_interval: Option<u16>,
    /// Remove the peer's allowed IPs before adding `allowed_ips`.
    pub replace_allowed_ips: bool,
    /// Prefixes to add (host bits cleared).
    pub allowed_ips: Vec<Prefix>,
    /// Prefixes to remove from this peer (`allowed_ip=-<prefix>`, sent by
    /// `wg set … allowed-ips -<prefix>` of wireguard-tools since 2025);
    /// removed before `allowed_ips` are added. A prefix is in at most one
    /// of the two lists: the request's last line naming it decides.
    pub removed_allowed_ips: Vec<Prefix>,
    /// DyberVPN: the peer's handshake mode.
    pub mode: Option<Mode>,
    /// DyberVPN: the peer's ML-DSA-65 public key (pq-only mode).
    pub mldsa_public_key: Option<MlDsaPublicKey>,
}

impl PeerChange {
    /// A change to `public_key` that changes nothing yet.
    #[must_use]
    pub fn new(public_key: X25519PublicKey) -> Self {
        Self {
            public_key,
            remove: false,
            update_only: false,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive_interval: None,
            replace_allowed_ips: false,
            allowed_ips: Vec::new(),
            removed_allowed_ips: Vec::new(),
            mode: None,
            mldsa_public_key: None,
        }
    }

    fn changes_anything_besides_remove(&self) -> bool {
        self.update_only
            || self.preshared_key.is_some()
            || self.endpoint.is_some()
            || self.persistent_keepalive_interval.is_some()
            || self.replace_allowed_ips
            || !self.allowed_ips.is_empty()
            || !self.removed_allowed_ips.is_empty()
            || self.mode.is_some()
            || self.mldsa_public_key.is_some()
    }
}

/// Most allowed IPs one request may add to a peer; a bound on memory, far
/// above any real configuration.
pub const MAX_ALLOWED_IPS_PER_REQUEST: usize = 1 << 20;
/// Most peers one request may mention.
pub const MAX_PEERS_PER_REQUEST: usize = 1 << 16;

/// Builds a [`ChangeSet`] from the lines of a `set=1` request, one
/// `key=value` line at a time (the `set=1` line and the terminating blank
/// line are not fed).
#[derive(Debug, Default)]
pub struct SetParser {
    changes: ChangeSet,
    line: usize,
    error: Option<UapiError>,
}

impl SetParser {
    /// A parser for a new request.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line, without its `\n`. After the first error, further
    /// lines are counted and ignored (so the caller can drain the request
    /// and keep the connection in step); [`finish`](Self::finish) reports
    /// that first error.
    pub fn feed(&mut self, line: &str) {
        self.line += 1;
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.feed_inner(line) {
            self.error = Some(e);
        }
    }

    /// Records a failure that happened outside the parser (an over-long
    /// line, say) so that the request is refused as a whole.
    pub fn fail(&mut self, error: UapiError) {
        self.line += 1;
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// The line number of the last line fed.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The validated change-set, or the first error.
    pub fn finish(self) -> Result<ChangeSet, UapiError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.changes),
        }
    }

    fn feed_inner(&mut self, line: &str) -> Result<(), UapiError> {
        let n = self.line;
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| UapiError::protocol(n, format!("line {line:?} is not key=value")))?;

        if key == "public_key" {
            if self.changes.peers.len() >= MAX_PEERS_PER_REQUEST {
                return Err(UapiError::protocol(n, "too many peers in one request"));
            }
            let bytes = hexkey::decode32(value).map_err(|m| UapiError::invalid(n, key, m))?;
            self.changes
                .peers
                .push(PeerChange::new(X25519PublicKey(bytes)));
            return Ok(());
        }

        let Some(peer) = self.changes.peers.last_mut() else {
            return self.device_line(n, key, value);
        };
        if peer.remove {
            return Err(UapiError::invalid(
                n,
                key,
                "no other key may follow remove=true for the same peer",
            ));
        }
        match key {
            "remove" => {
                parse_true(n, key, value)?;
                if peer.changes_anything_besides_remove() {
                    return Err(UapiError::invalid(
                        n,
                        key,
                        "remove=true must be the only key given for its peer",
                    ));
                }
                peer.remove = true;
            }
            "update_only" => peer.update_only = parse_true(n, key, value)?,
            "preshared_key" => {
                let bytes = Zeroizing::new(
                    hexkey::decode32(value).map_err(|m| UapiError::invalid(n, key, m))?,
                );
                peer.preshared_key = Some(if hexkey::is_zero(&bytes) {
                    None
                } else {
                    Some(PresharedKey::from_bytes(*bytes))
                });
            }
            "endpoint" => {
                let addr = parse_endpoint(value).map_err(|m| UapiError::invalid(n, key, m))?;
                if addr.port() == 0 {
                    return Err(UapiError::invalid(n, key, "port 0 is not a destination"));
                }
                peer.endpoint = Some(addr);
            }
            "persistent_keepalive_interval" => {
                peer.persistent_keepalive_interval = Some(parse_num::<u16>(n, key, value)?);
            }
            "replace_allowed_ips" => {
                peer.replace_allowed_ips = parse_true(n, key, value)?;
            }
            "allowed_ip" => {
                if peer.allowed_ips.len() + peer.removed_allowed_ips.len()
                    >= MAX_ALLOWED_IPS_PER_REQUEST
                {
                    return Err(UapiError::protocol(
                        n,
                        "too many allowed_ip lines for one peer",
                    ));
                }
                let (remove, text) = match value.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                let prefix: Prefix = text
                    .parse()
                    .map_err(|e| UapiError::invalid(n, key, format!("{e}")))?;
                // The later line wins. Removals are rare, so only they pay
                // for a scan of the additions.
                if remove {
                    peer.allowed_ips.retain(|q| *q != prefix);
                    peer.removed_allowed_ips.push(prefix);
                } else {
                    if !peer.removed_allowed_ips.is_empty() {
                        peer.removed_allowed_ips.retain(|q| *q != prefix);
                    }
                    peer.allowed_ips.push(prefix);
                }
            }
            "protocol_version" => {
                if value != "1" {
                    return Err(UapiError::invalid(
                        n,
                        key,
                        format!("only protocol version 1 exists, got {value:?}"),
                    ));
                }
            }
            "dybervpn_mode" => {
                peer.mode = Some(
                    value
                        .parse::<Mode>()
                        .map_err(|m| UapiError::invalid(n, key, m))?,
                );
            }
            "dybervpn_mldsa_public_key" => {
                peer.mldsa_public_key = Some(
                    hexkey::decode_mldsa_public(value)
                        .map_err(|m| UapiError::invalid(n, key, m))?,
                );
            }
            "private_key" | "listen_port" | "fwmark" | "replace_peers" => {
                return Err(UapiError::protocol(
                    n,
                    format!("device key {key:?} after the first public_key"),
                ));
            }
            other => {
                return Err(UapiError::protocol(
                    n,
                    format!("unknown peer key {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn device_line(&mut self, n: usize, key: &str, value: &str) -> Result<(), UapiError> {
        match key {
            "private_key" => {
                let bytes = Zeroizing::new(
                    hexkey::decode32(value).map_err(|m| UapiError::invalid(n, key, m))?,
                );
                self.changes.private_key = Some(if hexkey::is_zero(&bytes) {
                    None
                } else {
                    Some(X25519SecretKey::from_bytes(*bytes))
                });
            }
            "listen_port" => self.changes.listen_port = Some(parse_num::<u16>(n, key, value)?),
            "fwmark" => self.changes.fwmark = Some(parse_num::<u32>(n, key, value)?),
            "replace_peers" => self.changes.replace_peers = parse_true(n, key, value)?,
            other => {
                return Err(UapiError::protocol(
                    n,
                    format!("unknown device key {other:?} (peer keys need a public_key first)"),
                ))
            }
        }
        Ok(())
    }
}

/// Parses a whole `set=1` request body (the lines after `set=1`, up to but
/// not including the blank line). Convenient for tests and for clients.
pub fn parse_set(body: &str) -> Result<ChangeSet, UapiError> {
    let mut parser = SetParser::new();
    for line in body.lines() {
        parser.feed(line);
    }
    parser.finish()
}

fn parse_true(n: usize, key: &str, value: &str) -> Result<bool, UapiError> {
    if value == "true" {
        Ok(true)
    } else {
        Err(UapiError::invalid(
            n,
            key,
            format!("expected \"true\", got {value:?}"),
        ))
    }
}

/// An endpoint as `wg` sends it: `ip:port`, `[ipv6]:port`, or a link-local
/// `[ipv6%scope]:port` whose scope is an interface index or, as `wg` prints
/// what `getnameinfo` gives it, an interface name (looked up here, in the
/// daemon's network namespace). Host names are the client's to resolve.
fn parse_endpoint(value: &str) -> Result<SocketAddr, String> {
    let not_numeric =
        || format!("{value:?} is not ip:port or [ipv6]:port (names are resolved by the client)");
    if !value.contains('%') {
        return value.parse().map_err(|_| not_numeric());
    }
    // Scoped addresses all go through the same checks (no scope 0, no
    // port 0), whether the scope is a number or a name, and say what is
    // wrong with them (the port, the interface name).
    let endpoint: dybervpn_config::Endpoint = value
        .parse()
        .map_err(|e: String| format!("{value:?}: {e}"))?;
    match endpoint.host {
        dybervpn_config::Host::ScopedIp(..) => endpoint.resolve().map_err(|e| e.to_string()),
        _ => Err(not_numeric()),
    }
}

fn parse_num<T: std::str::FromStr>(n: usize, key: &str, value: &str) -> Result<T, UapiError> {
    // Digits only: no sign, no whitespace, no empty value.
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UapiError::invalid(
            n,
            key,
            format!("{value:?} is not a decimal number"),
        ));
    }
    value
        .parse::<T>()
        .map_err(|_| UapiError::invalid(n, key, format!("{value} is out of range")))
}

impl ChangeSet {
    /// The `set=1` request that [`parse_set`] turns back into this
    /// change-set, including the `set=1` line and the terminating blank line.
    /// Holds secrets when keys are set, hence zeroizing.
    #[must_use]
    pub fn to_request(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from("set=1\n"));
        // `write!` into a String cannot fail.
        match &self.private_key {
            Some(Some(k)) => {
                let _ = writeln!(out, "private_key={}", *hexkey::encode_secret(k.expose()));
            }
            Some(None) => {
                let _ = writeln!(out, "private_key={}", hexkey::encode(&[0; 32]));
            }
            None => {}
        }
        if let Some(port) = self.listen_port {
            let _ = writeln!(out, "listen_port={port}");
        }
        if let Some(mark) = self.fwmark {
            let _ = writeln!(out, "fwmark={mark}");
        }
        if self.replace_peers {
            out.push_str("replace_peers=true\n");
        }
        for peer in &self.peers {
            let _ = writeln!(out, "public_key={}", hexkey::encode(&peer.public_key.0));
            if peer.remove {
                out.push_str("remove=true\n");
                continue;
            }
            if peer.update_only {
                out.push_str("update_only=true\n");
            }
            match &peer.preshared_key {
                Some(Some(k)) => {
                    let _ = writeln!(out, "preshared_key={}", *hexkey::encode_secret(k.expose()));
                }
                Some(None) => {
                    let _ = writeln!(out, "preshared_key={}", hexkey::encode(&[0; 32]));
                }
                None => {}
            }
            if let Some(e) = peer.endpoint {
                let _ = writeln!(out, "endpoint={e}");
            }
            if let Some(k) = peer.persistent_keepalive_interval {
                let _ = writeln!(out, "persistent_keepalive_interval={k}");
            }
            if peer.replace_allowed_ips {
                out.push_str("replace_allowed_ips=true\n");
            }
            for p in &peer.removed_allowed_ips {
                let _ = writeln!(out, "allowed_ip=-{p}");
            }
            for p in &peer.allowed_ips {
                let _ = writeln!(out, "allowed_ip={p}");
            }
            if let Some(m) = peer.mode {
                let _ = writeln!(out, "dybervpn_mode={m}");
            }
            if let Some(k) = &peer.mldsa_public_key {
                let _ = writeln!(
                    out,
                    "dybervpn_mldsa_public_key={}",
                    hexkey::encode(&k.0[..])
                );
            }
        }
        out.push('\n');
        out
    }
}
