//! `/run/dybervpn/<interface>.pid`: one daemon per interface.
#![forbid(unsafe_code)]

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where PID files live.
pub const PID_DIR: &str = "/run/dybervpn";

/// The PID file path for `interface` under `dir`.
#[must_use]
pub fn path_in(dir: &Path, interface: &str) -> PathBuf {
    dir.join(format!("{interface}.pid"))
}

/// The PID recorded for `interface`, if its file exists and names a live
/// process.
#[must_use]
pub fn live_pid(dir: &Path, interface: &str) -> Option<u32> {
    let text = fs::read_to_string(path_in(dir, interface)).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    is_alive(pid).then_some(pid)
}

/// Whether process `pid` exists and has not exited (a zombie, exited but
/// not yet reaped by its parent, counts as gone).
#[must_use]
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// A PID file held by this process; removed on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Creates the PID file, refusing (`AlreadyExists`, with the PID in the
    /// message) if a live process holds it; a stale one is replaced.
    pub fn create(dir: &Path, interface: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = path_in(dir, interface);
        if let Some(pid) = live_pid(dir, interface) {
            if pid != std::process::id() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{interface} is already up (PID {pid})"),
                ));
            }
        }
        let _ = fs::remove_file(&path);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        writeln!(f, "{}", std::process::id())?;
        Ok(Self { path })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_impossible_one_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(u32::MAX));
    }

    #[test]
    fn live_file_refuses_stale_file_is_replaced() {
        let dir = std::env::temp_dir().join(format!("dybervpn-pid-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let held = PidFile::create(&dir, "dvp0").expect("create");
            assert_eq!(live_pid(&dir, "dvp0"), Some(std::process::id()));
            // Pretend another live process (PID 1) holds it.
            fs::write(held.path(), "1\n").expect("write");
            let err = PidFile::create(&dir, "dvp0").expect_err("held by PID 1");
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            // A PID that cannot exist is stale.
            fs::write(held.path(), "4294967295\n").expect("write");
            let again = PidFile::create(&dir, "dvp0").expect("stale replaced");
            drop(held);
            drop(again);
        }
        assert!(!path_in(&dir, "dvp0").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
