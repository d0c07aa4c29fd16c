//! The running daemon for one interface: the protocol core's [`Device`],
//! the TUN device, the UDP sockets, the peer table, the data-path threads
//! and the userspace-API socket.
//!
//! [`Daemon::start`] sets everything up in the order `wg-quick` does
//! (device, addresses, routes) and undoes what it did if a step fails;
//! [`Daemon::stop`] (or drop) stops the threads and removes the socket,
//! the policy rules and the interface (its routes go with it).
#![forbid(unsafe_code)]

mod datapath;
mod error;
mod events;
mod observe;
mod sources;
mod target;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::{JoinHandle, Thread};

use dybervpn_config::Config;
use dybervpn_crypto::X25519SecretKey;
use dybervpn_proto::Device;

pub use datapath::Counters;
pub use error::DaemonError;
pub use events::{metric_drop, Events, HandshakeEvent, HandshakeWire, WireCount};

use crate::clock::Clock;
use crate::os::netconf::{InterfaceAddress, NetConfig};
use crate::os::tun::{Tun, TunOptions};
use crate::os::udp::UdpSockets;
use crate::peers::{PeerInfo, PeerTable};
use crate::prefix::Prefix;
use crate::uapi::server::{SocketFile, SocketState};
use crate::uapi::{LastReload, ReloadStatus, UapiServer};

/// How often a UDP reader re-checks the stop flag when nothing arrives.
const READ_TIMEOUT_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(1);

/// State shared by the daemon's threads and its userspace-API handler.
pub(crate) struct Shared {
    pub(crate) interface: String,
    pub(crate) device: Device,
    pub(crate) private_key: X25519SecretKey,
    pub(crate) has_mldsa: bool,
    pub(crate) tun: Tun,
    pub(crate) udp: UdpSockets,
    pub(crate) table: RwLock<PeerTable>,
    pub(crate) clock: Clock,
    pub(crate) counters: Counters,
    pub(crate) fwmark: AtomicU32,
    pub(crate) events: Events,
    pub(crate) metrics: Arc<dybervpn_metrics::Metrics>,
    /// Addresses, routes and rules; routes change on reload.
    pub(crate) net: Mutex<Option<NetConfig>>,
    /// Held for the whole of a reconfiguration (peers, then routes) and by
    /// every snapshot, so `status` and `wg show` never see a change half
    /// applied (a new peer before its route, say). The data path does not
    /// take it.
    pub(crate) reconfig: Mutex<()>,
    /// The local address each peer was last reached at.
    pub(crate) sources: sources::Sources,
    stop: AtomicBool,
    timer_thread: OnceLock<Thread>,
    /// Why the daemon ended itself, once it has ([`Shared::end`]).
    ended: OnceLock<String>,
    /// Whether that end was a failure (a data-path thread died), which the
    /// foreground command reports with a non-zero exit status.
    failed: AtomicBool,
    on_end: Option<EndHook>,
    /// The userspace-API socket as it was created: the daemon ends when it
    /// is removed or replaced.
    uapi_socket: OnceLock<SocketFile>,
    /// The `[interface]` settings the daemon started with: a reload that
    /// changes one of those only a restart can change says so.
    started: dybervpn_config::InterfaceConfig,
    /// How the last reload went (`dybervpn reload` waits for it).
    pub(crate) last_reload: Mutex<Option<LastReload>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// As [`Shared::end`], for a failure of the daemon itself (a
    /// data-path thread died), not of something outside it.
    fn fail(&self, why: String) {
        if self.stopping() {
            return;
        }
        if self.ended.get().is_none() {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.end(why);
    }

    /// The interface cannot go on (its TUN device or its userspace-API
    /// socket was deleted under it): says why, once, and calls the owner's
    /// [`DaemonOptions::on_end`], which stops the daemon. Nothing happens
    /// while it is already stopping.
    fn end(&self, why: String) {
        if self.stopping() {
            return;
        }
        if self.ended.set(why.clone()).is_ok() {
            match &self.on_end {
                Some(hook) => {
                    tracing::error!(interface = %self.interface, "{why}; shutting down");
                    (hook.0)();
                }
                None => tracing::error!(
                    interface = %self.interface,
                    "{why}; the interface cannot work until its owner stops it"
                ),
            }
        }
    }

    /// Ends the daemon if its userspace-API socket is gone or is no longer
    /// the one it created, as wireguard-go does (removing the socket is
    /// one way scripts stop a userspace WireGuard). Any other failure to
    /// look (an I/O error) leaves it running.
    fn check_uapi_socket(&self) {
        let Some(socket) = self.uapi_socket.get() else {
            return;
        };
        let what = match socket.state() {
            SocketState::Ours | SocketState::Unknown => return,
            SocketState::Removed => "removed",
            SocketState::Replaced => "replaced",
        };
        self.end(format!(
            "its userspace-API socket {} was {what}",
            socket.path().display()
        ));
    }

    fn wake_timers(&self) {
        if let Some(t) = self.timer_thread.get() {
            t.unpark();
        }
    }

    /// The peer's name for logs and metrics: its configured name, else its
    /// key fingerprint.
    pub(crate) fn peer_label(&self, id: dybervpn_proto::PeerId) -> String {
        self.table
            .read()
            .ok()
            .and_then(|t| t.get(id).map(PeerInfo::label))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Every drop counter by name: the core's reasons, then the daemon's.
    pub(crate) fn drops(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .device
            .drop_counts()
            .into_iter()
            .map(|(r, n)| (r.name().to_owned(), n))
            .collect();
        let c = &self.counters;
        for (name, n) in [
            ("no_route", &c.no_route),
            ("bad_source", &c.bad_source),
            ("not_ip", &c.not_ip),
            ("encapsulate_failed", &c.encapsulate_failed),
            ("udp_send_errors", &c.udp_send_errors),
            ("tun_write_errors", &c.tun_write_errors),
            ("handshake_queue_full", &c.handshake_queue_full),
        ] {
            v.push((name.to_owned(), n.load(Ordering::Relaxed)));
        }
        v
    }
}

/// What a daemon calls when it cannot go on ([`DaemonOptions::on_end`]).
#[derive(Clone)]
pub struct EndHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for EndHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndHook")
    }
}

