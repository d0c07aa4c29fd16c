//! `get=1`: the device's state as the userspace API reports it.
//!
//! [`DeviceSnapshot::to_response`] writes the response a daemon sends;
//! [`parse_get`] reads one back, which is how `dybervpn status` asks a
//! running daemon for its state. The order of keys follows wireguard-go;
//! DyberVPN's extra per-peer keys (`dybervpn_mode`,
//! `dybervpn_mldsa_public_key`, `dybervpn_last_handshake_mode`) come after
//! the standard ones, and `wg` ignores keys it does not know.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use dybervpn_crypto::{MlDsaPublicKey, PresharedKey, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;
use zeroize::Zeroizing;

use super::error::UapiError;
use super::hexkey;
use crate::prefix::Prefix;

/// What `get=1` reports about the device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceSnapshot {
    /// The interface's private key, if it has one.
    pub private_key: Option<X25519SecretKey>,
    /// The UDP port actually bound.
    pub listen_port: u16,
    /// The firewall mark on outgoing UDP packets; 0 means none.
    pub fwmark: u32,
    /// The peers, in a stable order.
    pub peers: Vec<PeerSnapshot>,
    /// DyberVPN: the daemon's version (`dybervpn_version=`). What tells a
    /// DyberVPN daemon from another implementation (wireguard-go,
    /// boringtun) serving a socket in the same directory.
    pub dybervpn_version: Option<String>,
    /// DyberVPN: how the last reload (SIGHUP) went, if there was one
    /// (`dybervpn_last_reload=`); what `dybervpn reload` waits for.
    pub last_reload: Option<LastReload>,
    /// DyberVPN: dropped packets by reason (`dybervpn_drop_<reason>=N`).
    pub drops: Vec<(String, u64)>,
    /// DyberVPN: handshake messages on the wire, `(name, messages, bytes)`
    /// (`dybervpn_wire_<name>=<messages>/<bytes>`).
    pub handshake_wire: Vec<(String, u64, u64)>,
}

/// How a reload went, as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReload {
    /// Reloads since the daemon started, this one included: a client that
    /// asked for one waits for this to go up.
    pub number: u64,
    /// Whether everything, part or nothing of the file was applied.
    pub status: ReloadStatus,
    /// What the operator should read: the error (with file and line), or
    /// what was not applied and why. May span lines.
    pub message: String,
}

/// See [`LastReload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadStatus {
    /// The running interface now matches the file.
    Applied,
    /// The peers and what can change live were applied; settings that
    /// need a restart were not (the message names them).
    Partly,
    /// Nothing changed: the file or the change was refused.
    Refused,
}

impl ReloadStatus {
    /// `applied`, `partly` or `refused`, as on the wire and in
    /// `status --json`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Partly => "partly",
            Self::Refused => "refused",
        }
    }
}

/// The longest message sent: a reload refused for many errors is cut here
/// (the daemon's log has it whole).
const MAX_RELOAD_MESSAGE: usize = 4000;

impl LastReload {
    /// `<number> <status> <message>`, the message on one line: `\\`,
    /// `\n` and `\r` stand for a backslash and the two line-end characters.
    fn to_value(&self) -> String {
        let mut message = self.message.as_str();
        if message.len() > MAX_RELOAD_MESSAGE {
            let mut end = MAX_RELOAD_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message = &message[..end];
        }
        let escaped = message
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("{} {} {escaped}", self.number, self.status.name())
    }

    fn from_value(value: &str) -> Result<Self, String> {
        let mut parts = value.splitn(3, ' ');
        let number = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{value:?} does not start with a reload number"))?;
        let status = match parts.next() {
            Some("applied") => ReloadStatus::Applied,
            Some("partly") => ReloadStatus::Partly,
            Some("refused") => ReloadStatus::Refused,
            other => return Err(format!("unknown reload status {other:?}")),
        };
        let mut message = String::new();
        let mut chars = parts.next().unwrap_or_default().chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                message.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => message.push('\n'),
                Some('r') => message.push('\r'),
                Some(other) => message.push(other),
                None => {}
            }
        }
        Ok(Self {
            number,
            status,
            message,
        })
    }
}

