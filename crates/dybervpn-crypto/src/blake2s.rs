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

/// `out[i] = MAC(key, inputs[i])` for each `i` below the shorter length.
///
/// One message goes through [`mac`]. Several go through `blake2s_simd`'s
/// `hash_many`, which runs up to eight BLAKE2s instances side by side in
/// one set of SIMD registers (AVX2; fewer lanes with SSE4.1, one at a time
/// without either). On 1,300-byte messages, eight at once cost about a
/// quarter of eight one after the other (`docs/performance.md`, "Floods").
/// Where that matters: a flood of handshake messages, each of which must
/// pass mac1 before anything else.
pub fn mac_many(key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
    if let ([one], [first, ..]) = (inputs, &mut *out) {
        *first = mac(key, &[one]);
        return;
    }
    let mut params = blake2s_simd::Params::new();
    params.hash_length(16).key(key);
    // Jobs live on the stack, eight at a time: no allocation per batch.
    for (inputs, out) in inputs.chunks(8).zip(out.chunks_mut(8)) {
        let mut jobs: [Option<blake2s_simd::many::HashManyJob<'_>>; 8] = Default::default();
        for (job, input) in jobs.iter_mut().zip(inputs) {
            *job = Some(blake2s_simd::many::HashManyJob::new(&params, input));
        }
        blake2s_simd::many::hash_many(jobs.iter_mut().flatten());
        for (job, mac) in jobs.iter().flatten().zip(out.iter_mut()) {
            mac.copy_from_slice(job.to_hash().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes, different for each `seed`.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// The batch gives what one MAC at a time gives, for every batch size
    /// around the SIMD width and message lengths around the 64-byte block
    /// (mac1 covers 116 to 4,609 bytes; the batch may mix lengths).
    #[test]
    fn mac_many_agrees_with_mac() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0x5a);
        let lengths = [0, 1, 63, 64, 65, 116, 1300, 1_148, 4_609];
        for count in 0..=17 {
            let inputs: Vec<Vec<u8>> = (0..count)
                .map(|i| bytes(lengths[i % lengths.len()], i as u8))
                .collect();
            let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let mut out = vec![[0u8; 16]; count];
            mac_many(&key, &refs, &mut out);
            for (input, got) in refs.iter().zip(&out) {
                assert_eq!(
                    *got,
                    mac(&key, &[input]),
                    "{count} inputs, {} bytes",
                    input.len()
                );
            }
        }
    }

    /// A shorter output slice bounds the work; the rest is left alone.
    #[test]
    fn mac_many_stops_at_the_shorter_slice() {
        let key = [9u8; 32];
        let a = bytes(100, 1);
        let b = bytes(200, 2);
        let mut out = [[0xeeu8; 16]; 1];
        mac_many(&key, &[&a, &b], &mut out);
        assert_eq!(out[0], mac(&key, &[&a]));
        let mut out = [[0xeeu8; 16]; 3];
        mac_many(&key, &[&a, &b], &mut out);
        assert_eq!(out[1], mac(&key, &[&b]));
        assert_eq!(out[2], [0xee; 16]);
    }
}
