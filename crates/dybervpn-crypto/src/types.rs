//! Fixed-size key and wire types.
//!
//! Public values are plain byte arrays in newtypes. Secret values live in
//! [`Secret`], which zeroizes on drop, compares in constant time and never
//! prints its contents.

use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// X25519 public and private key length.
pub const X25519_KEY_LEN: usize = 32;
/// Length of every 32-byte shared secret (X25519, ML-KEM-768).
pub const SHARED_SECRET_LEN: usize = 32;
/// ML-KEM-768 encapsulation key length (FIPS 203, k = 3).
pub const MLKEM768_EK_LEN: usize = 1184;
/// ML-KEM-768 decapsulation key length, FIPS 203 encoding.
pub const MLKEM768_DK_LEN: usize = 2400;
/// ML-KEM-768 ciphertext length.
pub const MLKEM768_CT_LEN: usize = 1088;
/// ML-DSA-65 key-generation seed length (FIPS 204 ξ).
pub const MLDSA65_SEED_LEN: usize = 32;
/// ML-DSA-65 public key length.
pub const MLDSA65_PK_LEN: usize = 1952;
/// ML-DSA-65 expanded private key length, FIPS 204 encoding.
pub const MLDSA65_SK_LEN: usize = 4032;
/// ML-DSA-65 signature length.
pub const MLDSA65_SIG_LEN: usize = 3309;
/// Poly1305 tag length.
pub const AEAD_TAG_LEN: usize = 16;
/// ChaCha20-Poly1305 key length.
pub const AEAD_KEY_LEN: usize = 32;
/// XChaCha20-Poly1305 nonce length.
pub const XNONCE_LEN: usize = 24;

/// A secret byte string of fixed length: zeroized on drop, compared in
/// constant time, redacted in `Debug`.
#[derive(Clone)]
pub struct Secret<const N: usize>(Zeroizing<[u8; N]>);

impl<const N: usize> Default for Secret<N> {
    fn default() -> Self {
        Self(Zeroizing::new([0u8; N]))
    }
}

impl<const N: usize> Secret<N> {
    /// Takes ownership of `bytes` (the caller's copy should be zeroized if it
    /// lives on).
    #[must_use]
    pub fn new(bytes: [u8; N]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies a slice of exactly `N` bytes; `None` for any other length.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut out = Self::default();
        if bytes.len() != N {
            return None;
        }
        out.0.copy_from_slice(bytes);
        Some(out)
    }

    /// The secret bytes. Keep the borrow short.
    #[must_use]
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }

    /// Mutable access, for filling a secret in place.
    pub fn expose_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }
}

impl<const N: usize> ConstantTimeEq for Secret<N> {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0[..].ct_eq(&other.0[..])
    }
}

impl<const N: usize> PartialEq for Secret<N> {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl<const N: usize> Eq for Secret<N> {}

impl<const N: usize> fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret<{N}>(redacted)")
    }
}

/// A 32-byte shared secret from X25519 or ML-KEM-768.
pub type SharedSecret = Secret<SHARED_SECRET_LEN>;

/// A ChaCha20-Poly1305 key.
pub type AeadKey = Secret<AEAD_KEY_LEN>;

macro_rules! secret_newtype {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Secret<{ $len }>);

        impl $name {
            /// Wraps raw secret bytes.
            #[must_use]
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(Secret::new(bytes))
            }

            /// The raw secret bytes.
            #[must_use]
            pub fn expose(&self) -> &[u8; $len] {
                self.0.expose()
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(redacted)"))
            }
        }
    };
}

/// An X25519 private key (static or ephemeral), in the 32-byte form
/// WireGuard uses. Clamping happens inside the scalar multiplication.
///
/// Beside the bytes, a backend may keep its own imported form of the key
/// ([`X25519SecretKey::use_imported`]), made on first use and dropped with the
/// key. aws-lc computes the public key whenever it imports a private key,
/// which costs a third of an agreement; keeping the import makes the second
/// and later agreements with the same key (the static key's every
/// handshake, an ephemeral's second) pay for the agreement alone. An
/// imported form must wipe its copy of the secret when dropped.
pub struct X25519SecretKey {
    bytes: Secret<X25519_KEY_LEN>,
    imported: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl X25519SecretKey {
    /// Wraps raw secret bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; X25519_KEY_LEN]) -> Self {
        Self {
            bytes: Secret::new(bytes),
            imported: OnceLock::new(),
        }
    }

    /// Wraps raw secret bytes together with a backend's imported form of
    /// them, for a backend that had to import them anyway (key generation).
    #[must_use]
    pub fn with_imported<T: Any + Send + Sync>(bytes: [u8; X25519_KEY_LEN], imported: T) -> Self {
        Self {
            bytes: Secret::new(bytes),
            imported: OnceLock::from(Box::new(imported) as Box<dyn Any + Send + Sync>),
        }
    }

    /// The raw secret bytes.
    #[must_use]
    pub fn expose(&self) -> &[u8; X25519_KEY_LEN] {
        self.bytes.expose()
    }

    /// Calls `f` with the backend's imported form of this key: the one
    /// kept from an earlier call, or a fresh one from `import`, which is
    /// kept for later calls if nothing was kept yet. While another
    /// backend's form is kept, every call imports afresh.
    pub fn use_imported<T: Any + Send + Sync, R, E>(
        &self,
        import: impl Fn(&[u8; X25519_KEY_LEN]) -> Result<T, E>,
        f: impl FnOnce(&T) -> Result<R, E>,
    ) -> Result<R, E> {
        if self.imported.get().is_none() {
            // If another thread keeps its import first, ours is dropped.
            let _ = self.imported.set(Box::new(import(self.expose())?));
        }
        match self.kept::<T>() {
            Some(kept) => f(kept),
            None => f(&import(self.expose())?),
        }
    }

