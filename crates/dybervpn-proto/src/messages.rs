//! The message codec: type numbers, sizes and byte layouts of every message
//! (`docs/protocol.md` §2), and zero-copy parsers for the handshake and
//! cookie messages. All integers are little-endian. The first four bytes of
//! every message are the type as a 32-bit little-endian integer, that is the
//! type byte followed by three zero (reserved) bytes.
//!
//! Parsers only check lengths and the type; they never decrypt or verify.

use dybervpn_crypto::{
    AEAD_TAG_LEN, MLDSA65_SIG_LEN, MLKEM768_CT_LEN, MLKEM768_EK_LEN, XNONCE_LEN,
};

use crate::constants;
use crate::error::ProtoError;
use crate::Mode;

pub use crate::constants::{
    MSG_COOKIE_REPLY, MSG_HYBRID_INITIATION, MSG_HYBRID_RESPONSE, MSG_INITIATION,
    MSG_PQ_INITIATION, MSG_PQ_RESPONSE, MSG_RESPONSE, MSG_TRANSPORT,
};

/// Length of mac1 and mac2.
pub const MAC_LEN: usize = 16;
/// Length of a TAI64N timestamp.
pub const TIMESTAMP_LEN: usize = 12;
/// Cookie reply length.
pub const COOKIE_REPLY_LEN: usize = constants::COOKIE_REPLY_SIZE;
/// Transport header: type(4) receiver(4) counter(8).
pub const TRANSPORT_HEADER_LEN: usize = constants::TRANSPORT_HEADER_SIZE;
/// Smallest transport message (an empty keepalive).
pub const TRANSPORT_MIN_LEN: usize = constants::KEEPALIVE_SIZE;

/// The byte layout of an initiation in one mode: offsets of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiationLayout {
    /// Message type byte.
    pub msg_type: u8,
    /// Total length.
    pub len: usize,
    /// Offset of the `kem_ek` field (hybrid and pq-only).
    pub kem_ek: Option<usize>,
    /// Offset of `encrypted_static`.
    pub encrypted_static: usize,
    /// Offset of `encrypted_timestamp`.
    pub encrypted_timestamp: usize,
    /// Length of `encrypted_timestamp` (28 or 3337).
    pub encrypted_timestamp_len: usize,
    /// Offset of mac1 (mac2 follows it).
    pub mac1: usize,
}

/// The byte layout of a response in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLayout {
    /// Message type byte.
    pub msg_type: u8,
    /// Total length.
    pub len: usize,
    /// Offset of the `kem_ct` field (hybrid and pq-only).
    pub kem_ct: Option<usize>,
    /// Offset of `encrypted_nothing` (classic, hybrid) or the encrypted
    /// signature (pq-only).
    pub encrypted_payload: usize,
    /// Length of that field (16 or 3325).
    pub encrypted_payload_len: usize,
    /// Offset of mac1 (mac2 follows it).
    pub mac1: usize,
}

/// Offset of the sender index in both handshake messages.
pub const SENDER_OFFSET: usize = 4;
/// Offset of the receiver index in responses (in cookie replies and
/// transport messages it is at 4).
pub const RECEIVER_OFFSET: usize = 8;
/// Offset of the ephemeral key in initiations.
pub const INITIATION_EPHEMERAL_OFFSET: usize = 8;
/// Offset of the ephemeral key in responses.
pub const RESPONSE_EPHEMERAL_OFFSET: usize = 12;

const fn initiation_layout_for(msg_type: u8, kem: bool, sig: bool) -> InitiationLayout {
    let after_e = INITIATION_EPHEMERAL_OFFSET + 32;
    let encrypted_static = if kem {
        after_e + MLKEM768_EK_LEN
    } else {
        after_e
    };
    let encrypted_timestamp = encrypted_static + 32 + AEAD_TAG_LEN;
    let encrypted_timestamp_len =
        TIMESTAMP_LEN + if sig { MLDSA65_SIG_LEN } else { 0 } + AEAD_TAG_LEN;
    let mac1 = encrypted_timestamp + encrypted_timestamp_len;
    InitiationLayout {
        msg_type,
        len: mac1 + 2 * MAC_LEN,
        kem_ek: if kem { Some(after_e) } else { None },
        encrypted_static,
        encrypted_timestamp,
        encrypted_timestamp_len,
        mac1,
    }
}

