//! `dybervpn check`: validate a configuration file without touching the
//! network.

use std::path::PathBuf;

use clap::Args;
use dybervpn_config::Config;

use crate::error::Result;

/// Validate a configuration file. Prints warnings and exits 0 if it is
/// usable; otherwise lists every error (file:line:column: field) and exits 2.
/// Endpoints are not resolved.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The TOML configuration file.
    pub config: PathBuf,
}

/// Runs the check.
pub fn run(args: &CheckArgs) -> Result<()> {
    let loaded = Config::load(&args.config)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let c = &loaded.config;
    let peers = c.peers.len();
    println!(
        "{}: ok: interface {} in {} mode, {peers} peer{}{}",
        args.config.display(),
        c.interface.public_key.to_base64(),
        c.interface.mode,
        if peers == 1 { "" } else { "s" },
        match loaded.warnings.len() {
            0 => String::new(),
            n => format!(", {n} warning{}", if n == 1 { "" } else { "s" }),
        }
    );
    Ok(())
}
