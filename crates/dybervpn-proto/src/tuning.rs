//! Tuning knobs: values the specification leaves to the implementation.
//!
//! Each one states what the Linux kernel module and wireguard-go chose, and
//! why we chose the same or differently. None of them affects
//! interoperability; the specification's constants are in
//! [`crate::constants`].

use std::time::Duration;

/// Packets queued per peer while no session is usable (waiting for a
/// handshake). When full, the oldest packet is dropped. The kernel
/// (`MAX_STAGED_PACKETS`) and wireguard-go (`QueueStagedSize`) both use 128.
pub const MAX_QUEUED_PACKETS_PER_PEER: usize = 128;

/// Bits in the replay window's ring (a power of two and a multiple of 64).
/// The kernel and wireguard-go use 8192, so 1 KiB per session.
pub const REPLAY_RING_BITS: usize = 8192;

/// How far behind the highest counter seen a packet may arrive and still be
/// accepted: the ring less one word, 8128 packets (as in the kernel and
/// wireguard-go; RFC 6479 explains why one word is given up). The protocol
/// needs at least 2048 to survive reordering on fast links.
pub const REPLAY_WINDOW: u64 = (REPLAY_RING_BITS - 64) as u64;

const _: () = assert!(REPLAY_RING_BITS.is_power_of_two() && REPLAY_RING_BITS.is_multiple_of(64));
const _: () = assert!(REPLAY_WINDOW >= 2048);

/// Handshake messages allowed per second from one source address (IPv4 /32,
/// IPv6 /64) once the device is under load. Kernel and wireguard-go: 20.
pub const RATE_LIMIT_PACKETS_PER_SECOND: u64 = 20;

/// Handshake messages one source may send in a burst. Kernel and
/// wireguard-go: 5.
pub const RATE_LIMIT_BURST: u64 = 5;

/// How often idle rate-limiter entries are removed, and how long an entry
/// must have been idle to go. After 1/`RATE_LIMIT_PACKETS_PER_SECOND` ×
/// `RATE_LIMIT_BURST` = 250 ms an idle entry is full again, so forgetting it
/// after one second changes nothing. Kernel and wireguard-go: one second.
pub const RATE_LIMIT_GC_INTERVAL: Duration = Duration::from_secs(1);

/// The most sources the rate limiter tracks at once. A new source arriving
/// when the table is full (after a collection) is refused, failing closed as
/// the kernel does. The kernel sizes this from memory, up to 65 536 on
/// large machines; wireguard-go has no cap. We take the kernel's largest:
/// about 3 MiB at most.
pub const RATE_LIMIT_MAX_ENTRIES: usize = 65_536;

/// The shortest interval between two initiations accepted from the same
/// peer (the flood limit): an initiation arriving sooner is dropped once
/// its timestamp is decrypted (one X25519, two AEADs and, in hybrid and
/// pq-only, the microseconds of the ML-KEM key check), before any ML-KEM
/// encapsulation or ML-DSA work and before it changes any state. The kernel (`INITIATIONS_PER_SECOND` = 50) and
/// wireguard-go (`HandshakeInitationRate` = 1 s / 50) both use 20 ms. It
/// must stay at or above the TAI64N timestamp granularity (2^24 ns ≈ 16.8
/// ms, see [`crate::tai64n`]) so two accepted initiations always carry
/// different timestamps.
pub const MIN_INITIATION_INTERVAL: Duration = Duration::from_millis(20);

const _: () = assert!(MIN_INITIATION_INTERVAL.as_nanos() >= 1 << 24);

/// Handshake messages per second above which the device considers itself
/// under load and demands cookies (mac2). The kernel uses the depth of its
/// handshake queue (1/8 of 4096 entries); a sans-IO core counts messages per
/// second instead. 512/s is well above any legitimate rate for a few
/// thousand peers (each initiates at most once per `REKEY_TIMEOUT`) and well
/// below what the pq-only handshake's ML-DSA verification can sustain.
pub const UNDER_LOAD_HANDSHAKES_PER_SECOND: u32 = 512;

/// How long the device stays under load after the last message that found
/// the count above [`UNDER_LOAD_HANDSHAKES_PER_SECOND`]. As the kernel and
/// wireguard-go keep it for a second after their queue last ran deep: a
/// flood that goes on is met with cookies from its first message of each
/// second, not only after another 512 full answers.
pub const UNDER_LOAD_HOLD: Duration = Duration::from_secs(1);

/// Handshake messages whose mac1 `Device::decapsulate_many` computes
/// together, at most: the eight lanes of BLAKE2s in AVX2 registers
/// (`CryptoBackend::mac_many`). Eight 1,300-byte MACs at once cost about a
/// quarter of eight one after the other on the machine of
/// `docs/performance.md`.
pub const MAC1_BATCH: usize = 8;
