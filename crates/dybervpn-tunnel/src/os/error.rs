//! Errors of the OS layer.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// Why an operating-system operation failed. Every variant names what was
/// being done, so the message stands on its own in a log.
#[derive(Debug)]
#[non_exhaustive]
pub enum OsError {
    /// A system call failed.
    Io {
        /// What was being done, e.g. "creating TUN device dyber0".
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A helper command (`ip`) failed or timed out.
    Command {
        /// The command line.
        command: String,
        /// Its exit status and standard error, or "timed out".
        detail: String,
    },
    /// The feature is not implemented on this operating system.
    Unsupported(&'static str),
}

impl OsError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::Command { command, detail } => write!(f, "`{command}` failed: {detail}"),
            Self::Unsupported(what) => write!(
                f,
                "{what} is not supported on this operating system (DyberVPN's daemon runs on Linux)"
            ),
        }
    }
}

impl std::error::Error for OsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
