//! The validated configuration types the daemon consumes.
//!
//! A value of these types has passed every check in `validate.rs`: keys
//! decode, no two peers share a key or overlapping allowed IPs, and every
//! pq-only peer has the ML-DSA-65 keys it needs. Fields are public so tools
//! can build and edit configurations; [`crate::Config::to_toml`] writes them
//! back, and re-parsing that text re-runs the checks.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use dybervpn_crypto::{
    BackendKind, CryptoBackend, CryptoError, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, PresharedKey,
    X25519PublicKey, X25519SecretKey,
};
use dybervpn_proto::Mode;

use crate::cidr::Cidr;
use crate::endpoint::Endpoint;

/// Default tunnel MTU: 1500 minus WireGuard's 80 bytes of IPv6 + UDP +
/// transport-header overhead.
pub const DEFAULT_MTU: u16 = 1420;
/// Smallest MTU accepted (IPv4's minimum datagram size).
pub const MIN_MTU: u16 = 576;
/// Smallest MTU when the interface has an IPv6 address (RFC 8200 §5).
pub const MIN_MTU_IPV6: u16 = 1280;
/// Largest MTU accepted (jumbo frames).
pub const MAX_MTU: u16 = 9000;

/// Log output format of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The configuration spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected \"text\" or \"json\"".into()),
        }
    }
}

/// A whole interface file: the `[interface]` table and its `[[peer]]`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The local side.
    pub interface: InterfaceConfig,
    /// The peers, in file order (diagnostics number them from 0).
    pub peers: Vec<PeerConfig>,
}

/// The `[interface]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceConfig {
    /// The static X25519 private key.
    pub private_key: X25519SecretKey,
    /// Where the private key was read from, when it came from
    /// `private_key_file` (as written, relative to the configuration file's
    /// directory). [`crate::Config::to_toml`] writes this reference instead of
    /// the key.
    pub private_key_file: Option<PathBuf>,
    /// The public key of `private_key`, derived while loading.
    pub public_key: X25519PublicKey,
    /// UDP port to listen on; `None` picks a random port.
    pub listen_port: Option<u16>,
    /// The interface's own addresses, with the prefix of the tunnel network
    /// (`10.0.0.1/24`). The TOML key is `address`.
    pub address: Vec<Cidr>,
    /// The default handshake mode for peers that do not set their own.
    pub mode: Mode,
    /// The ML-DSA-65 seed for pq-only authentication.
    pub mldsa_private_key: Option<MlDsaSeed>,
    /// Where the seed was read from, when it came from
    /// `mldsa_private_key_file` (as written); [`crate::Config::to_toml`]
    /// writes this reference instead of the seed.
    pub mldsa_private_key_file: Option<PathBuf>,
    /// Tunnel MTU.
    pub mtu: u16,
    /// DNS servers to configure while the tunnel is up.
    pub dns: Vec<IpAddr>,
    /// Firewall mark for outgoing UDP packets; `None` (or 0 in the file) is
    /// off.
    pub fwmark: Option<u32>,
    /// Which crypto backend to use.
    pub crypto_backend: BackendKind,
    /// Address for the metrics and health HTTP endpoint; `None` is off.
    pub metrics_listen: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
}

impl InterfaceConfig {
    /// An interface with the given keys and mode and every other field at its
    /// default.
    #[must_use]
    pub fn new(private_key: X25519SecretKey, public_key: X25519PublicKey, mode: Mode) -> Self {
        Self {
            private_key,
            private_key_file: None,
            public_key,
            listen_port: None,
            address: Vec::new(),
            mode,
            mldsa_private_key: None,
            mldsa_private_key_file: None,
            mtu: DEFAULT_MTU,
            dns: Vec::new(),
            fwmark: None,
            crypto_backend: BackendKind::default(),
            metrics_listen: None,
            log_format: LogFormat::default(),
        }
    }

    /// Expands the ML-DSA-65 seed into a key pair, if there is one.
    pub fn mldsa_keypair(
        &self,
        backend: &dyn CryptoBackend,
    ) -> Result<Option<MlDsaKeyPair>, CryptoError> {
        self.mldsa_private_key
            .as_ref()
            .map(|seed| backend.mldsa_from_seed(seed))
            .transpose()
    }
}

/// One `[[peer]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerConfig {
    /// A label for logs and messages.
    pub name: Option<String>,
    /// The peer's static X25519 public key; unique among the peers.
    pub public_key: X25519PublicKey,
    /// The peer's effective handshake mode: its own `mode`, or else the
    /// interface's.
    pub mode: Mode,
    /// The peer's ML-DSA-65 public key; always present when `mode` is
    /// pq-only.
    pub mldsa_public_key: Option<MlDsaPublicKey>,
    /// Optional pre-shared key mixed into the handshake.
    pub preshared_key: Option<PresharedKey>,
    /// Where to send handshakes, unresolved.
    pub endpoint: Option<Endpoint>,
    /// Source addresses accepted from this peer and destinations routed to
    /// it; networks only (host bits cleared), not overlapping other peers'.
    pub allowed_ips: Vec<Cidr>,
    /// Keepalive interval in seconds; `None` (0 in the file) is off.
    pub persistent_keepalive: Option<u16>,
}

impl PeerConfig {
    /// A peer with the given key and mode and every other field empty.
    #[must_use]
    pub fn new(public_key: X25519PublicKey, mode: Mode) -> Self {
        Self {
            name: None,
            public_key,
            mode,
            mldsa_public_key: None,
            preshared_key: None,
            endpoint: None,
            allowed_ips: Vec::new(),
            persistent_keepalive: None,
        }
    }

    /// `peer[i] ("name")` or `peer[i]`, as diagnostics refer to peers.
    #[must_use]
    pub fn label(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("peer[{index}] ({n:?})"),
            None => format!("peer[{index}]"),
        }
    }
}

/// A successfully loaded configuration and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings, in file order.
    pub warnings: Vec<crate::Diagnostic>,
}
