//! The `aws-lc` backend: X25519, ML-KEM-768, ChaCha20-Poly1305 and randomness
//! from `aws-lc-rs`.
//!
//! ML-DSA-65 comes from [`crate::shared`] (see there for why);
//! XChaCha20-Poly1305 is aws-lc's ChaCha20-Poly1305 under a subkey from
//! RustCrypto's HChaCha20 (`xchacha_subkey`).
//!
//! Behaviour of aws-lc that this module relies on, checked against the
//! aws-lc-rs 1.19 / aws-lc-sys 0.47 sources and pinned by tests:
//!
//! * X25519 fails (`EVP_PKEY_derive` returns an error) when the shared secret
//!   is all zeros, i.e. for low-order peer points. Any 32-byte string parses
//!   as a public key, so a failure after parsing is reported as
//!   [`CryptoError::LowOrderPoint`]. The output is also checked for zeros in
//!   constant time here, in case that behaviour ever changes.
//! * `kem::EncapsulationKey::new` only copies the bytes; it does **not**
//!   perform the FIPS 203 §7.2 modulus check. aws-lc performs it inside
//!   encapsulation, but has no stand-alone check, so
//!   [`CryptoBackend::mlkem_check_encaps_key`] uses libcrux's
//!   `validate_public_key`, and encapsulation runs that check as well before
//!   calling aws-lc.
//! * `kem::DecapsulationKey::new` takes the FIPS 203 `dk` encoding (2400
//!   bytes) and `key_bytes` returns it, which is what makes
//!   [`MlKemDecapsKey`] portable between backends.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use aws_lc_rs::agreement::{self, ParsedPublicKey, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::backend::{CryptoBackend, TransportCipher};
use crate::shared::{self, wireguard_nonce, NONCE_LEN};
use crate::types::{
    AeadKey, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, MlDsaSignature, MlKemCiphertext,
    MlKemDecapsKey, MlKemEncapsKey, Secret, SharedSecret, X25519PublicKey, X25519SecretKey,
    AEAD_TAG_LEN, MLKEM768_DK_LEN, SHARED_SECRET_LEN, X25519_KEY_LEN, XNONCE_LEN,
};
use crate::CryptoError;

/// The `aws-lc` crypto backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct AwsLcBackend;

impl AwsLcBackend {
    /// Creates the backend.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

/// Imports a 32-byte X25519 private key into aws-lc, which computes its
/// public key as it does (a fixed-base multiplication, about a third of an
/// agreement's cost). [`X25519SecretKey::use_imported`] keeps the result, so
/// each key is imported once. aws-lc wipes its copy when the key is freed
/// (`OPENSSL_free` cleanses every allocation).
fn x25519_import(bytes: &[u8; X25519_KEY_LEN]) -> Result<PrivateKey, CryptoError> {
    PrivateKey::from_private_key(&X25519, bytes).map_err(|_| CryptoError::KeyRejected)
}

fn x25519_public_of(private: &PrivateKey) -> Result<X25519PublicKey, CryptoError> {
    let public = private
        .compute_public_key()
        .map_err(|_| CryptoError::KeyRejected)?;
    let bytes: [u8; X25519_KEY_LEN] = public
        .as_ref()
        .try_into()
        .map_err(|_| CryptoError::KeyRejected)?;
    Ok(X25519PublicKey(bytes))
}

/// Imports a ChaCha20-Poly1305 key into aws-lc.
fn chacha_key(key: &AeadKey) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&CHACHA20_POLY1305, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::KeyRejected)
}

