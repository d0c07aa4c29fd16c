//! The generator's side of the cookie mechanism: mac2 with a cookie, and
//! opening a cookie reply (`docs/protocol.md` §5). The core has no call
//! that adds mac2 to a message built earlier, so the generator does it.
#![forbid(unsafe_code)]

use dybervpn_crypto::{CryptoBackend, Secret, AEAD_TAG_LEN};
use dybervpn_proto::messages::{CookieReply, MAC_LEN};

/// `MAC(cookie, msg[..mac2])`: keyed BLAKE2s-128 with the 16-byte cookie as
/// its key (`docs/protocol.md` §5).
pub fn mac2(cookie: &[u8; MAC_LEN], covered: &[u8]) -> [u8; MAC_LEN] {
    use blake2::digest::{consts::U16, FixedOutput, KeyInit, Update};
    match <blake2::Blake2sMac<U16> as KeyInit>::new_from_slice(cookie) {
        Ok(mut state) => {
            state.update(covered);
            state.finalize_fixed().into()
        }
        // A 16-byte key is always within BLAKE2s's limit of 32.
        Err(_) => [0; MAC_LEN],
    }
}

/// Decrypts the cookie in a reply to the initiation whose mac1 is `mac1`.
pub fn open_cookie(
    b: &dyn CryptoBackend,
    cookie_key: &Secret<32>,
    reply: &CookieReply<'_>,
    mac1: &[u8],
) -> Option<[u8; MAC_LEN]> {
    let mut cookie = [0u8; MAC_LEN];
    cookie.copy_from_slice(&reply.encrypted_cookie[..MAC_LEN]);
    let tag: &[u8; AEAD_TAG_LEN] = reply.encrypted_cookie[MAC_LEN..].try_into().ok()?;
    b.xaead_open(cookie_key, reply.nonce, mac1, &mut cookie, tag)
        .ok()?;
    Some(cookie)
}
