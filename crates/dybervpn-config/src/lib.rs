//! DyberVPN configuration: one TOML file per interface, read into validated
//! types with precise diagnostics, written back as TOML, and imported from or
//! exported to WireGuard's `.conf` format.
//!
//! ```no_run
//! # use std::path::Path;
//! let loaded = dybervpn_config::Config::load(Path::new("/etc/dybervpn/wg0.toml"))
//!     .map_err(|errors| eprintln!("{errors}"))
//!     .ok();
//! ```
//!
//! Loading reports every problem at once, each with file, line, column and
//! field ([`Diagnostic`]); errors refuse the file, warnings come back with the
//! configuration ([`Loaded`]). The checks and their reasons are described in
//! `docs/configuration.md`.
//!
//! The only I/O here is reading files: the configuration and any
//! `private_key_file`. Endpoints stay unresolved ([`Endpoint::resolve`]).
#![forbid(unsafe_code)]

mod cidr;
mod diag;
mod draft;
mod endpoint;
mod keyfile;
mod model;
mod suggest;
mod toml_in;
mod toml_out;
mod validate;
pub mod wg;

use std::path::Path;

use zeroize::Zeroizing;

pub use cidr::Cidr;
pub use diag::{ConfigErrors, Diagnostic, Position, Problem, Severity};
pub use endpoint::{Endpoint, Host};
pub use keyfile::readable_by_others;
pub use model::{
    Config, InterfaceConfig, Loaded, LogFormat, PeerConfig, DEFAULT_MTU, MAX_MTU, MIN_MTU,
    MIN_MTU_IPV6,
};
pub use toml_in::{INTERFACE_KEYS, PEER_KEYS};

impl Config {
    /// Reads and validates the TOML configuration at `path`.
    ///
    /// Also warns when the file holds a secret (an inline private key, the
    /// ML-DSA-65 seed or a pre-shared key) and can be read by group or
    /// others.
    pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
        let text = read_file(path)?;
        let mut loaded = Self::parse(&text, path).map_err(|e| {
            if looks_like_wg_conf(&text) {
                // Dozens of TOML errors would hide the one thing to say.
                ConfigErrors {
                    diagnostics: vec![Diagnostic::whole_file(
                        path,
                        "",
                        Problem::Syntax {
                            message: format!(
                                "this is a WireGuard (wg-quick) .conf file, not a DyberVPN \
                                 configuration; convert it with `dybervpn import {} -o <name>.toml`",
                                path.display()
                            ),
                        },
                    )],
                }
            } else {
                e
            }
        })?;
        let c = &loaded.config;
        let holds_secret = c.interface.private_key_file.is_none()
            || (c.interface.mldsa_private_key.is_some()
                && c.interface.mldsa_private_key_file.is_none())
            || c.peers.iter().any(|p| p.preshared_key.is_some());
        if holds_secret {
            if let Some(mode) = readable_by_others(path) {
                loaded.warnings.insert(
                    0,
                    Diagnostic::whole_file(path, "", Problem::ReadableByOthers { mode }),
                );
            }
        }
        Ok(loaded)
    }

    /// Validates TOML `text`. `path` names the file in diagnostics, and a
    /// relative `private_key_file` is resolved against its directory.
    pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigErrors> {
        Self::parse_with(draft::Ctx::new(path, text), path)
    }

    /// As [`Config::parse`], but a `private_key_file` or
    /// `mldsa_private_key_file` is an error instead of being opened: for
    /// checking text from elsewhere (the fuzz target) without touching the
    /// file system, where a name like a FIFO's would block.
    pub fn parse_without_files(text: &str, path: &Path) -> Result<Loaded, ConfigErrors> {
        let mut ctx = draft::Ctx::new(path, text);
        ctx.read_files = false;
        Self::parse_with(ctx, path)
    }

    fn parse_with(mut ctx: draft::Ctx<'_>, path: &Path) -> Result<Loaded, ConfigErrors> {
        let (iface, peers) = toml_in::read(&mut ctx);
        let config = validate::validate(&mut ctx, iface, peers);
        let warnings = diag::finish(ctx.diags)?;
        match config {
            Some(config) => Ok(Loaded { config, warnings }),
            // Every path that drops the config reports an error first; this
            // is a guard, not an expected outcome.
            None => Err(ConfigErrors {
                diagnostics: vec![Diagnostic::whole_file(
                    path,
                    "",
                    Problem::Syntax {
                        message: "configuration is incomplete".into(),
                    },
                )],
            }),
        }
    }
}

/// Whether `text` is written in WireGuard's `.conf` format: an
/// `[Interface]` section (DyberVPN's TOML spells it `[interface]`) and a
/// `PrivateKey` or `PublicKey` line.
fn looks_like_wg_conf(text: &str) -> bool {
    let lines = || {
        text.lines()
            .map(|l| l.trim().trim_start_matches('\u{feff}'))
    };
    lines().any(|l| l == "[Interface]")
        && lines().any(|l| {
            l.split_once('=')
                .is_some_and(|(k, _)| matches!(k.trim(), "PrivateKey" | "PublicKey"))
        })
}

/// Reads a whole file into a string that is wiped on drop, reporting failure
/// as a diagnostic.
pub fn read_file(path: &Path) -> Result<Zeroizing<String>, ConfigErrors> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| ConfigErrors {
            diagnostics: vec![Diagnostic::whole_file(
                path,
                "",
                Problem::Io {
                    message: e.to_string(),
                },
            )],
        })
}
