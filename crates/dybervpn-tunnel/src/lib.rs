//! The DyberVPN daemon.
