//! The `libcrux` backend: ML-KEM-768 from `libcrux-ml-kem`, X25519 from
//! `x25519-dalek`, ChaCha20-Poly1305 from RustCrypto, randomness from
//! `getrandom`.
//!
//! ML-DSA-65 and XChaCha20-Poly1305 come from [`crate::shared`].
//!
//! libcrux does not zeroize anything. Every secret this module hands to it or
//! receives from it (randomness, private keys, shared secrets) lives in a
//! buffer that is wiped before the function returns, on every path.

use std::fmt;
use std::sync::{Arc, Mutex};

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, KeyInit, Nonce};
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use libcrux_ml_kem::{KEY_GENERATION_SEED_SIZE, SHARED_SECRET_SIZE};
use zeroize::Zeroize;

use crate::backend::{CryptoBackend, TransportCipher};
use crate::shared::{self, wireguard_nonce};
use crate::types::{
    AeadKey, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, MlDsaSignature, MlKemCiphertext,
    MlKemDecapsKey, MlKemEncapsKey, Secret, SharedSecret, X25519PublicKey, X25519SecretKey,
    AEAD_TAG_LEN, MLKEM768_DK_LEN, X25519_KEY_LEN, XNONCE_LEN,
};
use crate::CryptoError;

/// Where a [`LibcruxBackend`] gets its randomness.
#[derive(Clone)]
enum Rng {
    /// The operating system (`getrandom`).
    Os,
    /// A ChaCha20 keystream keyed by a fixed seed; shared between clones so
    /// that a clone never replays the stream.
    Deterministic(Arc<Mutex<ChaCha20>>),
}

/// The `libcrux` crypto backend.
///
/// [`LibcruxBackend::new`] draws randomness from the operating system.
/// [`LibcruxBackend::insecure_deterministic`] exists only for test vectors.
#[derive(Clone)]
pub struct LibcruxBackend {
    rng: Rng,
}

impl Default for LibcruxBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LibcruxBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rng = match self.rng {
            Rng::Os => "os",
            Rng::Deterministic(_) => "INSECURE-deterministic",
        };
        f.debug_struct("LibcruxBackend").field("rng", &rng).finish()
    }
}

impl LibcruxBackend {
    /// Creates the backend, drawing randomness from the operating system.
    #[must_use]
    pub fn new() -> Self {
        Self { rng: Rng::Os }
    }

    /// **INSECURE — for tests and test vectors only. Never use it for real
    /// traffic.**
    ///
    /// A backend whose "randomness" is the ChaCha20 keystream keyed by `seed`
    /// (nonce zero). Every randomized operation (X25519 and ML-KEM key
    /// generation, ML-KEM encapsulation, ML-DSA signing, `fill_random`) draws
    /// from that stream, so two backends built from the same seed and driven
    /// through the same calls produce identical keys, ciphertexts and
    /// signatures. Anyone who knows the seed knows every key it makes.
    /// Clones share one stream.
    #[must_use]
    pub fn insecure_deterministic(seed: [u8; 32]) -> Self {
        let mut seed = seed;
        let stream = ChaCha20::new(&seed.into(), &[0u8; 12].into());
        seed.zeroize();
        Self {
            rng: Rng::Deterministic(Arc::new(Mutex::new(stream))),
        }
    }
}

/// The FIPS 203 §7.2 modulus check, by libcrux (also used by the `aws-lc`
/// backend, which has no stand-alone check).
pub(crate) fn check_encaps_key(ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
    let public = MlKem768PublicKey::from(ek.as_bytes());
    if mlkem768::validate_public_key(&public) {
        Ok(())
    } else {
        Err(CryptoError::InvalidEncapsulationKey)
    }
}

/// A libcrux ML-KEM private key that is wiped when it goes out of scope.
struct PrivateKeyGuard(MlKem768PrivateKey);

impl Drop for PrivateKeyGuard {
    fn drop(&mut self) {
        self.0[0..].zeroize();
    }
}

/// A ChaCha20-Poly1305 key prepared once for many packets. RustCrypto's
/// cipher zeroizes its key on drop.
struct RustCryptoTransport(ChaCha20Poly1305);

impl TransportCipher for RustCryptoTransport {
    fn seal(&self, counter: u64, in_out: &mut [u8]) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        seal(&self.0, counter, &[], in_out)
    }

    fn open(
        &self,
        counter: u64,
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        open(&self.0, counter, &[], in_out, tag)
    }
}

fn chacha(key: &AeadKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.expose().into())
}

fn seal(
    cipher: &ChaCha20Poly1305,
    counter: u64,
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
    let nonce = wireguard_nonce(counter);
    cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, in_out)
        .map(Into::into)
        .map_err(|_| CryptoError::BufferLength)
}

