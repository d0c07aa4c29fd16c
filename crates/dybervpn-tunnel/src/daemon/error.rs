//! Errors starting or running the daemon.
#![forbid(unsafe_code)]

use std::fmt;

use crate::os::OsError;

/// Why the daemon could not start (or a command could not complete).
#[derive(Debug)]
#[non_exhaustive]
pub enum DaemonError {
    /// The configuration cannot be run (explains which part and why).
    Config(String),
    /// The protocol core refused the device or a peer.
    Proto(dybervpn_proto::ConfigError),
    /// The operating system refused something.
    Os(OsError),
    /// The interface is already up (a live PID file or socket).
    AlreadyRunning {
        /// The interface.
        interface: String,
        /// The PID holding it, when known.
        pid: Option<u32>,
    },
    /// No daemon runs for this interface.
    NotRunning(String),
    /// The interface's userspace-API socket is served by another WireGuard
    /// implementation (wireguard-go, boringtun), not by DyberVPN.
    Foreign(String),
    /// Talking to a running daemon failed.
    Uapi(crate::uapi::UapiError),
    /// A reload (`dybervpn reload`) was refused, or applied only in part;
    /// the daemon's message says why.
    Reload(String),
    /// The command needs root (the message says which and why).
    NeedsRoot(String),
    /// Something failed at run time that is not the operator's input (a
    /// daemon that exited or did not come up or stop in time).
    Runtime(String),
}

impl DaemonError {
    /// The exit status the CLI uses: 2 for the operator's mistakes (bad
    /// configuration, an interface already up or not up, not root), 1 for
    /// failures at run time.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_)
            | Self::Proto(_)
            | Self::AlreadyRunning { .. }
            | Self::NotRunning(_)
            | Self::Foreign(_)
            | Self::Reload(_)
            | Self::NeedsRoot(_) => 2,
            Self::Os(_) | Self::Uapi(_) | Self::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::Proto(e) => write!(f, "{e}"),
            Self::Os(e) => write!(f, "{e}"),
            Self::AlreadyRunning {
                interface,
                pid: Some(pid),
            } => write!(f, "interface {interface} is already up (daemon PID {pid})"),
            Self::AlreadyRunning {
                interface,
                pid: None,
            } => write!(f, "interface {interface} is already up"),
            Self::NotRunning(i) => write!(
                f,
                "interface {i} is not up (no DyberVPN daemon runs for it)"
            ),
            Self::Foreign(i) => write!(
                f,
                "interface {i} is served by another WireGuard implementation, not \
                 DyberVPN (see `wg show {i}`)"
            ),
            Self::Uapi(e) => write!(f, "{e}"),
            Self::NeedsRoot(m) | Self::Runtime(m) | Self::Reload(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DaemonError {}

impl From<OsError> for DaemonError {
    fn from(e: OsError) -> Self {
        Self::Os(e)
    }
}

impl From<dybervpn_proto::ConfigError> for DaemonError {
    fn from(e: dybervpn_proto::ConfigError) -> Self {
        Self::Proto(e)
    }
}

impl From<crate::uapi::UapiError> for DaemonError {
    fn from(e: crate::uapi::UapiError) -> Self {
        Self::Uapi(e)
    }
}
