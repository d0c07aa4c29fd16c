//! Errors of the userspace API, and the `errno` each is reported as.
#![forbid(unsafe_code)]

use std::fmt;

/// `EIO`: reading or writing the socket failed.
pub const EIO: i32 = 5;
/// `EINVAL`: a value is malformed or out of range.
pub const EINVAL: i32 = 22;
/// `EPROTO`: the request is not the protocol (unknown key, key in the wrong
/// place, line without `=`, line too long).
pub const EPROTO: i32 = 71;
/// `EADDRINUSE`: the requested listen port is taken.
pub const EADDRINUSE: i32 = 98;

/// Why a userspace-API request failed. Every variant is reported to the
/// client as `errno=-<code>` (the sign convention of wireguard-go, which
/// `wg` turns back into a positive `errno` for its message); nothing of the
/// request has been applied when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UapiError {
    /// The client broke the protocol: a line without `=`, an unknown key, a
    /// device key after the first `public_key`, a line longer than allowed,
    /// or an unknown operation.
    Protocol {
        /// 1-based line number within the request (0 when not tied to a line).
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A known key carried a value that does not parse or is out of range.
    Invalid {
        /// 1-based line number within the request.
        line: usize,
        /// The key whose value was refused.
        key: String,
        /// What was wrong with it.
        message: String,
    },
    /// The request was well-formed but the device refused it as a whole
    /// (for example, the listen port is in use, or a pq-only peer lacks an
    /// ML-DSA public key).
    Rejected {
        /// The errno to report (positive).
        errno: i32,
        /// Why.
        message: String,
    },
    /// The socket failed mid-request.
    Io(String),
}

impl UapiError {
    /// The positive errno this error is reported as.
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::Protocol { .. } => EPROTO,
            Self::Invalid { .. } => EINVAL,
            Self::Rejected { errno, .. } => (*errno).max(1),
            Self::Io(_) => EIO,
        }
    }

    pub(crate) fn protocol(line: usize, message: impl Into<String>) -> Self {
        Self::Protocol {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(line: usize, key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            line,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for UapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol { line: 0, message } => write!(f, "UAPI protocol error: {message}"),
            Self::Protocol { line, message } => {
                write!(f, "UAPI protocol error on line {line}: {message}")
            }
            Self::Invalid { line, key, message } => {
                write!(f, "UAPI line {line}: invalid {key}: {message}")
            }
            Self::Rejected { message, .. } => write!(f, "UAPI request rejected: {message}"),
            Self::Io(message) => write!(f, "UAPI socket error: {message}"),
        }
    }
}

impl std::error::Error for UapiError {}
