#![no_main]
//! Every base64 key decoder (what a configuration, a key file or `pubkey`'s
//! standard input holds) never panics, and a key it accepts encodes back to
//! the same text, whitespace aside.
use dybervpn_crypto::{MlDsaPublicKey, MlDsaSeed, PresharedKey, X25519PublicKey, X25519SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = text.trim();
    if let Ok(k) = X25519PublicKey::from_base64("key", text) {
        assert_eq!(k.to_base64(), trimmed);
    }
    if let Ok(k) = X25519SecretKey::from_base64("key", text) {
        assert_eq!(k.to_base64().as_str(), trimmed);
    }
    if let Ok(k) = PresharedKey::from_base64("key", text) {
        assert_eq!(k.to_base64().as_str(), trimmed);
    }
    if let Ok(k) = MlDsaSeed::from_base64("key", text) {
        assert_eq!(k.to_base64().as_str(), trimmed);
    }
    if let Ok(k) = MlDsaPublicKey::from_base64("key", text) {
        assert_eq!(k.to_base64(), trimmed);
    }
});
