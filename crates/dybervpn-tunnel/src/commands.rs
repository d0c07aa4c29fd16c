//! What the `dybervpn` command line calls: `up`, `down`, `status` and
//! `reload`. Each is a plain function returning a [`DaemonError`] with a
//! message fit for the operator.
//!
//! * [`up`] loads `/etc/dybervpn/<name>.toml` (or a path), refuses an
//!   interface that is already up, starts the [`Daemon`], writes
//!   `/run/dybervpn/<if>.pid`, and runs until SIGTERM or SIGINT; SIGHUP
//!   reloads the configuration. Without `foreground` it starts itself again
//!   as `<current executable> up <target> --foreground` in a new process
//!   group, detached from the terminal, and returns once the interface's
//!   userspace-API socket answers.
//! * [`down`] sends SIGTERM to the daemon and waits (bounded) for it to
//!   remove its interface, socket and PID file.
//! * [`status`] asks each running daemon over its userspace-API socket.
//! * [`reload`] sends SIGHUP.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dybervpn_config::Config;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::daemon::{Daemon, DaemonError, DaemonOptions};
use crate::os::command::{run, DEFAULT_TIMEOUT};
use crate::pidfile::{self, PidFile, PID_DIR};
use crate::uapi::{self, ChangeSet, DeviceSnapshot, PeerChange};

/// Where interface names are looked up.
pub const CONFIG_DIR: &str = "/etc/dybervpn";
/// How long `down` and a detaching `up` wait.
pub const WAIT: Duration = Duration::from_secs(15);

/// `up`'s arguments.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// An interface name (`/etc/dybervpn/<name>.toml`) or a path to a
    /// `.toml` file (the interface is named after the file's stem).
    pub target: String,
    /// Stay in the foreground.
    pub foreground: bool,
}

/// The interface name and configuration path `target` stands for.
pub fn resolve_target(target: &str) -> Result<(String, PathBuf), DaemonError> {
    let looks_like_path = target.contains('/') || target.ends_with(".toml");
    let (name, path) = if looks_like_path {
        let path = PathBuf::from(target);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        (stem, path)
    } else {
        (
            target.to_owned(),
            Path::new(CONFIG_DIR).join(format!("{target}.toml")),
        )
    };
    crate::ifname::validate(&name).map_err(|e| {
        DaemonError::Config(format!(
            "{e} (the interface is named after the configuration file)"
        ))
    })?;
    Ok((name, path))
}

fn load(path: &Path) -> Result<Config, DaemonError> {
    let loaded = Config::load(path).map_err(|e| DaemonError::Config(e.to_string()))?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok(loaded.config)
}

/// `dybervpn up`.
pub fn up(opts: &UpOptions) -> Result<(), DaemonError> {
    let (name, path) = resolve_target(&opts.target)?;
    if let Some(pid) = pidfile::live_pid(Path::new(PID_DIR), &name) {
        return Err(DaemonError::AlreadyRunning {
            interface: name,
            pid: Some(pid),
        });
    }
    if opts.foreground {
        let config = load(&path)?;
        return run_foreground(&name, &path, &config);
    }
    // Check the file before detaching, so errors reach the terminal.
    load(&path)?;
    detach(&name, &opts.target)
}

fn detach(name: &str, target: &str) -> Result<(), DaemonError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("finding this executable", e)))?;
    let mut child = Command::new(exe)
        .args(["up", target, "--foreground"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("starting the daemon", e)))?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if uapi::client::get(name).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DaemonError::Config(format!(
                "the daemon exited ({status}); run `dybervpn up {target} --foreground` to see why"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::Config(format!(
        "the daemon for {name} did not come up within {WAIT:?}"
    )))
}

/// Runs the interface in this process until SIGTERM or SIGINT.
pub fn run_foreground(name: &str, path: &Path, config: &Config) -> Result<(), DaemonError> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("installing signal handlers", e)))?;
    let pid = PidFile::create(Path::new(PID_DIR), name).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            DaemonError::AlreadyRunning {
                interface: name.to_owned(),
                pid: pidfile::live_pid(Path::new(PID_DIR), name),
            }
        } else {
            DaemonError::Os(crate::os::OsError::io("writing the PID file", e))
        }
    })?;
    let daemon = Daemon::start(config, &DaemonOptions::new(name))?;
    eprintln!(
        "{name}: up, listening on UDP port {}, PID {}",
        daemon.listen_port(),
        std::process::id()
    );
    // Bounded by the process's life: every signal either reloads or ends it.
    for signal in signals.forever() {
        if signal == SIGHUP {
            match load(path).and_then(|c| reload_config(name, &c)) {
                Ok(()) => eprintln!("{name}: configuration reloaded"),
                Err(e) => eprintln!("{name}: reload failed, configuration unchanged: {e}"),
            }
            continue;
        }
        break;
    }
    eprintln!("{name}: stopping");
    daemon.stop();
    drop(pid);
    Ok(())
}

