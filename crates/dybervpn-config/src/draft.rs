//! Field values as read from a file, each with the byte range it came from,
//! before the checks that span several fields. Both the TOML reader and the
//! WireGuard `.conf` importer produce these, so both get the same checks.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use dybervpn_crypto::{
    BackendKind, MlDsaPublicKey, MlDsaSeed, PresharedKey, X25519PublicKey, X25519SecretKey,
};
use dybervpn_proto::Mode;

use crate::cidr::Cidr;
use crate::diag::{Diagnostic, Problem};
use crate::endpoint::Endpoint;
use crate::model::LogFormat;

/// A value and the byte range of its text.
#[derive(Debug, Clone)]
pub(crate) struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Range<usize>) -> Self {
        Self { value, span }
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub diags: Vec<Diagnostic>,
    /// Whether `*_file` keys are read (off for [`crate::Config::parse_without_files`]).
    pub read_files: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            diags: Vec::new(),
            read_files: true,
        }
    }

    pub fn report(&mut self, span: Range<usize>, field: impl Into<String>, problem: Problem) {
        let d = Diagnostic::at(self.file, self.text, span, field, problem);
        self.diags.push(d);
    }

    /// The directory relative paths in this file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// The interface's fields as read.
#[derive(Debug, Default)]
pub(crate) struct InterfaceDraft {
    /// Where the table starts, for "missing" diagnostics.
    pub span: Range<usize>,
    pub private_key: Option<Sp<X25519SecretKey>>,
    /// Whether a private key was given at all (it may have failed to decode).
    pub private_key_given: bool,
    pub private_key_file: Option<PathBuf>,
    pub listen_port: Option<u16>,
    pub address: Vec<Sp<Cidr>>,
    pub mode: Option<Sp<Mode>>,
    pub mldsa_private_key: Option<Sp<MlDsaSeed>>,
    pub mldsa_private_key_file: Option<PathBuf>,
    pub mtu: Option<Sp<u16>>,
    pub dns: Vec<IpAddr>,
    pub fwmark: Option<u32>,
    pub crypto_backend: Option<BackendKind>,
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
}

/// A peer's fields as read.
#[derive(Debug, Default)]
pub(crate) struct PeerDraft {
    /// Where the table starts, for "missing" diagnostics.
    pub span: Range<usize>,
    pub name: Option<String>,
    pub public_key: Option<Sp<X25519PublicKey>>,
    /// Whether a public key was given at all (it may have failed to decode).
    pub public_key_given: bool,
    pub mode: Option<Sp<Mode>>,
    pub mldsa_public_key: Option<Sp<MlDsaPublicKey>>,
    pub preshared_key: Option<PresharedKey>,
    pub endpoint: Option<Endpoint>,
    pub allowed_ips: Vec<Sp<Cidr>>,
    pub persistent_keepalive: Option<u16>,
}
