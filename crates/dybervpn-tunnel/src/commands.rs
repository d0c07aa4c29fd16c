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
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dybervpn_config::Config;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::daemon::{Daemon, DaemonError, DaemonOptions};
use crate::os::signal;
use crate::pidfile::{self, PidFile, PID_DIR};
use crate::uapi::{self, ChangeSet, DeviceSnapshot, PeerChange, ReloadStatus};

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
    let config = load(&path)?;
    up_loaded(&name, &path, &opts.target, config, opts.foreground)
}

/// `up` once the caller has loaded and checked the configuration (the CLI
/// does, so its diagnostics read exactly like `check`'s). Refuses an
/// interface that is already up and a caller that is not root, before
/// creating anything. Takes the configuration by value so a foreground
/// daemon can free it once the interface is up.
pub fn up_loaded(
    name: &str,
    path: &Path,
    target: &str,
    config: Config,
    foreground: bool,
) -> Result<(), DaemonError> {
    refuse_if_running(name)?;
    if !crate::os::is_root() {
        return Err(DaemonError::NeedsRoot(
            "`dybervpn up` needs root: it creates a TUN device, routes and /run/dybervpn \
             (run it with sudo)"
                .into(),
        ));
    }
    if foreground {
        run_foreground(name, path, config)
    } else {
        detach(name, target)
    }
}

/// An interface is up when a live process holds its PID file or its
/// userspace-API socket answers.
fn refuse_if_running(name: &str) -> Result<(), DaemonError> {
    let pid = pidfile::live_pid(Path::new(PID_DIR), name);
    let running = |pid| DaemonError::AlreadyRunning {
        interface: name.to_owned(),
        pid,
    };
    if pid.is_some() {
        return Err(running(pid));
    }
    match uapi::client::get(name) {
        Ok(s) if s.dybervpn_version.is_none() => Err(DaemonError::Foreign(name.to_owned())),
        Ok(_) => Err(running(None)),
        Err(_) => Ok(()),
    }
}

/// Where a detached daemon's log goes.
pub const LOG_DIR: &str = "/var/log/dybervpn";

fn detach(name: &str, target: &str) -> Result<(), DaemonError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("finding this executable", e)))?;
    let log_path = Path::new(LOG_DIR).join(format!("{name}.log"));
    let log = std::fs::create_dir_all(LOG_DIR).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
    });
    // Where this start's lines begin, to quote its last one if it fails.
    let log_start = log
        .as_ref()
        .ok()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len());
    let stderr = match log {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    };
    let mut child = Command::new(exe)
        .args(["up", target, "--foreground"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("starting the daemon", e)))?;
    match wait_for_start(&mut child, WAIT, || uapi::client::get(name).is_ok()) {
        Start::Up => Ok(()),
        Start::Exited(status) => Err(DaemonError::Runtime(format!(
            "the daemon for {name} exited ({status}){}; see {} or run \
             `dybervpn up {target} --foreground`",
            last_words(&log_path, log_start)
                .map(|line| format!(": {line}"))
                .unwrap_or_default(),
            log_path.display()
        ))),
        Start::Stopped => Err(DaemonError::Runtime(format!(
            "the daemon for {name} did not come up within {WAIT:?} and was stopped; see {}",
            log_path.display()
        ))),
        Start::Killed => Err(DaemonError::Runtime(format!(
            "the daemon for {name} did not come up within {WAIT:?}, nor stop when asked, \
             and was killed: it may have left its interface or routes behind; see {}",
            log_path.display()
        ))),
    }
}

/// The last line a failed daemon wrote to its log after `from` (where
/// its start began): the error `up --foreground` exits with. Reads at most
/// the last 64 KiB.
fn last_words(log: &Path, from: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(from.max(len.saturating_sub(64 * 1024))))
        .ok()?;
    let mut tail = Vec::new();
    f.take(64 * 1024).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    Some(line.strip_prefix("dybervpn: ").unwrap_or(line).to_owned())
}

/// How the start of a detached daemon ended.
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// Its userspace-API socket answered.
    Up,
    /// It exited first.
    Exited(std::process::ExitStatus),
    /// It did not come up in time, and stopped when asked (SIGTERM).
    Stopped,
    /// It did not come up in time, nor stop within another `wait`, and
    /// was killed (SIGKILL).
    Killed,
}

