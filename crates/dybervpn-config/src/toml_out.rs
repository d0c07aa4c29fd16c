//! Writing a configuration back as TOML. Parsing the output yields an equal
//! [`Config`] (tested in `tests/round_trip.rs`).

use std::fmt::Write as _;

use dybervpn_crypto::BackendKind;
use dybervpn_proto::Mode;
use zeroize::Zeroizing;

use crate::model::{Config, InterfaceConfig, LogFormat, PeerConfig, DEFAULT_MTU};

/// The capacity a table's text starts with: every field of one, an ML-DSA-65
/// public key (2,604 base64 characters) included, fits.
const TABLE_CAPACITY: usize = 4096;

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| quote(&s)).collect();
    format!("[{}]", items.join(", "))
}

impl Config {
    /// The configuration as TOML text. The text holds private keys (unless
    /// the interface's comes from `private_key_file`), so it is wiped on drop.
    #[must_use]
    pub fn to_toml(&self) -> Zeroizing<String> {
        let interface = self.interface.to_toml();
        let peers: Vec<Zeroizing<String>> = self
            .peers
            .iter()
            .map(|p| p.to_toml(self.interface.mode))
            .collect();
        // Allocated once at its final size: growing it would free blocks
        // holding keys without wiping them.
        let len = interface.len() + peers.iter().map(|p| p.len() + 1).sum::<usize>();
        let mut out = Zeroizing::new(String::with_capacity(len));
        out.push_str(&interface);
        for peer in &peers {
            out.push('\n');
            out.push_str(peer);
        }
        out
    }
}

impl InterfaceConfig {
    /// The `[interface]` table as TOML text (wiped on drop: it holds keys).
    #[must_use]
    pub fn to_toml(&self) -> Zeroizing<String> {
        // Room for every field at once (growing would free blocks holding
        // the key without wiping them); only long address lists outgrow it.
        let mut s = Zeroizing::new(String::with_capacity(TABLE_CAPACITY));
        s.push_str("[interface]\n");
        // Writing to a String cannot fail.
        let _ = self.write_toml(&mut s);
        s
    }

    fn write_toml(&self, s: &mut String) -> std::fmt::Result {
        match &self.private_key_file {
            Some(path) => writeln!(s, "private_key_file = {}", quote(&path.to_string_lossy()))?,
            None => writeln!(s, "private_key = {}", quote(&self.private_key.to_base64()))?,
        }
        if let Some(port) = self.listen_port {
            writeln!(s, "listen_port = {port}")?;
        }
        if !self.address.is_empty() {
            writeln!(
                s,
                "address = {}",
                list(self.address.iter().map(ToString::to_string))
            )?;
        }
        writeln!(s, "mode = {}", quote(self.mode.name()))?;
        match (&self.mldsa_private_key_file, &self.mldsa_private_key) {
            (Some(path), _) => writeln!(
                s,
                "mldsa_private_key_file = {}",
                quote(&path.to_string_lossy())
            )?,
            (None, Some(seed)) => writeln!(s, "mldsa_private_key = {}", quote(&seed.to_base64()))?,
            (None, None) => {}
        }
        if self.mtu != DEFAULT_MTU {
            writeln!(s, "mtu = {}", self.mtu)?;
        }
        if !self.dns.is_empty() {
            writeln!(
                s,
                "dns = {}",
                list(self.dns.iter().map(ToString::to_string))
            )?;
        }
        if let Some(mark) = self.fwmark {
            writeln!(s, "fwmark = {mark}")?;
        }
        if self.crypto_backend != BackendKind::default() {
            writeln!(s, "crypto_backend = {}", quote(self.crypto_backend.name()))?;
        }
        if let Some(addr) = self.metrics_listen {
            writeln!(s, "metrics_listen = {}", quote(&addr.to_string()))?;
        }
        if self.log_format != LogFormat::default() {
            writeln!(s, "log_format = {}", quote(self.log_format.name()))?;
        }
        Ok(())
    }
}

impl PeerConfig {
    /// The `[[peer]]` table as TOML text, for a file whose interface mode is
    /// `interface_mode` (the peer's mode is written only where it differs).
    /// Wiped on drop: it may hold a pre-shared key.
    #[must_use]
    pub fn to_toml(&self, interface_mode: Mode) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(TABLE_CAPACITY));
        s.push_str("[[peer]]\n");
        let _ = self.write_toml(&mut s, interface_mode);
        s
    }

    fn write_toml(&self, s: &mut String, interface_mode: Mode) -> std::fmt::Result {
        if let Some(name) = &self.name {
            writeln!(s, "name = {}", quote(name))?;
        }
        writeln!(s, "public_key = {}", quote(&self.public_key.to_base64()))?;
        if self.mode != interface_mode {
            writeln!(s, "mode = {}", quote(self.mode.name()))?;
        }
        if let Some(k) = &self.mldsa_public_key {
            writeln!(s, "# ML-DSA-65 fingerprint {}", k.fingerprint())?;
            writeln!(s, "mldsa_public_key = {}", quote(&k.to_base64()))?;
        }
        if let Some(psk) = &self.preshared_key {
            writeln!(s, "preshared_key = {}", quote(&psk.to_base64()))?;
        }
        if let Some(e) = &self.endpoint {
            writeln!(s, "endpoint = {}", quote(&e.to_string()))?;
        }
        writeln!(
            s,
            "allowed_ips = {}",
            list(self.allowed_ips.iter().map(ToString::to_string))
        )?;
        if let Some(k) = self.persistent_keepalive {
            writeln!(s, "persistent_keepalive = {k}")?;
        }
        Ok(())
    }
}