/// What `get=1` reports about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSnapshot {
    /// The peer's static X25519 public key.
    pub public_key: X25519PublicKey,
    /// The pre-shared key, if any.
    pub preshared_key: Option<PresharedKey>,
    /// The current endpoint, if known.
    pub endpoint: Option<SocketAddr>,
    /// Wall-clock time of the last completed handshake since the Unix
    /// epoch; `None` if there never was one.
    pub last_handshake: Option<Duration>,
    /// Bytes sent to the peer (including overhead).
    pub tx_bytes: u64,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Seconds; 0 is off.
    pub persistent_keepalive_interval: u16,
    /// The peer's allowed IPs.
    pub allowed_ips: Vec<Prefix>,
    /// DyberVPN: the peer's configured handshake mode.
    pub mode: Mode,
    /// DyberVPN: the peer's ML-DSA-65 public key (pq-only peers).
    pub mldsa_public_key: Option<MlDsaPublicKey>,
    /// DyberVPN: the mode of the last completed handshake.
    pub last_handshake_mode: Option<Mode>,
    /// DyberVPN: handshakes completed with the peer since it was added.
    pub handshakes: u64,
    /// DyberVPN: how long the last handshake this side initiated took
    /// (sending the initiation to receiving the response).
    pub last_handshake_duration: Option<Duration>,
}

impl PeerSnapshot {
    /// A peer with nothing but its key and mode filled in.
    #[must_use]
    pub fn new(public_key: X25519PublicKey, mode: Mode) -> Self {
        Self {
            public_key,
            preshared_key: None,
            endpoint: None,
            last_handshake: None,
            tx_bytes: 0,
            rx_bytes: 0,
            persistent_keepalive_interval: 0,
            allowed_ips: Vec::new(),
            mode,
            mldsa_public_key: None,
            last_handshake_mode: None,
            handshakes: 0,
            last_handshake_duration: None,
        }
    }
}

impl DeviceSnapshot {
    /// The full `get=1` response, ending with `errno=0` and a blank line.
    /// Holds the private key, hence zeroizing.
    #[must_use]
    pub fn to_response(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        // `write!` into a String cannot fail.
        if let Some(k) = &self.private_key {
            let _ = writeln!(out, "private_key={}", *hexkey::encode_secret(k.expose()));
        }
        let _ = writeln!(out, "listen_port={}", self.listen_port);
        if self.fwmark != 0 {
            let _ = writeln!(out, "fwmark={}", self.fwmark);
        }
        // Device-level extras before the first peer, where `wg` ignores them.
        if let Some(v) = &self.dybervpn_version {
            let _ = writeln!(out, "dybervpn_version={v}");
        }
        if let Some(r) = &self.last_reload {
            let _ = writeln!(out, "dybervpn_last_reload={}", r.to_value());
        }
        for (reason, n) in &self.drops {
            let _ = writeln!(out, "dybervpn_drop_{reason}={n}");
        }
        for (name, messages, bytes) in &self.handshake_wire {
            let _ = writeln!(out, "dybervpn_wire_{name}={messages}/{bytes}");
        }
        for peer in &self.peers {
            let _ = writeln!(out, "public_key={}", hexkey::encode(&peer.public_key.0));
            let psk = match &peer.preshared_key {
                Some(k) => hexkey::encode_secret(k.expose()),
                None => Zeroizing::new(hexkey::encode(&[0; 32])),
            };
            let _ = writeln!(out, "preshared_key={}", *psk);
            out.push_str("protocol_version=1\n");
            if let Some(e) = peer.endpoint {
                let _ = writeln!(out, "endpoint={e}");
            }
            let hs = peer.last_handshake.unwrap_or_default();
            let _ = writeln!(out, "last_handshake_time_sec={}", hs.as_secs());
            let _ = writeln!(out, "last_handshake_time_nsec={}", hs.subsec_nanos());
            let _ = writeln!(out, "tx_bytes={}", peer.tx_bytes);
            let _ = writeln!(out, "rx_bytes={}", peer.rx_bytes);
            let _ = writeln!(
                out,
                "persistent_keepalive_interval={}",
                peer.persistent_keepalive_interval
            );
            for p in &peer.allowed_ips {
                let _ = writeln!(out, "allowed_ip={p}");
            }
            let _ = writeln!(out, "dybervpn_mode={}", peer.mode);
            if let Some(k) = &peer.mldsa_public_key {
                let _ = writeln!(
                    out,
                    "dybervpn_mldsa_public_key={}",
                    hexkey::encode(&k.0[..])
                );
            }
            if let Some(m) = peer.last_handshake_mode {
                let _ = writeln!(out, "dybervpn_last_handshake_mode={m}");
            }
            let _ = writeln!(out, "dybervpn_handshakes={}", peer.handshakes);
            if let Some(d) = peer.last_handshake_duration {
                let _ = writeln!(out, "dybervpn_last_handshake_duration_ns={}", d.as_nanos());
            }
        }
        out.push_str("errno=0\n\n");
        out
    }
}

