//! The DyberVPN daemon: TUN devices, UDP sockets, cryptokey routing, the
//! WireGuard cross-platform userspace API and (later) the event loop.
//!
//! Every module except [`os`] is `#![forbid(unsafe_code)]`; the crate-wide
//! lint is `deny`, so an `unsafe` block anywhere else fails the build.

pub mod allowed_ips;
pub mod clock;
pub mod commands;
pub mod daemon;
pub mod demo;
pub mod ifname;
pub mod netns;
pub mod os;
pub mod packet;
pub mod peers;
pub mod pidfile;
pub mod prefix;
pub mod uapi;

pub use allowed_ips::AllowedIps;
pub use daemon::{Daemon, DaemonError, DaemonOptions, EndHook};
pub use prefix::{Prefix, PrefixError};
