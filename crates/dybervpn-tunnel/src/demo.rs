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

/// How the throughput figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThroughputMethod {
    /// `iperf3`, one TCP stream for [`IPERF_SECONDS`].
    Iperf3,
    /// A ping flood of full-size packets (iperf3 not installed).
    PingFlood,
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The mode used.
    pub mode: Mode,
    /// The mode of the completed handshake as the initiator saw it.
    pub handshake_mode: Option<Mode>,
    /// The size of the initiation on the wire, in bytes.
    pub initiation_bytes: Option<u64>,
    /// The size of the response on the wire, in bytes.
    pub response_bytes: Option<u64>,
    /// Initiation sent to response received, on the initiating side.
    pub handshake_time: Option<Duration>,
    /// Pings answered / sent.
    pub pings: (u32, u32),
    /// Average round-trip time of the answered pings.
    pub ping_avg_ms: Option<f64>,
    /// Tunnel throughput in Mbit/s.
    pub throughput_mbit_s: f64,
    /// How it was measured.
    pub throughput_method: ThroughputMethod,
}

/// How long the iperf3 test runs.
pub const IPERF_SECONDS: u32 = 3;
/// Pings through the tunnel after the handshake.
const PINGS: u32 = 5;

/// What a mode puts in the handshake, for people.
#[must_use]
pub fn mode_description(mode: Mode) -> &'static str {
    match mode {
        Mode::Classic => "X25519, as WireGuard",
        Mode::Hybrid => "X25519 + ML-KEM-768",
        Mode::PqOnly => "X25519 + ML-KEM-768, ML-DSA-65 signatures",
    }
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
        Err(DaemonError::Runtime("demo interrupted; cleaned up".into()))
    } else {
        Ok(())
    }
}

fn failed(message: impl Into<String>) -> DaemonError {
    DaemonError::Runtime(format!("demo failed: {}", message.into()))
}

