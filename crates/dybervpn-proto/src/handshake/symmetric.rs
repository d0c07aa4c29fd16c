//! The Noise symmetric state: the chaining key `C` and the transcript hash
//! `H`, and the operations on them the key schedule is written in
//! (`docs/protocol.md` §3): `HASH`, `KDF1..3`, mix-hash, mix-key, the AEAD
//! steps and `Split`.

use dybervpn_crypto::{AeadKey, CryptoBackend, PresharedKey, Secret, AEAD_TAG_LEN};
use zeroize::Zeroizing;

use crate::error::{from_crypto, ProtoError};
use crate::Mode;

/// Noise protocol name (`Construction`) of each mode.
pub(crate) fn construction(mode: Mode) -> &'static [u8] {
    match mode {
        Mode::Classic => b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
        Mode::Hybrid => b"Noise_IKpsk2+KEM_25519+MLKEM768_ChaChaPoly_BLAKE2s",
        Mode::PqOnly => b"Noise_IKpsk2+KEM+SIG_25519+MLKEM768+MLDSA65_ChaChaPoly_BLAKE2s",
    }
}

/// Prologue (`Identifier`) of each mode.
pub(crate) fn identifier(mode: Mode) -> &'static [u8] {
    match mode {
        Mode::Classic => b"WireGuard v1 zx2c4 Jason@zx2c4.com",
        Mode::Hybrid => b"DyberVPN v1 hybrid",
        Mode::PqOnly => b"DyberVPN v2 pq-only",
    }
}

/// `KDF_n(key, input)` of the WireGuard paper (HKDF over HMAC-BLAKE2s):
/// `τ0 = HMAC(key, input)`, `τ1 = HMAC(τ0, 0x1)`,
/// `τi = HMAC(τ0, τ(i-1) || i)`. Returns `τ1..τn`, `n` ≤ 3.
fn kdf<const N: usize>(b: &dyn CryptoBackend, key: &[u8; 32], input: &[u8]) -> [Secret<32>; N] {
    let t0 = b.hmac(key, &[input]);
    let mut out: [Secret<32>; N] = std::array::from_fn(|_| Secret::default());
    let mut prev: Option<Secret<32>> = None;
    for (i, slot) in out.iter_mut().enumerate() {
        let counter = [(i + 1) as u8];
        let next = match &prev {
            None => b.hmac(t0.expose(), &[&counter]),
            Some(p) => b.hmac(t0.expose(), &[p.expose(), &counter]),
        };
        *slot = next.clone();
        prev = Some(next);
    }
    out
}

/// `C` and `H` of a handshake in progress. Cloned when a step must be
/// attempted without committing (a response that may be forged).
#[derive(Clone)]
pub(crate) struct SymmetricState {
    ck: Secret<32>,
    h: Zeroizing<[u8; 32]>,
    /// Every intermediate value, for the published test vectors.
    #[cfg(test)]
    pub(crate) trace: Vec<(String, Vec<u8>)>,
}

impl SymmetricState {
    /// `C = HASH(Construction)`, `H = HASH(C || Identifier)`,
    /// `H = HASH(H || S_r^pub)`.
    pub(crate) fn new(b: &dyn CryptoBackend, mode: Mode, responder_static: &[u8; 32]) -> Self {
        let ck = b.hash(&[construction(mode)]);
        let h = b.hash(&[&ck, identifier(mode)]);
        let mut s = Self {
            ck: Secret::new(ck),
            h: Zeroizing::new(h),
            #[cfg(test)]
            trace: Vec::new(),
        };
        s.mix_hash(b, responder_static);
        s.note("init");
        s
    }

    /// The current transcript hash.
    pub(crate) fn hash(&self) -> &[u8; 32] {
        &self.h
    }