/// The change-set that turns a running interface into `config`: peers not
/// in it are removed; peers whose settings are unchanged keep their
/// sessions (the daemon only updates what differs).
#[must_use]
pub fn change_set_for(config: &Config) -> ChangeSet {
    let mut cs = ChangeSet {
        replace_peers: true,
        fwmark: config.interface.fwmark,
        ..ChangeSet::default()
    };
    for peer in &config.peers {
        let mut c = PeerChange::new(peer.public_key);
        c.mode = Some(peer.mode);
        c.mldsa_public_key.clone_from(&peer.mldsa_public_key);
        c.preshared_key = Some(peer.preshared_key.clone());
        c.persistent_keepalive_interval = Some(peer.persistent_keepalive.unwrap_or(0));
        c.endpoint = peer.endpoint.as_ref().and_then(|e| e.resolve().ok());
        c.replace_allowed_ips = true;
        c.allowed_ips = peer
            .allowed_ips
            .iter()
            .filter_map(|a| crate::prefix::Prefix::new(a.addr(), a.prefix_len()).ok())
            .collect();
        cs.peers.push(c);
    }
    cs
}

fn reload_config(name: &str, config: &Config) -> Result<(), DaemonError> {
    uapi::client::set(name, &change_set_for(config))?;
    Ok(())
}

/// `dybervpn reload <if>`: asks the daemon to re-read its configuration.
pub fn reload(name: &str) -> Result<(), DaemonError> {
    crate::ifname::validate(name).map_err(|e| DaemonError::Config(e.to_string()))?;
    let pid = pidfile::live_pid(Path::new(PID_DIR), name)
        .ok_or_else(|| DaemonError::NotRunning(name.to_owned()))?;
    run(
        Command::new("kill").args(["-HUP", &pid.to_string()]),
        DEFAULT_TIMEOUT,
    )?;
    Ok(())
}

/// `dybervpn down <if>`.
pub fn down(name: &str) -> Result<(), DaemonError> {
    crate::ifname::validate(name).map_err(|e| DaemonError::Config(e.to_string()))?;
    let pid = pidfile::live_pid(Path::new(PID_DIR), name)
        .ok_or_else(|| DaemonError::NotRunning(name.to_owned()))?;
    run(
        Command::new("kill").args(["-TERM", &pid.to_string()]),
        DEFAULT_TIMEOUT,
    )?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::Config(format!(
        "the daemon for {name} (PID {pid}) did not stop within {WAIT:?}"
    )))
}