const fn response_layout_for(msg_type: u8, kem: bool, sig: bool) -> ResponseLayout {
    let after_e = RESPONSE_EPHEMERAL_OFFSET + 32;
    let encrypted_payload = if kem {
        after_e + MLKEM768_CT_LEN
    } else {
        after_e
    };
    let encrypted_payload_len = if sig { MLDSA65_SIG_LEN } else { 0 } + AEAD_TAG_LEN;
    let mac1 = encrypted_payload + encrypted_payload_len;
    ResponseLayout {
        msg_type,
        len: mac1 + 2 * MAC_LEN,
        kem_ct: if kem { Some(after_e) } else { None },
        encrypted_payload,
        encrypted_payload_len,
        mac1,
    }
}

/// The initiation layout of a mode.
#[must_use]
pub const fn initiation_layout(mode: Mode) -> InitiationLayout {
    match mode {
        Mode::Classic => initiation_layout_for(MSG_INITIATION, false, false),
        Mode::Hybrid => initiation_layout_for(MSG_HYBRID_INITIATION, true, false),
        Mode::PqOnly => initiation_layout_for(MSG_PQ_INITIATION, true, true),
    }
}

/// The response layout of a mode.
#[must_use]
pub const fn response_layout(mode: Mode) -> ResponseLayout {
    match mode {
        Mode::Classic => response_layout_for(MSG_RESPONSE, false, false),
        Mode::Hybrid => response_layout_for(MSG_HYBRID_RESPONSE, true, false),
        Mode::PqOnly => response_layout_for(MSG_PQ_RESPONSE, true, true),
    }
}

/// Classic initiation length (148).
pub const INITIATION_LEN: usize = constants::INITIATION_SIZE;
/// Classic response length (92).
pub const RESPONSE_LEN: usize = constants::RESPONSE_SIZE;
/// Hybrid initiation length (1332).
pub const HYBRID_INITIATION_LEN: usize = constants::HYBRID_INITIATION_SIZE;
/// Hybrid response length (1180).
pub const HYBRID_RESPONSE_LEN: usize = constants::HYBRID_RESPONSE_SIZE;
/// Pq-only initiation length (4641).
pub const PQ_INITIATION_LEN: usize = constants::PQ_INITIATION_SIZE;
/// Pq-only response length (4489).
pub const PQ_RESPONSE_LEN: usize = constants::PQ_RESPONSE_SIZE;

// The sizes are specified once, in `constants`; the layouts, computed field
// by field from the primitives' sizes, must land on them exactly.
const _: () = {
    assert!(initiation_layout(Mode::Classic).len == INITIATION_LEN);
    assert!(response_layout(Mode::Classic).len == RESPONSE_LEN);
    assert!(initiation_layout(Mode::Hybrid).len == HYBRID_INITIATION_LEN);
    assert!(response_layout(Mode::Hybrid).len == HYBRID_RESPONSE_LEN);
    assert!(initiation_layout(Mode::PqOnly).len == PQ_INITIATION_LEN);
    assert!(response_layout(Mode::PqOnly).len == PQ_RESPONSE_LEN);
};
/// The largest handshake message; an output buffer this large fits any
/// message the device produces except transport data.
pub const MAX_HANDSHAKE_LEN: usize = PQ_INITIATION_LEN;

/// What the first four bytes of a datagram say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A handshake initiation of the given mode.
    Initiation(Mode),
    /// A handshake response of the given mode.
    Response(Mode),
    /// A cookie reply.
    CookieReply,
    /// Transport data.
    Transport,
}

