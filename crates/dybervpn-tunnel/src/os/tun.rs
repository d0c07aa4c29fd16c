//! TUN devices, through the `tun-rs` crate.
//!
//! Linux: a layer-3 TUN without packet information (each read is one IP
//! packet). The device lives as long as its file descriptor: dropping the
//! [`Tun`] removes the interface and, with it, its addresses and routes.
//!
//! Readers block in [`Tun::recv`]; [`TunStopper::stop`] wakes them (an
//! eventfd polled together with the TUN descriptor), which is how the
//! daemon shuts its reader thread down without a timeout loop.
//!
//! Offload (on by default): the device is opened with `IFF_VNET_HDR` and
//! TSO/checksum offload, so the kernel hands over TCP segments of up to
//! 64 KB in one read. [`Tun::recv_batch`] splits them into MTU-sized
//! packets ([`TunReadBatch`]); [`Tun::send_batch`] coalesces decrypted
//! TCP segments back into large ones before writing ([`TunWriteBatch`]),
//! so each side's TCP stack sees few, large packets (`tun-rs`'s GSO/GRO
//! helpers, a port of wireguard-go's). [`Tun::recv`]/[`Tun::send`] move
//! single packets either way (tests and the rare path).
#![forbid(unsafe_code)]

use std::io;
use std::sync::Arc;

use super::OsError;

/// How to create a TUN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunOptions {
    /// The interface name (validated by [`crate::ifname::validate`]).
    pub name: String,
    /// The MTU to set.
    pub mtu: u16,
    /// `IFF_MULTI_QUEUE`: allow several queues (see [`Tun::clone_queue`]).
    pub multi_queue: bool,
    /// `IFF_VNET_HDR` with TSO/GRO (falls back to plain packets if the
    /// kernel refuses).
    pub offload: bool,
}

