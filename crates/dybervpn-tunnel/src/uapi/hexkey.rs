//! Hex encoding of keys as the userspace API spells them.
#![forbid(unsafe_code)]

use dybervpn_crypto::{MlDsaPublicKey, MLDSA65_PK_LEN};
use zeroize::Zeroizing;

/// Decodes exactly 64 hex digits (either case) into 32 bytes.
pub(crate) fn decode32(text: &str) -> Result<[u8; 32], String> {
    if text.len() != 64 {
        return Err(format!(
            "expected 64 hex digits, got {} characters",
            text.len()
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| "not hexadecimal".to_owned())?;
    Ok(out)
}

/// Whether all bytes are zero (the API's "no key").
pub(crate) fn is_zero(bytes: &[u8; 32]) -> bool {
    bytes.iter().fold(0u8, |acc, b| acc | b) == 0
}

/// Lowercase hex of public bytes.
pub(crate) fn encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Lowercase hex of secret bytes, wiped on drop.
pub(crate) fn encode_secret(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(hex::encode(bytes))
}

/// An ML-DSA-65 public key given as hex (3904 digits) or standard base64.
pub(crate) fn decode_mldsa_public(text: &str) -> Result<MlDsaPublicKey, String> {
    if text.len() == 2 * MLDSA65_PK_LEN {
        let mut out = Box::new([0u8; MLDSA65_PK_LEN]);
        hex::decode_to_slice(text, &mut out[..]).map_err(|_| "not hexadecimal".to_owned())?;
        return Ok(MlDsaPublicKey(out));
    }
    MlDsaPublicKey::from_base64("dybervpn_mldsa_public_key", text).map_err(|e| {
        format!(
            "expected {} hex digits or base64 of {MLDSA65_PK_LEN} bytes: {e}",
            2 * MLDSA65_PK_LEN
        )
    })
}