fn wait_up(name: &str, daemon: &mut Process, stop: &AtomicBool) -> Result<(), DaemonError> {
    let deadline = Instant::now() + UP_WAIT;
    while Instant::now() < deadline {
        check_interrupt(stop)?;
        if uapi::client::get(name).is_ok() {
            return Ok(());
        }
        if daemon.has_exited() {
            return Err(failed(format!("the daemon for {name} exited")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(failed(format!("{name} did not come up within {UP_WAIT:?}")))
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

/// The average of "rtt min/avg/max/mdev = 0.1/0.2/0.3/0.0 ms".
fn average_rtt(ping_output: &str) -> Option<f64> {
    let line = ping_output.lines().find(|l| l.contains("min/avg/max"))?;
    let values = line.split('=').nth(1)?.trim();
    values.split('/').nth(1)?.trim().parse().ok()
}

/// Receiver-side bits per second from `iperf3 -J` output.
fn iperf_bits_per_second(json: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("end")?
        .get("sum_received")?
        .get("bits_per_second")?
        .as_f64()
}

fn have(program: &str) -> bool {
    crate::os::command::run(
        std::process::Command::new(program).arg("--version"),
        Duration::from_secs(5),
    )
    .is_ok()
}

/// A process in `ns` with its output going to `log` (or nowhere).
fn spawn_quiet(
    ns: &Netns,
    program: &str,
    args: &[&str],
    log: Option<&std::path::Path>,
) -> Result<Process, DaemonError> {
    let mut cmd = ns.command(program);
    cmd.args(args).stdin(std::process::Stdio::null());
    cmd.stdout(std::process::Stdio::null());
    match log.map(std::fs::File::create) {
        Some(Ok(f)) => cmd.stderr(f),
        _ => cmd.stderr(std::process::Stdio::null()),
    };
    Ok(Process::spawn(&mut cmd)?)
}

fn iperf3(ns: &[Netns; 2], stop: &AtomicBool) -> Result<Option<f64>, DaemonError> {
    let server_ip = inner(2).to_string();
    let mut server = spawn_quiet(&ns[1], "iperf3", &["-s", "-1", "-B", &server_ip], None)?;
    let secs = IPERF_SECONDS.to_string();
    // The server needs a moment to listen: retry the client, bounded.
    for _ in 0..20 {
        check_interrupt(stop)?;
        let out = ns[0].exec(
            "iperf3",
            &["-c", &server_ip, "-t", &secs, "-J"],
            Duration::from_secs(u64::from(IPERF_SECONDS) + 20),
        );
        // iperf3 3.12 exits with status 0 when it cannot connect, the
        // error only in its JSON: no result means "retry", like a failed
        // start, until the server is seen to have gone.
        if let Some(bits) = out.ok().and_then(|o| iperf_bits_per_second(&o.stdout)) {
            server.stop(Duration::from_secs(2));
            return Ok(Some(bits / 1e6));
        }
        if server.has_exited() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop(Duration::from_secs(2));
    Ok(None)
}

fn ping_flood(ns: &Netns, name: &str) -> Result<f64, DaemonError> {
    let bytes = |n: &str| -> u64 {
        uapi::client::get(n)
            .ok()
            .and_then(|s| s.peers.first().map(|p| p.tx_bytes + p.rx_bytes))
            .unwrap_or(0)
    };
    let before = bytes(name);
    let t0 = Instant::now();
    let target = inner(2).to_string();
    let _ = ns.exec(
        "ping",
        &["-f", "-q", "-c", "2000", "-s", "1372", "-W", "2", &target],
        Duration::from_secs(60),
    );
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    // Precision loss is irrelevant for a rough figure.
    #[allow(clippy::cast_precision_loss)]
    let mbit = bytes(name).saturating_sub(before) as f64 * 8.0 / secs / 1e6;
    Ok(mbit)
}

fn build_kind() -> &'static str {
    if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    }
}

/// The summary table.
#[must_use]
pub fn summary_table(s: &DemoSummary) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    rows.push(("mode", format!("{} ({})", s.mode, mode_description(s.mode))));
    let size = |b: Option<u64>| b.map_or_else(|| "?".to_owned(), |b| format!("{b} B"));
    rows.push((
        "handshake",
        format!(
            "initiation {}, response {} (WireGuard: 148 B, 92 B)",
            size(s.initiation_bytes),
            size(s.response_bytes)
        ),
    ));
    rows.push((
        "handshake time",
        s.handshake_time.map_or_else(
            || "?".to_owned(),
            |d| {
                format!(
                    "{:.1} ms (one round trip + computation)",
                    d.as_secs_f64() * 1e3
                )
            },
        ),
    ));
    rows.push((
        "ping",
        format!(
            "{}/{} answered{}",
            s.pings.0,
            s.pings.1,
            s.ping_avg_ms
                .map(|a| format!(", average {a:.2} ms"))
                .unwrap_or_default()
        ),
    ));
    rows.push((
        "throughput",
        match s.throughput_method {
            ThroughputMethod::Iperf3 => format!(
                "{:.0} Mbit/s (iperf3 TCP, {IPERF_SECONDS} s, {})",
                s.throughput_mbit_s,
                build_kind()
            ),
            ThroughputMethod::PingFlood => format!(
                "~{:.0} Mbit/s (ping flood, {}; install iperf3 for TCP)",
                s.throughput_mbit_s,
                build_kind()
            ),
        },
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let inner_width = rows
        .iter()
        .map(|(_, v)| v.chars().count())
        .max()
        .unwrap_or(0)
        + width
        + 5;
    let mut out = String::new();
    let rule = "─".repeat(inner_width);
    let _ = writeln!(out, "┌{rule}┐");
    let title = "DyberVPN demo: summary";
    let _ = writeln!(out, "│ {title:<w$} │", w = inner_width - 2);
    let _ = writeln!(out, "├{rule}┤");
    for (k, v) in rows {
        let _ = writeln!(
            out,
            "│ {k:<width$}   {v:<w$} │",
            w = inner_width - width - 5
        );
    }
    let _ = write!(out, "└{rule}┘");
    out
}

/// Runs the demo, reporting progress through `say`.
pub fn demo(opts: &DemoOptions, say: &mut dyn FnMut(&str)) -> Result<DemoSummary, DaemonError> {
    if !crate::os::is_root() {
        return Err(DaemonError::NeedsRoot(
            "`dybervpn demo` needs root: it creates network namespaces and TUN devices \
             (run it with sudo)"
                .into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut hooks = Vec::new();
    for sig in [SIGINT, SIGTERM] {
        hooks.push(
            signal_hook::flag::register(sig, Arc::clone(&stop))
                .map_err(|e| DaemonError::Os(OsError::io("installing signal handlers", e)))?,
        );
    }
    // Everything created below is owned by a guard, so any early return
    // (failure, Ctrl-C) removes it.
    let dir = PrivateDir::create()?;
    let mut logs = Vec::new();
    let result = run(opts, say, &stop, &dir, &mut logs);
    if result.is_err() {
        for (name, log) in &logs {
            if let Ok(text) = std::fs::read_to_string(log) {
                say(&format!("--- log of the daemon for {name} ---"));
                for line in text
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    say(line);
                }
            }
        }
    }
    drop(dir);
    for h in hooks {
        signal_hook::low_level::unregister(h);
    }
    result
}

fn run(
    opts: &DemoOptions,
    say: &mut dyn FnMut(&str),
    stop: &AtomicBool,
    dir: &PrivateDir,
    logs: &mut Vec<(String, PathBuf)>,
) -> Result<DemoSummary, DaemonError> {
    let mode = opts.mode;
    let backend = dybervpn_crypto::backend(BackendKind::default());
    let configs = pair_configs(mode, &*backend)?;

    say(&format!(
        "DyberVPN demo: two peers, {mode} mode ({})",
        mode_description(mode)
    ));
    say("");
    say("▸ creating two network namespaces joined by a virtual cable (10.251.0.1 ↔ 10.251.0.2)");
    let ns = [Netns::create("dma")?, Netns::create("dmb")?];
    veth_pair(&ns[0], "10.251.0.1/24", &ns[1], "10.251.0.2/24")?;
    let names = [unique_name("dya"), unique_name("dyb")];
    let exe = opts.exe.to_string_lossy().into_owned();
    let mut daemons = Vec::new();
    for i in 0..2 {
        let path = dir.write_config(&names[i], &configs[i])?;
        let path = path.to_string_lossy().into_owned();
        let log = dir.0.join(format!("{}.log", names[i]));
        logs.push((names[i].clone(), log.clone()));
        daemons.push(spawn_quiet(
            &ns[i],
            &exe,
            &["up", &path, "--foreground"],
            Some(&log),
        )?);
    }
    for (name, daemon) in names.iter().zip(daemons.iter_mut()) {
        wait_up(name, daemon, stop)?;
    }
    say(&format!(
        "▸ started a DyberVPN daemon in each: {} (tunnel address 10.77.0.1) and {} (10.77.0.2)",
        names[0], names[1]
    ));

    check_interrupt(stop)?;
    say("▸ first packet: the left side starts the handshake");
    let first = ns[0].exec(
        "ping",
        &["-c", "1", "-W", "10", "10.77.0.2"],
        Duration::from_secs(20),
    );
    check_interrupt(stop)?;
    let snap = uapi::client::get(&names[0])?;
    let peer = snap.peers.first();
    let handshake_mode = peer.and_then(|p| p.last_handshake_mode);
    let handshake_time = peer.and_then(|p| p.last_handshake_duration);
    let initiation_bytes = crate::commands::message_size(&snap, "initiation_sent");
    let response_bytes = crate::commands::message_size(&snap, "response_received");
    if first.is_err() || handshake_mode.is_none() {
        return Err(failed("no handshake: the first ping was not answered"));
    }
    let b = |x: Option<u64>| x.map_or_else(|| "?".to_owned(), |v| v.to_string());
    say(&format!(
        "  ✓ handshake complete in {} mode{}",
        handshake_mode.map_or("?".to_owned(), |m| m.to_string()),
        handshake_time
            .map(|d| format!(", {:.1} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_default()
    ));
    say(&format!(
        "      initiation  {:>5} bytes  left → right",
        b(initiation_bytes)
    ));
    say(&format!(
        "      response    {:>5} bytes  right → left",
        b(response_bytes)
    ));

    check_interrupt(stop)?;
    say(&format!("▸ ping through the tunnel ({PINGS} packets)"));
    let count = PINGS.to_string();
    let ping = ns[0].exec(
        "ping",
        &["-c", &count, "-i", "0.2", "-W", "5", "10.77.0.2"],
        Duration::from_secs(30),
    );
    let answered = ping.as_ref().map_or(0, |o| received(&o.stdout));
    let avg = ping.as_ref().ok().and_then(|o| average_rtt(&o.stdout));
    say(&format!(
        "  ✓ {answered}/{PINGS} answered{}",
        avg.map(|a| format!(", average round trip {a:.2} ms"))
            .unwrap_or_default()
    ));

    check_interrupt(stop)?;
    let (mbit, method) = if have("iperf3") {
        say(&format!(
            "▸ throughput: iperf3, one TCP stream for {IPERF_SECONDS} s through the tunnel"
        ));
        match iperf3(&ns, stop)? {
            Some(m) => (m, ThroughputMethod::Iperf3),
            None => {
                say("  iperf3 did not run; measuring with a ping flood instead");
                (ping_flood(&ns[0], &names[0])?, ThroughputMethod::PingFlood)
            }
        }
    } else {
        say("▸ throughput: 2,000 full-size pings as fast as they are answered (install iperf3 for a TCP test)");
        (ping_flood(&ns[0], &names[0])?, ThroughputMethod::PingFlood)
    };
    say(&format!("  ✓ {mbit:.0} Mbit/s"));
    check_interrupt(stop)?;

    let summary = DemoSummary {
        mode,
        handshake_mode,
        initiation_bytes,
        response_bytes,
        handshake_time,
        pings: (answered, PINGS),
        ping_avg_ms: avg,
        throughput_mbit_s: mbit,
        throughput_method: method,
    };
    say("▸ cleaning up: stopping the daemons, deleting the namespaces");
    for d in &mut daemons {
        d.stop(Process::GRACE);
    }
    drop(daemons);
    drop(ns);
    say("  ✓ nothing left behind");
    say("");
    say(&summary_table(&summary));
    if cfg!(debug_assertions) {
        say("(a debug build: `cargo build --release` is several times faster)");
    }
    if answered == 0 || handshake_mode != Some(mode) {
        return Err(failed(format!(
            "{answered}/{PINGS} pings answered, handshake {}",
            handshake_mode.map_or("missing".to_owned(), |m| m.to_string())
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
        assert_eq!(
            average_rtt("rtt min/avg/max/mdev = 0.101/0.250/0.412/0.05 ms"),
            Some(0.25)
        );
        assert_eq!(average_rtt("garbage"), None);
    }

    #[test]
    fn iperf_json_is_read() {
        let json = r#"{"end":{"sum_sent":{"bits_per_second":2e9},"sum_received":{"bits_per_second":1.5e9}}}"#;
        assert_eq!(iperf_bits_per_second(json), Some(1.5e9));
        assert_eq!(iperf_bits_per_second("{}"), None);
        assert_eq!(iperf_bits_per_second("not json"), None);
    }

    #[test]
    fn summary_table_lines_up() {
        let s = DemoSummary {
            mode: Mode::Hybrid,
            handshake_mode: Some(Mode::Hybrid),
            initiation_bytes: Some(1332),
            response_bytes: Some(1180),
            handshake_time: Some(Duration::from_micros(2300)),
            pings: (5, 5),
            ping_avg_ms: Some(0.41),
            throughput_mbit_s: 812.4,
            throughput_method: ThroughputMethod::Iperf3,
        };
        let t = summary_table(&s);
        assert!(t.contains("hybrid (X25519 + ML-KEM-768)"), "{t}");
        assert!(t.contains("initiation 1332 B, response 1180 B"), "{t}");
        assert!(t.contains("2.3 ms"), "{t}");
        assert!(t.contains("812 Mbit/s (iperf3 TCP"), "{t}");
        let widths: Vec<usize> = t.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{t}");
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
