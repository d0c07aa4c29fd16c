//! One module per command group. A new group adds a module here and a
//! variant to `Command` in `main.rs`.

pub mod bench;
pub mod check;
pub mod completions;
pub mod convert;
pub mod daemon;
pub mod init;
pub mod keys;
pub mod version;
