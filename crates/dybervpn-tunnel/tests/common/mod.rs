//! Shared by lifecycle.rs, default_route.rs and metrics_e2e.rs: daemons started from real
//! configuration files inside network namespaces, through the same
//! `up --foreground` path as the CLI (the test binary re-runs itself as
//! the daemon, see [`inner_up`]). Every object is owned by a guard.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dybervpn_config::{Cidr, Config, Endpoint, InterfaceConfig, PeerConfig};
use dybervpn_crypto::{BackendKind, MlDsaSeed, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{Netns, Process};
use dybervpn_tunnel::{commands, os, uapi};

pub mod pair;

/// The environment variable naming the configuration the daemon runs.
pub const UP_PATH: &str = "DYBERVPN_TEST_UP_PATH";
/// The UDP port every daemon listens on (each in its own namespace).
pub const PORT: u16 = 51820;

/// Body of each test file's ignored `inner_up` test: the daemon.
pub fn inner_up() {
    let Ok(path) = std::env::var(UP_PATH) else {
        eprintln!("skipped: only meaningful when started by a lifecycle test");
        return;
    };
    let ran = commands::up(&commands::UpOptions {
        target: path,
        foreground: true,
    });
    if let Err(e) = ran {
        // Some tests expect this: a plain exit status, not a panic.
        eprintln!("inner_up: up --foreground failed: {e}");
        std::process::exit(1);
    }
}

/// Why the root tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<&'static str> {
    if !os::is_root() {
        return Some("skipped: needs root (network namespaces)");
    }
    let ping = os::command::run(
        std::process::Command::new("ping").arg("-V"),
        os::command::DEFAULT_TIMEOUT,
    );
    if ping.is_err() {
        return Some("skipped: `ping` (iputils-ping) is not installed");
    }
    None
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "dybervpn-{tag}-{}",
            dybervpn_tunnel::netns::unique_name("t")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fixed test keys for node `n`.
pub struct Node {
    pub secret: X25519SecretKey,
    pub public: X25519PublicKey,
    pub seed: MlDsaSeed,
    pub mode: Mode,
}

impl Node {
    pub fn new(n: u8, mode: Mode) -> Self {
        let backend = dybervpn_crypto::backend(BackendKind::default());
        let secret = X25519SecretKey::from_bytes([n.wrapping_mul(37).wrapping_add(11); 32]);
        let public = backend.x25519_public_key(&secret).expect("public key");
        let seed = MlDsaSeed::from_bytes([n.wrapping_mul(13).wrapping_add(5); 32]);
        Self {
            secret,
            public,
            seed,
            mode,
        }
    }

    /// The interface part, with `address` (e.g. "10.98.0.1/32").
    pub fn interface(&self, address: &str) -> InterfaceConfig {
        let mut iface = InterfaceConfig::new(self.secret.clone(), self.public, self.mode);
        iface.listen_port = Some(PORT);
        iface.address = vec![address.parse().expect("address")];
        if self.mode.needs_mldsa() {
            iface.mldsa_private_key = Some(self.seed.clone());
        }
        iface
    }

    /// This node as another's peer.
    pub fn as_peer(&self, endpoint: Option<IpAddr>, allowed: &[&str]) -> PeerConfig {
        let mut peer = PeerConfig::new(self.public, self.mode);
        peer.endpoint = endpoint.map(|ip| Endpoint::from(SocketAddr::new(ip, PORT)));
        peer.allowed_ips = allowed
            .iter()
            .map(|a| a.parse::<Cidr>().expect("cidr"))
            .collect();
        if self.mode.needs_mldsa() {
            let backend = dybervpn_crypto::backend(BackendKind::default());
            peer.mldsa_public_key =
                Some(backend.mldsa_from_seed(&self.seed).expect("ml-dsa").public);
        }
        peer
    }
}

/// Writes `config` as `<dir>/<name>.toml` (the interface is named after
/// the file).
pub fn write_config(dir: &TempDir, name: &str, config: &Config) -> PathBuf {
    let path = dir.0.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml()).expect("write config");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    path
}

/// Starts the daemon for `path` inside `ns` and waits until it answers.
pub fn start(ns: &Netns, path: &Path, name: &str) -> Process {
    let mut p = spawn_up(ns, path, &[]);
    wait_up(name, &mut p);
    p
}

/// Starts the daemon for `path` inside `ns` with `env` added to its
/// environment, without waiting.
pub fn spawn_up(ns: &Netns, path: &Path, env: &[(&str, &str)]) -> Process {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = ns.command(&exe.to_string_lossy());
    cmd.envs(env.iter().copied());
    cmd.args([
        "--exact",
        "inner_up",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(UP_PATH, path);
    Process::spawn(&mut cmd).expect("start daemon")
}

pub fn wait_up(name: &str, daemon: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if uapi::client::get(name).is_ok() {
            return;
        }
        assert!(!daemon.has_exited(), "daemon for {name} exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("daemon for {name} did not come up");
}

/// Pings `to` from `ns` once a second until one answer, for at most
/// `within`. Returns how long it took.
pub fn ping_until(ns: &Netns, to: &str, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        let ok = ns
            .exec("ping", &["-c", "1", "-W", "1", to], Duration::from_secs(5))
            .is_ok_and(|o| o.stdout.contains("1 received"));
        if ok {
            return Some(t0.elapsed());
        }
    }
    None
}

/// Whether `program` runs (`program --version` succeeds).
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `check` held within `within` (checked every 50 ms).
pub fn poll_until(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// Waits (bounded) until `check` holds for `name`'s snapshot.
pub fn wait_for(
    name: &str,
    within: Duration,
    mut check: impl FnMut(&uapi::DeviceSnapshot) -> bool,
) -> uapi::DeviceSnapshot {
    let deadline = Instant::now() + within;
    loop {
        let snap = uapi::client::get(name).expect("status");
        if check(&snap) || Instant::now() >= deadline {
            return snap;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
