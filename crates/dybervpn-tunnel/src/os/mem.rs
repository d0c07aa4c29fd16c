//! Keeping the daemon's resident memory close to what it holds.
//!
//! Start-up and `reload` parse the configuration into a TOML document and
//! build the peers from it; with 10,000 peers the document alone peaks at
//! about 26 MB (2.6 KB a peer, measured with a counting allocator) and is
//! freed at once. A `get` on the userspace-API socket builds a snapshot and
//! a response of several megabytes and frees them too. glibc keeps freed
//! memory in its arenas, so without the two measures below the idle daemon
//! stays resident at its peaks. Measured with 10,000 idle peers, resident
//! after start-up and one `status`: 41 MB with neither measure (and the
//! configuration kept), 34.5 MB with the trim alone, 25.9 MB with both.
//!
//! * [`configure_heap`] fixes glibc's mmap threshold at its default,
//!   128 KiB. glibc otherwise raises the threshold (up to 32 MiB) each time
//!   a large block is freed, after which multi-megabyte blocks come from
//!   the arenas and the top of a thread's arena is never given back, not
//!   even by `malloc_trim`;
//! * [`release_free_heap`] (`malloc_trim(0)`) returns every whole free page
//!   after the bursts.

/// glibc's default mmap threshold: blocks this large or larger are mapped
/// on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes the mmap threshold (see the module documentation), for the whole
/// process; call it once, early. Returns whether the C library accepted it;
/// a no-op, returning false, on C libraries other than glibc.
#[allow(unsafe_code)]
pub fn configure_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` takes two plain integers and changes only the
        // allocator's own parameters under its lock; any thread may call it
        // at any time, and live allocations are unaffected.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Returns free heap pages to the operating system (glibc's
/// `malloc_trim(0)`). Returns whether any memory was released; a no-op,
/// returning false, on C libraries other than glibc. Measured: 0.6 ms just
/// after a 10,000-peer start-up, microseconds otherwise.
#[allow(unsafe_code)]
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes a plain integer, touches only the
        // allocator's own state under the allocator's locks (it is safe to
        // call from any thread at any time), and leaves every live
        // allocation where it is.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