fn open(
    cipher: &ChaCha20Poly1305,
    counter: u64,
    aad: &[u8],
    in_out: &mut [u8],
    tag: &[u8; AEAD_TAG_LEN],
) -> Result<(), CryptoError> {
    let nonce = wireguard_nonce(counter);
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(&nonce), aad, in_out, tag.into())
        .map_err(|_| CryptoError::Decryption)
}

impl CryptoBackend for LibcruxBackend {
    fn name(&self) -> &'static str {
        "libcrux"
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        match &self.rng {
            Rng::Os => getrandom::fill(out).map_err(|_| CryptoError::Random),
            Rng::Deterministic(stream) => {
                let mut stream = stream.lock().map_err(|_| CryptoError::Random)?;
                out.fill(0);
                stream
                    .try_apply_keystream(out)
                    .map_err(|_| CryptoError::Random)
            }
        }
    }

    // --- X25519 (x25519-dalek) -------------------------------------------------

    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
        let mut bytes = Secret::<X25519_KEY_LEN>::default();
        self.fill_random(bytes.expose_mut())?;
        let secret = X25519SecretKey::from_bytes(*bytes.expose());
        let public = self.x25519_public_key(&secret)?;
        Ok((secret, public))
    }

    fn x25519_public_key(&self, secret: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
        // StaticSecret zeroizes on drop (x25519-dalek feature "zeroize").
        let secret = x25519_dalek::StaticSecret::from(*secret.expose());
        Ok(X25519PublicKey(
            x25519_dalek::PublicKey::from(&secret).to_bytes(),
        ))
    }

    fn x25519(
        &self,
        secret: &X25519SecretKey,
        peer: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        let secret = x25519_dalek::StaticSecret::from(*secret.expose());
        let peer = x25519_dalek::PublicKey::from(peer.0);
        // The dalek shared secret zeroizes on drop.
        let shared = secret.diffie_hellman(&peer);
        // `was_contributory` is a constant-time comparison with zero.
        if !shared.was_contributory() {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(SharedSecret::new(*shared.as_bytes()))
    }

    // --- ML-KEM-768 (libcrux) --------------------------------------------------

    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
        let mut randomness = Secret::<KEY_GENERATION_SEED_SIZE>::default();
        self.fill_random(randomness.expose_mut())?;
        let (private, public) = mlkem768::generate_key_pair(*randomness.expose()).into_parts();
        let private = PrivateKeyGuard(private);
        let mut dk = Box::new(Secret::<MLKEM768_DK_LEN>::default());
        dk.expose_mut().copy_from_slice(private.0.as_slice());
        let ek = MlKemEncapsKey(Box::new(*public.as_slice()));
        Ok((MlKemDecapsKey(dk), ek))
    }

    fn mlkem_check_encaps_key(&self, ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
        check_encaps_key(ek)
    }

    fn mlkem_encapsulate(
        &self,
        ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
        let public = MlKem768PublicKey::from(ek.as_bytes());
        if !mlkem768::validate_public_key(&public) {
            return Err(CryptoError::InvalidEncapsulationKey);
        }
        let mut randomness = Secret::<SHARED_SECRET_SIZE>::default();
        self.fill_random(randomness.expose_mut())?;
        let (ct, mut ss) = mlkem768::encapsulate(&public, *randomness.expose());
        let shared = SharedSecret::new(ss);
        ss.zeroize();
        Ok((MlKemCiphertext(Box::new(*ct.as_slice())), shared))
    }

    fn mlkem_decapsulate(
        &self,
        dk: &MlKemDecapsKey,
        ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError> {
        let mut private = PrivateKeyGuard(MlKem768PrivateKey::default());
        private.0[0..].copy_from_slice(dk.0.expose());
        let ct = MlKem768Ciphertext::from(ct.as_bytes());
        let mut ss = mlkem768::decapsulate(&private.0, &ct);
        let shared = SharedSecret::new(ss);
        ss.zeroize();
        Ok(shared)
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

    // --- ChaCha20-Poly1305 (RustCrypto) ----------------------------------------

    fn aead_seal(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        seal(&chacha(key), counter, aad, in_out)
    }

    fn aead_open(
        &self,
        key: &AeadKey,
        counter: u64,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        open(&chacha(key), counter, aad, in_out, tag)
    }

    fn transport_cipher(&self, key: &AeadKey) -> Box<dyn TransportCipher> {
        Box::new(RustCryptoTransport(chacha(key)))
    }

    // --- XChaCha20-Poly1305 (RustCrypto, see `shared`) -------------------------

    fn xaead_seal(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        shared::xaead_seal(key, nonce, aad, in_out)
    }

    fn xaead_open(
        &self,
        key: &AeadKey,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        shared::xaead_open(key, nonce, aad, in_out, tag)
    }

    fn mac_many(&self, key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
        crate::blake2s::mac_many(key, inputs, out);
    }
}
