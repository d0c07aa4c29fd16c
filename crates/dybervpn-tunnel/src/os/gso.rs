//! UDP segmentation and receive offload (Linux `UDP_SEGMENT` / `UDP_GRO`).
//!
//! * [`send_segments`] hands the kernel one buffer of equal-sized datagrams
//!   (the last may be shorter) with a `UDP_SEGMENT` control message: one
//!   system call and one trip through the stack for up to 64 datagrams.
//! * With [`enable_gro`] set, one [`recv_segments`] returns up to 64
//!   datagrams from the same source glued together, with their size in a
//!   `UDP_GRO` control message.
//!
//! * With [`enable_pktinfo`] set, [`recv_segments`] also reports the local
//!   address the datagrams were sent to, and [`send_segments`] can name the
//!   source address to send from (`IP_PKTINFO` / `IPV6_PKTINFO`), so a host
//!   with several addresses answers from the one it was reached at, as the
//!   kernel's WireGuard does.
//!
//! Both fall back to plain datagrams: a kernel or route without GSO gets
//! them one by one (a failed [`send_segments`] for which [`unsupported`]
//! holds tells the caller to switch off), and a socket without GRO simply
//! reports every datagram as its own segment.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

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

/// Whether a failed [`send_segments`] means the segments are larger than
/// the route's MTU allows (`EMSGSIZE`; a path MTU learnt from an ICMP
/// "fragmentation needed", a PPPoE or mobile link). Segmentation never
/// fragments, but the same datagrams sent one at a time are fragmented by
/// the kernel, so the caller sends them so.
#[must_use]
pub fn too_big(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMSGSIZE)
}

/// Whether a [`send_segments`] that named a source may have failed
/// because of that source, no longer one of this host's addresses: IPv4's
/// route lookup then fails with `ENETUNREACH`, IPv6's control-message
/// check with `EINVAL`, and `EADDRNOTAVAIL` is possible. The caller sends
/// again without it (if the route itself is missing, that fails the same
/// way); other errors (a full buffer, say) must not send from another
/// address.
#[must_use]
pub fn source_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::EADDRNOTAVAIL | libc::ENETUNREACH)
    )
}

/// Turns on `UDP_GRO`. Returns whether the kernel accepted it.
#[cfg(target_os = "linux")]
pub fn enable_gro(socket: &UdpSocket) -> bool {
    set_int(socket, libc::SOL_UDP, UDP_GRO, 1).is_ok()
}

/// Asks the kernel for each datagram's local address (`IP_PKTINFO` on an
/// IPv4 socket, `IPV6_RECVPKTINFO` on an IPv6 one). Returns whether it
/// accepted.
#[cfg(target_os = "linux")]
pub fn enable_pktinfo(socket: &UdpSocket, v6: bool) -> bool {
    if v6 {
        set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1).is_ok()
    } else {
        set_int(socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1).is_ok()
    }
}

/// What one [`recv_segments`] brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes received.
    pub len: usize,
    /// Where they came from.
    pub src: SocketAddr,
    /// Each `segment` bytes of the buffer is one datagram (the last may be
    /// shorter); `len` when the kernel glued nothing.
    pub segment: usize,
    /// The local address they were sent to, with [`enable_pktinfo`] set.
    pub local: Option<IpAddr>,
}

/// The control-message space for one `UDP_SEGMENT` and one packet-info
/// message (`in6_pktinfo` is the larger, 20 bytes), 8-byte aligned.
type Control = [u64; 10];

/// Appends one control message of `level`/`kind` carrying `value` to
/// `msg`'s control buffer, after the `used` bytes already there. Returns
/// the new used length.
///
/// # Safety
///
/// `msg.msg_control` must point at a live, 8-byte aligned buffer of at
/// least `used + CMSG_SPACE(size_of::<T>())` bytes, and `used` must be the
/// sum of the `CMSG_SPACE`s of the messages already written.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
unsafe fn push_cmsg<T>(
    msg: &mut libc::msghdr,
    used: usize,
    level: libc::c_int,
    kind: libc::c_int,
    value: T,
) -> usize {
    let size = std::mem::size_of::<T>() as libc::c_uint;
    // SAFETY (for the block): the caller guarantees the buffer holds this
    // message; the header goes at offset `used` (a multiple of CMSG_SPACE,
    // so aligned for cmsghdr) and its data right after the header. The data
    // is written unaligned, as the macros do not promise T's alignment.
    unsafe {
        let cmsg = msg
            .msg_control
            .cast::<u8>()
            .add(used)
            .cast::<libc::cmsghdr>();
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<T>(), value);
        used + libc::CMSG_SPACE(size) as usize
    }
}

