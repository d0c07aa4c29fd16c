//! `dybervpn init`: a ready-to-use server configuration, and client
//! configurations added to it.

use std::fs::{File, TryLockError};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use dybervpn_config::{read_file, Cidr, Config, Endpoint, InterfaceConfig, PeerConfig};
use dybervpn_crypto::{backend, BackendKind, CryptoBackend, MlDsaPublicKey, PresharedKey};
use dybervpn_proto::Mode;
use zeroize::Zeroizing;

use crate::atomic;
use crate::cmd::keys::generate;
use crate::error::{CliError, Result};

/// Default server listen port.
const DEFAULT_PORT: u16 = 51820;
/// Default server tunnel address.
const DEFAULT_ADDRESS: &str = "10.8.0.1/24";
/// Keepalive a client sets toward its server, to keep NAT mappings open.
const CLIENT_KEEPALIVE: u16 = 25;
/// How many addresses to try when looking for a free one.
const MAX_ADDRESS_SEARCH: u128 = 1 << 20;

/// Write ready-to-use configurations (mode 0600, written atomically).
///
/// `init --server` writes a server configuration with fresh keys. Then each
/// `init --client HOST:PORT --server-config server.toml` writes a client
/// configuration (fresh keys, the next free tunnel address, the server as its
/// peer) and appends the client as a [[peer]] to the server's file, keeping
/// the rest of that file as it was. Both files pass `dybervpn check`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("role").required(true).args(["server", "client"])))]
pub struct InitArgs {
    /// Write a server configuration.
    #[arg(long)]
    pub server: bool,
    /// Write a client of the server reachable at this endpoint (HOST:PORT,
    /// e.g. vpn.example.com:51820 or [2001:db8::1]:51820).
    #[arg(long, value_name = "SERVER_ENDPOINT", requires = "server_config")]
    pub client: Option<String>,
    /// The server's configuration file (read for its keys and tunnel
    /// network; the new client is appended to it).
    #[arg(long, value_name = "PATH", requires = "client")]
    pub server_config: Option<PathBuf>,
    /// Server: UDP port to listen on.
    #[arg(long, value_name = "PORT", conflicts_with = "client", default_value_t = DEFAULT_PORT)]
    pub listen_port: u16,
    /// Server: its tunnel address with the tunnel network's prefix.
    #[arg(long, value_name = "CIDR", conflicts_with = "client", default_value = DEFAULT_ADDRESS)]
    pub address: String,
    /// Server: handshake mode (classic, hybrid, pq-only). Clients take the
    /// server's mode.
    #[arg(long, conflicts_with = "client", default_value = "hybrid")]
    pub mode: Mode,
    /// Client: its name in the server's configuration (default: the output
    /// file's name without extension).
    #[arg(long, requires = "client")]
    pub name: Option<String>,
    /// Where to write the configuration (default: server.toml or
    /// client.toml).
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `init`.
pub fn run(args: &InitArgs) -> Result<()> {
    let b = backend(BackendKind::default());
    match (&args.client, &args.server_config) {
        (Some(endpoint), Some(server_config)) => client(args, b.as_ref(), endpoint, server_config),
        _ => server(args, b.as_ref()),
    }
}

fn server(args: &InitArgs, b: &dyn CryptoBackend) -> Result<()> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("server.toml"));
    let address: Cidr = args
        .address
        .parse()
        .map_err(|e| CliError::new(format!("--address {:?}: {e}", args.address)))?;
    if !address.has_host_bits() || address.nth(1).is_none() {
        return Err(CliError::new(format!(
            "--address {address}: give the server's own address inside the tunnel network, \
             e.g. 10.8.0.1/24"
        )));
    }
    if args.listen_port == 0 {
        return Err(CliError::new("--listen-port must be 1 to 65535"));
    }
    let (secret, seed) = generate(b, args.mode)?;
    let public = b.x25519_public_key(&secret)?;
    let mut iface = InterfaceConfig::new(secret, public, args.mode);
    iface.listen_port = Some(args.listen_port);
    iface.address = vec![address];
    iface.mldsa_private_key = seed;
    let config = Config {
        interface: iface,
        peers: Vec::new(),
    };
    let mut text = Zeroizing::new(String::from(
        "# DyberVPN server configuration, written by `dybervpn init --server`.\n\
         # Add clients with `dybervpn init --client HOST:PORT --server-config THIS_FILE`.\n",
    ));
    text.push_str(&config.to_toml());
    verify(&text, &output)?;
    atomic::write(&output, text.as_bytes(), args.force)?;
    eprintln!(
        "wrote {}: {} mode, public key {}",
        output.display(),
        args.mode,
        public.to_base64()
    );
    Ok(())
}

