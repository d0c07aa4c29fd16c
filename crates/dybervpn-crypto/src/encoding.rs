//! Text encodings of keys: WireGuard's standard base64 (with padding), and a
//! short fingerprint for long public keys.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::types::{
    MlDsaPublicKey, MlDsaSeed, PresharedKey, X25519PublicKey, X25519SecretKey, MLDSA65_PK_LEN,
    MLDSA65_SEED_LEN, X25519_KEY_LEN,
};

/// A key that could not be decoded from its text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// Which key, e.g. `"interface.private_key"` or `"public key on stdin"`.
    pub what: String,
    /// What was wrong with it.
    pub kind: KeyErrorKind,
}

/// What was wrong with a key's text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// Not valid standard base64.
    Base64 {
        /// The number of bytes the key should decode to.
        expected: usize,
    },
    /// Valid base64 of the wrong length.
    Length {
        /// The number of bytes the key should decode to.
        expected: usize,
        /// The number of bytes it decoded to.
        found: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            KeyErrorKind::Base64 { expected } => write!(
                f,
                "{}: not valid base64; expected the standard base64 encoding of {expected} bytes ({} characters)",
                self.what,
                base64_len(expected)
            ),
            KeyErrorKind::Length { expected, found } => write!(
                f,
                "{}: decodes to {found} bytes, expected {expected} bytes ({} base64 characters)",
                self.what,
                base64_len(expected)
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// Length of the padded standard base64 encoding of `n` bytes.
#[must_use]
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Standard base64 with padding, as `wg genkey` prints keys.
#[must_use]
pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes `text` (surrounding whitespace ignored) into exactly `N` bytes.
/// The decoded buffer is wiped before returning, so this is safe for secrets.
pub fn decode_fixed<const N: usize>(what: &str, text: &str) -> Result<[u8; N], KeyError> {
    let err = |kind| KeyError {
        what: what.to_owned(),
        kind,
    };
    let decoded = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| err(KeyErrorKind::Base64 { expected: N }))?,
    );
    let array: [u8; N] = decoded.as_slice().try_into().map_err(|_| {
        err(KeyErrorKind::Length {
            expected: N,
            found: decoded.len(),
        })
    })?;
    Ok(array)
}

/// A short, stable identifier for a long public key: `BLAKE2s-256(key)`
/// truncated to 9 bytes, in unpadded URL-safe base64 (12 characters).
#[must_use]
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = crate::blake2s::hash(&[b"DyberVPN fingerprint v1", bytes]);
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

impl X25519PublicKey {
    /// Decodes a WireGuard-style base64 public key.
    pub fn from_base64(what: &str, text: &str) -> Result<Self, KeyError> {
        decode_fixed::<X25519_KEY_LEN>(what, text).map(Self)
    }

    /// Encodes as WireGuard-style base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        to_base64(&self.0)
    }
}

impl X25519SecretKey {
    /// Decodes a WireGuard-style base64 private key.
    pub fn from_base64(what: &str, text: &str) -> Result<Self, KeyError> {
        decode_fixed::<X25519_KEY_LEN>(what, text).map(Self::from_bytes)
    }

    /// Encodes as WireGuard-style base64. The string holds the secret: wipe or
    /// drop it promptly.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(to_base64(self.expose()))
    }
}

impl PresharedKey {
    /// Decodes a WireGuard-style base64 pre-shared key.
    pub fn from_base64(what: &str, text: &str) -> Result<Self, KeyError> {
        decode_fixed::<32>(what, text).map(Self::from_bytes)
    }

    /// Encodes as base64.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(to_base64(self.expose()))
    }
}

impl MlDsaSeed {
    /// Decodes a base64 ML-DSA-65 seed (32 bytes).
    pub fn from_base64(what: &str, text: &str) -> Result<Self, KeyError> {
        decode_fixed::<MLDSA65_SEED_LEN>(what, text).map(Self::from_bytes)
    }

    /// Encodes as base64.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(to_base64(self.expose()))
    }
}

impl MlDsaPublicKey {
    /// Decodes a base64 ML-DSA-65 public key (1952 bytes).
    pub fn from_base64(what: &str, text: &str) -> Result<Self, KeyError> {
        decode_fixed::<MLDSA65_PK_LEN>(what, text).map(|a| Self(Box::new(a)))
    }

    /// Encodes as base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        to_base64(&self.0[..])
    }

    /// The short fingerprint for display and logs.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_key_round_trips() {
        // A key as printed by `wg genkey`.
        let text = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let key = X25519SecretKey::from_base64("k", text).expect("valid key");
        assert_eq!(key.to_base64().as_str(), text);
    }

    #[test]
    fn wrong_length_names_the_key_and_lengths() {
        let err = X25519PublicKey::from_base64("peer[1].public_key", "AAAA")
            .expect_err("3 bytes is too short");
        assert_eq!(
            err.kind,
            KeyErrorKind::Length {
                expected: 32,
                found: 3
            }
        );
        let text = err.to_string();
        assert!(text.contains("peer[1].public_key"), "{text}");
        assert!(
            text.contains("expected 32 bytes (44 base64 characters)"),
            "{text}"
        );
    }

    #[test]
    fn bad_base64_is_reported() {
        let err = MlDsaSeed::from_base64("interface.mldsa_private_key", "not base64!")
            .expect_err("not base64");
        assert_eq!(err.kind, KeyErrorKind::Base64 { expected: 32 });
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let a = fingerprint(&[1u8; MLDSA65_PK_LEN]);
        let b = fingerprint(&[2u8; MLDSA65_PK_LEN]);
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
        assert_eq!(a, fingerprint(&[1u8; MLDSA65_PK_LEN]));
    }
}
