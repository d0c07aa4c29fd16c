//! `dybervpn demo`: two network namespaces joined by a veth pair, one
//! DyberVPN daemon in each, a handshake, pings through the tunnel, a short
//! throughput test and a summary. Everything is removed at the end, on
//! failure, and on Ctrl-C (the guards in [`crate::netns`] own it all).
//!
//! The daemons are this executable run as
//! `<exe> up <dir>/<if>.toml --foreground` inside each namespace, so the
//! demo exercises the same path as a real `up`.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dybervpn_config::{Cidr, Config, Endpoint, InterfaceConfig, PeerConfig};
use dybervpn_crypto::{BackendKind, CryptoBackend, MlDsaSeed};
use dybervpn_proto::Mode;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::daemon::DaemonError;
use crate::netns::{unique_name, veth_pair, Netns, Process};
use crate::os::OsError;
use crate::uapi;

/// The demo's UDP port inside each namespace.
const PORT: u16 = 51820;
/// Bounded waits.
const UP_WAIT: Duration = Duration::from_secs(30);

/// `demo`'s arguments.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The handshake mode of both peers.
    pub mode: Mode,
    /// The `dybervpn` executable to run as the daemons (normally
    /// `std::env::current_exe()`).
    pub exe: PathBuf,
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The mode used.
    pub mode: Mode,
    /// Pings answered / sent.
    pub pings: (u32, u32),
    /// The mode of the completed handshake as the initiator saw it.
    pub handshake_mode: Option<Mode>,
    /// Approximate tunnel throughput from a ping flood of full-size packets,
    /// in Mbit/s (both directions counted once).
    pub flood_mbit_s: f64,
}

fn underlay(side: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 251, 0, side))
}

fn inner(side: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, side))
}

fn cfg_err(e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Config(format!("demo: {e}"))
}

/// Two configurations that point at each other, with fresh keys.
pub fn pair_configs(mode: Mode, backend: &dyn CryptoBackend) -> Result<[Config; 2], DaemonError> {
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (secret, public) = backend.x25519_generate().map_err(cfg_err)?;
        let mut seed = [0u8; 32];
        backend.fill_random(&mut seed).map_err(cfg_err)?;
        let seed = MlDsaSeed::from_bytes(seed);
        let mldsa_public = backend.mldsa_from_seed(&seed).map_err(cfg_err)?.public;
        keys.push((secret, public, seed, mldsa_public));
    }
    let make = |me: usize, other: usize| -> Result<Config, DaemonError> {
        let (secret, public, seed, _) = &keys[me];
        let side = u8::try_from(me + 1).unwrap_or(1);
        let other_side = u8::try_from(other + 1).unwrap_or(2);
        let mut iface = InterfaceConfig::new(secret.clone(), *public, mode);
        iface.listen_port = Some(PORT);
        iface.address = vec![Cidr::new(inner(side), 24).ok_or_else(|| cfg_err("address"))?];
        if mode.needs_mldsa() {
            iface.mldsa_private_key = Some(seed.clone());
        }
        let (_, other_public, _, other_mldsa) = &keys[other];
        let mut peer = PeerConfig::new(*other_public, mode);
        peer.endpoint = Some(Endpoint::from(SocketAddr::new(underlay(other_side), PORT)));
        peer.allowed_ips = vec![Cidr::new(inner(other_side), 32).ok_or_else(|| cfg_err("cidr"))?];
        if mode.needs_mldsa() {
            peer.mldsa_public_key = Some(other_mldsa.clone());
        }
        Ok(Config {
            interface: iface,
            peers: vec![peer],
        })
    };
    Ok([make(0, 1)?, make(1, 0)?])
}