/// Waits up to `wait` for `is_up`, or for `child` to exit. A daemon that
/// is still starting when the time is up is stopped, so that when `up`
/// reports a failure no daemon is left to come up behind the operator's
/// back (and make the next `up` fail as "already up"). SIGTERM first: the
/// daemon's handler is installed before it starts, so it removes whatever
/// it has made once its start returns.
fn wait_for_start(
    child: &mut std::process::Child,
    wait: Duration,
    is_up: impl Fn() -> bool,
) -> Start {
    let deadline = Instant::now() + wait;
    // Short pauses first, doubling: the socket usually answers within tens
    // of milliseconds, and a fixed 50 ms pause would add up to 50 ms to `up`.
    let mut pause = Duration::from_millis(1);
    while Instant::now() < deadline {
        if is_up() {
            return Start::Up;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Start::Exited(status);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    let _ = signal::send(child.id(), signal::SIGTERM);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Start::Stopped;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Start::Killed
}

fn init_logging(config: &Config) {
    let format = match config.interface.log_format {
        dybervpn_config::LogFormat::Json => dybervpn_metrics::LogFormat::Json,
        _ => dybervpn_metrics::LogFormat::Text,
    };
    // Already initialised (a test running several daemons): keep that one.
    if let Err(e) = dybervpn_metrics::logging::init(format, "info") {
        if !matches!(
            e,
            dybervpn_metrics::logging::LogInitError::AlreadyInitialized
        ) {
            eprintln!("dybervpn: logging: {e}; using the default");
            let _ = dybervpn_metrics::logging::init(format, "info");
        }
    }
}

/// Runs the interface in this process until SIGTERM or SIGINT.
///
/// The configuration is freed once the interface is up, and the heap
/// trimmed, here and after each reload: the daemon keeps its own copy of
/// what it needs, and with 10,000 peers the parsed configuration (424 bytes
/// a peer) and the freed TOML document would otherwise stay resident (see
/// [`crate::os::mem`]).
pub fn run_foreground(name: &str, path: &Path, config: Config) -> Result<(), DaemonError> {
    crate::os::mem::configure_heap();
    init_logging(&config);
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
    // The daemon ends the process, as a signal would, when its TUN device
    // or its userspace-API socket is deleted under it.
    let mut options = DaemonOptions::new(name);
    let signals_handle = signals.handle();
    options.on_end = Some(crate::EndHook(Arc::new(move || {
        signals_handle.close();
    })));
    let daemon = Daemon::start(&config, &options)?;
    tracing::info!(
        interface = name,
        listen = daemon.listen_port(),
        pid = std::process::id(),
        mode = %config.interface.mode,
        "{name}: up, listening on UDP port {}",
        daemon.listen_port()
    );
    drop(config);
    crate::os::mem::release_free_heap();
    // Bounded by the process's life: every signal either reloads or ends it.
    for signal in signals.forever() {
        if signal == SIGHUP {
            let (status, message) = match load(path).and_then(|c| daemon.apply_config(&c)) {
                Ok(not_applied) if not_applied.is_empty() => {
                    tracing::info!(interface = name, "configuration reloaded");
                    (ReloadStatus::Applied, "configuration reloaded".to_owned())
                }
                Ok(not_applied) => {
                    let message = format!(
                        "configuration reloaded, except:\n{}",
                        not_applied.join("\n")
                    );
                    tracing::warn!(interface = name, "{message}");
                    (ReloadStatus::Partly, message)
                }
                Err(e) => {
                    tracing::warn!(
                        interface = name,
                        "reload failed, configuration unchanged: {e}"
                    );
                    (
                        ReloadStatus::Refused,
                        format!("reload failed, nothing changed: {e}"),
                    )
                }
            };
            daemon.record_reload(status, message);
            crate::os::mem::release_free_heap();
            continue;
        }
        break;
    }
    let failure = daemon
        .failed()
        .then(|| daemon.ended().unwrap_or("it failed").to_owned());
    match daemon.ended() {
        Some(why) => tracing::info!(interface = name, "stopping: {why}"),
        None => tracing::info!(interface = name, "stopping"),
    }
    daemon.stop();
    drop(pid);
    let _ = std::fs::remove_file(reload_lock_path(name));
    tracing::info!(interface = name, "down");
    // A daemon that failed exits non-zero, so a service manager's
    // `Restart=on-failure` starts it again.
    match failure {
        Some(why) => Err(DaemonError::Runtime(format!("{name} stopped: {why}"))),
        None => Ok(()),
    }
}

/// The change-set that turns a running interface into `config`: peers not
/// in it are removed; peers whose settings are unchanged keep their
/// sessions (the daemon only updates what differs). With it, a line for
/// each endpoint whose name did not resolve: that peer keeps the endpoint
/// it has.
#[must_use]
pub fn change_set_for(config: &Config) -> (ChangeSet, Vec<String>) {
    let mut unresolved = Vec::new();
    let mut cs = ChangeSet {
        replace_peers: true,
        fwmark: config.interface.fwmark,
        ..ChangeSet::default()
    };
    for (i, peer) in config.peers.iter().enumerate() {
        let mut c = PeerChange::new(peer.public_key);
        c.mode = Some(peer.mode);
        c.mldsa_public_key.clone_from(&peer.mldsa_public_key);
        c.preshared_key = Some(peer.preshared_key.clone());
        c.persistent_keepalive_interval = Some(peer.persistent_keepalive.unwrap_or(0));
        c.endpoint = peer.endpoint.as_ref().and_then(|e| {
            e.resolve()
                .map_err(|err| {
                    unresolved.push(format!(
                        "{}: endpoint {e} did not resolve ({err}); the peer keeps its current \
                         endpoint",
                        peer.label(i)
                    ));
                })
                .ok()
        });
        c.replace_allowed_ips = true;
        c.allowed_ips = peer
            .allowed_ips
            .iter()
            .filter_map(|a| crate::prefix::Prefix::new(a.addr(), a.prefix_len()).ok())
            .collect();
        cs.peers.push(c);
    }
    (cs, unresolved)
}

/// The file `reload` locks so that one runs at a time per interface
/// (removed when the daemon stops).
fn reload_lock_path(name: &str) -> PathBuf {
    Path::new(PID_DIR).join(format!("{name}.reload"))
}

/// `dybervpn reload <if>`: asks the daemon to re-read its configuration
/// (SIGHUP) and waits, at most [`WAIT`], for it to say how that went. A
/// reload that was refused, or applied only in part, is an error that
/// says why (the file's errors, or the settings that need a restart); the
/// message of one that went through is returned.
pub fn reload(name: &str) -> Result<String, DaemonError> {
    crate::ifname::validate(name).map_err(|e| DaemonError::Config(e.to_string()))?;
    let pid = pidfile::live_pid(Path::new(PID_DIR), name)
        .ok_or_else(|| DaemonError::NotRunning(name.to_owned()))?;
    // One `reload` of an interface at a time, so that each reports the
    // outcome of its own request and not of one another run sent just
    // before (a SIGHUP from elsewhere can still interleave).
    let lock_path = reload_lock_path(name);
    let _one_at_a_time = std::fs::File::create(&lock_path)
        .and_then(|f| f.lock().map(|()| f))
        .map_err(|e| DaemonError::Os(crate::os::OsError::io("locking the reload", e)))?;
    let number = |s: &DeviceSnapshot| s.last_reload.as_ref().map_or(0, |r| r.number);
    let before = number(&uapi::client::get(name)?);
    signal::send(pid, signal::SIGHUP)?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let Ok(snap) = uapi::client::get(name) else {
            continue;
        };
        let Some(last) = snap.last_reload.filter(|r| r.number > before) else {
            continue;
        };
        return match last.status {
            ReloadStatus::Applied => Ok(last.message),
            _ => Err(DaemonError::Reload(last.message)),
        };
    }
    Err(DaemonError::Runtime(format!(
        "the daemon for {name} (PID {pid}) was asked to reload but did not answer within \
         {WAIT:?}; see its log"
    )))
}

/// `dybervpn down <if>`: stops the daemon, and says so. With no daemon
/// running, removes what a killed one left behind (its firewall rules, PID
/// file and socket), naming each; [`DaemonError::NotRunning`] if there was
/// nothing.
pub fn down(name: &str) -> Result<String, DaemonError> {
    crate::ifname::validate(name).map_err(|e| DaemonError::Config(e.to_string()))?;
    let Some(pid) = pidfile::live_pid(Path::new(PID_DIR), name) else {
        // Something still answers on the socket: not a killed daemon's
        // leftovers, whose rules must then not be touched (a daemon from
        // before the PID file was locked, say, or another implementation).
        if uapi::client::get(name).is_ok() {
            return Err(DaemonError::Runtime(format!(
                "something answers on {name}'s socket, but no DyberVPN daemon holds its PID \
                 file {}; stop that process yourself (`wg show {name}` shows what it is)",
                pidfile::path_in(Path::new(PID_DIR), name).display()
            )));
        }
        let left = remove_leftovers(name);
        if left.is_empty() {
            return Err(DaemonError::NotRunning(name.to_owned()));
        }
        return Ok(format!(
            "no daemon was running; removed what one left behind: {}",
            left.join(", ")
        ));
    };
    signal::send(pid, signal::SIGTERM)?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if !pidfile::is_alive(pid) {
            return Ok("down".to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::Runtime(format!(
        "the daemon for {name} (PID {pid}) did not stop within {WAIT:?}"
    )))
}

/// What a daemon for `name` that was killed before its teardown left:
/// removed, and named. Its TUN device, routes and addresses went with the
/// process; its policy rules cannot be told from another tunnel's, and the
/// next `up` with a default route replaces them.
fn remove_leftovers(name: &str) -> Vec<String> {
    let mut removed = crate::os::firewall::remove_leftovers(name);
    let _ = std::fs::remove_file(reload_lock_path(name));
    if pidfile::remove_stale(Path::new(PID_DIR), name) {
        removed.push(format!(
            "PID file {}",
            pidfile::path_in(Path::new(PID_DIR), name).display()
        ));
    }
    let dir = Path::new(uapi::server::SOCKET_DIR);
    if uapi::server::remove_stale_socket(dir, name) {
        removed.push(format!(
            "socket {}",
            uapi::server::socket_path_in(dir, name).display()
        ));
    }
    removed
}

/// `dybervpn status [<if>] [--json]`: the text to print.
pub fn status(name: Option<&str>, json: bool) -> Result<String, DaemonError> {
    let names = match name {
        Some(n) => {
            crate::ifname::validate(n).map_err(|e| DaemonError::Config(e.to_string()))?;
            vec![n.to_owned()]
        }
        None => uapi::client::list_interfaces(),
    };
    let mut snapshots = Vec::new();
    // Sockets in the same directory served by wireguard-go or boringtun:
    // named, never shown as DyberVPN interfaces (their peers would read as
    // the default mode, hybrid, when they are classic WireGuard).
    let mut foreign = Vec::new();
    for n in names {
        match uapi::client::get(&n) {
            Ok(s) if s.dybervpn_version.is_none() => {
                if name.is_some() {
                    return Err(DaemonError::Foreign(n));
                }
                foreign.push(n);
            }
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
    if json {
        return Ok(status_json(&snapshots));
    }
    let mut text = if snapshots.is_empty() {
        "no DyberVPN interface is up".to_owned()
    } else {
        snapshots
            .iter()
            .map(|(n, s)| status_text(n, s, now))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if !foreign.is_empty() {
        text = format!(
            "{}\n\nserved by another WireGuard implementation (see `wg show`): {}",
            text.trim_end(),
            foreign.join(", ")
        );
    }
    Ok(text)
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

/// `1234567` → `1.18 MiB`, as `wg show` prints transfer.
#[must_use]
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Precision loss is irrelevant for display.
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.2} {unit}")
}

/// `(messages, bytes)` of the handshake-message counter `name`.
fn wire(snap: &DeviceSnapshot, name: &str) -> (u64, u64) {
    snap.handshake_wire
        .iter()
        .find(|(n, _, _)| n == name)
        .map_or((0, 0), |(_, m, b)| (*m, *b))
}

/// The size of one message of the kind `name` counts (they are all the
/// same size in one mode), if any was seen.
#[must_use]
pub fn message_size(snap: &DeviceSnapshot, name: &str) -> Option<u64> {
    let (m, b) = wire(snap, name);
    (m > 0).then(|| b / m)
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
    if let Some(r) = snap
        .last_reload
        .as_ref()
        .filter(|r| r.status != ReloadStatus::Applied)
    {
        let _ = writeln!(
            out,
            "  last reload: {} ({})",
            r.status.name(),
            r.message.replace('\n', " ")
        );
    }
    let mut hs = Vec::new();
    for (kind, label) in [
        ("initiation", "initiations"),
        ("response", "responses"),
        ("cookie_reply", "cookie replies"),
    ] {
        let (sent, sent_bytes) = wire(snap, &format!("{kind}_sent"));
        let (recv, recv_bytes) = wire(snap, &format!("{kind}_received"));
        if sent + recv > 0 {
            hs.push(format!(
                "{label} {sent} sent ({sent_bytes} B), {recv} received ({recv_bytes} B)"
            ));
        }
    }
    if !hs.is_empty() {
        let _ = writeln!(out, "  handshake messages: {}", hs.join("; "));
    }
    let drops: Vec<String> = snap
        .drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "  dropped: {}",
        if drops.is_empty() {
            "none".to_owned()
        } else {
            drops.join(", ")
        }
    );
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
                let took = p
                    .last_handshake_duration
                    .map(|d| format!(", initiated here, took {:.1} ms", d.as_secs_f64() * 1e3))
                    .unwrap_or_default();
                let mode = p
                    .last_handshake_mode
                    .map(|m| format!(" ({m}{took})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  latest handshake: {}{mode}", ago(t, now));
            }
            None => {
                let _ = writeln!(out, "  latest handshake: never");
            }
        }
        let _ = writeln!(out, "  handshakes: {}", p.handshakes);
        let _ = writeln!(
            out,
            "  transfer: {} received, {} sent",
            human_bytes(p.rx_bytes),
            human_bytes(p.tx_bytes)
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

/// The version of the `status --json` document (docs/status-json.md). It
/// changes only when a field is removed or changes meaning; new fields may
/// appear without a change.
pub const STATUS_SCHEMA: u32 = 2;

/// The machine-readable status (no secrets); see docs/status-json.md.
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
                        "handshakes": p.handshakes,
                        "latest_handshake_duration_ms": p.last_handshake_duration.map(|d| d.as_secs_f64() * 1e3),
                        "rx_bytes": p.rx_bytes,
                        "tx_bytes": p.tx_bytes,
                        "persistent_keepalive": p.persistent_keepalive_interval,
                        "mldsa_public_key_fingerprint": p.mldsa_public_key.as_ref().map(|k| k.fingerprint()),
                    })
                })
                .collect();
            let public_key = s.private_key.as_ref().and_then(|k| {
                dybervpn_crypto::backend(Default::default())
                    .x25519_public_key(k)
                    .ok()
                    .map(|p| b64(p.as_bytes()))
            });
            let drops: serde_json::Map<String, serde_json::Value> = s
                .drops
                .iter()
                .map(|(r, n)| (r.clone(), serde_json::json!(n)))
                .collect();
            let wire: serde_json::Map<String, serde_json::Value> = s
                .handshake_wire
                .iter()
                .map(|(n, m, b)| (n.clone(), serde_json::json!({"messages": m, "bytes": b})))
                .collect();
            let last_reload = s.last_reload.as_ref().map(|r| {
                serde_json::json!({
                    "number": r.number,
                    "status": r.status.name(),
                    "message": r.message,
                })
            });
            serde_json::json!({
                "interface": name,
                "public_key": public_key,
                "listen_port": s.listen_port,
                "fwmark": s.fwmark,
                "version": s.dybervpn_version,
                "last_reload": last_reload,
                "drops": drops,
                "handshake_messages": wire,
                "peers": peers,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "schema": STATUS_SCHEMA,
        "interfaces": interfaces,
    }))
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

    /// A failed start is explained by its own last line in the log, not
    /// by an earlier start's.
    #[test]
    fn the_last_line_of_a_failed_start_is_quoted() {
        let log =
            std::env::temp_dir().join(format!("dybervpn-last-words-{}.log", std::process::id()));
        std::fs::write(&log, "dybervpn: an old failure\n").expect("write");
        let from = std::fs::metadata(&log).expect("meta").len();
        assert_eq!(last_words(&log, from), None, "nothing new yet");
        let mut text = std::fs::read_to_string(&log).expect("read");
        text.push_str("INFO starting\ndybervpn: resolvconf: not found\n\n");
        std::fs::write(&log, text).expect("write");
        assert_eq!(
            last_words(&log, from).as_deref(),
            Some("resolvconf: not found")
        );
        let _ = std::fs::remove_file(&log);
    }

    /// `up` without `--foreground` reports a daemon that did not come up
    /// in time as a failure, and leaves no such daemon running.
    #[test]
    fn a_daemon_that_does_not_come_up_in_time_is_stopped() {
        let spawn = |script: &str| {
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .spawn()
                .expect("sh")
        };
        let mut slow = spawn("sleep 30");
        let r = wait_for_start(&mut slow, Duration::from_millis(200), || false);
        assert_eq!(r, Start::Stopped);
        assert!(slow.try_wait().expect("wait").is_some(), "still running");

        // One that ignores SIGTERM is killed.
        let mut stubborn = spawn("trap '' TERM; while :; do sleep 0.05; done");
        let r = wait_for_start(&mut stubborn, Duration::from_millis(300), || false);
        assert_eq!(r, Start::Killed);
        assert!(
            stubborn.try_wait().expect("wait").is_some(),
            "still running"
        );

        let mut failing = spawn("exit 3");
        let r = wait_for_start(&mut failing, Duration::from_secs(10), || false);
        assert!(
            matches!(r, Start::Exited(s) if s.code() == Some(3)),
            "{r:?}"
        );

        let mut fine = spawn("sleep 30");
        let calls = std::cell::Cell::new(0);
        let r = wait_for_start(&mut fine, Duration::from_secs(10), || {
            calls.set(calls.get() + 1);
            calls.get() > 3
        });
        assert_eq!(r, Start::Up);
        let _ = fine.kill();
        let _ = fine.wait();
    }

    #[test]
    fn status_shows_no_secrets() {
        let mut snap = DeviceSnapshot {
            private_key: Some(dybervpn_crypto::X25519SecretKey::from_bytes([7; 32])),
            listen_port: 51820,
            drops: vec![("no_route".into(), 4), ("replay".into(), 0)],
            handshake_wire: vec![
                ("initiation_sent".into(), 2, 2664),
                ("response_received".into(), 1, 1180),
            ],
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
        peer.handshakes = 3;
        peer.rx_bytes = 1536;
        snap.peers.push(peer);
        snap.last_reload = Some(uapi::LastReload {
            number: 2,
            status: ReloadStatus::Partly,
            message: "configuration reloaded, except:\n[interface] mtu changed".into(),
        });
        let text = status_text("dv0", &snap, Duration::from_secs(1065));
        assert!(
            text.contains(
                "last reload: partly (configuration reloaded, except: [interface] mtu changed)"
            ),
            "{text}"
        );
        assert!(text.contains("mode: hybrid"), "{text}");
        assert!(
            text.contains("latest handshake: 1 minutes, 5 seconds ago (hybrid)"),
            "{text}"
        );
        assert!(text.contains("allowed ips: 10.0.0.2/32"), "{text}");
        assert!(text.contains("dropped: no_route 4\n"), "{text}");
        assert!(text.contains("handshakes: 3"), "{text}");
        assert!(text.contains("1.50 KiB received"), "{text}");
        assert!(
            text.contains("initiations 2 sent (2664 B), 0 received (0 B); responses 0 sent (0 B), 1 received (1180 B)"),
            "{text}"
        );
        assert_eq!(message_size(&snap, "initiation_sent"), Some(1332));
        let json = status_json(&[("dv0".into(), snap)]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["schema"], 2);
        let i = &v["interfaces"][0];
        assert_eq!(i["interface"], "dv0");
        assert_eq!(i["listen_port"], 51820);
        assert_eq!(i["drops"]["no_route"], 4);
        assert_eq!(i["drops"]["replay"], 0);
        assert_eq!(i["last_reload"]["number"], 2);
        assert_eq!(i["last_reload"]["status"], "partly");
        assert_eq!(i["handshake_messages"]["initiation_sent"]["bytes"], 2664);
        let p = &i["peers"][0];
        assert_eq!(p["mode"], "hybrid");
        assert_eq!(p["latest_handshake_unix"], 1000);
        assert_eq!(p["latest_handshake_mode"], "hybrid");
        assert_eq!(p["handshakes"], 3);
        assert_eq!(p["rx_bytes"], 1536);
        assert_eq!(p["allowed_ips"][0], "10.0.0.2/32");
        assert!(p["endpoint"].is_null());
        for secret in [b64(&[7; 32]), b64(&[5; 32]), hex::encode([7u8; 32])] {
            assert!(!text.contains(&secret) && !json.contains(&secret));
        }
    }
}
