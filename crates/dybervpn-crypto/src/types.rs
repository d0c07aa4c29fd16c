//! Fixed-size key and wire types.
//!
//! Public values are plain byte arrays in newtypes. Secret values live in
//! [`Secret`], which zeroizes on drop, compares in constant time and never
//! prints its contents.

use std::fmt;

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

secret_newtype!(
    /// An X25519 private key (static or ephemeral), in the 32-byte form
    /// WireGuard uses. Clamping happens inside the scalar multiplication.
    X25519SecretKey,
    X25519_KEY_LEN
);

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