/// Parses generated text, so a bug here can never write a file `check`
/// refuses.
fn verify(text: &str, path: &Path) -> Result<()> {
    Config::parse(text, path).map(|_| ()).map_err(|e| {
        CliError::new(format!(
            "internal error: the generated configuration does not validate:\n{e}"
        ))
    })
}

/// The next address of the server's tunnel network `server_addr` that is
/// not the server's, not the network or IPv4 broadcast address, and not in
/// any existing peer's allowed IPs.
fn next_free(server_addr: Cidr, taken: &[Cidr]) -> Option<IpAddr> {
    let host_bits = u32::from(if server_addr.addr().is_ipv4() {
        32u8
    } else {
        128
    }) - u32::from(server_addr.prefix_len());
    let last = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    (1..last.min(MAX_ADDRESS_SEARCH))
        .filter_map(|n| server_addr.nth(n))
        .find(|ip| *ip != server_addr.addr() && !taken.iter().any(|c| c.contains(*ip)))
}

fn client(
    args: &InitArgs,
    b: &dyn CryptoBackend,
    endpoint_text: &str,
    server_path: &Path,
) -> Result<()> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("client.toml"));
    if !args.force && output.exists() {
        return Err(CliError::new(format!(
            "{} already exists; pass --force to overwrite it",
            output.display()
        )));
    }
    let endpoint: Endpoint = endpoint_text
        .parse()
        .map_err(|e| CliError::new(format!("--client {endpoint_text:?}: {e}")))?;
    // The file to change: behind a symbolic link, the file it points at
    // (replacing the link with a file would leave the real one without
    // the new peer).
    let server_file = std::fs::canonicalize(server_path)
        .map_err(|e| CliError::new(format!("{}: {e}", server_path.display())))?;
    // Held until the server's file has its new peer, so that concurrent
    // runs each read the file the one before wrote.
    let _lock = lock_directory_of(&server_file)?;
    let server_text = read_file(server_path)?;
    let server = Config::parse(&server_text, server_path)?.config;
    let mode = server.interface.mode;
    if server.interface.address.is_empty() {
        return Err(CliError::new(format!(
            "{}: the server has no interface.address, so there is no tunnel network to \
             pick a client address from",
            server_path.display()
        )));
    }

    // Addresses: the next free one in each of the server's tunnel networks.
    let taken: Vec<Cidr> = server
        .peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter().copied())
        .collect();
    let mut client_addrs = Vec::new();
    let mut client_hosts = Vec::new();
    for a in &server.interface.address {
        let ip = next_free(*a, &taken).ok_or_else(|| {
            CliError::new(format!(
                "{}: no free address left in the tunnel network {}",
                server_path.display(),
                a.network()
            ))
        })?;
        let full = if ip.is_ipv4() { 32 } else { 128 };
        client_addrs.extend(Cidr::new(ip, a.prefix_len()));
        client_hosts.extend(Cidr::new(ip, full));
    }

    // Keys.
    let (secret, seed) = generate(b, mode)?;
    let client_public = b.x25519_public_key(&secret)?;
    let client_mldsa = mldsa_public(b, seed.as_ref())?;
    let server_mldsa = mldsa_public(b, server.interface.mldsa_private_key.as_ref())?;
    let mut psk_bytes = Zeroizing::new([0u8; 32]);
    b.fill_random(psk_bytes.as_mut())?;
    let psk = PresharedKey::from_bytes(*psk_bytes);

    // The client's configuration, with the server as its peer.
    let mut iface = InterfaceConfig::new(secret, client_public, mode);
    iface.address = client_addrs;
    iface.mldsa_private_key = seed;
    let mut to_server = PeerConfig::new(server.interface.public_key, mode);
    to_server.name = Some("server".into());
    to_server.endpoint = Some(endpoint);
    to_server.allowed_ips = server.interface.address.iter().map(Cidr::network).collect();
    to_server.persistent_keepalive = Some(CLIENT_KEEPALIVE);
    to_server.preshared_key = Some(psk.clone());
    to_server.mldsa_public_key = server_mldsa.filter(|_| mode.needs_mldsa());
    let client_config = Config {
        interface: iface,
        peers: vec![to_server],
    };
    let mut client_text = Zeroizing::new(format!(
        "# DyberVPN client configuration, written by `dybervpn init --client` for the\n\
         # server configured in {}.\n",
        server_path.display()
    ));
    client_text.push_str(&client_config.to_toml());

    // The server's file: its text as it was, with the client appended.
    let name = args.name.clone().unwrap_or_else(|| {
        output
            .file_stem()
            .map_or_else(|| "client".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut to_client = PeerConfig::new(client_public, mode);
    to_client.name = Some(name);
    to_client.allowed_ips = client_hosts;
    to_client.preshared_key = Some(psk);
    to_client.mldsa_public_key = client_mldsa.filter(|_| mode.needs_mldsa());
    let mut new_server_text = Zeroizing::new(server_text.to_string());
    if !new_server_text.ends_with('\n') {
        new_server_text.push('\n');
    }
    new_server_text.push_str(&format!(
        "\n# Added by `dybervpn init --client` (configuration: {}).\n",
        output.display()
    ));
    new_server_text.push_str(&to_client.to_toml(mode));

    verify(&client_text, &output)?;
    verify(&new_server_text, server_path)?;
    atomic::write(&output, client_text.as_bytes(), args.force)?;
    if let Err(e) = atomic::write(&server_file, new_server_text.as_bytes(), true) {
        // Without the server side the client file is useless: take it back.
        let _ = std::fs::remove_file(&output);
        return Err(e);
    }
    eprintln!(
        "wrote {} ({mode} mode, address {}); added it to {}",
        output.display(),
        client_config
            .interface
            .address
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        server_path.display()
    );
    Ok(())
}

/// How long `init --client` waits for another run changing the same
/// server configuration.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive lock (`flock`) on the directory holding `path`, released
/// when the returned handle drops. The directory, not the file: the file is
/// replaced by a rename, and a lock on the old file would not hold back a
/// run that opened the new one.
fn lock_directory_of(path: &Path) -> Result<File> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| {
        CliError::new(format!(
            "{}: cannot lock its directory: {e}",
            path.display()
        ))
    };
    let handle = File::open(dir).map_err(fail)?;
    let deadline = Instant::now() + LOCK_WAIT;
    // Bounded by `deadline`.
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(handle),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(CliError::new(format!(
                    "{}: another `dybervpn init --client` has been changing it for {}s; \
                     try again when it has finished",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )))
            }
            Err(TryLockError::Error(e)) => return Err(fail(e)),
        }
    }
}

