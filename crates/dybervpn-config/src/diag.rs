//! Diagnostics: every problem found in a configuration, with the file, line,
//! column and field it concerns, printed like a compiler's messages:
//!
//! ```text
//! wg0.toml:14:17: error: peer[2].allowed_ips: 10.0.0.0/24 overlaps 10.0.0.0/16 of peer[0] ("laptop")
//! ```
//!
//! Whether a problem is an error or a warning is decided by its kind
//! ([`Problem::severity`]), never by the code that found it, so the two can
//! not be confused.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use dybervpn_crypto::{CryptoError, KeyError};
use dybervpn_proto::Mode;

use crate::cidr::Cidr;

/// Whether a diagnostic stops the configuration from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration loads, but probably does not do what was meant.
    Warning,
    /// The configuration is refused.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// A 1-based line and column (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

impl Position {
    /// The position of byte offset `offset` in `text` (clamped to the text's
    /// length and to a character boundary).
    #[must_use]
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { line, column }
    }
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file; `None` when the problem concerns the whole file
    /// (it could not be read, say).
    pub position: Option<Position>,
    /// The field concerned, e.g. `interface.listen_port` or
    /// `peer[2].allowed_ips`; empty for syntax errors.
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

impl Diagnostic {
    /// Builds a diagnostic for byte range `span` of `text`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        span: Range<usize>,
        field: impl Into<String>,
        problem: Problem,
    ) -> Self {
        Self {
            file: file.to_owned(),
            position: Some(Position::of_offset(text, span.start)),
            field: field.into(),
            problem,
        }
    }

    /// Builds a diagnostic about the whole file.
    pub(crate) fn whole_file(file: &Path, field: impl Into<String>, problem: Problem) -> Self {
        Self {
            file: file.to_owned(),
            position: None,
            field: field.into(),
            problem,
        }
    }

    /// Error or warning.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.problem.severity()
    }

    /// Whether this is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if let Some(pos) = self.position {
            write!(f, "{}:{}:", pos.line, pos.column)?;
        }
        write!(f, " {}: ", self.severity())?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.problem)
    }
}