/// Where the daemon puts its userspace-API socket, and whom it tells when
/// it cannot go on.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The interface name.
    pub interface: String,
    /// Directory of the userspace-API socket (`/var/run/wireguard`).
    pub uapi_dir: PathBuf,
    /// Called once, from a daemon thread, when the interface's TUN device
    /// or its userspace-API socket is deleted under it (`ip link del`,
    /// `rm`): the owner should then [`Daemon::stop`] it. The reason is in
    /// the log and in [`Daemon::ended`]. `up --foreground` ends the
    /// process, as wireguard-go does.
    pub on_end: Option<EndHook>,
}

impl DaemonOptions {
    /// The standard locations for `interface`.
    #[must_use]
    pub fn new(interface: &str) -> Self {
        Self {
            interface: interface.to_owned(),
            uapi_dir: PathBuf::from(crate::uapi::server::SOCKET_DIR),
            on_end: None,
        }
    }
}

/// A running interface. Dropping it stops it.
#[derive(Debug)]
pub struct Daemon {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    uapi: Option<UapiServer>,
    metrics_server: Option<dybervpn_metrics::MetricsServer>,
}

/// The `[interface]` settings that differ between `running` and `new`
/// and cannot change while the interface is up: the key (the peers know
/// the interface by it), the UDP port and addresses, the TUN device's MTU,
/// the ML-DSA key, the crypto backend, the metrics listener and the log
/// format. (`dns`, `fwmark` and the default `mode`, through the peers,
/// change live.)
fn needs_restart(
    running: &dybervpn_config::InterfaceConfig,
    new: &dybervpn_config::InterfaceConfig,
) -> Vec<&'static str> {
    [
        ("private_key", running.public_key != new.public_key),
        ("listen_port", running.listen_port != new.listen_port),
        ("address", sorted(&running.address) != sorted(&new.address)),
        ("mtu", running.mtu != new.mtu),
        (
            "mldsa_private_key",
            running.mldsa_private_key != new.mldsa_private_key,
        ),
        (
            "crypto_backend",
            running.crypto_backend != new.crypto_backend,
        ),
        (
            "metrics_listen",
            running.metrics_listen != new.metrics_listen,
        ),
        ("log_format", running.log_format != new.log_format),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// The addresses in a stable order: listing them in another order changes
/// nothing.
fn sorted(addresses: &[dybervpn_config::Cidr]) -> Vec<String> {
    let mut v: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

fn peer_info(peer: &dybervpn_config::PeerConfig, label: &str) -> Result<PeerInfo, DaemonError> {
    let mut info = PeerInfo::new(peer.public_key, peer.mode);
    info.name.clone_from(&peer.name);
    info.mldsa_public_key.clone_from(&peer.mldsa_public_key);
    info.preshared_key.clone_from(&peer.preshared_key);
    info.persistent_keepalive = peer.persistent_keepalive.unwrap_or(0);
    info.endpoint = match &peer.endpoint {
        Some(e) => Some(e.resolve().map_err(|err| {
            DaemonError::Config(format!("{label}: cannot resolve endpoint {e}: {err}"))
        })?),
        None => None,
    };
    let mut allowed = Vec::with_capacity(peer.allowed_ips.len());
    for c in &peer.allowed_ips {
        let p = Prefix::new(c.addr(), c.prefix_len())
            .map_err(|e| DaemonError::Config(format!("{label}: allowed IP {c}: {e}")))?;
        allowed.push(p);
    }
    allowed.sort();
    allowed.dedup();
    info.allowed_ips = allowed;
    Ok(info)
}

impl Daemon {
    /// Brings the interface up as `config` describes and starts serving.
    pub fn start(config: &Config, opts: &DaemonOptions) -> Result<Self, DaemonError> {
        crate::ifname::validate(&opts.interface).map_err(|e| DaemonError::Config(e.to_string()))?;
        let iface = &config.interface;

        // The protocol core and its peers first: pure, nothing to undo.
        let backend = dybervpn_crypto::backend(iface.crypto_backend);
        // The backend seeds its random generator on first use: about 100 ms
        // for aws-lc built with its CPU-jitter source (docs/architecture.md,
        // "Randomness"), well under a millisecond without it. Paid inside the
        // first handshake it delayed the first packet on each side; paid
        // now, it overlaps creating the interface and its routes.
        let seeding = {
            let backend = Arc::clone(&backend);
            std::thread::spawn(move || backend.fill_random(&mut [0u8; 1]).is_ok())
        };
        let mldsa = iface
            .mldsa_keypair(&*backend)
            .map_err(|e| DaemonError::Config(format!("interface ML-DSA-65 key: {e}")))?;
        let has_mldsa = mldsa.is_some();
        let device = Device::new(iface.private_key.clone(), iface.mode, mldsa, backend)?;
        device.set_mtu(usize::from(iface.mtu));
        let mut table = PeerTable::new();
        for (i, peer) in config.peers.iter().enumerate() {
            let info = peer_info(peer, &peer.label(i))?;
            let id = device.add_peer(info.to_proto())?;
            table.set(id, info);
        }

        // Then the OS objects, each removed by its own drop on failure.
        let mut fwmark = iface.fwmark.unwrap_or(0);
        let udp = UdpSockets::bind(iface.listen_port.unwrap_or(0), fwmark)?;
        // A backstop for stopping: readers are woken by a loopback datagram,
        // and re-check the stop flag at least this often regardless.
        for s in udp.v4.iter().chain(udp.v6.iter()) {
            s.set_read_timeout(Some(READ_TIMEOUT_BACKSTOP))
                .map_err(|e| crate::os::OsError::io("setting a UDP read timeout", e))?;
        }
        let tun = Tun::create(&TunOptions::new(&opts.interface, iface.mtu))?;
        let mut net = NetConfig::new(tun.name());
        for a in &iface.address {
            net.add_address(&InterfaceAddress {
                addr: a.addr(),
                prefix_len: a.prefix_len(),
            })?;
        }
        let routes = net.add_routes(&table.all_allowed_ips(), fwmark)?;
        let mut refused = routes.failed.into_iter();
        if let Some(first) = refused.next() {
            for more in refused {
                tracing::warn!(interface = %tun.name(), "{more}");
            }
            return Err(first.into());
        }
        if let Some(table) = routes.policy_table {
            if fwmark != table {
                udp.set_fwmark(table)?;
                fwmark = table;
            }
        }
        net.set_dns(&iface.dns)?;

        let shared = Arc::new(Shared {
            interface: tun.name().to_owned(),
            device,
            private_key: iface.private_key.clone(),
            has_mldsa,
            tun,
            udp,
            table: RwLock::new(table),
            clock: Clock::new(),
            counters: Counters::default(),
            fwmark: AtomicU32::new(fwmark),
            events: Events::default(),
            metrics: Arc::new(dybervpn_metrics::Metrics::new()),
            net: Mutex::new(Some(net)),
            reconfig: Mutex::new(()),
            sources: sources::Sources::default(),
            stop: AtomicBool::new(false),
            timer_thread: OnceLock::new(),
            ended: OnceLock::new(),
            failed: AtomicBool::new(false),
            on_end: opts.on_end.clone(),
            uapi_socket: OnceLock::new(),
            started: iface.clone(),
            last_reload: Mutex::new(None),
        });
        let mut daemon = Self {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            uapi: None,
            metrics_server: None,
        };
        // A failure here shows again, with its reason, at the first use.
        let _ = seeding.join();
        daemon.spawn("tun", datapath::tun_reader)?;
        if shared.udp.v4.is_some() {
            daemon.spawn("udp4", |s| {
                if let Some(sock) = &s.udp.v4 {
                    datapath::udp_reader(s, sock);
                }
            })?;
        }
        if shared.udp.v6.is_some() {
            daemon.spawn("udp6", |s| {
                if let Some(sock) = &s.udp.v6 {
                    datapath::udp_reader(s, sock);
                }
            })?;
        }
        let timer = daemon.spawn("timers", datapath::timers)?;
        let _ = shared.timer_thread.set(timer);
        let target = Arc::new(target::DaemonTarget(Arc::clone(&shared)));
        daemon.uapi = Some(
            UapiServer::start_in(&opts.uapi_dir, &opts.interface, target).map_err(|e| {
                DaemonError::Os(crate::os::OsError::Io {
                    context: format!("opening the userspace-API socket for {}", opts.interface),
                    source: e,
                })
            })?,
        );
        if let Some(bound) = daemon.uapi.as_ref().and_then(UapiServer::bound) {
            let _ = shared.uapi_socket.set(bound.clone());
        }
        if let Some(listen) = iface.metrics_listen {
            daemon.metrics_server = Some(observe::start(&shared, listen).map_err(|e| {
                DaemonError::Os(crate::os::OsError::io(
                    format!("serving metrics on {listen} (metrics_listen)"),
                    e,
                ))
            })?);
        }
        tracing::info!(
            interface = %shared.interface,
            listen = shared.udp.port(),
            peers = config.peers.len(),
            "interface up"
        );
        Ok(daemon)
    }

    /// Applies `config` to the running interface, as `reload` does:
    /// unchanged peers keep their sessions, removed peers go, new peers
    /// come, routes follow the allowed IPs and the DNS servers are
    /// registered again if they changed. All-or-nothing for the peers (see
    /// `daemon/target.rs`) and the DNS servers together; a route `ip`
    /// refuses is logged.
    ///
    /// Returns what was not applied, for the operator: `[interface]`
    /// settings only a restart can change, and endpoints whose names did
    /// not resolve (the peer keeps its current endpoint).
    pub fn apply_config(&self, config: &Config) -> Result<Vec<String>, DaemonError> {
        use crate::uapi::UapiTarget as _;
        // DNS first: it is not part of the userspace API, and if the peers
        // are then refused, the servers registered before are put back.
        let before = self.with_net(|net| {
            let before = net.dns_servers().to_vec();
            net.set_dns(&config.interface.dns).map(|()| before)
        })?;
        let (changes, unresolved) = crate::commands::change_set_for(config);
        if let Err(e) = target::DaemonTarget(Arc::clone(&self.shared)).apply(changes) {
            if let Err(undo) = self.with_net(|net| net.set_dns(&before)) {
                tracing::warn!(interface = %self.shared.interface, "restoring DNS servers: {undo}");
            }
            return Err(e.into());
        }
        // Names are not part of the userspace API either.
        if let Ok(mut table) = self.shared.table.write() {
            for peer in &config.peers {
                table.set_name(&peer.public_key, peer.name.clone());
            }
        }
        let mut not_applied = unresolved;
        let fixed = needs_restart(&self.shared.started, &config.interface);
        if !fixed.is_empty() {
            not_applied.push(format!(
                "[interface] {} changed: only a restart applies {} (`dybervpn down`, then \
                 `dybervpn up`); the running value stays",
                fixed.join(", "),
                if fixed.len() == 1 { "it" } else { "them" }
            ));
        }
        Ok(not_applied)
    }

    /// Records how a reload went, for `status` and for `dybervpn reload`,
    /// which waits for the count to go up.
    pub fn record_reload(&self, status: ReloadStatus, message: String) {
        let mut last = self
            .shared
            .last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let number = last.as_ref().map_or(1, |r| r.number.saturating_add(1));
        *last = Some(LastReload {
            number,
            status,
            message,
        });
    }

    /// Runs `f` on the interface's network configuration, if it still has one.
    fn with_net<T: Default>(
        &self,
        f: impl FnOnce(&mut NetConfig) -> Result<T, crate::os::OsError>,
    ) -> Result<T, DaemonError> {
        let mut net = self
            .shared
            .net
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match net.as_mut() {
            Some(net) => Ok(f(net)?),
            None => Ok(T::default()),
        }
    }

    /// The shared metrics registry (served when `metrics_listen` is set).
    #[must_use]
    pub fn metrics(&self) -> &Arc<dybervpn_metrics::Metrics> {
        &self.shared.metrics
    }

    /// Handshake messages seen on the wire.
    #[must_use]
    pub fn handshake_wire(&self) -> &HandshakeWire {
        &self.shared.events.wire
    }

    /// Recent handshake outcomes, oldest first.
    #[must_use]
    pub fn recent_handshakes(&self) -> Vec<HandshakeEvent> {
        self.shared.events.recent()
    }

    fn spawn(
        &mut self,
        what: &str,
        body: impl FnOnce(&Shared) + Send + 'static,
    ) -> Result<Thread, DaemonError> {
        let shared = Arc::clone(&self.shared);
        let thread_name = what.to_owned();
        let handle = std::thread::Builder::new()
            .name(format!("{}-{what}", self.shared.interface))
            .spawn(move || {
                watched(
                    &thread_name,
                    Returning::Fails,
                    || shared.stopping(),
                    |why| shared.fail(why),
                    || body(&shared),
                );
            })
            .map_err(|e| DaemonError::Os(crate::os::OsError::io("starting a thread", e)))?;
        let thread = handle.thread().clone();
        self.threads.push(handle);
        Ok(thread)
    }

    /// The interface name.
    #[must_use]
    pub fn interface(&self) -> &str {
        &self.shared.interface
    }

    /// Why the daemon ended itself, if it has (see
    /// [`DaemonOptions::on_end`]).
    #[must_use]
    pub fn ended(&self) -> Option<&str> {
        self.shared.ended.get().map(String::as_str)
    }

    /// Whether the daemon ended itself because it failed (a data-path
    /// thread died), rather than because its interface or socket went.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// The UDP port the device listens on.
    #[must_use]
    pub fn listen_port(&self) -> u16 {
        self.shared.udp.port()
    }

    /// Data-path counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The userspace-API state (what `wg show` sees).
    #[must_use]
    pub fn snapshot(&self) -> crate::uapi::DeviceSnapshot {
        target::snapshot(&self.shared)
    }

    /// Stops the threads and removes the socket, rules and interface.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.tun.stopper().stop();
        self.shared.udp.wake_readers();
        self.shared.wake_timers();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(m) = self.metrics_server.take() {
            m.shutdown();
        }
        drop(self.uapi.take());
        let net = self
            .shared
            .net
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut net) = net {
            net.teardown();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether a watched thread returning, while the daemon is not stopping,
/// is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returning {
    /// It is: the thread should run until the daemon stops.
    Fails,
    /// It is not: the thread ends when the one it serves does (a handshake
    /// worker, when its UDP reader ends), which reports its own end.
    IsExpected,
}

/// Runs a data-path thread's `body`. Should it panic, or return while the
/// daemon is not stopping (where that [`Returning::Fails`]), the daemon
/// ends itself (`end`) naming the thread and the panic: a tunnel with a
/// dead reader or timer thread would otherwise go on answering health
/// checks while it moves no packets, where ending (with a failure status)
/// lets the service manager restart it.
pub(crate) fn watched(
    what: &str,
    returning: Returning,
    stopping: impl Fn() -> bool,
    end: impl Fn(String),
    body: impl FnOnce(),
) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    if stopping() {
        return;
    }
    match outcome {
        Ok(()) if returning == Returning::IsExpected => {}
        Ok(()) => end(format!("its {what} thread stopped")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            end(format!("its {what} thread panicked ({message})"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{watched, Returning};
    use std::cell::RefCell;

    fn outcome(stopping: bool, body: impl FnOnce()) -> Option<String> {
        outcome_of(Returning::Fails, stopping, body)
    }

    fn outcome_of(returning: Returning, stopping: bool, body: impl FnOnce()) -> Option<String> {
        let ended = RefCell::new(None);
        watched(
            "udp4",
            returning,
            || stopping,
            |why| *ended.borrow_mut() = Some(why),
            body,
        );
        ended.into_inner()
    }

    #[test]
    fn a_data_path_thread_that_dies_ends_the_daemon() {
        let why = outcome(false, || panic!("index out of bounds"));
        assert_eq!(
            why.as_deref(),
            Some("its udp4 thread panicked (index out of bounds)")
        );
        let why = outcome(false, || panic!("{} left", 3));
        assert_eq!(why.as_deref(), Some("its udp4 thread panicked (3 left)"));
        assert_eq!(
            outcome(false, || {}).as_deref(),
            Some("its udp4 thread stopped")
        );
        // Stopping is no failure, whatever the thread did on its way out.
        assert_eq!(outcome(true, || {}), None);
        assert_eq!(outcome(true, || panic!("late")), None);
        // A worker ends with the thread it serves; only its panic counts.
        assert_eq!(outcome_of(Returning::IsExpected, false, || {}), None);
        assert!(outcome_of(Returning::IsExpected, false, || panic!("x")).is_some());
    }
}