impl TunOptions {
    /// A single-queue device.
    #[must_use]
    pub fn new(name: &str, mtu: u16) -> Self {
        Self {
            name: name.to_owned(),
            mtu,
            multi_queue: false,
            offload: true,
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use std::io::{IoSlice, IoSliceMut};
    use tun_rs::{
        DeviceBuilder, GROTable, InterruptEvent, SyncDevice, VirtioNetHdr, IDEAL_BATCH_SIZE,
        VIRTIO_NET_HDR_LEN,
    };

    /// virtio-net header values (`linux/virtio_net.h`).
    const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
    const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

    /// Fills in a checksum the kernel left partial (`CHECKSUM_PARTIAL`):
    /// the field holds the pseudo-header sum; the rest is summed from
    /// `start` and the complement stored at `start + offset`.
    fn complete_checksum(p: &mut [u8], start: u16, offset: u16) {
        let start = usize::from(start);
        let at = start + usize::from(offset);
        let Some(field) = p.get_mut(at..at + 2) else {
            return;
        };
        let initial = u16::from_be_bytes([field[0], field[1]]);
        field.fill(0);
        let Some(covered) = p.get(start..) else {
            return;
        };
        let sum = !tun_rs::checksum(covered, u64::from(initial));
        if let Some(field) = p.get_mut(at..at + 2) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
    }

    /// Largest packet (or offloaded segment train) one read returns.
    const MAX_READ: usize = 65_535;

    /// An open TUN device.
    pub struct Tun {
        pub(super) dev: SyncDevice,
        pub(super) name: String,
        pub(super) stop: Arc<InterruptEvent>,
        offload: bool,
    }

    /// Buffers for [`Tun::recv_batch`], allocated once per reader thread.
    pub struct TunReadBatch {
        original: Vec<u8>,
        bufs: Vec<Vec<u8>>,
        sizes: Vec<usize>,
    }

    impl TunReadBatch {
        /// Buffers for packets of up to `mtu` bytes (a single packet may be
        /// up to 64 KB).
        #[must_use]
        pub fn new(mtu: u16) -> Self {
            let mut bufs = vec![vec![0u8; usize::from(mtu).max(1500) + 128]; IDEAL_BATCH_SIZE];
            if let Some(first) = bufs.first_mut() {
                first.resize(MAX_READ, 0);
            }
            Self {
                original: vec![0u8; VIRTIO_NET_HDR_LEN + MAX_READ],
                bufs,
                sizes: vec![0; IDEAL_BATCH_SIZE],
            }
        }

        /// Packet `i` of the last batch (empty past its end).
        #[must_use]
        pub fn packet(&self, i: usize) -> &[u8] {
            match (self.bufs.get(i), self.sizes.get(i)) {
                (Some(b), Some(&n)) => b.get(..n).unwrap_or(&[]),
                _ => &[],
            }
        }
    }

    /// Decrypted packets waiting to be written to the device, each behind
    /// room for a virtio header; coalesced by [`Tun::send_batch`].
    pub struct TunWriteBatch {
        bufs: Vec<Vec<u8>>,
        count: usize,
        /// `tun-rs`'s coalescing state, about 1.2 MB of flow tables: made
        /// at the first write, so a reader that never delivers a packet
        /// (an idle interface, an address family without traffic) has none.
        gro: Option<GROTable>,
    }

    impl Default for TunWriteBatch {
        fn default() -> Self {
            Self::new()
        }
    }

    impl TunWriteBatch {
        /// Room for [`IDEAL_BATCH_SIZE`] packets. Each buffer is allocated
        /// the first time it is used, with room for a coalesced 64 KB
        /// segment, and never reallocated: an idle interface (or an
        /// address family without traffic) holds none of them.
        #[must_use]
        pub fn new() -> Self {
            Self {
                bufs: (0..IDEAL_BATCH_SIZE).map(|_| Vec::new()).collect(),
                count: 0,
                gro: None,
            }
        }

        /// Whether no more packets fit before a [`Tun::send_batch`].
        #[must_use]
        pub fn is_full(&self) -> bool {
            self.count >= self.bufs.len()
        }

        /// Packets waiting.
        #[must_use]
        pub fn len(&self) -> usize {
            self.count
        }

        /// Whether nothing waits.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.count == 0
        }

        /// A buffer of `len` bytes for the next packet (`None` when full);
        /// [`Self::commit`] keeps what was written at its start.
        pub fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
            let buf = self.bufs.get_mut(self.count)?;
            if buf.capacity() == 0 {
                buf.reserve_exact(VIRTIO_NET_HDR_LEN + MAX_READ + 1024);
            }
            buf.resize(VIRTIO_NET_HDR_LEN + len, 0);
            buf.get_mut(VIRTIO_NET_HDR_LEN..)
        }

        /// Keeps the first `len` bytes of the last slot as a packet.
        pub fn commit(&mut self, len: usize) {
            if let Some(buf) = self.bufs.get_mut(self.count) {
                buf.truncate(VIRTIO_NET_HDR_LEN + len);
                self.count += 1;
            }
        }
    }

    /// Wakes every reader blocked in [`Tun::recv`]; they return
    /// [`io::ErrorKind::Interrupted`] from then on.
    #[derive(Clone)]
    pub struct TunStopper(pub(super) Arc<InterruptEvent>);

    impl TunStopper {
        /// Wakes the readers. Idempotent.
        pub fn stop(&self) {
            let _ = self.0.trigger();
        }
    }

    impl Tun {
        /// Creates the device, sets its MTU and brings it up.
        pub fn create(opts: &TunOptions) -> Result<Self, OsError> {
            crate::ifname::validate(&opts.name).map_err(|e| {
                OsError::io(
                    "creating TUN device",
                    io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
                )
            })?;
            let context = || format!("creating TUN device {}", opts.name);
            let dev = DeviceBuilder::new()
                .name(&opts.name)
                .mtu(opts.mtu)
                .multi_queue(opts.multi_queue)
                .offload(opts.offload)
                .enable(true)
                .build_sync()
                .map_err(|e| OsError::io(context(), e))?;
            // Blocking reads are woken by the interrupt event; tun-rs asks
            // for non-blocking mode so the poll-then-read never blocks.
            dev.set_nonblocking(true)
                .map_err(|e| OsError::io(context(), e))?;
            let stop = InterruptEvent::new().map_err(|e| OsError::io(context(), e))?;
            let name = dev.name().unwrap_or_else(|_| opts.name.clone());
            let offload = dev.tcp_gso();
            Ok(Self {
                dev,
                name,
                stop: Arc::new(stop),
                offload,
            })
        }

