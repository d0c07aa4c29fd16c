//! BLAKE2s (RFC 7693) as WireGuard uses it: `HASH`, `HMAC` and `MAC`.
//! Both backends share this implementation from the `blake2` crate.

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Mac, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use hmac::SimpleHmac;

use crate::types::Secret;

/// `HASH(parts[0] || parts[1] || ...)`: BLAKE2s-256.
#[must_use]
pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = Blake2s256::new();
    for part in parts {
        Digest::update(&mut state, part);
    }
    state.finalize().into()
}

/// `HMAC(key, parts[0] || ...)`: HMAC (RFC 2104) over BLAKE2s-256.
#[must_use]
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> Secret<32> {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut state = <SimpleHmac<Blake2s256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        Mac::update(&mut state, part);
    }
    let mut out = Secret::<32>::default();
    out.expose_mut()
        .copy_from_slice(&state.finalize().into_bytes());
    out
}

/// `MAC(key, parts[0] || ...)`: keyed BLAKE2s with a 16-byte output.
#[must_use]
pub fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
    let mut state = <Blake2sMac<U16> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("a 32-byte key is within BLAKE2s's limit"));
    for part in parts {
        Update::update(&mut state, part);
    }
    state.finalize_fixed().into()
}
