//! The one error type of the command: a message for stderr.

use std::fmt;

use dybervpn_config::ConfigErrors;

/// A failed command: printed as `dybervpn: <message>`, exit status 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl CliError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ConfigErrors> for CliError {
    fn from(e: ConfigErrors) -> Self {
        let n = e.errors().count();
        let s = if n == 1 { "" } else { "s" };
        Self(format!("{n} error{s} in the configuration:\n{e}"))
    }
}

impl From<dybervpn_crypto::CryptoError> for CliError {
    fn from(e: dybervpn_crypto::CryptoError) -> Self {
        Self(format!("cryptography failed: {e}"))
    }
}

/// The command's result type.
pub type Result<T> = std::result::Result<T, CliError>;

/// What `main` reports: a message and the exit status. Every [`CliError`]
/// is status 2 (bad input); the daemon's commands also report 1 for
/// failures at run time.
#[derive(Debug)]
pub struct Failure {
    /// The message, printed as `dybervpn: <message>`.
    pub message: String,
    /// The exit status.
    pub code: u8,
}

impl Failure {
    /// A failure at run time (exit status 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        Self {
            message: e.0,
            code: 2,
        }
    }
}
