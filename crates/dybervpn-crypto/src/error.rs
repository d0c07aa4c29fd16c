use std::fmt;

/// Why a cryptographic operation failed.
///
/// Peer-caused failures (a bad tag, an invalid key on the wire) and local
/// failures (the random number generator) are distinct variants so callers
/// can count and log them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    Random,
    /// An X25519 exchange produced the all-zero output: the peer sent a
    /// low-order point.
    LowOrderPoint,
    /// An ML-KEM-768 encapsulation key failed the FIPS 203 §7.2 modulus check.
    InvalidEncapsulationKey,
    /// ML-KEM-768 decapsulation failed inside the backend (not an implicit
    /// rejection, which yields a pseudo-random secret instead).
    Decapsulation,
    /// A key could not be imported by the backend (wrong encoding).
    KeyRejected,
    /// ML-DSA-65 signing failed (bad context length or backend failure).
    Signing,
    /// An ML-DSA-65 signature did not verify.
    BadSignature,
    /// An AEAD open failed: the ciphertext or its tag was altered, or the key
    /// or nonce is wrong.
    Decryption,
    /// A buffer handed to the backend has the wrong length.
    BufferLength,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Random => "the system random number generator failed",
            Self::LowOrderPoint => "X25519 produced an all-zero shared secret (low-order point)",
            Self::InvalidEncapsulationKey => {
                "ML-KEM-768 encapsulation key failed the FIPS 203 modulus check"
            }
            Self::Decapsulation => "ML-KEM-768 decapsulation failed",
            Self::KeyRejected => "the backend rejected a key encoding",
            Self::Signing => "ML-DSA-65 signing failed",
            Self::BadSignature => "ML-DSA-65 signature is invalid",
            Self::Decryption => "authenticated decryption failed",
            Self::BufferLength => "buffer has the wrong length",
        };
        f.write_str(text)
    }
}

impl std::error::Error for CryptoError {}
