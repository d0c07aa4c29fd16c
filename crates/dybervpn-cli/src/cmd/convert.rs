//! `dybervpn import` and `dybervpn export`: WireGuard `.conf` files.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use dybervpn_config::{read_file, wg, Config};
use zeroize::Zeroizing;

use crate::atomic;
use crate::error::{CliError, Result};

/// Convert a WireGuard .conf file (as `wg` and `wg-quick` read it) into a
/// classic-mode DyberVPN configuration. wg-quick hooks (PostUp, ...), Table
/// and SaveConfig are dropped with a warning.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The WireGuard configuration, e.g. /etc/wireguard/wg0.conf.
    pub conf: PathBuf,
    /// Write the TOML here (mode 0600) instead of to stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Print a classic-mode configuration as a WireGuard .conf file on stdout.
/// Refuses if any peer uses hybrid or pq-only mode, which WireGuard cannot
/// speak.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The TOML configuration file.
    pub config: PathBuf,
}

/// Runs `import`.
pub fn import(args: &ImportArgs) -> Result<()> {
    let text = read_file(&args.conf)?;
    let loaded = wg::import(&text, &args.conf)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let header = format!(
        "# Imported from {} by `dybervpn import`.\n",
        args.conf.display()
    );
    let body = loaded.config.to_toml();
    // One allocation of the final size: inserting the header in front
    // would move the keys into a new block and free the old one unwiped.
    let mut out = Zeroizing::new(String::with_capacity(header.len() + body.len()));
    out.push_str(&header);
    out.push_str(&body);
    match &args.output {
        Some(path) => {
            atomic::write(path, out.as_bytes(), args.force)?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        None => print_stdout(&out),
    }
}

/// Runs `export`.
pub fn export(args: &ExportArgs) -> Result<()> {
    let loaded = Config::load(&args.config)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let out = loaded
        .config
        .to_wg_conf()
        .map_err(|e| CliError::new(format!("{}: cannot export: {e}", args.config.display())))?;
    print_stdout(&out)
}

/// Prints to stdout, reporting a closed pipe as an error rather than a panic.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::new(format!("cannot write to stdout: {e}")))
}
