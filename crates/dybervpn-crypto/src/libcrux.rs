//! The `libcrux` backend. (Being implemented: every method below is a placeholder.)

use crate::backend::{CryptoBackend, TransportCipher};
use crate::types::*;
use crate::CryptoError;

/// The `libcrux` crypto backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct LibcruxBackend;

impl LibcruxBackend {
    /// Creates the backend.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

impl CryptoBackend for LibcruxBackend {
    fn name(&self) -> &'static str {
        "libcrux"
    }
    fn fill_random(&self, _out: &mut [u8]) -> Result<(), CryptoError> {
        todo!()
    }
    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
        todo!()
    }
    fn x25519_public_key(&self, _secret: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
        todo!()
    }
    fn x25519(
        &self,
        _secret: &X25519SecretKey,
        _peer: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        todo!()
    }
    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
        todo!()
    }
    fn mlkem_check_encaps_key(&self, _ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
        todo!()
    }
    fn mlkem_encapsulate(
        &self,
        _ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
        todo!()
    }
    fn mlkem_decapsulate(
        &self,
        _dk: &MlKemDecapsKey,
        _ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError> {
        todo!()
    }
    fn mldsa_from_seed(&self, _seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
        todo!()
    }
    fn mldsa_sign(
        &self,
        _key: &MlDsaKeyPair,
        _context: &[u8],
        _message: &[u8],
    ) -> Result<MlDsaSignature, CryptoError> {
        todo!()
    }
    fn mldsa_verify(
        &self,
        _public: &MlDsaPublicKey,
        _context: &[u8],
        _message: &[u8],
        _signature: &MlDsaSignature,
    ) -> Result<(), CryptoError> {
        todo!()
    }
    fn aead_seal(
        &self,
        _key: &AeadKey,
        _counter: u64,
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        todo!()
    }
    fn aead_open(
        &self,
        _key: &AeadKey,
        _counter: u64,
        _aad: &[u8],
        _in_out: &mut [u8],
        _tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        todo!()
    }
    fn transport_cipher(&self, _key: &AeadKey) -> Box<dyn TransportCipher> {
        todo!()
    }
    fn xaead_seal(
        &self,
        _key: &AeadKey,
        _nonce: &[u8; XNONCE_LEN],
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        todo!()
    }
    fn xaead_open(
        &self,
        _key: &AeadKey,
        _nonce: &[u8; XNONCE_LEN],
        _aad: &[u8],
        _in_out: &mut [u8],
        _tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        todo!()
    }
}