/// A private directory removed on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> Result<Self, DaemonError> {
        let dir = std::env::temp_dir().join(format!("dybervpn-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| DaemonError::Os(OsError::io(format!("creating {}", dir.display()), e)))?;
        Ok(Self(dir))
    }

    fn write_config(&self, name: &str, config: &Config) -> Result<PathBuf, DaemonError> {
        use std::io::Write;
        let path = self.0.join(format!("{name}.toml"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| DaemonError::Os(OsError::io(format!("writing {}", path.display()), e)))?;
        f.write_all(config.to_toml().as_bytes())
            .map_err(|e| DaemonError::Os(OsError::io(format!("writing {}", path.display()), e)))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_interrupt(stop: &AtomicBool) -> Result<(), DaemonError> {
    if stop.load(Ordering::SeqCst) {
        Err(DaemonError::Config("demo interrupted; cleaned up".into()))
    } else {
        Ok(())
    }
}

fn wait_up(name: &str, daemon: &mut Process, stop: &AtomicBool) -> Result<(), DaemonError> {
    let deadline = Instant::now() + UP_WAIT;
    while Instant::now() < deadline {
        check_interrupt(stop)?;
        if uapi::client::get(name).is_ok() {
            return Ok(());
        }
        if daemon.has_exited() {
            return Err(DaemonError::Config(format!(
                "demo: the daemon for {name} exited"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::Config(format!(
        "demo: {name} did not come up within {UP_WAIT:?}"
    )))
}

fn received(ping_output: &str) -> u32 {
    // "N packets transmitted, M received, ..."
    ping_output
        .split(',')
        .find(|part| part.trim_end().ends_with("received"))
        .and_then(|part| part.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs the demo, reporting progress through `say`.
pub fn demo(opts: &DemoOptions, say: &mut dyn FnMut(&str)) -> Result<DemoSummary, DaemonError> {
    if !crate::os::is_root() {
        return Err(DaemonError::Config(
            "demo needs root: it creates network namespaces and TUN devices".into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| DaemonError::Os(OsError::io("installing signal handlers", e)))?;
    }
    let mode = opts.mode;
    let backend = dybervpn_crypto::backend(BackendKind::default());
    let configs = pair_configs(mode, &*backend)?;

    say(&format!(
        "creating two network namespaces joined by a veth pair ({mode} mode)"
    ));
    let ns = [Netns::create("dma")?, Netns::create("dmb")?];
    veth_pair(&ns[0], "10.251.0.1/24", &ns[1], "10.251.0.2/24")?;
    let dir = PrivateDir::create()?;
    let names = [unique_name("dya"), unique_name("dyb")];
    let exe = opts.exe.to_string_lossy().into_owned();
    let mut daemons = Vec::new();
    for i in 0..2 {
        let path = dir.write_config(&names[i], &configs[i])?;
        let path = path.to_string_lossy().into_owned();
        daemons.push(ns[i].spawn(&exe, &["up", &path, "--foreground"])?);
    }
    for (name, daemon) in names.iter().zip(daemons.iter_mut()) {
        wait_up(name, daemon, &stop)?;
    }
    say(&format!(
        "daemons up: {} (10.77.0.1) and {} (10.77.0.2)",
        names[0], names[1]
    ));

    check_interrupt(&stop)?;
    let started = Instant::now();
    let ping = ns[0].exec(
        "ping",
        &["-c", "5", "-i", "0.2", "-W", "5", "10.77.0.2"],
        Duration::from_secs(30),
    );
    let answered = ping.as_ref().map_or(0, |o| received(&o.stdout));
    let snap = uapi::client::get(&names[0])?;
    let handshake_mode = snap.peers.first().and_then(|p| p.last_handshake_mode);
    say(&format!(
        "handshake: {} ; ping through the tunnel: {answered}/5 answered ({:.1} s)",
        handshake_mode.map_or("none".to_owned(), |m| format!("completed in {m} mode")),
        started.elapsed().as_secs_f64()
    ));

    check_interrupt(&stop)?;
    say("throughput: 2,000 full-size pings as fast as they are answered");
    let before = snap.peers.first().map_or(0, |p| p.tx_bytes + p.rx_bytes);
    let t0 = Instant::now();
    let _ = ns[0].exec(
        "ping",
        &[
            "-f",
            "-q",
            "-c",
            "2000",
            "-s",
            "1372",
            "-W",
            "2",
            "10.77.0.2",
        ],
        Duration::from_secs(60),
    );
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    let after = uapi::client::get(&names[0])?
        .peers
        .first()
        .map_or(0, |p| p.tx_bytes + p.rx_bytes);
    // Precision loss is irrelevant for a rough figure.
    #[allow(clippy::cast_precision_loss)]
    let mbit = (after.saturating_sub(before)) as f64 * 8.0 / secs / 1e6;

    let summary = DemoSummary {
        mode,
        pings: (answered, 5),
        handshake_mode,
        flood_mbit_s: mbit,
    };
    let mut text = String::new();
    let _ = write!(
        text,
        "summary: mode {mode}, handshake {}, pings {answered}/5, ~{mbit:.0} Mbit/s through the tunnel (ping flood, debug or release as built)",
        handshake_mode.map_or("missing".to_owned(), |m| m.to_string())
    );
    say(&text);
    say("cleaning up: stopping daemons, deleting namespaces");
    for d in &mut daemons {
        d.stop(Process::GRACE);
    }
    drop(daemons);
    drop(ns);
    if answered == 0 || handshake_mode != Some(mode) {
        return Err(DaemonError::Config(format!(
            "demo failed: {answered}/5 pings answered, handshake {handshake_mode:?}"
        )));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn ping_output_is_read() {
        assert_eq!(
            received("5 packets transmitted, 4 received, 20% packet loss, time 805ms"),
            4
        );
        assert_eq!(received("garbage"), 0);
    }

    #[test]
    fn configs_point_at_each_other() {
        let backend = dybervpn_crypto::backend(BackendKind::default());
        let [a, b] = pair_configs(Mode::PqOnly, &*backend).expect("configs");
        assert_eq!(a.peers[0].public_key, b.interface.public_key);
        assert_eq!(b.peers[0].public_key, a.interface.public_key);
        assert!(a.interface.mldsa_private_key.is_some());
        assert!(a.peers[0].mldsa_public_key.is_some());
        // What the daemons will read back.
        let text = a.to_toml();
        let parsed = Config::parse(&text, Path::new("a.toml")).expect("parses");
        assert_eq!(parsed.config, a);
    }
}
