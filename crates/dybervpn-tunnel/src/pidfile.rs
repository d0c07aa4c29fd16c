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
use std::thread;
use std::time::{Duration, Instant};

/// Where PID files live.
pub const PID_DIR: &str = "/run/dybervpn";

/// The PID file path for `interface` under `dir`.
#[must_use]
pub fn path_in(dir: &Path, interface: &str) -> PathBuf {
    dir.join(format!("{interface}.pid"))
}

/// The PID of the daemon running `interface`: the process holding its PID
/// file's lock. `None` for a missing file, a stale one (no lock held: its
/// process is gone, and the PID it names may now be someone else's) or an
/// unreadable one.
///
/// The holder is looked up in `/proc/locks` rather than read from the
/// file: a daemon starting takes the lock before it writes its PID, and in
/// between the file still names the process before it. Only where there is
/// no `/proc/locks` is the lock probed and the file's contents read.
#[must_use]
pub fn live_pid(dir: &Path, interface: &str) -> Option<u32> {
    let mut file = File::open(path_in(dir, interface)).ok()?;
    let meta = file.metadata().ok()?;
    let pid = match fs::read_to_string("/proc/locks") {
        // No holder listed: stale, or a daemon between its open and its
        // lock. Asked without taking a lock, so a daemon starting at this
        // moment never finds the file locked by us.
        Ok(locks) => lock_holder(&locks, meta.dev(), meta.ino())?,
        // No `/proc/locks`: whether anybody holds the lock is learnt by
        // trying for a shared one, and the PID from the file.
        Err(_) => {
            match file.try_lock_shared() {
                Ok(()) => return None,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(_)) => return None,
            }
            let mut text = String::new();
            file.read_to_string(&mut text).ok()?;
            text.trim().parse().ok()?
        }
    };
    is_alive(pid).then_some(pid)
}

/// The process holding an exclusive `flock` on the file `(dev, ino)`, from
/// a `/proc/locks` listing: lines like `1: FLOCK  ADVISORY  WRITE 8661
/// fe:00:974850 0 EOF`, the device as hexadecimal major and minor numbers.
/// Waiters (`1: -> FLOCK …`) are not holders.
#[doc(hidden)]
pub fn lock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    // The split of `st_dev` that glibc's `major()` and `minor()` make.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let wanted = format!("{major:02x}:{minor:02x}:{ino}");
    locks.lines().find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (kind, _, access, pid, file) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        (kind == "FLOCK" && access == "WRITE" && file == wanted)
            .then(|| pid.parse().ok())
            .flatten()
    })
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
    still_at(&file, &path).unwrap_or(false) && fs::remove_file(&path).is_ok()
}

/// Whether the open `file` is still the one at `path` (not removed, nor
/// replaced by another since it was opened): a lock on it guards the path
/// only then.
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    let ours = file.metadata()?;
    match fs::metadata(path) {
        Ok(m) => Ok((m.dev(), m.ino()) == (ours.dev(), ours.ino())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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

/// How long [`PidFile::create`] waits for a lock that is held only for a
/// moment: by `down` removing a stale file, or by an earlier build's
/// `status` probing it. A daemon holds it for good, so waiting longer
/// than this only delays "already up".
const LOCK_PATIENCE: Duration = Duration::from_millis(250);

/// Takes `file`'s exclusive lock, trying again for up to
/// [`LOCK_PATIENCE`] while another process holds it.
fn lock_patiently(file: &File) -> Result<(), TryLockError> {
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if start.elapsed() < LOCK_PATIENCE => {
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
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
            match lock_patiently(&file) {
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
            if !still_at(&file, &path)? {
                continue;
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
    fn lock_holders_are_read_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 8661 fe:00:974850 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 9000 fe:00:974850 0 EOF\n\
                     2: FLOCK  ADVISORY  READ 8390 fe:00:10135878 0 EOF\n\
                     3: POSIX  ADVISORY  WRITE 77 08:01:55 0 EOF\n";
        // fe:00 is major 254, minor 0.
        let dev = 254 << 8;
        assert_eq!(lock_holder(locks, dev, 974_850), Some(8661));
        assert_eq!(lock_holder(locks, dev, 10_135_878), None, "a shared lock");
        assert_eq!(lock_holder(locks, 8 << 8 | 1, 55), None, "not an flock");
        assert_eq!(lock_holder(locks, dev + 1, 974_850), None, "another device");
    }

    #[test]
    fn a_lock_held_for_a_moment_does_not_refuse_a_daemon() {
        let dir = std::env::temp_dir().join(format!("dybervpn-pid-m-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        // A stale file, locked for 10 ms by someone probing it.
        fs::write(path_in(&dir, "dvp1"), "1\n").expect("write");
        let probe = File::open(path_in(&dir, "dvp1")).expect("open");
        probe.try_lock_shared().expect("shared lock");
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            drop(probe);
        });
        let created = PidFile::create(&dir, "dvp1");
        releaser.join().expect("join");
        let held = created.expect("taken once the probe let go");
        // Asking who holds it takes no lock of its own.
        assert_eq!(live_pid(&dir, "dvp1"), Some(std::process::id()));
        drop(held);
        let _ = fs::remove_dir_all(&dir);
    }

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
            // The holder counts, not what the file says (a daemon starting
            // has the lock before it has written its PID).
            fs::write(held.path(), "1\n").expect("write");
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
