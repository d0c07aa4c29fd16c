//! Pieces both backends share: ML-DSA-65 from `libcrux-ml-dsa`,
//! XChaCha20-Poly1305 from RustCrypto, and the WireGuard nonce layout.
//!
//! # Why ML-DSA-65 comes from libcrux in both backends
//!
//! The protocol signs with a non-empty FIPS 204 context string (domain
//! separation). aws-lc-rs 1.19 exposes ML-DSA signing only through
//! `PqdsaKeyPair::sign`, which always uses the *empty* context; reaching
//! aws-lc's context-taking C function would need `unsafe` FFI, which this
//! crate forbids. So both backends sign and verify with `libcrux-ml-dsa`
//! (formally verified, with a run-time AVX2 dispatch). The `aws-lc` backend
//! still supplies the signing randomness. The test suite checks that aws-lc
//! and libcrux derive the same public key from a seed and accept each other's
//! empty-context signatures, so the two are interoperable.
//!
//! # Why XChaCha20-Poly1305 comes from RustCrypto
//!
//! aws-lc-rs has no XChaCha20-Poly1305 (it is used only for cookie replies).
//! The libcrux backend takes RustCrypto's whole; the aws-lc backend takes
//! only its HChaCha20 and seals with aws-lc, which is four times faster for
//! a cookie's 16 bytes (see `aws_lc.rs`). The draft's test vector runs on
//! both.
//!
//! # Wiping
//!
//! libcrux does not zeroize. Every secret buffer created here (the expanded
//! signing key handed to libcrux, the signing randomness) is wiped before
//! return, on every path. libcrux takes its randomness and seeds by value, so
//! copies may briefly exist in stack frames we do not control; that is the
//! limit of what safe Rust allows.

use chacha20poly1305::{AeadInPlace, KeyInit, XChaCha20Poly1305, XNonce};
use libcrux_ml_dsa::ml_dsa_65::{
    self, MLDSA65Signature, MLDSA65SigningKey, MLDSA65VerificationKey,
};
use zeroize::Zeroize;

use crate::backend::CryptoBackend;
use crate::types::{
    AeadKey, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, MlDsaSignature, Secret, AEAD_TAG_LEN,
    MLDSA65_SK_LEN, XNONCE_LEN,
};
use crate::CryptoError;

/// Length of the ChaCha20-Poly1305 nonce (RFC 8439).
pub(crate) const NONCE_LEN: usize = 12;

/// The maximum FIPS 204 context string length.
const MLDSA_MAX_CONTEXT_LEN: usize = 255;

/// WireGuard's nonce for a counter: four zero bytes, then the counter in
/// little-endian.
#[must_use]
pub(crate) fn wireguard_nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

// --- ML-DSA-65 ---------------------------------------------------------------

/// A libcrux signing key that is wiped when it goes out of scope.
struct SigningKeyGuard(MLDSA65SigningKey);

impl Drop for SigningKeyGuard {
    fn drop(&mut self) {
        self.0.as_ref_mut().zeroize();
    }
}

/// `ML-DSA.KeyGen_internal(ξ = seed)`.
pub(crate) fn mldsa_from_seed(seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
    let mut pair = ml_dsa_65::generate_key_pair(*seed.expose());
    let mut expanded = Box::new(Secret::<MLDSA65_SK_LEN>::default());
    expanded
        .expose_mut()
        .copy_from_slice(pair.signing_key.as_ref());
    // Wiped where it lies: moving it into a guard would copy it, and leave
    // the bytes it was moved from.
    pair.signing_key.as_ref_mut().zeroize();
    let public = MlDsaPublicKey(Box::new(*pair.verification_key.as_ref()));
    Ok(MlDsaKeyPair {
        seed: seed.clone(),
        expanded,
        public,
    })
}

/// Hedged `ML-DSA.Sign(sk, message, context)`, with 32 bytes of randomness
/// drawn from `rng` (the calling backend).
pub(crate) fn mldsa_sign<B: CryptoBackend + ?Sized>(
    rng: &B,
    key: &MlDsaKeyPair,
    context: &[u8],
    message: &[u8],
) -> Result<MlDsaSignature, CryptoError> {
    if context.len() > MLDSA_MAX_CONTEXT_LEN {
        return Err(CryptoError::Signing);
    }
    let mut randomness = Secret::<{ libcrux_ml_dsa::SIGNING_RANDOMNESS_SIZE }>::default();
    rng.fill_random(randomness.expose_mut())?;

    let mut signing = SigningKeyGuard(MLDSA65SigningKey::zero());
    signing
        .0
        .as_ref_mut()
        .copy_from_slice(key.expanded.expose());

    let signature = ml_dsa_65::sign(&signing.0, message, context, *randomness.expose())
        .map_err(|_| CryptoError::Signing)?;
    Ok(MlDsaSignature(Box::new(*signature.as_ref())))
}

/// `ML-DSA.Verify(pk, message, signature, context)`.
pub(crate) fn mldsa_verify(
    public: &MlDsaPublicKey,
    context: &[u8],
    message: &[u8],
    signature: &MlDsaSignature,
) -> Result<(), CryptoError> {
    if context.len() > MLDSA_MAX_CONTEXT_LEN {
        return Err(CryptoError::BadSignature);
    }
    let public = MLDSA65VerificationKey::new(*public.as_bytes());
    let signature = MLDSA65Signature::new(*signature.as_bytes());
    ml_dsa_65::verify(&public, message, context, &signature).map_err(|_| CryptoError::BadSignature)
}

// --- XChaCha20-Poly1305 ----------------------------------------------------------

/// XChaCha20-Poly1305 seal in place with a detached tag.
pub(crate) fn xaead_seal(
    key: &AeadKey,
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, in_out)
        .map_err(|_| CryptoError::BufferLength)?;
    Ok(tag.into())
}

/// XChaCha20-Poly1305 open in place with a detached tag.
pub(crate) fn xaead_open(
    key: &AeadKey,
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
    tag: &[u8; AEAD_TAG_LEN],
) -> Result<(), CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, in_out, tag.into())
        .map_err(|_| CryptoError::Decryption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_nonce_layout() {
        assert_eq!(
            wireguard_nonce(0x0102_0304_0506_0708),
            [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]
        );
    }
}
