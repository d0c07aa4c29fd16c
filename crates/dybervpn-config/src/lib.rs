//! DyberVPN configuration.
#![forbid(unsafe_code)]