    /// Records `C` and `H` after the step `label` (test builds only).
    #[cfg(test)]
    pub(crate) fn note(&mut self, label: &str) {
        let (c, h) = (self.ck.expose().to_vec(), self.h.to_vec());
        self.trace.push((format!("{label}.C"), c));
        self.trace.push((format!("{label}.H"), h));
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn note(&mut self, _label: &str) {}

    /// Records an arbitrary value (test builds only).
    #[cfg(test)]
    pub(crate) fn note_value(&mut self, label: &str, value: &[u8]) {
        self.trace.push((label.to_owned(), value.to_vec()));
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn note_value(&mut self, _label: &str, _value: &[u8]) {}

    /// `H = HASH(H || data)`.
    pub(crate) fn mix_hash(&mut self, b: &dyn CryptoBackend, data: &[u8]) {
        *self.h = b.hash(&[&self.h[..], data]);
    }

    /// `C = KDF1(C, input)`.
    pub(crate) fn mix_key(&mut self, b: &dyn CryptoBackend, input: &[u8]) {
        let [c] = kdf::<1>(b, self.ck.expose(), input);
        self.ck = c;
    }

    /// `(C, k) = KDF2(C, input)`; returns `k`.
    pub(crate) fn mix_key_and_key(&mut self, b: &dyn CryptoBackend, input: &[u8]) -> AeadKey {
        let [c, k] = kdf::<2>(b, self.ck.expose(), input);
        self.ck = c;
        k
    }

    /// `(C, τ, k) = KDF3(C, Q)`, `H = HASH(H || τ)`; returns `k`.
    pub(crate) fn mix_psk(&mut self, b: &dyn CryptoBackend, psk: &PresharedKey) -> AeadKey {
        let [c, tau, k] = kdf::<3>(b, self.ck.expose(), psk.expose());
        self.ck = c;
        self.mix_hash(b, tau.expose());
        k
    }

    /// `field = AEAD(k, 0, plaintext, H)`, `H = HASH(H || field)`.
    /// `field` holds the plaintext in all but its last 16 bytes, which
    /// receive the tag; it is encrypted in place.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        b: &dyn CryptoBackend,
        key: &AeadKey,
        field: &mut [u8],
    ) -> Result<(), ProtoError> {
        let split = field
            .len()
            .checked_sub(AEAD_TAG_LEN)
            .ok_or(ProtoError::BadLength)?;
        let (text, tag_out) = field.split_at_mut(split);
        let tag = b
            .aead_seal(key, 0, &self.h[..], text)
            .map_err(ProtoError::Crypto)?;
        tag_out.copy_from_slice(&tag);
        self.mix_hash(b, field);
        Ok(())
    }

    /// Opens `field = AEAD(k, 0, plaintext, H)` and `H = HASH(H || field)`;
    /// returns the plaintext in a zeroizing buffer. `H` is unchanged on
    /// failure.
    pub(crate) fn decrypt_and_hash(
        &mut self,
        b: &dyn CryptoBackend,
        key: &AeadKey,
        field: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ProtoError> {
        let split = field
            .len()
            .checked_sub(AEAD_TAG_LEN)
            .ok_or(ProtoError::BadLength)?;
        let (text, tag) = field.split_at(split);
        let tag: &[u8; AEAD_TAG_LEN] = tag.try_into().map_err(|_| ProtoError::BadLength)?;
        let mut plain = Zeroizing::new(text.to_vec());
        b.aead_open(key, 0, &self.h[..], &mut plain, tag)
            .map_err(|e| match e {
                dybervpn_crypto::CryptoError::Decryption => ProtoError::Decryption,
                other => from_crypto(other),
            })?;
        self.mix_hash(b, field);
        Ok(plain)
    }

    /// `(T1, T2) = KDF2(C, ε)`: the initiator's sending key and the
    /// responder's sending key.
    pub(crate) fn split(&self, b: &dyn CryptoBackend) -> (AeadKey, AeadKey) {
        let [t1, t2] = kdf::<2>(b, self.ck.expose(), &[]);
        (t1, t2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_matches_its_definition() {
        let b = crate::insecure_backend::InsecureTestBackend::new(0);
        let key = [7u8; 32];
        let [a1, a2, a3] = kdf::<3>(&b, &key, b"input");
        let t0 = b.hmac(&key, &[b"input"]);
        let t1 = b.hmac(t0.expose(), &[&[1]]);
        let t2 = b.hmac(t0.expose(), &[t1.expose(), &[2]]);
        let t3 = b.hmac(t0.expose(), &[t2.expose(), &[3]]);
        assert_eq!(a1, t1);
        assert_eq!(a2, t2);
        assert_eq!(a3, t3);
        let [only] = kdf::<1>(&b, &key, b"input");
        assert_eq!(only, t1);
    }

    #[test]
    fn classic_initial_state_is_wireguards() {
        // HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s") as published by
        // WireGuard implementations (the kernel's handshake_init_chaining_key).
        let b = crate::insecure_backend::InsecureTestBackend::new(0);
        let ck = b.hash(&[construction(Mode::Classic)]);
        assert_eq!(
            hex::encode(ck),
            "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
        );
    }
}
