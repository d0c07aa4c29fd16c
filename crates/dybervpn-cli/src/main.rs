//! The `dybervpn` command.
#![forbid(unsafe_code)]
fn main() {}
