//! A deliberately insecure [`CryptoBackend`] for fuzzing and fast unit tests.
//!
//! **Never use it to protect anything.** Every primitive is a cheap,
//! deterministic stand-in that keeps the algebra the protocol relies on
//! (Diffie-Hellman commutes, decapsulation inverts encapsulation, signatures
//! verify under the matching public key) so that a fuzzer can reach deep
//! protocol states:
//!
//! * AEAD "encryption" is the identity and the tag is all zeros, so a fuzzer
//!   can write a valid encrypted field by hand;
//! * `MAC` (mac1, mac2, cookies) is all zeros;
//! * randomness is a counter.
//!
//! `HASH` and `HMAC` stay real BLAKE2s (the key schedule is unchanged).

use std::sync::atomic::{AtomicU64, Ordering};

use dybervpn_crypto::{
    AeadKey, CryptoBackend, CryptoError, MlDsaKeyPair, MlDsaPublicKey, MlDsaSeed, MlDsaSignature,
    MlKemCiphertext, MlKemDecapsKey, MlKemEncapsKey, Secret, SharedSecret, TransportCipher,
    X25519PublicKey, X25519SecretKey, AEAD_TAG_LEN, MLDSA65_PK_LEN, MLDSA65_SIG_LEN,
    MLKEM768_CT_LEN, MLKEM768_DK_LEN, MLKEM768_EK_LEN, XNONCE_LEN,
};

/// The insecure test backend (see the module documentation).
#[derive(Debug, Default)]
pub struct InsecureTestBackend {
    counter: AtomicU64,
}

impl InsecureTestBackend {
    /// A backend whose "randomness" starts from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            counter: AtomicU64::new(seed.wrapping_mul(1 << 32)),
        }
    }
}

fn blake(parts: &[&[u8]]) -> [u8; 32] {
    dybervpn_crypto::blake2s::hash(parts)
}

fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    blake(&[b"insecure x25519 public", secret])
}

fn expand(seed: &[u8], out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let block = blake(&[seed, &(i as u64).to_le_bytes()]);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

struct IdentityCipher;

impl TransportCipher for IdentityCipher {
    fn seal(&self, _counter: u64, _in_out: &mut [u8]) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        Ok([0; AEAD_TAG_LEN])
    }
    fn open(&self, _c: u64, _io: &mut [u8], tag: &[u8; AEAD_TAG_LEN]) -> Result<(), CryptoError> {
        if *tag == [0; AEAD_TAG_LEN] {
            Ok(())
        } else {
            Err(CryptoError::Decryption)
        }
    }
}

impl CryptoBackend for InsecureTestBackend {
    fn name(&self) -> &'static str {
        "insecure-test"
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        expand(&n.to_le_bytes(), out);
        Ok(())
    }

    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
        let mut s = [0u8; 32];
        self.fill_random(&mut s)?;
        let public = X25519PublicKey(public_of(&s));
        Ok((X25519SecretKey::from_bytes(s), public))
    }

    fn x25519_public_key(&self, secret: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
        Ok(X25519PublicKey(public_of(secret.expose())))
    }

    fn x25519(
        &self,
        secret: &X25519SecretKey,
        peer: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        let mine = public_of(secret.expose());
        let (a, b) = if mine <= peer.0 {
            (mine, peer.0)
        } else {
            (peer.0, mine)
        };
        if peer.0 == [0; 32] {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(Secret::new(blake(&[b"insecure dh", &a, &b])))
    }

    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
        let mut ek = Box::new([0u8; MLKEM768_EK_LEN]);
        self.fill_random(&mut ek[..32])?;
        let mut dk = Secret::<MLKEM768_DK_LEN>::default();
        dk.expose_mut()[..MLKEM768_EK_LEN].copy_from_slice(&ek[..]);
        Ok((MlKemDecapsKey(Box::new(dk)), MlKemEncapsKey(ek)))
    }

    fn mlkem_check_encaps_key(&self, _ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
        Ok(())
    }

    fn mlkem_encapsulate(
        &self,
        ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
        // ct = r || 0...; K = HASH(ek || r).
        let mut ct = Box::new([0u8; MLKEM768_CT_LEN]);
        self.fill_random(&mut ct[..32])?;
        let k = blake(&[b"insecure kem", &ek.0[..], &ct[..]]);
        Ok((MlKemCiphertext(ct), Secret::new(k)))
    }

    fn mlkem_decapsulate(
        &self,
        dk: &MlKemDecapsKey,
        ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError> {
        let ek = &dk.0.expose()[..MLKEM768_EK_LEN];
        Ok(Secret::new(blake(&[b"insecure kem", ek, &ct.0[..]])))
    }

    fn mldsa_from_seed(&self, seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
        let mut public = Box::new([0u8; MLDSA65_PK_LEN]);
        expand(&blake(&[b"insecure mldsa", seed.expose()]), &mut public[..]);
        Ok(MlDsaKeyPair {
            seed: seed.clone(),
            expanded: Box::default(),
            public: MlDsaPublicKey(public),
        })
    }

    fn mldsa_sign(
        &self,
        key: &MlDsaKeyPair,
        context: &[u8],
        message: &[u8],
    ) -> Result<MlDsaSignature, CryptoError> {
        let mut sig = Box::new([0u8; MLDSA65_SIG_LEN]);
        sig[..32].copy_from_slice(&blake(&[&key.public.0[..], context, message]));
        Ok(MlDsaSignature(sig))
    }

    fn mldsa_verify(
        &self,
        public: &MlDsaPublicKey,
        context: &[u8],
        message: &[u8],
        signature: &MlDsaSignature,
    ) -> Result<(), CryptoError> {
        if signature.0[..32] == blake(&[&public.0[..], context, message]) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    fn aead_seal(
        &self,
        _key: &AeadKey,
        _counter: u64,
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        Ok([0; AEAD_TAG_LEN])
    }

    fn aead_open(
        &self,
        _key: &AeadKey,
        counter: u64,
        _aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        IdentityCipher.open(counter, in_out, tag)
    }

    fn transport_cipher(&self, _key: &AeadKey) -> Box<dyn TransportCipher> {
        Box::new(IdentityCipher)
    }

    fn xaead_seal(
        &self,
        _key: &AeadKey,
        _nonce: &[u8; XNONCE_LEN],
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], CryptoError> {
        Ok([0; AEAD_TAG_LEN])
    }

    fn xaead_open(
        &self,
        _key: &AeadKey,
        _nonce: &[u8; XNONCE_LEN],
        _aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), CryptoError> {
        IdentityCipher.open(0, in_out, tag)
    }

    fn mac(&self, _key: &[u8; 32], _parts: &[&[u8]]) -> [u8; 16] {
        [0; 16]
    }

    fn mac_many(&self, _key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
        for mac in out.iter_mut().take(inputs.len()) {
            *mac = [0; 16];
        }
    }
}