impl MessageType {
    /// Classifies a datagram by its 32-bit little-endian type field and
    /// checks its length against the type.
    pub fn of(datagram: &[u8]) -> Result<Self, ProtoError> {
        let head: [u8; 4] = datagram
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(ProtoError::BadLength)?;
        let kind = match u32::from_le_bytes(head) {
            1 => Self::Initiation(Mode::Classic),
            2 => Self::Response(Mode::Classic),
            3 => Self::CookieReply,
            4 => Self::Transport,
            5 => Self::Initiation(Mode::Hybrid),
            6 => Self::Response(Mode::Hybrid),
            7 => Self::Initiation(Mode::PqOnly),
            8 => Self::Response(Mode::PqOnly),
            _ => return Err(ProtoError::UnknownMessageType),
        };
        let ok = match kind {
            Self::Initiation(m) => datagram.len() == initiation_layout(m).len,
            Self::Response(m) => datagram.len() == response_layout(m).len,
            Self::CookieReply => datagram.len() == COOKIE_REPLY_LEN,
            Self::Transport => datagram.len() >= TRANSPORT_MIN_LEN,
        };
        if ok {
            Ok(kind)
        } else {
            Err(ProtoError::BadLength)
        }
    }
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Result<&[u8; N], ProtoError> {
    bytes
        .get(at..at.checked_add(N).ok_or(ProtoError::BadLength)?)
        .and_then(|s| s.try_into().ok())
        .ok_or(ProtoError::BadLength)
}

fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], ProtoError> {
    bytes
        .get(at..at.checked_add(len).ok_or(ProtoError::BadLength)?)
        .ok_or(ProtoError::BadLength)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, ProtoError> {
    Ok(u32::from_le_bytes(*array::<4>(bytes, at)?))
}

/// The fields covered by mac1 and mac2 and the macs themselves; shared by
/// every handshake message.
#[derive(Debug, Clone, Copy)]
pub struct MacFields<'a> {
    /// The message up to (excluding) mac1.
    pub before_mac1: &'a [u8],
    /// The message up to (excluding) mac2.
    pub before_mac2: &'a [u8],
    /// mac1.
    pub mac1: &'a [u8; MAC_LEN],
    /// mac2.
    pub mac2: &'a [u8; MAC_LEN],
}

fn mac_fields(bytes: &[u8], mac1_at: usize) -> Result<MacFields<'_>, ProtoError> {
    Ok(MacFields {
        before_mac1: slice(bytes, 0, mac1_at)?,
        before_mac2: slice(bytes, 0, mac1_at + MAC_LEN)?,
        mac1: array(bytes, mac1_at)?,
        mac2: array(bytes, mac1_at + MAC_LEN)?,
    })
}

/// The mac fields of a handshake message (an initiation or a response of
/// any mode, of its exact length); `None` for anything else.
#[must_use]
pub fn handshake_macs(bytes: &[u8]) -> Option<MacFields<'_>> {
    let mac1_at = match MessageType::of(bytes).ok()? {
        MessageType::Initiation(mode) => initiation_layout(mode).mac1,
        MessageType::Response(mode) => response_layout(mode).mac1,
        MessageType::CookieReply | MessageType::Transport => return None,
    };
    mac_fields(bytes, mac1_at).ok()
}

/// A parsed handshake initiation (types 1, 5, 7), borrowing the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Initiation<'a> {
    /// The mode named by the type byte.
    pub mode: Mode,
    /// The initiator's sender index.
    pub sender: u32,
    /// The initiator's ephemeral X25519 public key.
    pub ephemeral: &'a [u8; 32],
    /// The initiator's ephemeral ML-KEM-768 encapsulation key (types 5, 7).
    pub kem_ek: Option<&'a [u8; MLKEM768_EK_LEN]>,
    /// AEAD(initiator's static public key).
    pub encrypted_static: &'a [u8; 32 + AEAD_TAG_LEN],
    /// AEAD(timestamp) or AEAD(timestamp || signature).
    pub encrypted_timestamp: &'a [u8],
    /// mac1, mac2 and what they cover.
    pub macs: MacFields<'a>,
}

