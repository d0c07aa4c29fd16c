//! Signals to other processes (the daemon, a helper a test started),
//! sent with `kill(2)` itself rather than by running `kill(1)`, which
//! minimal systems without procps do not have.

use std::io;

use super::OsError;

/// A signal this crate sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    number: libc::c_int,
    name: &'static str,
}

/// Reload the configuration.
pub const SIGHUP: Signal = Signal {
    number: libc::SIGHUP,
    name: "SIGHUP",
};
/// Stop, with teardown.
pub const SIGTERM: Signal = Signal {
    number: libc::SIGTERM,
    name: "SIGTERM",
};
/// Stop at once, without teardown.
pub const SIGKILL: Signal = Signal {
    number: libc::SIGKILL,
    name: "SIGKILL",
};

/// Sends `signal` to process `pid`. Refuses PID 0 and PIDs beyond
/// `i32::MAX`, which `kill(2)` would take as a process group or as every
/// process.
#[allow(unsafe_code)]
pub fn send(pid: u32, signal: Signal) -> Result<(), OsError> {
    let context = || format!("sending {} to process {pid}", signal.name);
    let Some(raw) = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0) else {
        return Err(OsError::io(
            context(),
            io::Error::new(io::ErrorKind::InvalidInput, "not a process ID"),
        ));
    };
    // SAFETY: kill(2) takes two integers and touches no memory of ours;
    // `raw` is positive, so it names one process, never a group.
    if unsafe { libc::kill(raw, signal.number) } == 0 {
        Ok(())
    } else {
        Err(OsError::io(context(), io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_or_every_process_is_never_signalled() {
        assert!(send(0, SIGTERM).is_err());
        assert!(send(u32::MAX, SIGTERM).is_err(), "would be kill(-1)");
        assert!(send(1 << 31, SIGTERM).is_err());
    }

    #[test]
    fn a_child_is_stopped_and_a_gone_one_is_an_error() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        send(child.id(), SIGTERM).expect("signal");
        let status = child.wait().expect("wait");
        assert!(!status.success());
        // Beyond the kernel's largest PID there is never a process (a
        // reaped child's PID could be someone else's by now).
        let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 22);
        if let Some(none) = max.checked_add(1).filter(|p| i32::try_from(*p).is_ok()) {
            let err = send(none, SIGTERM).expect_err("no such process");
            assert!(err.to_string().contains("SIGTERM"), "{err}");
        }
    }
}
