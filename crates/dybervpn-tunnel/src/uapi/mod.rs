//! The WireGuard cross-platform userspace API.
//!
//! A line-based text protocol over a Unix socket at
//! `/var/run/wireguard/<interface>.sock`, so that `wg show`, `wg showconf`
//! and `wg set` work against a DyberVPN daemon as they do against
//! wireguard-go. A client sends `get=1` or `set=1`, then `key=value` lines
//! and a blank line; the daemon answers (for `get`, the state as `key=value`
//! lines) and ends with `errno=N` and a blank line.
//!
//! The module is split by concern: [`set`] parses a request into a fully
//! validated [`ChangeSet`], [`get`] writes and reads the state report,
//! [`server`] owns the socket, [`client`] is what `dybervpn status` uses.
//! The daemon plugs in through [`UapiTarget`]; tests use an in-memory fake.
#![forbid(unsafe_code)]

pub mod client;
mod error;
pub mod get;
mod hexkey;
pub mod server;
pub mod set;

use std::io::{self, BufRead, Write};

pub use error::{UapiError, EADDRINUSE, EINVAL, EIO, EPROTO};
pub use get::{parse_get, DeviceSnapshot, LastReload, PeerSnapshot, ReloadStatus};
pub use server::UapiServer;
pub use set::{parse_set, ChangeSet, PeerChange, SetParser};

/// What the userspace API drives: the daemon's device, or a test fake.
///
/// Methods take `&self` because the server calls them from its own thread;
/// implementations synchronise internally.
pub trait UapiTarget: Send + Sync {
    /// The device's current state, for `get=1`.
    fn snapshot(&self) -> DeviceSnapshot;

    /// Applies a validated change-set **atomically**: either every change
    /// takes effect, or (on `Err`) none does. Checks that need the device's
    /// state (a pq-only peer without an ML-DSA key, a port in use) belong
    /// here, before anything is changed.
    fn apply(&self, changes: ChangeSet) -> Result<(), UapiError>;
}

/// Longest request line accepted, in bytes (an ML-DSA-65 public key in hex
/// is 3,904 digits).
pub const MAX_LINE_LEN: usize = 8 * 1024;
/// Most lines in one `set=1` request.
pub const MAX_SET_LINES: usize = 1 << 22;

enum Line {
    Eof,
    TooLong,
    Text(String),
}

/// Reads one `\n`-terminated line of at most `MAX_LINE_LEN` bytes, without
/// the `\n`. A final line without `\n` counts as end of input.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let limit = u64::try_from(MAX_LINE_LEN + 1).unwrap_or(u64::MAX);
    let n = io::Read::take(&mut *reader, limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if buf.last() != Some(&b'\n') {
        return Ok(if n > MAX_LINE_LEN {
            Line::TooLong
        } else {
            Line::Eof
        });
    }
    buf.pop();
    match std::str::from_utf8(buf) {
        Ok(s) => Ok(Line::Text(s.to_owned())),
        // Not UTF-8: certainly not a key we know; let the parser refuse it.
        Err(_) => Ok(Line::Text(String::from_utf8_lossy(buf).into_owned())),
    }
}

fn write_errno<W: Write>(writer: &mut W, result: &Result<(), UapiError>) -> io::Result<()> {
    match result {
        Ok(()) => writer.write_all(b"errno=0\n\n")?,
        // Negative, as wireguard-go sends it; `wg` negates it back.
        Err(e) => write!(writer, "errno=-{}\n\n", e.errno())?,
    }
    writer.flush()
}

/// Serves requests on one connection until the client closes it or breaks
/// the protocol. Returns the error that ended the connection, if any (the
/// client has already been told its errno).
pub fn serve_connection<R, W, T>(mut reader: R, mut writer: W, target: &T) -> Result<(), UapiError>
where
    R: BufRead,
    W: Write,
    T: UapiTarget + ?Sized,
{
    let io_err = |e: io::Error| UapiError::Io(e.to_string());
    let mut buf = Vec::with_capacity(256);
    loop {
        let op = match read_line(&mut reader, &mut buf).map_err(io_err)? {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let e = UapiError::protocol(1, "operation line too long");
                write_errno(&mut writer, &Err(e.clone())).map_err(io_err)?;
                return Err(e);
            }
            Line::Text(op) => op,
        };
        match op.as_str() {
            "get=1" => {
                // The request is exactly `get=1` and a blank line.
                match read_line(&mut reader, &mut buf).map_err(io_err)? {
                    Line::Text(t) if t.is_empty() => {}
                    _ => {
                        let e = UapiError::protocol(2, "get=1 must be followed by a blank line");
                        write_errno(&mut writer, &Err(e.clone())).map_err(io_err)?;
                        return Err(e);
                    }
                }
                let response = target.snapshot().to_response();
                writer.write_all(response.as_bytes()).map_err(io_err)?;
                writer.flush().map_err(io_err)?;
            }
            "set=1" => {
                let mut parser = SetParser::new();
                let mut terminated = false;
                while parser.line() < MAX_SET_LINES {
                    match read_line(&mut reader, &mut buf).map_err(io_err)? {
                        Line::Eof => break,
                        Line::TooLong => {
                            parser.fail(UapiError::protocol(
                                parser.line() + 2,
                                format!("line longer than {MAX_LINE_LEN} bytes"),
                            ));
                            break;
                        }
                        Line::Text(t) if t.is_empty() => {
                            terminated = true;
                            break;
                        }
                        Line::Text(t) => parser.feed(&t),
                    }
                }
                let result = if terminated {
                    parser.finish().and_then(|changes| target.apply(changes))
                } else {
                    Err(parser.finish().err().unwrap_or_else(|| {
                        UapiError::protocol(0, "set=1 request not terminated by a blank line")
                    }))
                };
                write_errno(&mut writer, &result).map_err(io_err)?;
                if !terminated {
                    // The stream is out of step; close it.
                    return result;
                }
            }
            other => {
                let e = UapiError::protocol(1, format!("unknown operation {other:?}"));
                write_errno(&mut writer, &Err(e.clone())).map_err(io_err)?;
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
