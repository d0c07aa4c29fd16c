//! Interface names: what the kernel accepts and what is safe in a path.
#![forbid(unsafe_code)]

use std::fmt;

/// Longest interface name Linux accepts (`IFNAMSIZ` − 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// An interface name that is valid for the kernel and safe to put in a
/// file name (`/var/run/wireguard/<name>.sock`, `/run/dybervpn/<name>.pid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInterfaceName(pub String);

impl fmt::Display for BadInterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a valid interface name: use 1 to {MAX_IFNAME_LEN} characters from \
             letters, digits, '_', '-' and '.', not starting with '.' or '-'",
            self.0
        )
    }
}

impl std::error::Error for BadInterfaceName {}

/// Checks an interface name.
pub fn validate(name: &str) -> Result<(), BadInterfaceName> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(BadInterfaceName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn names() {
        for good in ["wg0", "dyber-1", "a", "x.y_z", "abcdefghijklmno"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "wg 0",
            "abcdefghijklmnop",
            "-x",
            "é",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
