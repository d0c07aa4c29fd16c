//! The [`CryptoBackend`] trait and run-time backend selection.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::types::{
    AeadKey, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, MlDsaSignature, MlKemCiphertext,
    MlKemDecapsKey, MlKemEncapsKey, Secret, SharedSecret, X25519PublicKey, X25519SecretKey,
    AEAD_TAG_LEN, XNONCE_LEN,
};
use crate::CryptoError;

/// Every primitive the DyberVPN protocol needs.
///
/// Implementations must be deterministic functions of their inputs except for
/// the operations documented as drawing randomness. They are shared between
/// threads (`Send + Sync`) and called through `dyn CryptoBackend`, so the
/// backend can be chosen at run time.
///
/// AEAD nonces follow WireGuard: ChaCha20-Poly1305 takes a 64-bit counter,
/// encoded as four zero bytes followed by the counter in little-endian.
pub trait CryptoBackend: Send + Sync + fmt::Debug {
    /// The backend's name as used in configuration (`aws-lc`, `libcrux`).
    fn name(&self) -> &'static str;

    /// Fills `out` with cryptographically secure random bytes.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError>;

    // --- X25519 (RFC 7748) ---------------------------------------------------

    /// Generates a fresh X25519 key pair.
    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError>;

    /// Derives the public key of a private key.
    fn x25519_public_key(&self, secret: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError>;

    /// X25519(secret, peer). Fails with [`CryptoError::LowOrderPoint`] when the
    /// result is all zeros.
    fn x25519(
        &self,
        secret: &X25519SecretKey,
        peer: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError>;

    // --- ML-KEM-768 (FIPS 203) ------------------------------------------------

    /// Generates a fresh ML-KEM-768 key pair.
    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError>;

    /// The FIPS 203 §7.2 encapsulation-key check (modulus check).
    fn mlkem_check_encaps_key(&self, ek: &MlKemEncapsKey) -> Result<(), CryptoError>;

    /// Checks `ek` as [`CryptoBackend::mlkem_check_encaps_key`] does, then
    /// encapsulates a fresh shared secret to it.
    fn mlkem_encapsulate(
        &self,
        ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError>;

    /// Decapsulates `ct`. A tampered ciphertext yields the implicit-rejection
    /// secret (FIPS 203), not an error.
    fn mlkem_decapsulate(
        &self,
        dk: &MlKemDecapsKey,
        ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError>;

    // --- ML-DSA-65 (FIPS 204) ------------------------------------------------

    /// Derives the key pair from a 32-byte seed (`ML-DSA.KeyGen_internal`).
    fn mldsa_from_seed(&self, seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError>;

    /// Signs `message` with the hedged (randomized) variant and the given
    /// context string (at most 255 bytes).
    fn mldsa_sign(
        &self,
        key: &MlDsaKeyPair,
        context: &[u8],
        message: &[u8],
    ) -> Result<MlDsaSignature, CryptoError>;

    /// Verifies a signature made with the same context string.
    fn mldsa_verify(
        &self,
        public: &MlDsaPublicKey,
        context: &[u8],
        message: &[u8],
        signature: &MlDsaSignature,
    ) -> Result<(), CryptoError>;

    // --- ChaCha20-Poly1305 (RFC 8439) ----------------------------------------

    /// Encrypts `in_out` in place and returns the tag.
    fn aead_seal(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError>;

    /// Checks `tag` and decrypts `in_out` in place. On failure the contents of
    /// `in_out` are unspecified and must be discarded.
    fn aead_open(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// Prepares a key for many transport packets (the data plane's hot path).
    fn transport_cipher(&self, key: &AeadKey) -> Box<dyn TransportCipher>;

    // --- XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), for cookie replies -----

    /// Encrypts `in_out` in place with a 24-byte nonce and returns the tag.
    fn xaead_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError>;

    /// Checks `tag` and decrypts `in_out` in place.
    fn xaead_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError>;

    // --- BLAKE2s (RFC 7693) ----------------------------------------------------

    /// BLAKE2s-256 of the concatenation of `parts`.
    fn hash(&self, parts: &[&[u8]]) -> [u8; 32] {
        crate::blake2s::hash(parts)
    }

    /// HMAC-BLAKE2s-256 (RFC 2104) of the concatenation of `parts`.
    fn hmac(&self, key: &[u8], parts: &[&[u8]]) -> Secret<32> {
        crate::blake2s::hmac(key, parts)
    }

    /// Keyed BLAKE2s with a 16-byte output (WireGuard's `MAC`).
    fn mac(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
        crate::blake2s::mac(key, parts)
    }

    /// `out[i] = MAC(key, inputs[i])` for every `i` below the shorter of
    /// the two lengths: the same result as [`CryptoBackend::mac`] on each,
    /// computed together where the implementation can do several at once.
    /// The default calls [`CryptoBackend::mac`] for each, so a backend that
    /// replaces `mac` alone stays consistent; the built-in backends
    /// replace both, with `blake2s::mac_many` here.
    fn mac_many(&self, key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
        for (input, mac) in inputs.iter().zip(out.iter_mut()) {
            *mac = self.mac(key, &[input]);
        }
    }
}

/// A ChaCha20-Poly1305 key prepared for many packets.
pub trait TransportCipher: Send + Sync {
    /// Encrypts `in_out` in place with the WireGuard nonce for `counter` and
    /// an empty associated data; returns the tag.
    fn seal(&self, counter: u64, in_out: &mut [u8]) -> Result<[u8; AEAD_TAG_LEN], CryptoError>;

    /// Checks `tag` and decrypts `in_out` in place.
    fn open(
        &self,
        counter: u64,
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError>;
}

/// The backends that can be chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BackendKind {
    /// `aws-lc`: aws-lc-rs (the default).
    #[default]
    AwsLc,
    /// `libcrux`: formally verified libcrux ML-KEM/ML-DSA with RustCrypto and
    /// dalek.
    Libcrux,
}

impl BackendKind {
    /// Every backend, in a stable order.
    pub const ALL: [BackendKind; 2] = [BackendKind::AwsLc, BackendKind::Libcrux];

    /// The configuration name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::AwsLc => "aws-lc",
            Self::Libcrux => "libcrux",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aws-lc" => Ok(Self::AwsLc),
            "libcrux" => Ok(Self::Libcrux),
            other => Err(format!(
                "unknown crypto backend {other:?}: expected \"aws-lc\" or \"libcrux\""
            )),
        }
    }
}

/// Builds the backend of the given kind.
#[must_use]
pub fn backend(kind: BackendKind) -> Arc<dyn CryptoBackend> {
    match kind {
        BackendKind::AwsLc => Arc::new(crate::AwsLcBackend::new()),
        BackendKind::Libcrux => Arc::new(crate::LibcruxBackend::new()),
    }
}