/// XChaCha20-Poly1305 as draft-irtf-cfrg-xchacha §2.3 builds it: the
/// ChaCha20-Poly1305 key is `HChaCha20(key, nonce[..16])` and its nonce four
/// zero bytes then `nonce[16..]`. aws-lc-rs has no XChaCha20-Poly1305, and
/// RustCrypto's costs four times as much for a cookie reply's 16 bytes (its
/// Poly1305 sets up AVX2 state for every message), so HChaCha20 comes from
/// RustCrypto's `chacha20` and the AEAD from aws-lc. The subkey is wiped here
/// once aws-lc has imported it.
fn xchacha_subkey(
    key: &AeadKey,
    nonce: &[u8; XNONCE_LEN],
) -> Result<(LessSafeKey, [u8; NONCE_LEN]), CryptoError> {
    let (prefix, rest) = nonce.split_at(16);
    let mut subkey = chacha20::hchacha::<chacha20::cipher::consts::U10>(
        key.expose().into(),
        chacha20::cipher::generic_array::GenericArray::from_slice(prefix),
    );
    let imported = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice())
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::KeyRejected);
    subkey.as_mut_slice().zeroize();
    let mut inner = [0u8; NONCE_LEN];
    inner[4..].copy_from_slice(rest);
    Ok((imported?, inner))
}

/// ChaCha20-Poly1305 seal in place with a detached tag. Every caller's nonce
/// is unique for its key: a WireGuard counter or a fresh XChaCha subkey.
fn seal(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
    let nonce = Nonce::assume_unique_for_key(nonce);
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), in_out)
        .map_err(|_| CryptoError::BufferLength)?;
    tag.as_ref()
        .try_into()
        .map_err(|_| CryptoError::BufferLength)
}

fn open(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
    tag: &[u8; AEAD_TAG_LEN],
) -> Result<(), CryptoError> {
    let nonce = Nonce::assume_unique_for_key(nonce);
    key.open_in_place_separate_tag(nonce, Aad::from(aad), tag, in_out)
        .map(|_| ())
        .map_err(|_| CryptoError::Decryption)
}

/// A ChaCha20-Poly1305 key imported into aws-lc once, for many packets.
struct AwsLcTransport {
    /// `None` only if aws-lc refused the key, which cannot happen for a
    /// 32-byte key; every operation then fails closed.
    key: Option<LessSafeKey>,
}

impl TransportCipher for AwsLcTransport {
    fn seal(&self, counter: u64, in_out: &mut [u8]) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        let key = self.key.as_ref().ok_or(CryptoError::KeyRejected)?;
        seal(key, wireguard_nonce(counter), &[], in_out)
    }

    fn open(
        &self,
        counter: u64,
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        let key = self.key.as_ref().ok_or(CryptoError::KeyRejected)?;
        open(key, wireguard_nonce(counter), &[], in_out, tag)
    }
}

