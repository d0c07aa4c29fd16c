//! `dybervpn up`, `down`, `status`, `reload` and `demo`: thin wrappers over
//! `dybervpn_tunnel::commands` and `dybervpn_tunnel::demo`.
//!
//! `up` loads the configuration exactly as `check` does, so a bad file
//! gets the same diagnostics and exit status 2, before anything is
//! created. Exit status: 0 done, 2 the operator's mistake (bad input, an
//! interface already up or not up, not root), 1 a failure at run time.

use std::path::PathBuf;

use clap::Args;
use dybervpn_config::Config;
use dybervpn_proto::Mode;
use dybervpn_tunnel::commands;
use dybervpn_tunnel::DaemonError;

use crate::error::{CliError, Failure};

impl From<DaemonError> for Failure {
    fn from(e: DaemonError) -> Self {
        Self {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Bring an interface up.
///
/// TARGET is an interface name, read from /etc/dybervpn/<name>.toml, or a
/// path to a .toml file, whose stem names the interface
/// (./office.toml → interface "office"). The file is checked first, exactly
/// as `dybervpn check` does; nothing is created if it has errors.
///
/// Without --foreground the daemon detaches (its log goes to
/// /var/log/dybervpn/<name>.log) and `up` returns once the interface
/// answers. With --foreground it runs in this process, logging to stderr,
/// until SIGTERM or Ctrl-C; SIGHUP reloads the file. Needs root.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Interface name (/etc/dybervpn/<name>.toml) or path to a .toml file.
    #[arg(value_name = "INTERFACE|CONFIG.toml")]
    pub target: String,
    /// Run in the foreground instead of detaching.
    #[arg(long)]
    pub foreground: bool,
}

/// Take an interface down: stop its daemon, which removes the interface,
/// its routes and rules, the PID file and the control socket.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// The interface name.
    pub interface: String,
}

/// Show running interfaces: peers, their modes and endpoints, the latest
/// handshake and the mode it used, transfer, handshake message sizes and
/// dropped packets by reason. Never shows secrets.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this interface (default: every running DyberVPN interface).
    pub interface: Option<String>,
    /// Print JSON (a stable, versioned schema: docs/status-json.md).
    #[arg(long)]
    pub json: bool,
}

/// Re-read an interface's configuration file and apply it without a
/// restart (SIGHUP): peers that did not change keep their sessions, new
/// peers are added and removed ones dropped, and routes follow the allowed
/// IPs. A file with errors is refused and the running configuration kept
/// (see the daemon's log).
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The interface name.
    pub interface: String,
}

/// A self-contained tour: two network namespaces, a DyberVPN daemon in
/// each, the handshake (mode, message sizes, time), pings and a short
/// throughput test through the tunnel, and a summary. Everything is removed
/// afterwards, also on Ctrl-C or failure. Needs root and `ip`; uses
/// `iperf3` for the throughput test when installed.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Handshake mode: classic, hybrid or pq-only.
    #[arg(long, default_value = "hybrid")]
    pub mode: Mode,
}

/// Runs `up`.
pub fn up(args: &UpArgs) -> Result<(), Failure> {
    let (name, path) = commands::resolve_target(&args.target)?;
    // The same loading and diagnostics as `check`.
    let loaded = Config::load(&path).map_err(CliError::from)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    commands::up_loaded(&name, &path, &args.target, loaded.config, args.foreground)?;
    if !args.foreground {
        println!("{name}: up (`dybervpn status {name}` shows it, `dybervpn down {name}` stops it)");
    }
    Ok(())
}

/// Runs `down`.
pub fn down(args: &DownArgs) -> Result<(), Failure> {
    let message = commands::down(&args.interface)?;
    println!("{}: {message}", args.interface);
    Ok(())
}

/// Runs `status`.
pub fn status(args: &StatusArgs) -> Result<(), Failure> {
    let text = commands::status(args.interface.as_deref(), args.json)?;
    println!("{}", text.trim_end());
    Ok(())
}

/// Runs `reload`.
pub fn reload(args: &ReloadArgs) -> Result<(), Failure> {
    let message = commands::reload(&args.interface)?;
    println!("{}: {message}", args.interface);
    Ok(())
}

/// Runs `demo`.
pub fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let exe: PathBuf = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find this executable: {e}")))?;
    dybervpn_tunnel::demo::demo(
        &dybervpn_tunnel::demo::DemoOptions {
            mode: args.mode,
            exe,
        },
        &mut |line| println!("{line}"),
    )?;
    Ok(())
}
