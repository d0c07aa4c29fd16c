//! Shared harness for the end-to-end tests against peers we did not write
//! (`interop.rs`), of what goes on the wire (`wire.rs`) and of the real
//! `wg` tool against a running daemon (`wg_tool.rs`).
//!
//! A [`Lab`] is two network namespaces `a` and `b` joined by a veth pair
//! (`10.250.0.1` and `10.250.0.2`) and a private temporary directory.
//! Tunnel addresses are `10.99.0.1` (side a) and `10.99.0.2` (side b).
//! A [`Daemon`] is one running tunnel endpoint in a namespace: DyberVPN
//! (this test binary started again for its ignored `inner_daemon` test,
//! which runs the real `dybervpn up <file> --foreground` path),
//! `wireguard-go` or `boringtun-cli`. Each writes its log to a file that
//! failure messages include.
//!
//! Everything is removed by guards, also when an assertion fails: the
//! daemons are stopped (SIGTERM, then SIGKILL) and their sockets and PID
//! files removed, then the namespaces are deleted (which destroys their
//! interfaces), then the directory. Every wait has a deadline. Traffic only
//! flows inside the namespaces created here.
#![allow(dead_code)] // Each test binary uses a part of the harness.

pub mod pcap;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dybervpn_config::{Cidr, Config, Endpoint, InterfaceConfig, PeerConfig};
use dybervpn_crypto::{BackendKind, MlDsaPublicKey, MlDsaSeed, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{unique_name, veth_pair, Netns, Process};
use dybervpn_tunnel::os::command::{self, Output};
use dybervpn_tunnel::{commands, os, uapi};

/// The environment variable that tells `inner_daemon` which file to run.
pub const CONFIG_ENV: &str = "DYBERVPN_TEST_CONFIG";
/// Where a `boringtun-cli` binary can be named explicitly.
pub const BORINGTUN_ENV: &str = "DYBERVPN_BORINGTUN";
/// The UDP port every endpoint listens on (each in its own namespace).
pub const PORT: u16 = 51820;
/// How long a daemon gets to open its userspace-API socket.
const UP_TIMEOUT: Duration = Duration::from_secs(20);
/// Deadline of one helper command (`wg`, `ping`, `iperf3`).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// Underlay (veth) address of side `a` (`1`) or `b` (`2`).
#[must_use]
pub fn underlay(side: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 250, 0, side)
}

/// Tunnel address of side `a` (`1`) or `b` (`2`).
#[must_use]
pub fn tunnel(side: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, side)
}

/// IPv6 underlay (veth) address of side 1 or 2 (see [`Lab::add_ipv6`]).
#[must_use]
pub fn underlay6(side: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, u16::from(side))
}

/// IPv6 tunnel address of side 1 or 2.
#[must_use]
pub fn tunnel6(side: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, u16::from(side))
}

/// The body of every test binary's ignored `inner_daemon` test: runs
/// `dybervpn up <CONFIG_ENV> --foreground` until SIGTERM.
pub fn inner_daemon() {
    let Ok(path) = std::env::var(CONFIG_ENV) else {
        eprintln!("skipped: only meaningful when started by an end-to-end test");
        return;
    };
    commands::up(&commands::UpOptions {
        target: path,
        foreground: true,
    })
    .expect("dybervpn up --foreground ran and stopped cleanly");
}

// ---------------------------------------------------------------- tools

/// `name` on `PATH`, if it is there.
#[must_use]
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `boringtun-cli`: `$DYBERVPN_BORINGTUN`, else on `PATH`.
#[must_use]
pub fn find_boringtun() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(BORINGTUN_ENV) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    find_in_path("boringtun-cli")
}