impl CryptoBackend for AwsLcBackend {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Random)
    }

    // --- X25519 ----------------------------------------------------------------

    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
        let mut bytes = Secret::<X25519_KEY_LEN>::default();
        self.fill_random(bytes.expose_mut())?;
        let private = x25519_import(bytes.expose())?;
        let public = x25519_public_of(&private)?;
        Ok((
            X25519SecretKey::with_imported(*bytes.expose(), private),
            public,
        ))
    }

    fn x25519_public_key(&self, secret: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
        secret.use_imported(x25519_import, x25519_public_of)
    }

    fn x25519(
        &self,
        secret: &X25519SecretKey,
        peer: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        let peer = ParsedPublicKey::try_from(UnparsedPublicKey::new(&X25519, peer.as_bytes()))
            .map_err(|_| CryptoError::KeyRejected)?;
        // aws-lc refuses to return an all-zero X25519 output, so a failure of
        // the agreement itself means a low-order point.
        let shared = secret.use_imported(x25519_import, |private| {
            agreement::agree(private, peer, CryptoError::LowOrderPoint, |raw| {
                Secret::<SHARED_SECRET_LEN>::from_slice(raw).ok_or(CryptoError::LowOrderPoint)
            })
        })?;
        if bool::from(shared.expose().ct_eq(&[0u8; SHARED_SECRET_LEN])) {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(shared)
    }

    // --- ML-KEM-768 ------------------------------------------------------------

    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
        let key = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| CryptoError::Random)?;
        let dk_bytes = key.key_bytes().map_err(|_| CryptoError::KeyRejected)?;
        // Made in its box, not on the stack and moved there: a move is a
        // copy that nothing would wipe.
        let mut dk = Box::new(Secret::<MLKEM768_DK_LEN>::default());
        if dk_bytes.as_ref().len() != MLKEM768_DK_LEN {
            return Err(CryptoError::KeyRejected);
        }
        dk.expose_mut().copy_from_slice(dk_bytes.as_ref());
        let ek_bytes = key
            .encapsulation_key()
            .and_then(|ek| ek.key_bytes())
            .map_err(|_| CryptoError::KeyRejected)?;
        let ek = MlKemEncapsKey::from_slice(ek_bytes.as_ref()).ok_or(CryptoError::KeyRejected)?;
        Ok((MlKemDecapsKey(dk), ek))
    }

    fn mlkem_check_encaps_key(&self, ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
        // aws-lc-rs has no stand-alone check; see the module documentation.
        crate::libcrux::check_encaps_key(ek)
    }

    fn mlkem_encapsulate(
        &self,
        ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
        self.mlkem_check_encaps_key(ek)?;
        let key = EncapsulationKey::new(&ML_KEM_768, ek.as_bytes())
            .map_err(|_| CryptoError::KeyRejected)?;
        // aws-lc repeats the modulus check inside encapsulation.
        let (ct, ss) = key
            .encapsulate()
            .map_err(|_| CryptoError::InvalidEncapsulationKey)?;
        let ct = MlKemCiphertext::from_slice(ct.as_ref()).ok_or(CryptoError::BufferLength)?;
        let ss = SharedSecret::from_slice(ss.as_ref()).ok_or(CryptoError::BufferLength)?;
        Ok((ct, ss))
    }

    fn mlkem_decapsulate(
        &self,
        dk: &MlKemDecapsKey,
        ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError> {
        let key = DecapsulationKey::new(&ML_KEM_768, &dk.0.expose()[..])
            .map_err(|_| CryptoError::KeyRejected)?;
        let ss = key
            .decapsulate(Ciphertext::from(&ct.as_bytes()[..]))
            .map_err(|_| CryptoError::Decapsulation)?;
        SharedSecret::from_slice(ss.as_ref()).ok_or(CryptoError::Decapsulation)
    }

    // --- ML-DSA-65 (libcrux, see `shared`) -----------------------------------

    fn mldsa_from_seed(&self, seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
        shared::mldsa_from_seed(seed)
    }

    fn mldsa_sign(
        &self,
        key: &MlDsaKeyPair,
        context: &[u8],
        message: &[u8],
    ) -> Result<MlDsaSignature, CryptoError> {
        shared::mldsa_sign(self, key, context, message)
    }

    fn mldsa_verify(
        &self,
        public: &MlDsaPublicKey,
        context: &[u8],
        message: &[u8],
        signature: &MlDsaSignature,
    ) -> Result<(), CryptoError> {
        shared::mldsa_verify(public, context, message, signature)
    }

    // --- ChaCha20-Poly1305 -----------------------------------------------------

    fn aead_seal(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        seal(&chacha_key(key)?, wireguard_nonce(counter), aad, in_out)
    }

    fn aead_open(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        open(
            &chacha_key(key)?,
            wireguard_nonce(counter),
            aad,
            in_out,
            tag,
        )
    }

    fn transport_cipher(&self, key: &AeadKey) -> Box<dyn TransportCipher> {
        Box::new(AwsLcTransport {
            key: chacha_key(key).ok(),
        })
    }

    // --- XChaCha20-Poly1305 (HChaCha20 from RustCrypto, then aws-lc) ---------

    fn xaead_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        let (subkey, inner) = xchacha_subkey(key, nonce)?;
        seal(&subkey, inner, aad, in_out)
    }

    fn xaead_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        let (subkey, inner) = xchacha_subkey(key, nonce)?;
        open(&subkey, inner, aad, in_out, tag)
    }
    fn mac_many(&self, key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
        crate::blake2s::mac_many(key, inputs, out);
    }
}
