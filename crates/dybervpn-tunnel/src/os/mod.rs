//! The operating-system layer: TUN devices, UDP sockets, addresses and
//! routes, and running helper commands. The only module of the crate allowed
//! `unsafe`, and each such block carries a `// SAFETY:` comment.
//!
//! Linux is supported and tested. On other systems every constructor here
//! returns [`OsError::Unsupported`] at run time (see `docs/architecture.md`).

pub mod boottime;
pub mod command;
pub mod dns;
mod error;
pub mod firewall;
pub mod gso;
pub mod mem;
pub mod netconf;
pub mod priority;
pub mod signal;
pub mod tun;
pub mod udp;

pub use error::OsError;

/// Whether this process runs as root (effective UID 0), read from
/// `/proc/self/status` so no `unsafe` call is needed. Tests that need
/// namespaces, TUN devices or `/var/run/wireguard` skip themselves when not.
#[must_use]
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tun_tests;