        /// The interface name the kernel gave the device.
        #[must_use]
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Whether the device runs with offload (virtio headers, TSO/GRO).
        #[must_use]
        pub fn offload(&self) -> bool {
            self.offload
        }

        /// Reads one IP packet into `buf`, blocking until one arrives or
        /// the stopper fires (then `ErrorKind::Interrupted`). With offload,
        /// a segment train (TSO) is refused with `InvalidData`: the data
        /// path reads with [`Self::recv_batch`].
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.offload {
                return self.dev.recv_intr(buf, &self.stop);
            }
            let mut hdr = [0u8; VIRTIO_NET_HDR_LEN];
            let n = self.dev.recv_vectored_intr(
                &mut [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)],
                &self.stop,
            )?;
            let h = VirtioNetHdr::decode(&hdr)?;
            if h.gso_type != VIRTIO_NET_HDR_GSO_NONE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a segment train: read it with recv_batch",
                ));
            }
            let n = n.saturating_sub(VIRTIO_NET_HDR_LEN);
            if h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
                if let Some(p) = buf.get_mut(..n) {
                    complete_checksum(p, h.csum_start, h.csum_offset);
                }
            }
            Ok(n)
        }

        /// Writes one IP packet. A full queue is reported, not waited for
        /// (the packet is dropped, as a kernel interface would).
        pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
            if !self.offload {
                return self.dev.send(packet);
            }
            let hdr = [0u8; VIRTIO_NET_HDR_LEN]; // GSO_NONE, checksum complete
            let n = self
                .dev
                .send_vectored(&[IoSlice::new(&hdr), IoSlice::new(packet)])?;
            Ok(n.saturating_sub(VIRTIO_NET_HDR_LEN))
        }

        /// Whether the file descriptor is still attached to a network
        /// interface: `false` once the interface was deleted (`ip link
        /// del`), when the kernel answers `TUNGETIFF` with `EBADFD`.
        #[must_use]
        pub fn attached(&self) -> bool {
            self.dev.name().is_ok()
        }

        /// Whether the interface is up and running (`IFF_UP` and
        /// `IFF_RUNNING`): `false` after `ip link set … down` or once it
        /// was deleted.
        #[must_use]
        pub fn is_up(&self) -> bool {
            self.dev.is_running().unwrap_or(false)
        }

        /// Reads a batch: one packet, or with offload a segment train split
        /// into MTU-sized packets ([`TunReadBatch::packet`]). Blocks like
        /// [`Self::recv`]; returns the number of packets.
        pub fn recv_batch(&self, b: &mut TunReadBatch) -> io::Result<usize> {
            if !self.offload {
                let Some(first) = b.bufs.first_mut() else {
                    return Ok(0);
                };
                let n = self.dev.recv_intr(first, &self.stop)?;
                if let Some(s) = b.sizes.first_mut() {
                    *s = n;
                }
                return Ok(1);
            }
            self.dev
                .recv_multiple_intr(&mut b.original, &mut b.bufs, &mut b.sizes, 0, &self.stop)
        }

        /// Writes the waiting packets, TCP segments of one flow coalesced
        /// into large ones when offload is on, and empties the batch.
        pub fn send_batch(&self, b: &mut TunWriteBatch) -> io::Result<usize> {
            let count = b.count;
            b.count = 0;
            let Some(bufs) = b.bufs.get_mut(..count) else {
                return Ok(0);
            };
            if bufs.is_empty() {
                return Ok(0);
            }
            let gro = b.gro.get_or_insert_with(GROTable::new);
            self.dev.send_multiple(gro, bufs, VIRTIO_NET_HDR_LEN)
        }

        /// A handle that wakes blocked readers.
        #[must_use]
        pub fn stopper(&self) -> TunStopper {
            TunStopper(Arc::clone(&self.stop))
        }

        /// Another queue of the same device, for one more reader thread;
        /// needs `multi_queue`. Shares this handle's stopper. (Without
        /// multi-queue, share one `Tun` between threads: `recv` and `send`
        /// take `&self`.)
        pub fn clone_queue(&self) -> Result<Self, OsError> {
            let dev = self
                .dev
                .try_clone()
                .map_err(|e| OsError::io(format!("cloning TUN queue of {}", self.name), e))?;
            Ok(Self {
                dev,
                name: self.name.clone(),
                stop: Arc::clone(&self.stop),
                offload: self.offload,
            })
        }

        /// The device's current MTU.
        pub fn mtu(&self) -> Result<u16, OsError> {
            self.dev
                .mtu()
                .map_err(|e| OsError::io(format!("reading the MTU of {}", self.name), e))
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    /// An open TUN device (unsupported on this system).
    pub struct Tun {
        pub(super) name: String,
    }

    /// Wakes blocked readers (unsupported on this system).
    #[derive(Clone)]
    pub struct TunStopper(pub(super) Arc<()>);

    /// Read buffers (unsupported on this system).
    pub struct TunReadBatch;

    impl TunReadBatch {
        /// Nothing to allocate here.
        #[must_use]
        pub fn new(_mtu: u16) -> Self {
            Self
        }
        /// Always empty.
        #[must_use]
        pub fn packet(&self, _i: usize) -> &[u8] {
            &[]
        }
    }

    /// Write buffers (unsupported on this system).
    #[derive(Default)]
    pub struct TunWriteBatch;

    impl TunWriteBatch {
        /// Nothing to allocate here.
        #[must_use]
        pub fn new() -> Self {
            Self
        }
        /// Always full.
        #[must_use]
        pub fn is_full(&self) -> bool {
            true
        }
        /// Always empty.
        #[must_use]
        pub fn len(&self) -> usize {
            0
        }
        /// Always empty.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            true
        }
        /// No room.
        pub fn slot(&mut self, _len: usize) -> Option<&mut [u8]> {
            None
        }
        /// Nothing to keep.
        pub fn commit(&mut self, _len: usize) {}
    }

    impl TunStopper {
        /// Does nothing here.
        pub fn stop(&self) {}
    }

    impl Tun {
        /// Always fails: only Linux is supported.
        pub fn create(_opts: &TunOptions) -> Result<Self, OsError> {
            Err(OsError::Unsupported("creating a TUN device"))
        }
        /// The interface name.
        #[must_use]
        pub fn name(&self) -> &str {
            &self.name
        }
        /// Unsupported.
        pub fn recv(&self, _buf: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        /// Unsupported.
        pub fn send(&self, _packet: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        /// No offload.
        #[must_use]
        pub fn offload(&self) -> bool {
            false
        }
        /// Never attached.
        #[must_use]
        pub fn attached(&self) -> bool {
            false
        }
        /// Never up.
        #[must_use]
        pub fn is_up(&self) -> bool {
            false
        }
        /// Unsupported.
        pub fn recv_batch(&self, _b: &mut TunReadBatch) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        /// Unsupported.
        pub fn send_batch(&self, _b: &mut TunWriteBatch) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        /// A do-nothing stopper.
        #[must_use]
        pub fn stopper(&self) -> TunStopper {
            TunStopper(Arc::new(()))
        }
        /// Unsupported.
        pub fn clone_queue(&self) -> Result<Self, OsError> {
            Err(OsError::Unsupported("multi-queue TUN"))
        }
        /// Unsupported.
        pub fn mtu(&self) -> Result<u16, OsError> {
            Err(OsError::Unsupported("reading a TUN MTU"))
        }
    }
}

pub use imp::{Tun, TunReadBatch, TunStopper, TunWriteBatch};

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

impl std::fmt::Debug for TunReadBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunReadBatch")
    }
}

impl std::fmt::Debug for TunWriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunWriteBatch")
    }
}

impl std::fmt::Debug for TunStopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunStopper")
    }
}