    fn kept<T: Any>(&self) -> Option<&T> {
        self.imported
            .get()
            .and_then(|form| form.downcast_ref::<T>())
    }
}

/// A clone has the bytes only; its backend imports them again on first use.
impl Clone for X25519SecretKey {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            imported: OnceLock::new(),
        }
    }
}

impl ConstantTimeEq for X25519SecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.bytes.ct_eq(&other.bytes)
    }
}

impl PartialEq for X25519SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for X25519SecretKey {}

impl fmt::Debug for X25519SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("X25519SecretKey(redacted)")
    }
}

secret_newtype!(
    /// WireGuard's optional 32-byte pre-shared symmetric key.
    PresharedKey,
    32
);

secret_newtype!(
    /// The 32-byte seed ξ from which an ML-DSA-65 key pair is derived
    /// (FIPS 204 `ML-DSA.KeyGen_internal`). This is what configurations store.
    MlDsaSeed,
    MLDSA65_SEED_LEN
);

/// An X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct X25519PublicKey(pub [u8; X25519_KEY_LEN]);

impl X25519PublicKey {
    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; X25519_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for X25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "X25519PublicKey({})",
            crate::encoding::to_base64(&self.0)
        )
    }
}

macro_rules! boxed_public {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(pub Box<[u8; $len]>);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Copies a slice of exactly `Self::LEN` bytes; `None` otherwise.
            #[must_use]
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                let array: &[u8; $len] = bytes.try_into().ok()?;
                Some(Self(Box::new(*array)))
            }

            /// The raw bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!(stringify!($name), "({})"),
                    crate::encoding::fingerprint(&self.0[..])
                )
            }
        }
    };
}

boxed_public!(
    /// An ML-KEM-768 encapsulation key (public).
    MlKemEncapsKey,
    MLKEM768_EK_LEN
);
boxed_public!(
    /// An ML-KEM-768 ciphertext.
    MlKemCiphertext,
    MLKEM768_CT_LEN
);
boxed_public!(
    /// An ML-DSA-65 public key.
    MlDsaPublicKey,
    MLDSA65_PK_LEN
);
boxed_public!(
    /// An ML-DSA-65 signature.
    MlDsaSignature,
    MLDSA65_SIG_LEN
);

/// An ML-KEM-768 decapsulation key in its FIPS 203 byte encoding, so a key
/// made by one backend can be used by the other.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKemDecapsKey(pub Box<Secret<MLKEM768_DK_LEN>>);

impl fmt::Debug for MlKemDecapsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MlKemDecapsKey(redacted)")
    }
}

/// An ML-DSA-65 signing key: the seed it came from, its expanded FIPS 204
/// private key, and its public key.
#[derive(Clone)]
pub struct MlDsaKeyPair {
    /// The seed the pair was derived from.
    pub seed: MlDsaSeed,
    /// The expanded private key (FIPS 204 `skEncode`).
    pub expanded: Box<Secret<MLDSA65_SK_LEN>>,
    /// The public key.
    pub public: MlDsaPublicKey,
}

impl fmt::Debug for MlDsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlDsaKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Zeroizes a plain array in place; for temporaries that cannot be wrapped.
pub fn wipe<const N: usize>(bytes: &mut [u8; N]) {
    bytes.zeroize();
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// An import that counts its calls and fails when told to.
    fn counting(calls: &Cell<u32>, fail: bool) -> impl Fn(&[u8; 32]) -> Result<[u8; 32], ()> + '_ {
        move |bytes| {
            calls.set(calls.get() + 1);
            if fail {
                Err(())
            } else {
                Ok(*bytes)
            }
        }
    }

    #[test]
    fn a_secret_key_is_imported_once_and_its_clone_again() {
        let calls = Cell::new(0);
        let key = X25519SecretKey::from_bytes([3; 32]);
        for _ in 0..3 {
            let seen = key.use_imported(counting(&calls, false), |form| Ok(form[0]));
            assert_eq!(seen, Ok(3));
        }
        assert_eq!(calls.get(), 1, "the first import is kept");

        let copy = key.clone();
        assert_eq!(copy, key);
        copy.use_imported(counting(&calls, false), |_| Ok(()))
            .expect("import");
        assert_eq!(calls.get(), 2, "a clone imports for itself");
    }

    #[test]
    fn a_failed_import_is_not_kept_and_is_tried_again() {
        let calls = Cell::new(0);
        let key = X25519SecretKey::from_bytes([5; 32]);
        assert_eq!(
            key.use_imported(counting(&calls, true), |_| Ok(())),
            Err(())
        );
        let seen = key.use_imported(counting(&calls, false), |form| Ok(form[0]));
        assert_eq!((seen, calls.get()), (Ok(5), 2));
    }

    #[test]
    fn another_backends_form_stays_and_this_one_imports_each_time() {
        let calls = Cell::new(0);
        let key = X25519SecretKey::with_imported([9; 32], "another backend's form");
        for _ in 0..2 {
            key.use_imported(counting(&calls, false), |form| {
                assert_eq!(form, &[9; 32]);
                Ok(())
            })
            .expect("import");
        }
        assert_eq!(calls.get(), 2);
        let kept = key.use_imported(|_| Err(()), |form: &&str| Ok(*form));
        assert_eq!(kept, Ok("another backend's form"), "kept, not replaced");
    }
}
