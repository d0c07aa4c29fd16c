//! A userspace-API client: what `dybervpn status` and `dybervpn reload` use
//! to talk to a running daemon.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::error::UapiError;
use super::get::{parse_get, DeviceSnapshot};
use super::server::{socket_path_in, CLIENT_TIMEOUT, SOCKET_DIR};
use super::set::ChangeSet;
use crate::ifname;

/// Largest response read from a daemon.
pub const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

fn connect(dir: &Path, interface: &str) -> Result<UnixStream, UapiError> {
    ifname::validate(interface).map_err(|e| UapiError::Io(e.to_string()))?;
    let path = socket_path_in(dir, interface);
    let stream = UnixStream::connect(&path)
        .map_err(|e| UapiError::Io(format!("cannot connect to {}: {e}", path.display())))?;
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
        .map_err(|e| UapiError::Io(e.to_string()))?;
    Ok(stream)
}

fn exchange(mut stream: UnixStream, request: &[u8]) -> Result<String, UapiError> {
    stream
        .write_all(request)
        .map_err(|e| UapiError::Io(e.to_string()))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut response = String::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_string(&mut response)
        .map_err(|e| UapiError::Io(e.to_string()))?;
    Ok(response)
}

/// `get=1` against the daemon serving `interface`.
pub fn get(interface: &str) -> Result<DeviceSnapshot, UapiError> {
    get_in(Path::new(SOCKET_DIR), interface)
}

/// `get=1` against `<dir>/<interface>.sock`.
pub fn get_in(dir: &Path, interface: &str) -> Result<DeviceSnapshot, UapiError> {
    let response = exchange(connect(dir, interface)?, b"get=1\n\n")?;
    parse_get(&response)
}

/// `set=1` against the daemon serving `interface`.
pub fn set(interface: &str, changes: &ChangeSet) -> Result<(), UapiError> {
    set_in(Path::new(SOCKET_DIR), interface, changes)
}

/// `set=1` against `<dir>/<interface>.sock`.
pub fn set_in(dir: &Path, interface: &str, changes: &ChangeSet) -> Result<(), UapiError> {
    let request = changes.to_request();
    let response = exchange(connect(dir, interface)?, request.as_bytes())?;
    let line = response.lines().next().unwrap_or_default();
    match line.strip_prefix("errno=").map(str::parse::<i64>) {
        Some(Ok(0)) => Ok(()),
        Some(Ok(errno)) => Err(UapiError::Rejected {
            errno: i32::try_from(errno.unsigned_abs()).unwrap_or(i32::MAX),
            message: format!("the daemon answered errno={errno}"),
        }),
        _ => Err(UapiError::protocol(
            0,
            format!("unexpected response {line:?}"),
        )),
    }
}

/// The interfaces with a userspace-API socket in `/var/run/wireguard`.
#[must_use]
pub fn list_interfaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(SOCKET_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".sock"))
                .filter(|n| ifname::validate(n).is_ok())
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}
