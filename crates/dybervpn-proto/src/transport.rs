//! The transport data message (type 4, paper §5.4.6):
//!
//! ```text
//! type(1) = 4 | reserved(3) = 0 | receiver(4) | counter(8) | ciphertext(n) | tag(16)
//! ```
//!
//! All integers are little-endian. The ciphertext is the inner IP packet,
//! zero-padded to a multiple of 16 bytes but never beyond the MTU; a
//! keepalive has an empty payload (32 bytes on the wire).
//!
//! Parsing only checks the length and the type; authentication is the
//! session's job ([`crate::session`]). Building writes into a buffer the
//! caller owns and fails, never panics, when it is too short.

use std::fmt;

use crate::constants::{
    MSG_TRANSPORT, PADDING_MULTIPLE, TRANSPORT_HEADER_SIZE, TRANSPORT_TAG_SIZE,
};

/// The first four bytes of every transport message: the type and three
/// zero reserved bytes.
const TYPE_FIELD: [u8; 4] = [MSG_TRANSPORT, 0, 0, 0];

/// Why a transport message could not be parsed or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The datagram is shorter than a header and a tag (32 bytes).
    TooShort,
    /// The first four bytes are not `04 00 00 00`.
    NotTransport,
    /// The caller's buffer cannot hold the message; `needed` bytes are
    /// required.
    BufferTooSmall {
        /// The buffer size the call needs.
        needed: usize,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => f.write_str("transport message shorter than header and tag"),
            Self::NotTransport => f.write_str("not a transport message (type 4, reserved zero)"),
            Self::BufferTooSmall { needed } => {
                write!(
                    f,
                    "buffer too small for transport message: {needed} bytes needed"
                )
            }
        }
    }
}

impl std::error::Error for TransportError {}

/// The header fields of a transport message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The receiver's session index.
    pub receiver: u32,
    /// The packet counter, which is also the AEAD nonce.
    pub counter: u64,
}

/// A parsed transport message, borrowing the datagram mutably so the
/// payload can be decrypted in place.
#[derive(Debug)]
pub struct TransportMut<'a> {
    /// The header fields.
    pub header: Header,
    /// The encrypted payload (possibly empty), to be opened in place.
    pub payload: &'a mut [u8],
    /// The Poly1305 tag.
    pub tag: [u8; TRANSPORT_TAG_SIZE],
}

/// A parsed transport message borrowed read-only, for a receiver that
/// decrypts into a buffer of its own.
#[derive(Debug)]
pub struct Transport<'a> {
    /// The header fields.
    pub header: Header,
    /// The encrypted payload (possibly empty).
    pub payload: &'a [u8],
    /// The Poly1305 tag.
    pub tag: &'a [u8; TRANSPORT_TAG_SIZE],
}

/// Reads the header of a transport message without borrowing it mutably
/// (for the receiver-index lookup before decryption).
pub fn parse_header(msg: &[u8]) -> Result<Header, TransportError> {
    if msg.len() < TRANSPORT_HEADER_SIZE + TRANSPORT_TAG_SIZE {
        return Err(TransportError::TooShort);
    }
    let field = |from: usize, to: usize| msg.get(from..to).ok_or(TransportError::TooShort);
    if field(0, 4)? != TYPE_FIELD {
        return Err(TransportError::NotTransport);
    }
    let receiver = field(4, 8)?
        .try_into()
        .map_err(|_| TransportError::TooShort)?;
    let counter = field(8, 16)?
        .try_into()
        .map_err(|_| TransportError::TooShort)?;
    Ok(Header {
        receiver: u32::from_le_bytes(receiver),
        counter: u64::from_le_bytes(counter),
    })
}

/// Splits a whole transport datagram into header, payload and tag, without
/// borrowing it mutably (see [`parse`] for decrypting in place).
pub fn split(msg: &[u8]) -> Result<Transport<'_>, TransportError> {
    let header = parse_header(msg)?;
    let body = msg
        .get(TRANSPORT_HEADER_SIZE..)
        .ok_or(TransportError::TooShort)?;
    let payload_len = body
        .len()
        .checked_sub(TRANSPORT_TAG_SIZE)
        .ok_or(TransportError::TooShort)?;
    let (payload, tag) = body.split_at(payload_len);
    let tag = tag.try_into().map_err(|_| TransportError::TooShort)?;
    Ok(Transport {
        header,
        payload,
        tag,
    })
}

/// Splits a whole transport datagram into header, payload and tag.
pub fn parse(msg: &mut [u8]) -> Result<TransportMut<'_>, TransportError> {
    let header = parse_header(msg)?;
    let body = msg
        .get_mut(TRANSPORT_HEADER_SIZE..)
        .ok_or(TransportError::TooShort)?;
    let payload_len = body
        .len()
        .checked_sub(TRANSPORT_TAG_SIZE)
        .ok_or(TransportError::TooShort)?;
    let (payload, tag) = body.split_at_mut(payload_len);
    let tag = (&*tag).try_into().map_err(|_| TransportError::TooShort)?;
    Ok(TransportMut {
        header,
        payload,
        tag,
    })
}

/// The length of a transport message carrying `payload_len` bytes, or
/// `None` if it would overflow `usize`.
#[must_use]
pub fn message_len(payload_len: usize) -> Option<usize> {
    payload_len.checked_add(TRANSPORT_HEADER_SIZE + TRANSPORT_TAG_SIZE)
}

/// Checks that `out` can hold a message of `payload_len` bytes of payload
/// and returns the message length.
pub fn check_capacity(out: &[u8], payload_len: usize) -> Result<usize, TransportError> {
    let needed =
        message_len(payload_len).ok_or(TransportError::BufferTooSmall { needed: usize::MAX })?;
    if out.len() < needed {
        return Err(TransportError::BufferTooSmall { needed });
    }
    Ok(needed)
}