/// Why this test cannot run here (not root, or a tool missing), if so.
#[must_use]
pub fn skip_reason(tools: &[(&str, &str)]) -> Option<String> {
    if !os::is_root() {
        return Some("skipped: needs root (network namespaces)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("ping", "iputils-ping")]
        .iter()
        .chain(tools)
    {
        if find_in_path(tool).is_none() {
            return Some(format!("skipped: `{tool}` ({package}) is not installed"));
        }
    }
    None
}

// ---------------------------------------------------------------- keys

/// A fixed test identity: X25519 and ML-DSA-65 keys derived from `role`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub secret: X25519SecretKey,
    pub public: X25519PublicKey,
    pub mldsa_seed: MlDsaSeed,
    pub mldsa_public: MlDsaPublicKey,
}

impl Identity {
    #[must_use]
    pub fn new(role: u8) -> Self {
        let backend = dybervpn_crypto::backend(BackendKind::default());
        let secret = X25519SecretKey::from_bytes([role.wrapping_mul(17).wrapping_add(1); 32]);
        let public = backend.x25519_public_key(&secret).expect("public key");
        let mldsa_seed = MlDsaSeed::from_bytes([role.wrapping_mul(29).wrapping_add(3); 32]);
        let mldsa_public = backend.mldsa_from_seed(&mldsa_seed).expect("ml-dsa").public;
        Self {
            secret,
            public,
            mldsa_seed,
            mldsa_public,
        }
    }

    /// The public key as `wg` prints it.
    #[must_use]
    pub fn public_b64(&self) -> String {
        dybervpn_crypto::encoding::to_base64(self.public.as_bytes())
    }
}

/// One side's view of the other, for building configurations.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub identity: Identity,
    pub mode: Mode,
    /// `Some` makes this side able to initiate.
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<Cidr>,
    pub persistent_keepalive: Option<u16>,
}

impl PeerSpec {
    /// As [`PeerSpec::side`], over IPv6: the endpoint is the side's IPv6
    /// underlay address, and its IPv6 tunnel address is allowed too.
    #[must_use]
    pub fn side_v6(side: u8, mode: Mode, initiate: bool) -> Self {
        let mut p = Self::side(side, mode, initiate);
        p.endpoint = initiate.then(|| SocketAddr::new(underlay6(side).into(), PORT));
        p.allowed_ips
            .push(Cidr::new(tunnel6(side).into(), 128).expect("cidr"));
        p
    }

    /// Side `side`'s identity and tunnel address; endpoint only if
    /// `initiate` (so which side sends the first initiation is certain).
    #[must_use]
    pub fn side(side: u8, mode: Mode, initiate: bool) -> Self {
        Self {
            identity: Identity::new(side),
            mode,
            endpoint: initiate.then(|| SocketAddr::new(underlay(side).into(), PORT)),
            allowed_ips: vec![Cidr::new(tunnel(side).into(), 32).expect("cidr")],
            persistent_keepalive: None,
        }
    }
}

/// The DyberVPN configuration of side `me` (tunnel address `/24`,
/// listening on [`PORT`]) with one peer.
#[must_use]
pub fn dybervpn_config(me: u8, mode: Mode, peer: &PeerSpec) -> Config {
    let id = Identity::new(me);
    let mut iface = InterfaceConfig::new(id.secret.clone(), id.public, mode);
    iface.listen_port = Some(PORT);
    iface.address = vec![Cidr::new(tunnel(me).into(), 24).expect("cidr")];
    if peer.allowed_ips.iter().any(|c| c.addr().is_ipv6()) {
        iface
            .address
            .push(Cidr::new(tunnel6(me).into(), 64).expect("cidr"));
    }
    if mode.needs_mldsa() || peer.mode.needs_mldsa() {
        iface.mldsa_private_key = Some(id.mldsa_seed.clone());
    }
    let mut p = PeerConfig::new(peer.identity.public, peer.mode);
    p.endpoint = peer.endpoint.map(Endpoint::from);
    p.allowed_ips.clone_from(&peer.allowed_ips);
    p.persistent_keepalive = peer.persistent_keepalive;
    if peer.mode.needs_mldsa() {
        p.mldsa_public_key = Some(peer.identity.mldsa_public.clone());
    }
    Config {
        interface: iface,
        peers: vec![p],
    }
}

/// The `wg setconf` file of side `me` with one (classic) peer.
#[must_use]
pub fn wg_conf(me: u8, peer: &PeerSpec) -> String {
    let id = Identity::new(me);
    let mut s = String::new();
    let _ = writeln!(s, "[Interface]");
    let _ = writeln!(s, "PrivateKey = {}", id.secret.to_base64().as_str());
    let _ = writeln!(s, "ListenPort = {PORT}");
    let _ = writeln!(s, "\n[Peer]");
    let _ = writeln!(s, "PublicKey = {}", peer.identity.public_b64());
    let ips: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
    let _ = writeln!(s, "AllowedIPs = {}", ips.join(", "));
    if let Some(e) = peer.endpoint {
        let _ = writeln!(s, "Endpoint = {e}");
    }
    if let Some(k) = peer.persistent_keepalive {
        let _ = writeln!(s, "PersistentKeepalive = {k}");
    }
    s
}