/// Sends `buf`, a run of datagrams of `segment` bytes (the last may be
/// shorter), to `to` in one system call, from the local address `from` if
/// given (else the kernel picks it from the route). A `buf` no longer than
/// `segment` goes out as a plain datagram. A `from` that is no longer one
/// of this host's addresses makes the send fail (`EINVAL`); the caller
/// sends again without it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn send_segments(
    socket: &UdpSocket,
    buf: &[u8],
    segment: usize,
    to: SocketAddr,
    from: Option<IpAddr>,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let segmented = buf.len() > segment;
    if !segmented && from.is_none() {
        return socket.send_to(buf, to);
    }
    let addr = socket2::SockAddr::from(to);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    let mut control: Control = [0; 10];
    // SAFETY: msghdr is a plain C struct of integers and pointers, for
    // which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = addr.as_ptr().cast_mut().cast();
    msg.msg_namelen = addr.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    let mut used = 0;
    // SAFETY (both pushes): `control` is 8-byte aligned and 80 bytes, more
    // than CMSG_SPACE(2) + CMSG_SPACE(20) = 24 + 40 on Linux, and `used` is the
    // space of the messages written before.
    if segmented {
        let segment = u16::try_from(segment).map_err(|_| io::ErrorKind::InvalidInput)?;
        used = unsafe { push_cmsg(&mut msg, used, libc::SOL_UDP, UDP_SEGMENT, segment) };
    }
    match from {
        Some(IpAddr::V4(ip)) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            used = unsafe { push_cmsg(&mut msg, used, libc::IPPROTO_IP, libc::IP_PKTINFO, info) };
        }
        Some(IpAddr::V6(ip)) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                ipi6_ifindex: 0,
            };
            used =
                unsafe { push_cmsg(&mut msg, used, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info) };
        }
        None => {}
    }
    debug_assert!(used <= std::mem::size_of_val(&control));
    msg.msg_controllen = used as _;
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

