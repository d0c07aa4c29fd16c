//! The userspace-API socket: `/var/run/wireguard/<interface>.sock`.
//!
//! * The directory is created (mode 0755, as wireguard-go does) if missing.
//! * The socket is bound inside a fresh mode-0700 directory, set to mode
//!   0600 and only then renamed into place, so there is no moment at which
//!   another user could connect to it.
//! * A leftover socket from a crashed daemon is removed; a socket some
//!   process still answers on is refused (the interface is already up); a
//!   path that is not a socket is never deleted.
//! * One thread accepts connections; each is served on a thread of its own
//!   (at most [`MAX_CONNECTIONS`] at once, beyond which the accepting
//!   thread serves the next itself), as wireguard-go serves each on its
//!   own goroutine. So a client that keeps its connection open, or stalls
//!   mid-request, does not hold up `wg show` for others; read and write
//!   timeouts end a stalled one.
//! * Stopping shuts the listening socket down (which wakes `accept`, with
//!   or without a socket file at the path) and every connection being
//!   served, so no client holds the daemon up; the socket file is removed
//!   only if it is still the one this server bound.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::io::{self, BufReader};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{serve_connection, UapiTarget};
use crate::ifname;

/// Where wireguard-tools looks for userspace sockets.
pub const SOCKET_DIR: &str = "/var/run/wireguard";

/// How long a client may take to send a request or read the response.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once on their own threads.
pub const MAX_CONNECTIONS: usize = 8;

/// The socket path for `interface` under `dir`.
#[must_use]
pub fn socket_path_in(dir: &Path, interface: &str) -> PathBuf {
    dir.join(format!("{interface}.sock"))
}

/// The socket file a server bound, by path, device and inode: what tells
/// it from a file put at the same path later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// What is at a [`SocketFile`]'s path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// The socket that was bound.
    Ours,
    /// Nothing.
    Removed,
    /// Another file (or another socket).
    Replaced,
    /// It could not be looked at (an I/O error other than "not found").
    Unknown,
}

impl SocketFile {
    /// The socket file at `path`, as it is now.
    fn at(path: &Path) -> Option<Self> {
        let m = fs::symlink_metadata(path).ok()?;
        Some(Self {
            path: path.to_owned(),
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is at the path now: one `stat`.
    #[must_use]
    pub fn state(&self) -> SocketState {
        match fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => SocketState::Removed,
            Err(_) => SocketState::Unknown,
            Ok(m) if m.file_type().is_socket() && (m.dev(), m.ino()) == (self.dev, self.ino) => {
                SocketState::Ours
            }
            Ok(_) => SocketState::Replaced,
        }
    }
}

/// A running userspace-API server. Dropping it stops the thread and removes
/// the socket.
#[derive(Debug)]
pub struct UapiServer {
    path: PathBuf,
    /// The socket file as bound: only that one is removed.
    bound: Option<SocketFile>,
    /// The listening socket, shared with the accepting thread, to wake
    /// its `accept` when stopping.
    waker: Option<socket2::Socket>,
    /// The connections being served, shut down when stopping so that none
    /// (a client sending request after request, or reading a large answer
    /// slowly) keeps the server from stopping.
    open: Arc<Mutex<Connections>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The connections being served: a handle on each socket, by number.
#[derive(Debug, Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, socket2::Socket>,
}

impl UapiServer {
    /// Serves `target` at `/var/run/wireguard/<interface>.sock`.
    pub fn start(interface: &str, target: Arc<dyn UapiTarget>) -> io::Result<Self> {
        Self::start_in(Path::new(SOCKET_DIR), interface, target)
    }

    /// Serves `target` at `<dir>/<interface>.sock` (tests use a temporary
    /// directory).
    pub fn start_in(dir: &Path, interface: &str, target: Arc<dyn UapiTarget>) -> io::Result<Self> {
        ifname::validate(interface)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
        let path = socket_path_in(dir, interface);
        remove_stale(&path)?;
        let listener = bind_private(dir, interface, &path)?;
        let bound = SocketFile::at(&path);
        let waker = listener
            .try_clone()
            .ok()
            .map(|l| socket2::Socket::from(std::os::fd::OwnedFd::from(l)));

        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Connections::default()));
        let accepting = Accepting {
            stop: Arc::clone(&stop),
            open: Arc::clone(&open),
            conn_name: format!("uapi-{interface}-c"),
        };
        let thread = std::thread::Builder::new()
            .name(format!("uapi-{interface}"))
            .spawn(move || accept_loop(&listener, &accepting, target.as_ref()));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        Ok(Self {
            path,
            bound,
            waker,
            open,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket file as bound.
    #[must_use]
    pub fn bound(&self) -> Option<&SocketFile> {
        self.bound.as_ref()
    }

    /// Whether the file at the path is still the socket this server bound.
    fn still_ours(&self) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|b| b.state() == SocketState::Ours)
    }

    /// The socket's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UapiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept: shutting the listening socket down
        // makes it fail (EINVAL on Linux), whether or not the socket file
        // is still there. Failing that, a connection to the path, but only
        // if the file there is still ours: another process's would accept
        // it and leave ours asleep. If neither wakes it, the thread is left
        // to die with the process rather than joined forever.
        let woke = self
            .waker
            .as_ref()
            .is_some_and(|w| w.shutdown(std::net::Shutdown::Both).is_ok())
            || (self.still_ours() && UnixStream::connect(&self.path).is_ok());
        // End the connections being served: their next read or write
        // fails. One registered after this sweep saw `stop` first (both
        // happen under the lock) and was never served.
        for conn in lock(&self.open).open.values() {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            if woke {
                let _ = t.join();
            }
        }
        // Only the socket this server bound: not one put in its place.
        if self.still_ours() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn lock(open: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the accepting thread shares with the server.
struct Accepting {
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Connections>>,
    /// The name of the connection threads.
    conn_name: String,
}

/// A connection while it is served: registered in [`Connections`] and
/// removed from it when dropped, however the connection ends.
struct Registered<'a> {
    open: &'a Mutex<Connections>,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(self.open).open.remove(&self.id);
    }
}

/// Registers `stream` unless the server is stopping (checked under the
/// lock the stopping server sweeps under, so a connection is either swept
/// or never served).
fn register<'a>(accepting: &'a Accepting, stream: &UnixStream) -> Option<Registered<'a>> {
    let handle = socket2::Socket::from(std::os::fd::OwnedFd::from(stream.try_clone().ok()?));
    let mut open = lock(&accepting.open);
    if accepting.stop.load(Ordering::SeqCst) {
        return None;
    }
    let id = open.next;
    open.next = open.next.wrapping_add(1);
    open.open.insert(id, handle);
    Some(Registered {
        open: &accepting.open,
        id,
    })
}

