//! The UDP sockets a device listens on: one IPv4 and one IPv6 (`IPV6_V6ONLY`)
//! socket bound to the same port, with large buffers and an optional
//! firewall mark.
//!
//! Buffers: we ask for 7 MiB each way (wireguard-go's figure), first with
//! `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`, which as root ignores `rmem_max`, then
//! with the plain options, which the kernel caps silently.
//!
//! Stopping: [`UdpSockets::wake_readers`] wakes readers blocked in
//! `recv_from` with an empty datagram over loopback.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::OsError;

/// The socket buffer size requested in each direction.
pub const SOCKET_BUFFER_SIZE: usize = 7 << 20;

/// How many random ports to try when port 0 is free on IPv4 but the same
/// number is taken on IPv6.
const PORT_RETRIES: usize = 16;

/// The bound sockets.
#[derive(Debug)]
pub struct UdpSockets {
    /// The IPv4 socket, if the system has IPv4.
    pub v4: Option<UdpSocket>,
    /// The IPv6 socket, if the system has IPv6.
    pub v6: Option<UdpSocket>,
    port: u16,
}

impl UdpSockets {
    /// Binds both families to `port` (0: a random free port, the same for
    /// both) and applies `fwmark` (0: none). Fails only if neither family
    /// can be bound, or the port is in use.
    pub fn bind(port: u16, fwmark: u32) -> Result<Self, OsError> {
        let tries = if port == 0 { PORT_RETRIES } else { 1 };
        let mut last_err = None;
        for _ in 0..tries {
            match Self::bind_once(port, fwmark) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| OsError::io("binding UDP", io::ErrorKind::AddrNotAvailable.into())))
    }

    fn bind_once(port: u16, fwmark: u32) -> Result<Self, OsError> {
        let v4 = match open(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), fwmark) {
            Ok(s) => Some(s),
            Err(e) if family_missing(&e) => None,
            Err(e) => return Err(OsError::io(format!("binding UDP 0.0.0.0:{port}"), e)),
        };
        let port = match &v4 {
            Some(s) => s
                .local_addr()
                .map_err(|e| OsError::io("reading the bound UDP port", e))?
                .port(),
            None => port,
        };
        let v6 = match open(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), fwmark) {
            Ok(s) => Some(s),
            Err(e) if family_missing(&e) && v4.is_some() => None,
            Err(e) => return Err(OsError::io(format!("binding UDP [::]:{port}"), e)),
        };
        let port = match (&v4, &v6) {
            (Some(_), _) => port,
            (None, Some(s)) => s
                .local_addr()
                .map_err(|e| OsError::io("reading the bound UDP port", e))?
                .port(),
            (None, None) => {
                return Err(OsError::io(
                    "binding UDP",
                    io::Error::new(
                        io::ErrorKind::Unsupported,
                        "neither IPv4 nor IPv6 is available",
                    ),
                ))
            }
        };
        Ok(Self { v4, v6, port })
    }

    /// The port both sockets are bound to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket for sending to `dst`'s family, if that family is bound.
    #[must_use]
    pub fn for_destination(&self, dst: &SocketAddr) -> Option<&UdpSocket> {
        match dst {
            SocketAddr::V4(_) => self.v4.as_ref(),
            SocketAddr::V6(_) => self.v6.as_ref(),
        }
    }

    /// Changes the firewall mark on both sockets (0 clears it).
    pub fn set_fwmark(&self, fwmark: u32) -> Result<(), OsError> {
        for s in self.v4.iter().chain(self.v6.iter()) {
            set_mark(&SockRef::from(s), fwmark)
                .map_err(|e| OsError::io(format!("setting fwmark {fwmark}"), e))?;
        }
        Ok(())
    }

    /// Wakes readers blocked on either socket by sending each an empty
    /// datagram over loopback; a reader that sees its stop flag set after
    /// any receive then returns. (`shutdown(SHUT_RD)` would also wake them,
    /// but the standard library panics on the zero-length source address
    /// such a read returns.)
    pub fn wake_readers(&self) {
        let targets = [
            (
                self.v4.as_ref(),
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            ),
            (
                self.v6.as_ref(),
                SocketAddr::from((Ipv6Addr::LOCALHOST, self.port)),
            ),
        ];
        for (socket, to) in targets {
            if socket.is_none() {
                continue;
            }
            let from = if to.is_ipv4() {
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
            } else {
                SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
            };
            if let Ok(waker) = UdpSocket::bind(from) {
                let _ = waker.send_to(&[], to);
            }
        }
    }
}

