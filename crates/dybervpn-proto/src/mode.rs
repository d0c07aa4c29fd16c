//! The three handshake modes.

use std::fmt;
use std::str::FromStr;

/// A peer's handshake mode. Each peer has exactly one; a handshake of any
/// other mode from that peer is refused (no downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Mode {
    /// WireGuard, byte for byte (message types 1 and 2).
    Classic,
    /// WireGuard extended with an ephemeral ML-KEM-768 exchange (types 5 and 6).
    #[default]
    Hybrid,
    /// Hybrid plus ML-DSA-65 mutual authentication (types 7 and 8).
    PqOnly,
}

impl Mode {
    /// Every mode, weakest first.
    pub const ALL: [Mode; 3] = [Mode::Classic, Mode::Hybrid, Mode::PqOnly];

    /// The configuration spelling: `classic`, `hybrid`, `pq-only`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Hybrid => "hybrid",
            Self::PqOnly => "pq-only",
        }
    }

    /// Whether this mode needs ML-DSA-65 keys on both sides.
    #[must_use]
    pub fn needs_mldsa(self) -> bool {
        matches!(self, Self::PqOnly)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classic" => Ok(Self::Classic),
            "hybrid" => Ok(Self::Hybrid),
            "pq-only" => Ok(Self::PqOnly),
            other => Err(format!(
                "unknown mode {other:?}: expected \"classic\", \"hybrid\" or \"pq-only\""
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>(), Ok(mode));
        }
        assert!("pq_only".parse::<Mode>().is_err());
    }
}