/// Receives into `buf` one datagram, or with `UDP_GRO` a train of them
/// from one source (see [`Received`]).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn recv_segments(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
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
    let mut control: Control = [0; 10];
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
    let mut local = None;
    // SAFETY: the kernel set msg_controllen to the control bytes it wrote
    // into `control` (it truncates, and sets MSG_CTRUNC, rather than
    // overrun); CMSG_FIRSTHDR/CMSG_NXTHDR walk only within it and return
    // null at its end. Each payload is read unaligned, and only when the
    // header's length says it is all there.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            let len = (*cmsg).cmsg_len as usize;
            let holds = |size: usize| len >= libc::CMSG_LEN(size as libc::c_uint) as usize;
            let data = libc::CMSG_DATA(cmsg);
            if level == libc::SOL_UDP && kind == UDP_GRO && holds(4) {
                let size = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                if let Ok(size) = usize::try_from(size) {
                    if size > 0 {
                        segment = size;
                    }
                }
            } else if level == libc::IPPROTO_IP
                && kind == libc::IP_PKTINFO
                && holds(std::mem::size_of::<libc::in_pktinfo>())
            {
                let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                let ip = std::net::Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                local = Some(IpAddr::V4(ip));
            } else if level == libc::IPPROTO_IPV6
                && kind == libc::IPV6_PKTINFO
                && holds(std::mem::size_of::<libc::in6_pktinfo>())
            {
                let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                local = Some(IpAddr::V6(std::net::Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let src = socket_addr(&storage)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP source address"))?;
    Ok(Received {
        len: n,
        src,
        segment,
        local,
    })
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

/// No local addresses elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn enable_pktinfo(_socket: &UdpSocket, _v6: bool) -> bool {
    false
}

/// Plain datagrams elsewhere, from the address the kernel picks.
#[cfg(not(target_os = "linux"))]
pub fn send_segments(
    socket: &UdpSocket,
    buf: &[u8],
    segment: usize,
    to: SocketAddr,
    _from: Option<IpAddr>,
) -> io::Result<usize> {
    let mut sent = 0;
    for d in buf.chunks(segment.max(1)) {
        sent += socket.send_to(d, to)?;
    }
    Ok(sent)
}

/// Plain datagrams elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn recv_segments(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let (len, src) = socket.recv_from(buf)?;
    Ok(Received {
        len,
        src,
        segment: len,
        local: None,
    })
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
        assert_eq!(
            send_segments(&tx, &buf, 100, to, None).expect("gso send"),
            340
        );
        // Without GRO each arrives on its own.
        let mut got = Vec::new();
        let mut b = [0u8; 2048];
        while got.len() < 4 {
            let r = recv_segments(&rx, &mut b).expect("recv");
            assert_eq!(r.src, tx.local_addr().expect("addr"));
            assert_eq!((r.segment, r.local), (r.len, None));
            got.push(b[..r.len].to_vec());
        }
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 100, 40]
        );
        assert!(got[2].iter().all(|&x| x == 2) && got[3].iter().all(|&x| x == 3));

        // With GRO, whatever arrives glued comes with its segment size.
        assert!(enable_gro(&rx));
        send_segments(&tx, &buf, 100, to, None).expect("gso send");
        let mut total = 0;
        while total < 340 {
            let r = recv_segments(&rx, &mut b).expect("recv");
            assert!(r.segment == 100 || r.len == r.segment, "{r:?}");
            total += r.len;
        }
        assert_eq!(total, 340);
    }

    /// A server on the wildcard address, reached at 127.0.0.2, answers from
    /// 127.0.0.2 when told to; left to the kernel it answers from
    /// 127.0.0.1 (the route back to the client's 127.0.0.1).
    #[test]
    fn answers_leave_from_the_address_the_request_reached() {
        let timeout = Some(std::time::Duration::from_secs(5));
        let server = UdpSocket::bind("0.0.0.0:0").expect("bind");
        server.set_read_timeout(timeout).expect("timeout");
        assert!(enable_pktinfo(&server, false));
        assert!(enable_gro(&server));
        let port = server.local_addr().expect("addr").port();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client.set_read_timeout(timeout).expect("timeout");
        let mut b = [0u8; 2048];

        client.send_to(b"hello", ("127.0.0.2", port)).expect("send");
        let r = recv_segments(&server, &mut b).expect("recv");
        assert_eq!(&b[..r.len], b"hello");
        assert_eq!(r.local, Some(IpAddr::from([127, 0, 0, 2])));

        let answers: [(Option<IpAddr>, &[u8], usize); 3] = [
            (None, b"plain", 5),
            (r.local, b"one datagram", 12),
            // Two segments of 4: the source and the segmentation together.
            (r.local, b"gsogso!!", 4),
        ];
        for (from, payload, segment) in answers {
            send_segments(&server, payload, segment, r.src, from).expect("answer");
            let mut got = 0;
            while got < payload.len() {
                let (n, seen) = client.recv_from(&mut b).expect("answer arrives");
                let expected = from.unwrap_or(IpAddr::from([127, 0, 0, 1]));
                assert_eq!(seen.ip(), expected, "{:?}", std::str::from_utf8(payload));
                got += n;
            }
        }
        // An address this host does not have: refused, not sent from
        // elsewhere.
        let gone = Some(IpAddr::from([192, 0, 2, 1]));
        let refused = send_segments(&server, b"x", 1, r.src, gone).expect_err("not ours");
        assert!(source_refused(&refused), "{refused}");
    }

    #[test]
    fn ipv6_datagrams_report_their_local_address() {
        let Ok(server) = UdpSocket::bind("[::]:0") else {
            crate::netns::report_skip("skipped: no IPv6 on this machine");
            return;
        };
        let timeout = Some(std::time::Duration::from_secs(5));
        server.set_read_timeout(timeout).expect("timeout");
        assert!(enable_pktinfo(&server, true));
        let port = server.local_addr().expect("addr").port();
        let Ok(client) = UdpSocket::bind("[::1]:0") else {
            crate::netns::report_skip("skipped: no IPv6 loopback on this machine");
            return;
        };
        client.set_read_timeout(timeout).expect("timeout");
        client.send_to(b"v6", ("::1", port)).expect("send");
        let mut b = [0u8; 64];
        let r = recv_segments(&server, &mut b).expect("recv");
        assert_eq!(r.local, Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)));
        send_segments(&server, b"back", 4, r.src, r.local).expect("answer");
        let (n, seen) = client.recv_from(&mut b).expect("answer arrives");
        assert_eq!(
            (&b[..n], seen.ip()),
            (&b"back"[..], r.local.expect("local"))
        );
    }
}
