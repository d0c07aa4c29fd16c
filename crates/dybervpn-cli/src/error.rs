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