/// Writes the 16-byte header into the start of `out`.
pub fn write_header(out: &mut [u8], header: Header) -> Result<(), TransportError> {
    let dst = out
        .get_mut(..TRANSPORT_HEADER_SIZE)
        .ok_or(TransportError::BufferTooSmall {
            needed: TRANSPORT_HEADER_SIZE,
        })?;
    let (ty, rest) = dst.split_at_mut(4);
    let (receiver, counter) = rest.split_at_mut(4);
    ty.copy_from_slice(&TYPE_FIELD);
    receiver.copy_from_slice(&header.receiver.to_le_bytes());
    counter.copy_from_slice(&header.counter.to_le_bytes());
    Ok(())
}

/// The length an inner packet of `len` bytes is padded to: the next
/// multiple of 16, but never more than `mtu`. A packet already longer than
/// the MTU is left as it is; `mtu == 0` means "no MTU" and always pads.
#[must_use]
pub fn padded_len(len: usize, mtu: usize) -> usize {
    let rounded = len
        .div_ceil(PADDING_MULTIPLE)
        .saturating_mul(PADDING_MULTIPLE);
    if mtu == 0 {
        rounded
    } else if len >= mtu {
        len
    } else {
        rounded.min(mtu)
    }
}

/// Zero-pads the packet occupying `buf[..len]` in place to
/// [`padded_len`]`(len, mtu)` and returns the padded length.
pub fn pad(buf: &mut [u8], len: usize, mtu: usize) -> Result<usize, TransportError> {
    let padded = padded_len(len, mtu);
    let tail = buf
        .get_mut(len..padded)
        .ok_or(TransportError::BufferTooSmall { needed: padded })?;
    tail.fill(0);
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut msg = [0xaau8; 40];
        let header = Header {
            receiver: 0x0403_0201,
            counter: 0x0c0b_0a09_0807_0605,
        };
        write_header(&mut msg, header).expect("fits");
        assert_eq!(
            &msg[..16],
            &[4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        assert_eq!(parse_header(&msg), Ok(header));
        let view = parse(&mut msg).expect("valid");
        assert_eq!(view.header, header);
        assert_eq!(view.payload.len(), 8);
        assert_eq!(view.tag, [0xaa; 16]);
    }

    #[test]
    fn keepalive_has_an_empty_payload() {
        let mut msg = [0u8; 32];
        write_header(
            &mut msg,
            Header {
                receiver: 7,
                counter: 0,
            },
        )
        .expect("fits");
        let view = parse(&mut msg).expect("valid");
        assert!(view.payload.is_empty());
    }

    #[test]
    fn parse_rejects_short_and_foreign_messages() {
        for len in 0..32 {
            let mut msg = vec![0u8; len];
            if len >= 4 {
                msg[0] = 4;
            }
            assert_eq!(
                parse(&mut msg).err(),
                Some(TransportError::TooShort),
                "{len}"
            );
        }
        let mut msg = [0u8; 32];
        msg[0] = 4;
        for i in 1..4 {
            let mut m = msg;
            m[i] = 1;
            assert_eq!(parse_header(&m), Err(TransportError::NotTransport));
        }
        msg[0] = 1;
        assert_eq!(parse_header(&msg), Err(TransportError::NotTransport));
    }

    #[test]
    fn building_into_a_short_buffer_is_an_error() {
        let mut small = [0u8; 15];
        assert_eq!(
            write_header(
                &mut small,
                Header {
                    receiver: 0,
                    counter: 0
                }
            ),
            Err(TransportError::BufferTooSmall { needed: 16 })
        );
        assert_eq!(
            check_capacity(&[0u8; 47], 16),
            Err(TransportError::BufferTooSmall { needed: 48 })
        );
        assert_eq!(check_capacity(&[0u8; 48], 16), Ok(48));
        assert!(check_capacity(&[], usize::MAX).is_err());
    }

    #[test]
    fn padding_rounds_up_to_16_within_the_mtu() {
        assert_eq!(padded_len(0, 1420), 0);
        assert_eq!(padded_len(1, 1420), 16);
        assert_eq!(padded_len(16, 1420), 16);
        assert_eq!(padded_len(17, 1420), 32);
        assert_eq!(padded_len(1419, 1420), 1420);
        assert_eq!(padded_len(1415, 1420), 1420);
        assert_eq!(padded_len(1400, 1420), 1408);
        assert_eq!(padded_len(1410, 1420), 1420);
        assert_eq!(padded_len(1420, 1420), 1420);
        assert_eq!(padded_len(1500, 1420), 1500);
        assert_eq!(padded_len(1419, 0), 1424);
        // Naive reference: the smallest multiple of 16 ≥ len, capped at mtu.
        for mtu in [0usize, 1, 15, 16, 17, 576, 1280, 1420] {
            for len in 0..1500usize {
                let mut want = len;
                while want % 16 != 0 {
                    want += 1;
                }
                if mtu != 0 && want > mtu {
                    want = mtu.max(len);
                }
                assert_eq!(padded_len(len, mtu), want, "len {len} mtu {mtu}");
            }
        }
    }

    #[test]
    fn pad_zeroes_the_tail() {
        let mut buf = [0xffu8; 32];
        assert_eq!(pad(&mut buf, 3, 1420), Ok(16));
        assert_eq!(&buf[3..16], &[0u8; 13]);
        assert_eq!(buf[16], 0xff);
        assert_eq!(
            pad(&mut buf[..10], 3, 1420),
            Err(TransportError::BufferTooSmall { needed: 16 })
        );
    }
}