impl<'a> Initiation<'a> {
    /// Parses an initiation of any mode.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        let MessageType::Initiation(mode) = MessageType::of(bytes)? else {
            return Err(ProtoError::UnknownMessageType);
        };
        let l = initiation_layout(mode);
        Ok(Self {
            mode,
            sender: u32_at(bytes, SENDER_OFFSET)?,
            ephemeral: array(bytes, INITIATION_EPHEMERAL_OFFSET)?,
            kem_ek: match l.kem_ek {
                Some(at) => Some(array(bytes, at)?),
                None => None,
            },
            encrypted_static: array(bytes, l.encrypted_static)?,
            encrypted_timestamp: slice(bytes, l.encrypted_timestamp, l.encrypted_timestamp_len)?,
            macs: mac_fields(bytes, l.mac1)?,
        })
    }
}

/// A parsed handshake response (types 2, 6, 8), borrowing the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The mode named by the type byte.
    pub mode: Mode,
    /// The responder's sender index.
    pub sender: u32,
    /// The initiator's index this answers.
    pub receiver: u32,
    /// The responder's ephemeral X25519 public key.
    pub ephemeral: &'a [u8; 32],
    /// The ML-KEM-768 ciphertext (types 6, 8).
    pub kem_ct: Option<&'a [u8; MLKEM768_CT_LEN]>,
    /// AEAD(empty) or AEAD(signature).
    pub encrypted_payload: &'a [u8],
    /// mac1, mac2 and what they cover.
    pub macs: MacFields<'a>,
}

impl<'a> Response<'a> {
    /// Parses a response of any mode.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        let MessageType::Response(mode) = MessageType::of(bytes)? else {
            return Err(ProtoError::UnknownMessageType);
        };
        let l = response_layout(mode);
        Ok(Self {
            mode,
            sender: u32_at(bytes, SENDER_OFFSET)?,
            receiver: u32_at(bytes, RECEIVER_OFFSET)?,
            ephemeral: array(bytes, RESPONSE_EPHEMERAL_OFFSET)?,
            kem_ct: match l.kem_ct {
                Some(at) => Some(array(bytes, at)?),
                None => None,
            },
            encrypted_payload: slice(bytes, l.encrypted_payload, l.encrypted_payload_len)?,
            macs: mac_fields(bytes, l.mac1)?,
        })
    }
}

/// A parsed cookie reply (type 3).
#[derive(Debug, Clone, Copy)]
pub struct CookieReply<'a> {
    /// The index of the handshake message this answers.
    pub receiver: u32,
    /// The XChaCha20-Poly1305 nonce.
    pub nonce: &'a [u8; XNONCE_LEN],
    /// XAEAD(cookie).
    pub encrypted_cookie: &'a [u8; MAC_LEN + AEAD_TAG_LEN],
}

impl<'a> CookieReply<'a> {
    /// Parses a cookie reply.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        if MessageType::of(bytes)? != MessageType::CookieReply {
            return Err(ProtoError::UnknownMessageType);
        }
        Ok(Self {
            receiver: u32_at(bytes, SENDER_OFFSET)?,
            nonce: array(bytes, 8)?,
            encrypted_cookie: array(bytes, 8 + XNONCE_LEN)?,
        })
    }
}

/// Writes the 4-byte type field (type byte and three reserved zero bytes).
pub(crate) fn write_type(out: &mut [u8], msg_type: u8) {
    out[..4].copy_from_slice(&u32::from(msg_type).to_le_bytes());
}