fn family_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

fn open(addr: SocketAddr, fwmark: u32) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    set_buffers(&socket);
    if fwmark != 0 {
        set_mark(&SockRef::from(&socket), fwmark)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(target_os = "linux")]
fn set_mark(socket: &SockRef<'_>, mark: u32) -> io::Result<()> {
    socket.set_mark(mark)
}

#[cfg(not(target_os = "linux"))]
fn set_mark(_socket: &SockRef<'_>, mark: u32) -> io::Result<()> {
    if mark == 0 {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "fwmark exists only on Linux",
        ))
    }
}

/// Best effort: large buffers matter for throughput, not correctness.
fn set_buffers(socket: &Socket) {
    if force_buffer(socket, libc::SO_RCVBUFFORCE).is_err() {
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_SIZE);
    }
    if force_buffer(socket, libc::SO_SNDBUFFORCE).is_err() {
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER_SIZE);
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn force_buffer(socket: &Socket, option: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(SOCKET_BUFFER_SIZE).unwrap_or(libc::c_int::MAX);
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: `socket` owns a valid open descriptor for the duration of the
    // call; `size` is a live c_int and `len` is exactly its size, which is
    // what SOL_SOCKET/SO_{RCV,SND}BUFFORCE read. The kernel does not keep
    // the pointer after returning.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            std::ptr::addr_of!(size).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn force_buffer(_socket: &Socket, _option: i32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_both_families_to_one_port_and_exchanges_a_datagram() {
        let s = UdpSockets::bind(0, 0).expect("bind");
        assert_ne!(s.port(), 0);
        let v4 = s.v4.as_ref().expect("IPv4 available");
        assert_eq!(v4.local_addr().expect("addr").port(), s.port());
        if let Some(v6) = &s.v6 {
            assert_eq!(v6.local_addr().expect("addr").port(), s.port());
        }
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        client
            .send_to(b"ping", ("127.0.0.1", s.port()))
            .expect("send");
        let mut buf = [0u8; 16];
        v4.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let (n, from) = v4.recv_from(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, client.local_addr().expect("addr"));

        // The same port cannot be bound twice.
        assert!(UdpSockets::bind(s.port(), 0).is_err());
    }

    #[test]
    fn wake_readers_wakes_a_blocked_reader() {
        let s = std::sync::Arc::new(UdpSockets::bind(0, 0).expect("bind"));
        let readers: Vec<_> = [s.v4.is_some(), s.v6.is_some()]
            .into_iter()
            .enumerate()
            .filter(|(_, present)| *present)
            .map(|(i, _)| {
                let s = std::sync::Arc::clone(&s);
                std::thread::spawn(move || {
                    let sock = if i == 0 { s.v4.as_ref() } else { s.v6.as_ref() };
                    let mut buf = [0u8; 16];
                    sock.map(|x| x.recv_from(&mut buf).map(|(n, _)| n).ok())
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        s.wake_readers();
        for r in readers {
            assert_eq!(r.join().expect("reader thread"), Some(Some(0)));
        }
    }

    #[test]
    fn buffers_are_large_as_root() {
        let s = UdpSockets::bind(0, 0).expect("bind");
        let sock = SockRef::from(s.v4.as_ref().expect("v4"));
        let got = sock.recv_buffer_size().expect("getsockopt");
        if std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|st| st.lines().any(|l| l.starts_with("Uid:\t0\t")))
        {
            // The kernel doubles the requested value for bookkeeping.
            assert!(got >= SOCKET_BUFFER_SIZE, "{got}");
        } else {
            eprintln!("not root: buffer size {got} depends on net.core.rmem_max");
        }
    }

    #[test]
    fn fwmark_is_applied() {
        if !crate::os::is_root() {
            crate::netns::report_skip("skipped: needs root (CAP_NET_ADMIN for SO_MARK)");
            return;
        }
        let s = UdpSockets::bind(0, 0x1234).expect("bind with mark (root)");
        let sock = SockRef::from(s.v4.as_ref().expect("v4"));
        assert_eq!(sock.mark().expect("getsockopt"), 0x1234);
        s.set_fwmark(0).expect("clear");
        assert_eq!(sock.mark().expect("getsockopt"), 0);
    }
}