// ---------------------------------------------------------------- the lab

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    #[must_use]
    pub fn new(tag: &str) -> Self {
        use std::os::unix::fs::DirBuilderExt;
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dybervpn-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("temporary directory");
        Self(path)
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` (mode 0600: it holds keys) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .expect("write a test file");
        f.write_all(text.as_bytes()).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two namespaces joined by a veth pair, and a private directory.
/// Fields drop in order: namespaces first (killing anything left inside),
/// then the directory.
#[derive(Debug)]
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
    /// The veth end in `a` and in `b`.
    pub veth_a: String,
    pub veth_b: String,
    pub dir: TempDir,
}

impl Lab {
    /// `tag`: at most 2 characters, names the namespaces `<tag>a…`/`<tag>b…`.
    #[must_use]
    pub fn new(tag: &str) -> Self {
        let a = Netns::create(&format!("{tag}a")).expect("namespace a");
        let b = Netns::create(&format!("{tag}b")).expect("namespace b");
        let (veth_a, veth_b) = veth_pair(
            &a,
            &format!("{}/24", underlay(1)),
            &b,
            &format!("{}/24", underlay(2)),
        )
        .expect("veth pair");
        Self {
            a,
            b,
            veth_a,
            veth_b,
            dir: TempDir::new(tag),
        }
    }

    /// Gives the veth ends IPv6 addresses ([`underlay6`]), without duplicate
    /// address detection so they are usable at once.
    pub fn add_ipv6(&self) {
        for (ns, ifname, side) in [(&self.a, &self.veth_a, 1), (&self.b, &self.veth_b, 2)] {
            ns.ip(&[
                "-6",
                "address",
                "add",
                &format!("{}/64", underlay6(side)),
                "dev",
                ifname,
                "nodad",
            ])
            .expect("IPv6 underlay address");
        }
    }

    /// The namespace of side 1 (`a`) or 2 (`b`).
    #[must_use]
    pub fn ns(&self, side: u8) -> &Netns {
        if side == 1 {
            &self.a
        } else {
            &self.b
        }
    }
}

// ---------------------------------------------------------------- daemons

/// Which implementation a [`Daemon`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    DyberVpn,
    WireguardGo(PathBuf),
    Boringtun(PathBuf),
}

impl Kind {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::DyberVpn => "dybervpn",
            Self::WireguardGo(_) => "wireguard-go",
            Self::Boringtun(_) => "boringtun-cli",
        }
    }
}

/// A running tunnel endpoint in a namespace. Dropping it stops the process
/// and removes its userspace-API socket and PID file if it left them.
#[derive(Debug)]
pub struct Daemon {
    pub kind: Kind,
    pub ifname: String,
    pub ns: String,
    log: PathBuf,
    process: Process,
}

impl Daemon {
    /// Starts DyberVPN with `config` in `ns` and waits for its socket.
    pub fn dybervpn(ns: &Netns, dir: &TempDir, config: &Config) -> Self {
        let ifname = unique_name("dv");
        let path = dir.write(&format!("{ifname}.toml"), &config.to_toml());
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = ns.command(&exe.to_string_lossy());
        cmd.args([
            "--exact",
            "inner_daemon",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CONFIG_ENV, &path);
        let mut d = Self::spawn(Kind::DyberVpn, ns, dir, ifname, cmd);
        d.wait_socket();
        d
    }

    /// Starts `wireguard-go` or `boringtun-cli` in `ns`, configures it with
    /// `wg setconf` and gives its interface `addresses` (`10.99.0.2/24`;
    /// IPv6 ones without duplicate address detection).
    pub fn userspace_wg(
        kind: Kind,
        ns: &Netns,
        dir: &TempDir,
        conf: &str,
        addresses: &[&str],
    ) -> Self {
        let ifname = unique_name("wg");
        let mut cmd = match &kind {
            Kind::WireguardGo(bin) => {
                let mut c = ns.command(&bin.to_string_lossy());
                c.args(["-f", &ifname]).env("LOG_LEVEL", "debug");
                c
            }
            Kind::Boringtun(bin) => {
                let mut c = ns.command(&bin.to_string_lossy());
                c.args([
                    "-f",
                    "--disable-drop-privileges",
                    "--verbosity",
                    "debug",
                    &ifname,
                ]);
                c
            }
            Kind::DyberVpn => unreachable!("use Daemon::dybervpn"),
        };
        // Neither should look for a kernel module or fork.
        cmd.env("WG_PROCESS_FOREGROUND", "1");
        let mut d = Self::spawn(kind, ns, dir, ifname, cmd);
        d.wait_socket();
        let conf_path = dir.write(&format!("{}.conf", d.ifname), conf);
        let conf_arg = conf_path.to_string_lossy().into_owned();
        d.run_in_ns("wg", &["setconf", &d.ifname.clone(), &conf_arg]);
        for address in addresses {
            let mut args = vec!["address", "add", address, "dev", &d.ifname];
            if address.contains(':') {
                args.push("nodad");
            }
            ns.ip(&args)
                .unwrap_or_else(|e| d.fail(&format!("ip address add: {e}")));
        }
        ns.ip(&["link", "set", &d.ifname, "up"])
            .unwrap_or_else(|e| d.fail(&format!("ip link set up: {e}")));
        d
    }

    fn spawn(kind: Kind, ns: &Netns, dir: &TempDir, ifname: String, mut cmd: Command) -> Self {
        let log = dir.path().join(format!("{ifname}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let file2 = file.try_clone().expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2));
        let process = Process::spawn(&mut cmd).expect("start a daemon");
        Self {
            kind,
            ifname,
            ns: ns.name().to_owned(),
            log,
            process,
        }
    }

    fn socket(&self) -> PathBuf {
        Path::new(uapi::server::SOCKET_DIR).join(format!("{}.sock", self.ifname))
    }

    fn wait_socket(&mut self) {
        let deadline = Instant::now() + UP_TIMEOUT;
        while Instant::now() < deadline {
            let answered = command::run(
                Command::new("wg").args(["show", &self.ifname, "listen-port"]),
                CMD_TIMEOUT,
            )
            .is_ok();
            if answered {
                return;
            }
            if self.process.has_exited() {
                self.fail("exited before its userspace-API socket answered");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.fail(&format!(
            "its userspace-API socket did not answer within {UP_TIMEOUT:?}"
        ));
    }

    /// The daemon's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        // The end is what matters; keep failure messages readable.
        let start = text.len().saturating_sub(8000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[start..].to_owned()
    }

    /// Panics with `what` and this daemon's log.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{} {}: {what}\n{}",
            self.kind.name(),
            self.ifname,
            report(&[self])
        );
    }

    /// Runs `program args` in this daemon's namespace; panics with the log
    /// if it fails.
    pub fn run_in_ns(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, program]).args(args);
        command::run(&mut cmd, CMD_TIMEOUT)
            .unwrap_or_else(|e| self.fail(&format!("{program} {}: {e}", args.join(" "))))
    }

    /// `wg show <if> <what>` as text.
    pub fn wg_show(&self, what: &str) -> String {
        self.run_in_ns("wg", &["show", &self.ifname.clone(), what])
            .stdout
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        !self.process.has_exited()
    }

    /// Stops the daemon (SIGTERM); true if it exited within the grace time.
    pub fn stop(&mut self) -> bool {
        self.process.stop(Duration::from_secs(10))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.process.stop(Process::GRACE);
        // Only our own uniquely named files, and only if left behind.
        let _ = std::fs::remove_file(self.socket());
        if self.kind == Kind::DyberVpn {
            let _ = std::fs::remove_file(
                Path::new(dybervpn_tunnel::pidfile::PID_DIR).join(format!("{}.pid", self.ifname)),
            );
        }
    }
}

/// The logs of `daemons`, for a failure message.
#[must_use]
pub fn report(daemons: &[&Daemon]) -> String {
    let mut s = String::new();
    for d in daemons {
        let _ = writeln!(
            s,
            "----- {} {} (netns {}) log -----\n{}",
            d.kind.name(),
            d.ifname,
            d.ns,
            d.log()
        );
    }
    s
}

// ---------------------------------------------------------------- traffic

/// Pings `to` from `ns` `count` times; panics with the logs unless every
/// reply came back.
pub fn ping(ns: &Netns, to: impl Into<IpAddr>, count: u32, daemons: &[&Daemon]) {
    let to: IpAddr = to.into();
    let count_s = count.to_string();
    let to_s = to.to_string();
    let out = ns.exec(
        "ping",
        &["-c", &count_s, "-i", "0.2", "-W", "5", &to_s],
        CMD_TIMEOUT,
    );
    match out {
        Ok(o) if o.stdout.contains(&format!("{count} received")) => {}
        Ok(o) => panic!(
            "ping {to} from {}: not every reply came back\n{}\n{}",
            ns.name(),
            o.stdout,
            report(daemons)
        ),
        Err(e) => panic!("ping {to} from {}: {e}\n{}", ns.name(), report(daemons)),
    }
}

/// Pings once and expects no reply (the packet is not routed or dropped).
pub fn ping_fails(ns: &Netns, to: Ipv4Addr, daemons: &[&Daemon]) {
    let to_s = to.to_string();
    if let Ok(o) = ns.exec("ping", &["-c", "1", "-W", "1", &to_s], CMD_TIMEOUT) {
        panic!(
            "ping {to} from {} was answered, expected no route\n{}\n{}",
            ns.name(),
            o.stdout,
            report(daemons)
        );
    }
}

/// An `iperf3` server in `ns` bound to `addr`, stopped on drop.
struct IperfServer(Process);

/// TCP through the tunnel both ways: `iperf3` for 2 s from `client_ns` to
/// the server on `server_addr` in `server_ns`, then reversed (`-R`).
/// Returns the bytes the receiver counted each way; panics with the logs
/// if a run fails or moves nothing.
pub fn tcp_both_ways(
    server_ns: &Netns,
    server_addr: Ipv4Addr,
    client_ns: &Netns,
    daemons: &[&Daemon],
) -> (u64, u64) {
    let addr = server_addr.to_string();
    let mut cmd = server_ns.command("iperf3");
    cmd.args(["-s", "-B", &addr, "-p", "5201"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = IperfServer(Process::spawn(&mut cmd).expect("start iperf3 -s"));
    // Wait (bounded) until it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening = server_ns
            .exec("ss", &["-Hltn", "sport = :5201"], CMD_TIMEOUT)
            .is_ok_and(|o| o.stdout.contains("5201"));
        if listening {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "iperf3 server did not start listening in {}",
            server_ns.name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = |reverse: bool| -> u64 {
        let mut args = vec![
            "-c",
            &addr,
            "-p",
            "5201",
            "-t",
            "2",
            "-J",
            "--connect-timeout",
            "5000",
        ];
        if reverse {
            args.push("-R");
        }
        let out = client_ns
            .exec("iperf3", &args, CMD_TIMEOUT)
            .unwrap_or_else(|e| panic!("iperf3 {}: {e}\n{}", args.join(" "), report(daemons)));
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("iperf3 JSON: {e}\n{}", out.stdout));
        let bytes = v["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
        assert!(
            bytes > 0,
            "iperf3 {} moved nothing\n{}\n{}",
            args.join(" "),
            out.stdout,
            report(daemons)
        );
        bytes
    };
    (run(false), run(true))
}

/// Waits (bounded) until `f` holds; panics with `what` and the logs if not.
pub fn wait_for(what: &str, timeout: Duration, daemons: &[&Daemon], mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out after {timeout:?} waiting for {what}\n{}",
        report(daemons)
    );
}

// ---------------------------------------------------------------- capture

/// `tcpdump -w` of UDP on one interface of a namespace, stopped on drop.
#[derive(Debug)]
pub struct Capture {
    process: Process,
    file: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Starts capturing on `iface` in `ns` and waits (bounded) until
    /// tcpdump says it listens.
    pub fn start(ns: &Netns, dir: &TempDir, iface: &str) -> Self {
        let file = dir.path().join(format!("{iface}.pcap"));
        let log = dir.path().join(format!("{iface}.tcpdump.log"));
        let out = std::fs::File::create(&log).expect("tcpdump log");
        let mut cmd = ns.command("tcpdump");
        // --immediate-mode: hand each packet over at once (otherwise the
        // kernel batches them and SIGTERM loses the last batch); -U: write
        // each packet at once; -Z root: keep the right to write into our
        // 0700 directory; -s 0: whole frames.
        cmd.args([
            "-i",
            iface,
            "-n",
            "--immediate-mode",
            "-U",
            "-s",
            "0",
            "-Z",
            "root",
            "-w",
        ])
        .arg(&file)
        .arg("udp")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(out));
        let mut process = Process::spawn(&mut cmd).expect("start tcpdump");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("listening on") {
                break;
            }
            assert!(!process.has_exited(), "tcpdump exited: {text}");
            assert!(Instant::now() < deadline, "tcpdump did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { process, file, log }
    }

    /// Stops the capture and returns every UDP datagram it saw.
    pub fn finish(mut self) -> Vec<pcap::Datagram> {
        self.process.stop(Duration::from_secs(5));
        let bytes = std::fs::read(&self.file).expect("read the capture");
        pcap::udp_datagrams(&bytes).unwrap_or_else(|e| {
            panic!(
                "capture unreadable: {e}\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }
}
