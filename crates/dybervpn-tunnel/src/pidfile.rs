//! `/run/dybervpn/<interface>.pid`: one daemon per interface.
//!
//! The daemon holds an exclusive `flock` on its PID file for as long as it
//! runs; the kernel drops the lock when the process ends, however it ends.
//! A PID file nobody holds the lock on is stale, whatever its PID names:
//! after a daemon was killed (`kill -9`, the OOM killer), its PID may have
//! been given to an unrelated process, which `down` must never signal.
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where PID files live.
pub const PID_DIR: &str = "/run/dybervpn";

/// The PID file path for `interface` under `dir`.
#[must_use]
pub fn path_in(dir: &Path, interface: &str) -> PathBuf {
    dir.join(format!("{interface}.pid"))
}

/// The PID of the daemon running `interface`: the one its PID file names,
/// if a live process holds the file's lock. `None` for a missing file, a
/// stale one (no lock held: its process is gone, and the PID may now be
/// someone else's) or an unreadable one.
#[must_use]
pub fn live_pid(dir: &Path, interface: &str) -> Option<u32> {
    let mut file = File::open(path_in(dir, interface)).ok()?;
    match file.try_lock_shared() {
        // We got the lock, so nobody held it: stale.
        Ok(()) => return None,
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(_)) => return None,
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    is_alive(pid).then_some(pid)
}

/// Removes `interface`'s PID file if it is stale (nobody holds its lock):
/// what a killed daemon leaves. Returns whether it removed one. The file
/// is removed while this process holds its lock, so a daemon starting at
/// the same moment either finds it gone or has it locked first.
pub fn remove_stale(dir: &Path, interface: &str) -> bool {
    let path = path_in(dir, interface);
    let Ok(file) = File::open(&path) else {
        return false;
    };
    if file.try_lock().is_err() {
        return false;
    }
    let same = match (file.metadata(), fs::metadata(&path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    };
    same && fs::remove_file(&path).is_ok()
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

/// A PID file held (locked) by this process; removed on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    /// Open for as long as the daemon runs: closing it drops the lock.
    file: File,
}

impl PidFile {
    /// Creates the PID file and takes its lock, refusing (`AlreadyExists`,
    /// with the PID in the message) if another process holds it. A stale
    /// file is taken over.
    pub fn create(dir: &Path, interface: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = path_in(dir, interface);
        // Bounded: each turn means another process removed or replaced the
        // file between our open and our lock, which a few turns outlast.
        for _ in 0..8 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let held_by = live_pid(dir, interface)
                        .map_or_else(String::new, |pid| format!(" (PID {pid})"));
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{interface} is already up{held_by}"),
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
            // The lock is on the file we opened: make sure it is still the
            // one at the path (a daemon stopping removes its file, and one
            // starting may have replaced it).
            let ours = file.metadata()?;
            match fs::metadata(&path) {
                Ok(m) if (m.dev(), m.ino()) == (ours.dev(), ours.ino()) => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            return Ok(Self { path, file });
        }
        Err(io::Error::other(format!(
            "{}: the file kept being replaced while being locked",
            path.display()
        )))
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed while still locked, so no other process can have taken
        // it over in between; the lock goes when `file` closes.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.flush();
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
    fn a_held_file_refuses_a_stale_one_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("dybervpn-pid-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let held = PidFile::create(&dir, "dvp0").expect("create");
            assert_eq!(live_pid(&dir, "dvp0"), Some(std::process::id()));
            let err = PidFile::create(&dir, "dvp0").expect_err("held");
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            assert!(err.to_string().contains(&std::process::id().to_string()));
            drop(held);
            assert!(!path_in(&dir, "dvp0").exists(), "removed on drop");

            // Left behind by a daemon that was killed, its PID now given
            // to a live, unrelated process (PID 1 here): nobody holds the
            // lock, so it is stale, and taken over.
            fs::write(path_in(&dir, "dvp0"), "1\n").expect("write");
            assert_eq!(live_pid(&dir, "dvp0"), None, "a stale file named a PID");
            let again = PidFile::create(&dir, "dvp0").expect("stale taken over");
            assert_eq!(live_pid(&dir, "dvp0"), Some(std::process::id()));
            assert!(!remove_stale(&dir, "dvp0"), "a held file is not stale");
            drop(again);
            fs::write(path_in(&dir, "dvp0"), "1\n").expect("write");
            assert!(remove_stale(&dir, "dvp0"));
            assert!(!path_in(&dir, "dvp0").exists());
            assert!(!remove_stale(&dir, "dvp0"), "nothing left to remove");
        }
        assert!(!path_in(&dir, "dvp0").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