/// What is wrong. Each kind has a fixed [`Severity`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A file could not be read.
    Io {
        /// What the operating system said.
        message: String,
    },
    /// The text is not valid TOML (or not a valid WireGuard `.conf` line).
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A key or table that this format does not have.
    UnknownKey {
        /// The key as written.
        key: String,
        /// The known key it most resembles, if any.
        suggestion: Option<String>,
    },
    /// A value of the wrong TOML type.
    WrongType {
        /// The type the field needs.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A required field is absent.
    Missing,
    /// Two fields that exclude each other are both present.
    Conflict {
        /// The other field.
        other: &'static str,
    },
    /// A value that could not be understood (a mode name, an address, ...).
    InvalidValue {
        /// The value as written.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A number outside its allowed range.
    OutOfRange {
        /// The value as written.
        value: String,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// Extra advice, if any.
        note: &'static str,
    },
    /// A key that does not decode (bad base64 or wrong length).
    BadKey(KeyError),
    /// The crypto backend failed while deriving a public key.
    Crypto(CryptoError),
    /// Two peers with the same public key.
    DuplicatePeer {
        /// Index of the first peer with this key.
        first: usize,
        /// Its name, if it has one.
        first_name: Option<String>,
    },
    /// A peer whose public key is the interface's own.
    OwnPublicKey,
    /// An allowed-IPs prefix equal to one of another peer's: packets to it
    /// could not be routed to one peer, nor attributed to one on the way in.
    DuplicateAllowedIp {
        /// The prefix both peers list.
        cidr: Cidr,
        /// Index of the other peer.
        other_peer: usize,
        /// Its name, if it has one.
        other_name: Option<String>,
    },
    /// An allowed-IPs prefix nested inside (or around) one of another peer's.
    /// Longest-prefix match decides, as in WireGuard (a gateway peer with
    /// `0.0.0.0/0` beside more specific peers), but it is worth a look.
    OverlappingAllowedIps {
        /// This peer's prefix.
        cidr: Cidr,
        /// The other peer's prefix.
        other: Cidr,
        /// Index of the other peer.
        other_peer: usize,
        /// Its name, if it has one.
        other_name: Option<String>,
    },
    /// The same peer lists a prefix that another of its prefixes covers.
    RedundantAllowedIp {
        /// The redundant prefix.
        cidr: Cidr,
        /// The prefix that already covers it.
        covered_by: Cidr,
    },
    /// pq-only mode is in effect but the interface has no ML-DSA-65 seed.
    MissingMlDsaPrivateKey {
        /// Why pq-only is in effect (the interface, or which peer).
        because: String,
    },
    /// A pq-only peer without its ML-DSA-65 public key.
    MissingMlDsaPublicKey,
    /// An ML-DSA-65 key given where no pq-only handshake will use it.
    UnusedMlDsaKey {
        /// The mode that is in effect.
        mode: Mode,
    },
    /// An allowed-IPs prefix with host bits set; the network is used.
    HostBitsSet {
        /// The prefix as written.
        given: Cidr,
        /// The network it was truncated to.
        network: Cidr,
    },
    /// A peer with no allowed IPs: no traffic will be sent to it and none
    /// accepted from it.
    NoAllowedIps,
    /// A file holding a secret key (private key, ML-DSA-65 seed,
    /// pre-shared key) can be read by group or others.
    ReadableByOthers {
        /// The file's permission bits.
        mode: u32,
    },
    /// Two peers with the same `name`: their metrics share one series.
    DuplicateName {
        /// Index of the first peer with this name.
        first: usize,
    },
    /// Something in an imported WireGuard file that DyberVPN does not use.
    Ignored {
        /// Why it is dropped.
        reason: &'static str,
    },
}

impl Problem {
    /// Error or warning; fixed for each kind.
    #[must_use]
    pub fn severity(&self) -> Severity {
        match self {
            Self::RedundantAllowedIp { .. }
            | Self::UnusedMlDsaKey { .. }
            | Self::HostBitsSet { .. }
            | Self::NoAllowedIps
            | Self::ReadableByOthers { .. }
            | Self::OverlappingAllowedIps { .. }
            | Self::DuplicateName { .. }
            | Self::Ignored { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

fn peer_ref(f: &mut fmt::Formatter<'_>, index: usize, name: Option<&str>) -> fmt::Result {
    write!(f, "peer[{index}]")?;
    if let Some(name) = name {
        write!(f, " ({name:?})")?;
    }
    Ok(())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { message } => write!(f, "cannot read: {message}"),
            Self::Syntax { message } => write!(f, "{message}"),
            Self::UnknownKey { key, suggestion } => {
                write!(f, "unknown key {key:?}")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean {s:?}?")?;
                }
                Ok(())
            }
            Self::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::Missing => write!(f, "missing, and required"),
            Self::Conflict { other } => write!(f, "cannot be combined with {other}; give one"),
            Self::InvalidValue { value, reason } => write!(f, "{value:?}: {reason}"),
            Self::OutOfRange {
                value,
                min,
                max,
                note,
            } => {
                write!(f, "{value} is out of range {min}..={max}")?;
                if !note.is_empty() {
                    write!(f, " ({note})")?;
                }
                Ok(())
            }
            // KeyError's own text starts with the key's name, which is the
            // field already printed; print only what is wrong.
            Self::BadKey(e) => {
                let text = e.to_string();
                let rest = text
                    .strip_prefix(e.what.as_str())
                    .and_then(|r| r.strip_prefix(": "))
                    .unwrap_or(&text);
                f.write_str(rest)
            }
            Self::Crypto(e) => write!(f, "cannot derive the public key: {e}"),
            Self::DuplicatePeer { first, first_name } => {
                write!(f, "same public key as ")?;
                peer_ref(f, *first, first_name.as_deref())
            }
            Self::OwnPublicKey => write!(f, "this is the interface's own public key"),
            Self::DuplicateAllowedIp {
                cidr,
                other_peer,
                other_name,
            } => {
                write!(f, "{cidr} is also an allowed IP of ")?;
                peer_ref(f, *other_peer, other_name.as_deref())
            }
            Self::OverlappingAllowedIps {
                cidr,
                other,
                other_peer,
                other_name,
            } => {
                write!(f, "{cidr} overlaps {other} of ")?;
                peer_ref(f, *other_peer, other_name.as_deref())?;
                write!(f, "; the longest prefix wins")
            }
            Self::RedundantAllowedIp { cidr, covered_by } => {
                write!(f, "{cidr} is already covered by {covered_by}")
            }
            Self::MissingMlDsaPrivateKey { because } => write!(
                f,
                "{because} uses pq-only mode, which needs interface.mldsa_private_key \
                 (an ML-DSA-65 seed; `dybervpn genkey --mode pq-only` makes one)"
            ),
            Self::MissingMlDsaPublicKey => write!(
                f,
                "pq-only peer needs its mldsa_public_key (`dybervpn pubkey` prints it)"
            ),
            Self::UnusedMlDsaKey { mode } => write!(
                f,
                "ignored: ML-DSA-65 keys are used only in pq-only mode, and this is {mode}"
            ),
            Self::HostBitsSet { given, network } => write!(
                f,
                "{given} has host bits set; it is used as {network} (write that to silence this)"
            ),
            Self::NoAllowedIps => write!(
                f,
                "empty: no traffic will be routed to this peer or accepted from it"
            ),
            Self::ReadableByOthers { mode } => write!(
                f,
                "holds secret keys but has mode {mode:04o}; run `chmod 600` on it"
            ),
            Self::DuplicateName { first } => write!(
                f,
                "peer[{first}] has this name too; metrics label peers by name, so the two \
                 share one series (give each its own name)"
            ),
            Self::Ignored { reason } => write!(f, "ignored: {reason}"),
        }
    }
}

/// Why a configuration was refused: every error found (at least one), and
/// the warnings found along the way, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// All diagnostics, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigErrors {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Sorts diagnostics into file order and splits them: `Ok(warnings)` when
/// there is no error, `Err` with everything otherwise.
///
/// A line with a syntax error gets no other diagnostic: the parser's guess
/// at what that line meant would only add noise.
pub(crate) fn finish(mut diags: Vec<Diagnostic>) -> Result<Vec<Diagnostic>, ConfigErrors> {
    let broken: Vec<(PathBuf, usize)> = diags
        .iter()
        .filter(|d| matches!(d.problem, Problem::Syntax { .. }))
        .filter_map(|d| d.position.map(|p| (d.file.clone(), p.line)))
        .collect();
    diags.retain(|d| {
        matches!(d.problem, Problem::Syntax { .. })
            || !d
                .position
                .is_some_and(|p| broken.iter().any(|(f, l)| *f == d.file && *l == p.line))
    });
    diags.sort_by(|a, b| {
        (&a.file, a.position.is_some(), a.position).cmp(&(
            &b.file,
            b.position.is_some(),
            b.position,
        ))
    });
    if diags.iter().any(Diagnostic::is_error) {
        Err(ConfigErrors { diagnostics: diags })
    } else {
        Ok(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        // "bé = " — the 'é' is two bytes but one column.
        let off = text.find("= 2").expect("present");
        assert_eq!(
            Position::of_offset(text, off),
            Position { line: 2, column: 4 }
        );
        assert_eq!(Position::of_offset(text, 999).line, 3);
    }

    #[test]
    fn display_is_compiler_like() {
        let d = Diagnostic::at(
            Path::new("wg0.toml"),
            "x\ny",
            2..3,
            "interface.mtu",
            Problem::OutOfRange {
                value: "70000".into(),
                min: 576,
                max: 9000,
                note: "",
            },
        );
        assert_eq!(
            d.to_string(),
            "wg0.toml:2:1: error: interface.mtu: 70000 is out of range 576..=9000"
        );
    }
}