/// `dybervpn status [<if>] [--json]`: the text to print.
pub fn status(name: Option<&str>, json: bool) -> Result<String, DaemonError> {
    let names = match name {
        Some(n) => vec![n.to_owned()],
        None => uapi::client::list_interfaces(),
    };
    let mut snapshots = Vec::new();
    for n in names {
        match uapi::client::get(&n) {
            Ok(s) => snapshots.push((n, s)),
            Err(e) if name.is_some() => {
                return Err(if matches!(e, uapi::UapiError::Io(_)) {
                    DaemonError::NotRunning(n)
                } else {
                    DaemonError::Uapi(e)
                })
            }
            Err(_) => {}
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(if json {
        status_json(&snapshots)
    } else {
        snapshots
            .iter()
            .map(|(n, s)| status_text(n, s, now))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn ago(then: Duration, now: Duration) -> String {
    let s = now.saturating_sub(then).as_secs();
    match s {
        0..=59 => format!("{s} seconds ago"),
        60..=3599 => format!("{} minutes, {} seconds ago", s / 60, s % 60),
        _ => format!("{} hours, {} minutes ago", s / 3600, (s % 3600) / 60),
    }
}

fn b64(bytes: &[u8]) -> String {
    dybervpn_crypto::encoding::to_base64(bytes)
}

/// The human-readable status of one interface (no secrets).
#[must_use]
pub fn status_text(name: &str, snap: &DeviceSnapshot, now: Duration) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail.
    let _ = writeln!(out, "interface: {name}");
    if let Some(k) = &snap.private_key {
        if let Ok(public) = dybervpn_crypto::backend(Default::default()).x25519_public_key(k) {
            let _ = writeln!(out, "  public key: {}", b64(public.as_bytes()));
        }
    }
    let _ = writeln!(out, "  listening port: {}", snap.listen_port);
    if snap.fwmark != 0 {
        let _ = writeln!(out, "  fwmark: {:#x}", snap.fwmark);
    }
    for p in &snap.peers {
        let _ = writeln!(out, "\npeer: {}", b64(p.public_key.as_bytes()));
        let _ = writeln!(out, "  mode: {}", p.mode);
        if let Some(e) = p.endpoint {
            let _ = writeln!(out, "  endpoint: {e}");
        }
        let ips: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  allowed ips: {}",
            if ips.is_empty() {
                "(none)".to_owned()
            } else {
                ips.join(", ")
            }
        );
        match p.last_handshake {
            Some(t) => {
                let mode = p
                    .last_handshake_mode
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  latest handshake: {}{mode}", ago(t, now));
            }
            None => {
                let _ = writeln!(out, "  latest handshake: never");
            }
        }
        let _ = writeln!(
            out,
            "  transfer: {} B received, {} B sent",
            p.rx_bytes, p.tx_bytes
        );
        if p.persistent_keepalive_interval != 0 {
            let _ = writeln!(
                out,
                "  persistent keepalive: every {} seconds",
                p.persistent_keepalive_interval
            );
        }
    }
    out
}

/// The machine-readable status (no secrets).
#[must_use]
pub fn status_json(snapshots: &[(String, DeviceSnapshot)]) -> String {
    let interfaces: Vec<serde_json::Value> = snapshots
        .iter()
        .map(|(name, s)| {
            let peers: Vec<serde_json::Value> = s
                .peers
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "public_key": b64(p.public_key.as_bytes()),
                        "mode": p.mode.name(),
                        "endpoint": p.endpoint.map(|e| e.to_string()),
                        "allowed_ips": p.allowed_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "latest_handshake_unix": p.last_handshake.map(|t| t.as_secs()),
                        "latest_handshake_mode": p.last_handshake_mode.map(|m| m.name()),
                        "rx_bytes": p.rx_bytes,
                        "tx_bytes": p.tx_bytes,
                        "persistent_keepalive": p.persistent_keepalive_interval,
                        "mldsa_public_key_fingerprint": p.mldsa_public_key.as_ref().map(|k| k.fingerprint()),
                    })
                })
                .collect();
            serde_json::json!({
                "interface": name,
                "listen_port": s.listen_port,
                "fwmark": s.fwmark,
                "peers": peers,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "interfaces": interfaces }))
        .unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_to_names_and_paths() {
        let (n, p) = resolve_target("wg0").expect("name");
        assert_eq!(n, "wg0");
        assert_eq!(p, Path::new("/etc/dybervpn/wg0.toml"));
        let (n, p) = resolve_target("./conf/office.toml").expect("path");
        assert_eq!(n, "office");
        assert_eq!(p, Path::new("./conf/office.toml"));
        assert!(resolve_target("../x y.toml").is_err());
        assert!(resolve_target("a-name-that-is-far-too-long").is_err());
    }

    #[test]
    fn status_shows_no_secrets() {
        let mut snap = DeviceSnapshot {
            private_key: Some(dybervpn_crypto::X25519SecretKey::from_bytes([7; 32])),
            listen_port: 51820,
            ..DeviceSnapshot::default()
        };
        let mut peer = uapi::PeerSnapshot::new(
            dybervpn_crypto::X25519PublicKey([9; 32]),
            dybervpn_proto::Mode::Hybrid,
        );
        peer.preshared_key = Some(dybervpn_crypto::PresharedKey::from_bytes([5; 32]));
        peer.last_handshake = Some(Duration::from_secs(1000));
        peer.last_handshake_mode = Some(dybervpn_proto::Mode::Hybrid);
        peer.allowed_ips = vec!["10.0.0.2/32".parse().expect("prefix")];
        snap.peers.push(peer);
        let text = status_text("dv0", &snap, Duration::from_secs(1065));
        assert!(text.contains("mode: hybrid"), "{text}");
        assert!(
            text.contains("latest handshake: 1 minutes, 5 seconds ago (hybrid)"),
            "{text}"
        );
        assert!(text.contains("allowed ips: 10.0.0.2/32"), "{text}");
        let json = status_json(&[("dv0".into(), snap)]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["interfaces"][0]["peers"][0]["mode"], "hybrid");
        for secret in [b64(&[7; 32]), b64(&[5; 32]), hex::encode([7u8; 32])] {
            assert!(!text.contains(&secret) && !json.contains(&secret));
        }
    }
}
