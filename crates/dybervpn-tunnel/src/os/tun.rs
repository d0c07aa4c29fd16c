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
//! Left open for the performance work: `tun-rs` also offers multi-queue
//! (`IFF_MULTI_QUEUE`, one descriptor per reader thread) and offload
//! (`IFF_VNET_HDR` with GSO/GRO through `recv_multiple`/`send_multiple`).
//! [`TunOptions`] carries those switches so enabling them later does not
//! change this type's callers.
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
}

impl TunOptions {
    /// A single-queue device.
    #[must_use]
    pub fn new(name: &str, mtu: u16) -> Self {
        Self {
            name: name.to_owned(),
            mtu,
            multi_queue: false,
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

    /// An open TUN device.
    pub struct Tun {
        pub(super) dev: SyncDevice,
        pub(super) name: String,
        pub(super) stop: Arc<InterruptEvent>,
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
                .enable(true)
                .build_sync()
                .map_err(|e| OsError::io(context(), e))?;
            // Blocking reads are woken by the interrupt event; tun-rs asks
            // for non-blocking mode so the poll-then-read never blocks.
            dev.set_nonblocking(true)
                .map_err(|e| OsError::io(context(), e))?;
            let stop = InterruptEvent::new().map_err(|e| OsError::io(context(), e))?;
            let name = dev.name().unwrap_or_else(|_| opts.name.clone());
            Ok(Self {
                dev,
                name,
                stop: Arc::new(stop),
            })
        }

        /// The interface name the kernel gave the device.
        #[must_use]
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Reads one IP packet into `buf`, blocking until one arrives or
        /// the stopper fires (then `ErrorKind::Interrupted`).
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            self.dev.recv_intr(buf, &self.stop)
        }

        /// Writes one IP packet. A full queue is reported, not waited for
        /// (the packet is dropped, as a kernel interface would).
        pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
            self.dev.send(packet)
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

pub use imp::{Tun, TunStopper};

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

impl std::fmt::Debug for TunStopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunStopper")
    }
}