/// Parses a `get=1` response (everything the daemon sent, through the
/// `errno=` line). Unknown keys are ignored, as `wg` does, so newer daemons
/// can add keys; a non-zero `errno` is returned as
/// [`UapiError::Rejected`].
pub fn parse_get(response: &str) -> Result<DeviceSnapshot, UapiError> {
    let mut dev = DeviceSnapshot::default();
    let mut handshake_sec: u64 = 0;
    for (i, line) in response.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            break;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| UapiError::protocol(n, format!("line {line:?} is not key=value")))?;
        let invalid = |m: String| UapiError::invalid(n, key, m);
        if key == "errno" {
            let errno: i64 = value
                .parse()
                .map_err(|_| invalid(format!("{value:?} is not a number")))?;
            if errno == 0 {
                return Ok(dev);
            }
            return Err(UapiError::Rejected {
                errno: i32::try_from(errno.unsigned_abs()).unwrap_or(i32::MAX),
                message: format!("the daemon answered errno={errno}"),
            });
        }
        if key == "public_key" {
            let bytes = hexkey::decode32(value).map_err(invalid)?;
            // Modes are always reported; hybrid until the line says otherwise.
            dev.peers
                .push(PeerSnapshot::new(X25519PublicKey(bytes), Mode::default()));
            handshake_sec = 0;
            continue;
        }
        let Some(peer) = dev.peers.last_mut() else {
            match key {
                "private_key" => {
                    let bytes = Zeroizing::new(hexkey::decode32(value).map_err(invalid)?);
                    dev.private_key = Some(X25519SecretKey::from_bytes(*bytes));
                }
                "listen_port" => dev.listen_port = num(value).map_err(invalid)?,
                "fwmark" => dev.fwmark = num(value).map_err(invalid)?,
                "dybervpn_version" => dev.dybervpn_version = Some(value.to_owned()),
                "dybervpn_last_reload" => {
                    dev.last_reload = Some(LastReload::from_value(value).map_err(invalid)?);
                }
                _ => {
                    if let Some(reason) = key.strip_prefix("dybervpn_drop_") {
                        dev.drops
                            .push((reason.to_owned(), num(value).map_err(invalid)?));
                    } else if let Some(name) = key.strip_prefix("dybervpn_wire_") {
                        let (m, b) = value
                            .split_once('/')
                            .ok_or_else(|| invalid(format!("{value:?} is not messages/bytes")))?;
                        dev.handshake_wire.push((
                            name.to_owned(),
                            num(m).map_err(invalid)?,
                            num(b).map_err(invalid)?,
                        ));
                    }
                }
            }
            continue;
        };
        match key {
            "preshared_key" => {
                let bytes = Zeroizing::new(hexkey::decode32(value).map_err(invalid)?);
                peer.preshared_key =
                    (!hexkey::is_zero(&bytes)).then(|| PresharedKey::from_bytes(*bytes));
            }
            "endpoint" => {
                peer.endpoint = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(format!("{value:?} is not ip:port")))?,
                );
            }
            "last_handshake_time_sec" => {
                handshake_sec = num(value).map_err(invalid)?;
                peer.last_handshake =
                    (handshake_sec != 0).then(|| Duration::from_secs(handshake_sec));
            }
            "last_handshake_time_nsec" => {
                let nsec: u32 = num(value).map_err(invalid)?;
                if nsec >= 1_000_000_000 {
                    return Err(invalid(format!("{nsec} nanoseconds is a second or more")));
                }
                if handshake_sec != 0 || nsec != 0 {
                    peer.last_handshake = Some(Duration::new(handshake_sec, nsec));
                }
            }
            "tx_bytes" => peer.tx_bytes = num(value).map_err(invalid)?,
            "rx_bytes" => peer.rx_bytes = num(value).map_err(invalid)?,
            "persistent_keepalive_interval" => {
                peer.persistent_keepalive_interval = num(value).map_err(invalid)?;
            }
            "allowed_ip" => peer
                .allowed_ips
                .push(value.parse().map_err(|e| invalid(format!("{e}")))?),
            "dybervpn_mode" => peer.mode = value.parse().map_err(invalid)?,
            "dybervpn_mldsa_public_key" => {
                peer.mldsa_public_key = Some(hexkey::decode_mldsa_public(value).map_err(invalid)?);
            }
            "dybervpn_last_handshake_mode" => {
                peer.last_handshake_mode = Some(value.parse().map_err(invalid)?);
            }
            "dybervpn_handshakes" => peer.handshakes = num(value).map_err(invalid)?,
            "dybervpn_last_handshake_duration_ns" => {
                peer.last_handshake_duration =
                    Some(Duration::from_nanos(num(value).map_err(invalid)?));
            }
            _ => {}
        }
    }
    Err(UapiError::protocol(
        0,
        "the response ended without an errno line",
    ))
}

fn num<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{value:?} is not a decimal number"));
    }
    value
        .parse()
        .map_err(|_| format!("{value} is out of range"))
}