/// Writes a little-endian u32 at `at`.
pub(crate) fn write_u32(out: &mut [u8], at: usize, value: u32) {
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Builds a cookie reply into `out[..64]`; `out` must be at least 64 bytes.
pub(crate) fn write_cookie_reply(
    out: &mut [u8],
    receiver: u32,
    nonce: &[u8; XNONCE_LEN],
    encrypted_cookie: &[u8; MAC_LEN + AEAD_TAG_LEN],
) {
    write_type(out, MSG_COOKIE_REPLY);
    write_u32(out, 4, receiver);
    out[8..8 + XNONCE_LEN].copy_from_slice(nonce);
    out[8 + XNONCE_LEN..COOKIE_REPLY_LEN].copy_from_slice(encrypted_cookie);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_specification() {
        assert_eq!(INITIATION_LEN, 148);
        assert_eq!(RESPONSE_LEN, 92);
        assert_eq!(HYBRID_INITIATION_LEN, 1332);
        assert_eq!(HYBRID_RESPONSE_LEN, 1180);
        assert_eq!(PQ_INITIATION_LEN, 4641);
        assert_eq!(PQ_RESPONSE_LEN, 4489);
        assert_eq!(
            initiation_layout(Mode::PqOnly).encrypted_timestamp_len,
            3337
        );
        assert_eq!(response_layout(Mode::PqOnly).encrypted_payload_len, 3325);
        assert_eq!(INITIATION_LEN, crate::constants::INITIATION_SIZE);
        assert_eq!(PQ_RESPONSE_LEN, crate::constants::PQ_RESPONSE_SIZE);
        assert_eq!(COOKIE_REPLY_LEN, crate::constants::COOKIE_REPLY_SIZE);
        assert_eq!(initiation_layout(Mode::Hybrid).kem_ek, Some(40));
        assert_eq!(response_layout(Mode::Hybrid).kem_ct, Some(44));
    }

    #[test]
    fn classify_checks_type_reserved_and_length() {
        for mode in Mode::ALL {
            let l = initiation_layout(mode);
            let mut m = vec![0u8; l.len];
            m[0] = l.msg_type;
            assert_eq!(MessageType::of(&m), Ok(MessageType::Initiation(mode)));
            assert!(Initiation::parse(&m).is_ok());
            assert_eq!(MessageType::of(&m[..l.len - 1]), Err(ProtoError::BadLength));
            m[2] = 1; // reserved byte set: not a type we know
            assert_eq!(MessageType::of(&m), Err(ProtoError::UnknownMessageType));
            let r = response_layout(mode);
            let mut m = vec![0u8; r.len];
            m[0] = r.msg_type;
            assert!(Response::parse(&m).is_ok());
            m.push(0);
            assert_eq!(Response::parse(&m).err(), Some(ProtoError::BadLength));
        }
        // A hybrid initiation cut down to classic size is still type 5 and
        // so has the wrong length.
        let mut m = vec![0u8; INITIATION_LEN];
        m[0] = MSG_HYBRID_INITIATION;
        assert_eq!(MessageType::of(&m), Err(ProtoError::BadLength));
        assert_eq!(MessageType::of(&[]), Err(ProtoError::BadLength));
        assert_eq!(
            MessageType::of(&[9, 0, 0, 0]),
            Err(ProtoError::UnknownMessageType)
        );
    }

    #[test]
    fn parse_reads_fields_at_their_offsets() {
        let mut m = vec![0u8; HYBRID_RESPONSE_LEN];
        write_type(&mut m, MSG_HYBRID_RESPONSE);
        write_u32(&mut m, SENDER_OFFSET, 0x0102_0304);
        write_u32(&mut m, RECEIVER_OFFSET, 0xa0b0_c0d0);
        m[RESPONSE_EPHEMERAL_OFFSET] = 0xee;
        m[44] = 0xcc;
        m[HYBRID_RESPONSE_LEN - 1] = 0x22;
        let r = Response::parse(&m).expect("valid");
        assert_eq!(r.sender, 0x0102_0304);
        assert_eq!(r.receiver, 0xa0b0_c0d0);
        assert_eq!(r.ephemeral[0], 0xee);
        assert_eq!(r.kem_ct.map(|c| c[0]), Some(0xcc));
        assert_eq!(r.macs.mac2[15], 0x22);
        assert_eq!(r.macs.before_mac1.len(), HYBRID_RESPONSE_LEN - 32);
    }
}