fn mldsa_public(
    b: &dyn CryptoBackend,
    seed: Option<&dybervpn_crypto::MlDsaSeed>,
) -> Result<Option<MlDsaPublicKey>> {
    Ok(seed
        .map(|s| b.mldsa_from_seed(s))
        .transpose()?
        .map(|pair| pair.public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect("valid")
    }

    #[test]
    fn next_free_skips_server_peers_network_and_broadcast() {
        assert_eq!(
            next_free(c("10.8.0.1/24"), &[]),
            Some("10.8.0.2".parse().expect("ip"))
        );
        assert_eq!(
            next_free(c("10.8.0.1/24"), &[c("10.8.0.2/32"), c("10.8.0.3/32")]),
            Some("10.8.0.4".parse().expect("ip"))
        );
        assert_eq!(
            next_free(c("10.8.0.5/24"), &[c("10.8.0.0/30")]),
            Some("10.8.0.4".parse().expect("ip"))
        );
        // /30: .1 server, .2 free, .3 broadcast.
        assert_eq!(next_free(c("10.8.0.1/30"), &[c("10.8.0.2/32")]), None);
        assert_eq!(next_free(c("10.8.0.1/32"), &[]), None);
        assert_eq!(
            next_free(c("fd00::1/64"), &[]),
            Some("fd00::2".parse().expect("ip"))
        );
    }
}
