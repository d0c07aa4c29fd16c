//! Writing files so that no half-written file is ever seen: the text goes to
//! a temporary file in the same directory (mode 0600), is synced, and is then
//! moved into place in one step.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{CliError, Result};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Writes `contents` to `path` atomically with mode 0600. Without
/// `overwrite`, fails if `path` exists (checked atomically: the file is
/// linked into place, which fails on an existing name). A file that is
/// replaced keeps its owner's and group's permission bits and, where this
/// process may set them, its owner and group: the operator chose them.
/// Others get no access (these files hold keys).
pub fn write(path: &Path, contents: &[u8], overwrite: bool) -> Result<()> {
    let fail = |what: &str, e: io::Error| CliError::new(format!("{}: {what}: {e}", path.display()));
    if !overwrite && path.exists() {
        return Err(CliError::new(format!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| CliError::new(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_tmp(&tmp, contents)
        .map_err(|e| fail("cannot write a temporary file", e))
        .and_then(|()| {
            if overwrite {
                keep_permissions(path, &tmp).map_err(|e| fail("cannot keep its permissions", e))?;
                fs::rename(&tmp, path).map_err(|e| fail("cannot move into place", e))
            } else {
                match fs::hard_link(&tmp, path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        Err(CliError::new(format!(
                            "{} already exists; pass --force to overwrite it",
                            path.display()
                        )))
                    }
                    Err(e) => Err(fail("cannot move into place", e)),
                }
            }
        });
    // After a rename the temporary name is gone; after a link or a failure
    // it must be removed.
    let _ = fs::remove_file(&tmp);
    if result.is_ok() {
        // Make the new directory entry durable (best effort).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    result
}

/// Gives `tmp` the owner and group of the file at `path`, if there is one,
/// where allowed (root may; other users keep their own), and its owner's
/// permission bits, with its group's only if the group could be kept:
/// group bits meant for one group must not go to another. None for others,
/// and no set-ID or sticky bits.
fn keep_permissions(path: &Path, tmp: &Path) -> io::Result<()> {
    let Ok(old) = fs::metadata(path) else {
        return Ok(());
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::os::unix::fs::chown(tmp, Some(old.uid()), Some(old.gid()));
        let same_group = fs::metadata(tmp)?.gid() == old.gid();
        let keep = if same_group { 0o770 } else { 0o700 };
        fs::set_permissions(tmp, fs::Permissions::from_mode(old.mode() & keep))?;
    }
    #[cfg(not(unix))]
    let _ = (old, tmp);
    Ok(())
}

fn write_tmp(tmp: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.toml");
        write(&p, b"one", false).expect("first write");
        assert_eq!(fs::read(&p).expect("read"), b"one");
        let e = write(&p, b"two", false).expect_err("clobber refused");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read(&p).expect("read"), b"one");
        write(&p, b"two", true).expect("forced");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.toml")]);
    }

    /// A replaced file keeps the permissions its owner gave it, except
    /// any for others.
    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions_but_not_for_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.toml");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        for (before, after) in [
            (0o640, 0o640),
            (0o644, 0o640),
            (0o600, 0o600),
            (0o4750, 0o750),
        ] {
            fs::write(&p, b"old").expect("write");
            fs::set_permissions(&p, fs::Permissions::from_mode(before)).expect("chmod");
            write(&p, b"new", true).expect("overwrite");
            assert_eq!(fs::read(&p).expect("read"), b"new");
            assert_eq!(mode(&p), after, "from {before:o}");
        }
    }

    #[test]
    fn missing_directory_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("no/such/dir/a.toml");
        assert!(write(&p, b"x", false).is_err());
    }
}