/// Gives a connection slot back when dropped, so a connection thread that
/// panics does not keep its slot.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: &UnixListener, accepting: &Accepting, target: &dyn UapiTarget) {
    let active = AtomicUsize::new(0);
    // Bounded by the process's life: ends when `stop` is set and the
    // listener is shut down; the scope then waits for the connections
    // still being served, which the stopping server shuts down too.
    std::thread::scope(|scope| loop {
        let conn = listener.accept();
        if accepting.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((stream, _)) = conn else {
            // EMFILE and friends: back off briefly rather than spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if stream.set_read_timeout(Some(CLIENT_TIMEOUT)).is_err()
            || stream.set_write_timeout(Some(CLIENT_TIMEOUT)).is_err()
        {
            continue;
        }
        let Some(registered) = register(accepting, &stream) else {
            continue;
        };
        let slot = Slot(&active);
        if active.fetch_add(1, Ordering::AcqRel) < MAX_CONNECTIONS {
            // If no thread can be made, the connection and its slot go
            // with the closure: the client sees it closed.
            let _ = std::thread::Builder::new()
                .name(accepting.conn_name.clone())
                .spawn_scoped(scope, move || {
                    let _slot = slot;
                    let _registered = registered;
                    serve(&stream, target);
                });
            continue;
        }
        drop(slot);
        serve(&stream, target);
        drop(registered);
    });
}

/// Serves one connection until the client closes it or times out.
fn serve(stream: &UnixStream, target: &dyn UapiTarget) {
    // Errors were already reported to the client as errno; the connection
    // just ends.
    let _ = serve_connection(BufReader::new(stream), stream, target);
    // A `get` of 10,000 peers builds a snapshot and a response of a few
    // megabytes and frees them; give the pages back (requests are rare, and
    // a trim costs at most about a millisecond).
    crate::os::mem::release_free_heap();
}

/// Removes `<dir>/<interface>.sock` if it is a socket nobody answers on
/// (what a killed daemon leaves); returns whether it removed one.
#[must_use]
pub fn remove_stale_socket(dir: &Path, interface: &str) -> bool {
    let path = socket_path_in(dir, interface);
    fs::symlink_metadata(&path).is_ok() && remove_stale(&path).is_ok()
}

/// Removes a socket left behind by a daemon that is gone. Refuses when a
/// daemon still answers, or when the path is not a socket.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not removing it",
                path.display()
            ),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use: is the interface already up?", path.display()),
        )),
        Err(_) => fs::remove_file(path),
    }
}

/// Binds inside a private directory, restricts the socket to its owner,
/// then moves it into place.
fn bind_private(dir: &Path, interface: &str, path: &Path) -> io::Result<UnixListener> {
    let private = dir.join(format!(".{interface}.sock.{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&private);
    DirBuilder::new().mode(0o700).create(&private)?;
    let result = (|| {
        let tmp = private.join("s");
        let listener = UnixListener::bind(&tmp)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
        fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = fs::remove_dir_all(&private);
    result
}
