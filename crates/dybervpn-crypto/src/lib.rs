//! DyberVPN's cryptography: every primitive the protocol uses, behind the
//! [`CryptoBackend`] trait, with fixed-size key and wire types.
//!
//! Two interchangeable backends are provided and selectable at run time
//! ([`BackendKind`]):
//!
//! * [`AwsLcBackend`] (`aws-lc`, the default) — X25519, ML-KEM-768 and
//!   ChaCha20-Poly1305 from `aws-lc-rs`.
//! * [`LibcruxBackend`] (`libcrux`) — ML-KEM-768 from `libcrux-ml-kem`,
//!   X25519 from `x25519-dalek`, ChaCha20-Poly1305 from RustCrypto.
//!
//! In both, ML-DSA-65 comes from `libcrux-ml-dsa` (aws-lc-rs 1.19 signs only
//! with an empty FIPS 204 context string, and the protocol needs one) and
//! BLAKE2s from the `blake2` crate. aws-lc-rs has no XChaCha20-Poly1305: the
//! `aws-lc` backend composes it from RustCrypto's HChaCha20 and aws-lc's
//! ChaCha20-Poly1305, the `libcrux` backend takes RustCrypto's. See
//! `docs/architecture.md` for the reasons.
//!
//! Nothing here does I/O except drawing randomness from the operating system.
#![forbid(unsafe_code)]

mod aws_lc;
mod backend;
pub mod blake2s;
pub mod encoding;
mod error;
mod libcrux;
mod shared;
pub mod types;

pub use aws_lc::AwsLcBackend;
pub use backend::{backend, BackendKind, CryptoBackend, TransportCipher};
pub use encoding::KeyError;
pub use error::CryptoError;
pub use libcrux::LibcruxBackend;
pub use types::*;
