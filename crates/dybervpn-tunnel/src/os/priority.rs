//! Scheduling priority of the daemon's own threads.
//!
//! The handshake worker runs below the data path: under a flood of
//! handshake messages (or any handshake load while the CPU is saturated)
//! established tunnels keep the CPU, the worker takes what is left, and
//! what it cannot take in time is dropped at its bounded queue — as the
//! kernel module answers handshakes from a workqueue while packets are
//! decrypted in softirq context, which preempts it.

/// The nice value of the handshake worker (0 is the default; 10 gets about
/// a tenth of the CPU a default thread gets when both want it, and all of
/// it when nothing else runs).
pub const HANDSHAKE_WORKER_NICE: i32 = 10;

/// Sets the calling thread's nice value. Linux applies `setpriority` with
/// `who = 0` to the calling thread only, not the whole process. Raising
/// the value (lowering the priority) needs no privilege.
#[allow(unsafe_code)]
pub fn set_current_thread_nice(nice: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `setpriority` takes three plain integers and only changes
        // the scheduler's weight of the calling thread; it touches no memory
        // of ours. `PRIO_PROCESS` is a `c_int` on glibc and a `c_uint` on
        // some other C libraries, hence the cast.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_lowers_its_own_priority_and_no_other() {
        let own = || {
            std::fs::read_to_string("/proc/thread-self/stat")
                .ok()
                .and_then(|s| {
                    // Field 19 (nice), counted after the ")" that ends the
                    // command name.
                    let rest = s.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(16)?.parse::<i32>().ok()
                })
        };
        let before = own();
        let inside = std::thread::spawn(move || {
            // Lowering a nice value already above 10 needs privilege.
            set_current_thread_nice(HANDSHAKE_WORKER_NICE).map(|()| own())
        })
        .join()
        .expect("thread");
        match inside {
            Ok(nice) => assert_eq!(nice, Some(HANDSHAKE_WORKER_NICE)),
            Err(e) => crate::netns::report_skip(format!("skipped: cannot set nice 10 here: {e}")),
        }
        assert_eq!(own(), before, "the calling thread is unchanged");
    }
}
