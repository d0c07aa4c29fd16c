//! Helpers shared by the integration tests.
#![allow(dead_code)]

use dybervpn_crypto::{AwsLcBackend, CryptoBackend, LibcruxBackend};

/// Both real backends, by name.
pub fn backends() -> Vec<Box<dyn CryptoBackend>> {
    vec![
        Box::new(AwsLcBackend::new()),
        Box::new(LibcruxBackend::new()),
    ]
}

/// Every ordered pair (a, b) of backends, including a backend with itself.
pub fn pairs() -> Vec<(Box<dyn CryptoBackend>, Box<dyn CryptoBackend>)> {
    let mut all = Vec::new();
    for i in 0..2 {
        for j in 0..2 {
            all.push((backends().remove(i), backends().remove(j)));
        }
    }
    all
}

/// Decodes hex (whitespace ignored), panicking with a message on bad input.
pub fn unhex(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test vector is valid hex")
}

/// Decodes hex into a fixed-size array.
pub fn unhex_array<const N: usize>(text: &str) -> [u8; N] {
    unhex(text)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes, got {}", v.len()))
}
