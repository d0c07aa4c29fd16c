//! Reading what `tcpdump -w` captured on a veth: classic pcap files with
//! Ethernet framing, IPv4 only, fragments reassembled, so a test can check
//! the UDP payload of every datagram the daemons exchanged.
//!
//! Written for our own captures, yet every length is still checked: a
//! truncated or odd record ends the parse with an error, never a panic.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// One UDP datagram, reassembled if it came in IP fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// The UDP payload.
    pub payload: Vec<u8>,
    /// How many IP packets carried it (1 when not fragmented).
    pub fragments: usize,
}

impl Datagram {
    /// The WireGuard/DyberVPN message type (first byte), if any.
    #[must_use]
    pub fn message_type(&self) -> Option<u8> {
        self.payload.first().copied()
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const LINKTYPE_ETHERNET: u32 = 1;
const IPPROTO_UDP: u8 = 17;

fn u16be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[derive(Default)]
struct Pieces {
    /// offset → data
    parts: BTreeMap<usize, Vec<u8>>,
    /// Total length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
}

impl Pieces {
    fn assemble(&self) -> Option<Vec<u8>> {
        let total = self.total?;
        let mut out = Vec::with_capacity(total);
        for (&off, data) in &self.parts {
            if off != out.len() {
                return None; // a gap or an overlap
            }
            out.extend_from_slice(data);
        }
        (out.len() == total).then_some(out)
    }
}

/// Every UDP-over-IPv4 datagram in the capture, in the order its last
/// fragment arrived. Incomplete fragment trains are left out.
pub fn udp_datagrams(file: &[u8]) -> Result<Vec<Datagram>, String> {
    let header = file.get(..24).ok_or("pcap shorter than its header")?;
    let magic = u32::from_le_bytes(header[0..4].try_into().map_err(|_| "magic")?);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => return Err(format!("not a pcap file (magic {other:#x})")),
    };
    let rd32 = |b: &[u8], at: usize| -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let linktype = rd32(header, 20).ok_or("link type")?;
    if linktype != LINKTYPE_ETHERNET {
        return Err(format!("link type {linktype}, expected Ethernet (1)"));
    }
    let mut trains: BTreeMap<(Ipv4Addr, Ipv4Addr, u16), (Pieces, usize)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let incl = rd32(file, at + 8).ok_or("truncated record header")? as usize;
        let orig = rd32(file, at + 12).ok_or("truncated record header")? as usize;
        let frame = file
            .get(at + 16..at + 16 + incl)
            .ok_or("truncated record")?;
        at += 16 + incl;
        if incl != orig {
            return Err(format!(
                "a frame was cut to {incl} of {orig} bytes (snaplen)"
            ));
        }
        if u16be(frame, 12) != Some(ETHERTYPE_IPV4) {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip.first().ok_or("empty IPv4")? & 0x0f) * 4;
        let total_len = usize::from(u16be(ip, 2).ok_or("IPv4 length")?);
        if ip.get(9) != Some(&IPPROTO_UDP) || ihl < 20 || total_len < ihl {
            continue;
        }
        let id = u16be(ip, 4).ok_or("IPv4 id")?;
        let flags_off = u16be(ip, 6).ok_or("IPv4 fragment field")?;
        let more = flags_off & 0x2000 != 0;
        let offset = usize::from(flags_off & 0x1fff) * 8;
        let src =
            Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(12..16).ok_or("src")?).map_err(|_| "src")?);
        let dst =
            Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(16..20).ok_or("dst")?).map_err(|_| "dst")?);
        let data = ip
            .get(ihl..total_len)
            .ok_or("IPv4 payload shorter than its length")?;
        let (pieces, count) = trains.entry((src, dst, id)).or_default();
        pieces.parts.insert(offset, data.to_vec());
        *count += 1;
        if !more {
            pieces.total = Some(offset + data.len());
        }
        let Some(udp) = pieces.assemble() else {
            continue;
        };
        let fragments = *count;
        trains.remove(&(src, dst, id));
        let udp_len = usize::from(u16be(&udp, 4).ok_or("UDP header")?);
        if udp_len != udp.len() || udp_len < 8 {
            return Err(format!(
                "UDP length field {udp_len} but {} bytes reassembled",
                udp.len()
            ));
        }
        out.push(Datagram {
            src,
            dst,
            src_port: u16be(&udp, 0).ok_or("UDP header")?,
            dst_port: u16be(&udp, 2).ok_or("UDP header")?,
            payload: udp[8..].to_vec(),
            fragments,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u16, flags_off: u16, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let mut ip = vec![
            0x45,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            64,
            IPPROTO_UDP,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        ip[2..4].copy_from_slice(&u16::try_from(20 + data.len()).unwrap().to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[6..8].copy_from_slice(&flags_off.to_be_bytes());
        f.extend(ip);
        f.extend_from_slice(data);
        f
    }

    fn file(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(0xa1b2_c3d4u32.to_le_bytes());
        out.extend([2, 0, 4, 0]);
        out.extend([0; 8]);
        out.extend(262_144u32.to_le_bytes());
        out.extend(LINKTYPE_ETHERNET.to_le_bytes());
        for f in frames {
            out.extend([0; 8]);
            let n = u32::try_from(f.len()).unwrap().to_le_bytes();
            out.extend(n);
            out.extend(n);
            out.extend(f);
        }
        out
    }

    #[test]
    fn reassembles_fragments_in_any_order() {
        let mut udp = vec![0x12, 0x34, 0xca, 0x6c, 0, 0, 0, 0];
        let payload: Vec<u8> = (0..40u8).collect();
        udp[4..6].copy_from_slice(&48u16.to_be_bytes());
        udp.extend(&payload);
        let whole = frame(1, 0, &udp);
        let first = frame(2, 0x2000, &udp[..24]);
        let second = frame(2, 3, &udp[24..]);
        let got = udp_datagrams(&file(&[whole, second, first])).expect("parses");
        assert_eq!(got.len(), 2);
        for d in &got {
            assert_eq!(d.payload, payload);
            assert_eq!(d.dst_port, 51820);
        }
        assert_eq!((got[0].fragments, got[1].fragments), (1, 2));
    }

    #[test]
    fn refuses_truncation() {
        let mut f = file(&[frame(1, 0, &[0; 8])]);
        f.pop();
        assert!(udp_datagrams(&f).is_err());
        assert!(udp_datagrams(&[0; 10]).is_err());
    }
}
