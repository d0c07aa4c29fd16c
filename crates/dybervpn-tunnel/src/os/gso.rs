//! UDP segmentation and receive offload (Linux `UDP_SEGMENT` / `UDP_GRO`).
//!
//! * [`send_segments`] hands the kernel one buffer of equal-sized datagrams
//!   (the last may be shorter) with a `UDP_SEGMENT` control message: one
//!   system call and one trip through the stack for up to 64 datagrams.
//! * With [`enable_gro`] set, one [`recv_segments`] returns up to 64
//!   datagrams from the same source glued together, with their size in a
//!   `UDP_GRO` control message.
//!
//! Both fall back to plain datagrams: a kernel or route without GSO gets
//! them one by one (a failed [`send_segments`] for which [`unsupported`]
//! holds tells the caller to switch off), and a socket without GRO simply
//! reports every datagram as its own segment.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// `SOL_UDP` options from `linux/udp.h` (kernel ABI).
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// The kernel's limit on segments per GSO send (`UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// Most bytes one GSO send or GRO receive carries (a UDP payload over
/// IPv4 is at most 65,507 bytes; stay under it for either family).
pub const MAX_GSO_BYTES: usize = 65_000;

/// Whether a failed [`send_segments`] means segmentation is not available
/// (old kernel, or an egress device without checksum offload), so the
/// caller should send plain datagrams from now on.
#[must_use]
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
    )
}

/// Turns on `UDP_GRO`. Returns whether the kernel accepted it.
#[cfg(target_os = "linux")]
pub fn enable_gro(socket: &UdpSocket) -> bool {
    set_int(socket, libc::SOL_UDP, UDP_GRO, 1).is_ok()
}

/// Sends `buf`, a run of datagrams of `segment` bytes (the last may be
/// shorter), to `to` in one system call. A `buf` no longer than `segment`
/// goes out as a plain datagram.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn send_segments(
    socket: &UdpSocket,
    buf: &[u8],
    segment: usize,
    to: SocketAddr,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    if buf.len() <= segment {
        return socket.send_to(buf, to);
    }
    let segment = u16::try_from(segment).map_err(|_| io::ErrorKind::InvalidInput)?;
    let addr = socket2::SockAddr::from(to);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    // Room for one cmsghdr carrying a u16, 8-byte aligned as cmsghdr needs.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is a plain C struct of integers and pointers, for
    // which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = addr.as_ptr().cast_mut().cast();
    msg.msg_namelen = addr.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as libc::c_uint) };
    msg.msg_controllen = space as _;
    debug_assert!(space as usize <= std::mem::size_of_val(&control));
    // SAFETY: msg_control points at `control`, which is 8-byte aligned and
    // at least CMSG_SPACE(2) bytes long (checked above), so the first
    // header and its 2 data bytes lie inside it; CMSG_FIRSTHDR returns
    // non-null for a control length that large. The data is written
    // unaligned, as the macros do not promise u16 alignment.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as libc::c_uint) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
    // SAFETY: every pointer in `msg` (address, iovec, control) refers to a
    // live local or to `buf`, valid for the stated lengths for the duration
    // of the call; the kernel only reads them.
    let rc = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Receives into `buf`: returns the bytes received, the source and the
/// segment size (each `segment` bytes of `buf[..n]` is one datagram, the
/// last possibly shorter; `n` itself when the kernel glued nothing).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn recv_segments(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, usize)> {
    use std::os::fd::AsRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: sockaddr_storage and msghdr are plain C structs for which
    // all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 8];
    msg.msg_name = std::ptr::addr_of_mut!(storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local or to `buf`,
    // writable for the stated lengths; the kernel writes at most those.
    let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = rc as usize;
    let mut segment = n;
    // SAFETY: the kernel set msg_controllen to the control bytes it wrote
    // into `control`; CMSG_FIRSTHDR/CMSG_NXTHDR walk only within it and
    // return null at its end. The payload is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                if let Ok(size) = usize::try_from(size) {
                    if size > 0 {
                        segment = size;
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let src = socket_addr(&storage)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP source address"))?;
    Ok((n, src, segment))
}

/// The IPv4 or IPv6 address the kernel wrote into `storage`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which
            // is smaller than sockaddr_storage and needs no more alignment.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read(std::ptr::from_ref(storage).cast()) };
            Some(SocketAddr::from((
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read(std::ptr::from_ref(storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_int(
    socket: &UdpSocket,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `socket` owns a valid descriptor; `value` is a live c_int and
    // the length passed is exactly its size. The kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// No offload elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn enable_gro(_socket: &UdpSocket) -> bool {
    false
}

/// Plain datagrams elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn send_segments(
    socket: &UdpSocket,
    buf: &[u8],
    segment: usize,
    to: SocketAddr,
) -> io::Result<usize> {
    let mut sent = 0;
    for d in buf.chunks(segment.max(1)) {
        sent += socket.send_to(d, to)?;
    }
    Ok(sent)
}

/// Plain datagrams elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn recv_segments(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, usize)> {
    let (n, src) = socket.recv_from(buf)?;
    Ok((n, src, n))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn segments_sent_together_arrive_as_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let to = rx.local_addr().expect("addr");
        // 3 datagrams of 100 bytes and a short one of 40.
        let buf: Vec<u8> = (0..340u32).map(|i| (i / 100) as u8).collect();
        assert_eq!(send_segments(&tx, &buf, 100, to).expect("gso send"), 340);
        // Without GRO each arrives on its own.
        let mut got = Vec::new();
        let mut b = [0u8; 2048];
        while got.len() < 4 {
            let (n, src, seg) = recv_segments(&rx, &mut b).expect("recv");
            assert_eq!(src, tx.local_addr().expect("addr"));
            assert_eq!(seg, n);
            got.push(b[..n].to_vec());
        }
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 100, 40]
        );
        assert!(got[2].iter().all(|&x| x == 2) && got[3].iter().all(|&x| x == 3));

        // With GRO, whatever arrives glued comes with its segment size.
        assert!(enable_gro(&rx));
        send_segments(&tx, &buf, 100, to).expect("gso send");
        let mut total = 0;
        while total < 340 {
            let (n, _, seg) = recv_segments(&rx, &mut b).expect("recv");
            assert!(seg == 100 || n == seg, "n {n} seg {seg}");
            total += n;
        }
        assert_eq!(total, 340);
    }
}
