//! The HTTP endpoint: `GET /metrics`, `GET /health`, `GET /ready`.
//!
//! A deliberately small HTTP/1.1 server on a std `TcpListener`: one thread
//! accepts, each connection is served on a thread of its own, at most
//! [`MAX_CONNECTIONS`] at once (beyond that a connection is answered 503 at
//! once and closed), `Connection: close`. Each request is bounded in size
//! ([`MAX_REQUEST_BYTES`]) and time: the request head by
//! [`HEAD_DEADLINE`], the answer written by [`REQUEST_DEADLINE`], then half
//! a second at most for the client to close. So a few slow or hostile
//! clients cannot keep a liveness probe waiting: it is served beside them.
//! Scrapers and probes make one short request every few seconds.
//!
//! It binds where it is told. A non-loopback address is allowed (a
//! management interface behind a firewall) but logged as a warning; see
//! `docs/observability.md` for exposing it safely.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::health::{self, HealthConfig, Snapshot};
use crate::registry::{Metrics, CONTENT_TYPE};

/// The default `metrics_listen` address (loopback; 9586 is the port
/// registered for WireGuard exporters).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9586);

/// Tuning: the largest request head (request line and headers) read.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Tuning: the most time one connection may take, reading and writing.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Tuning: the most time a client may take to send its request head. A
/// probe or scraper sends it at once; a client trickling it holds a
/// connection slot no longer than this.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(2);

/// Tuning: connections served at once, each on its own thread.
pub const MAX_CONNECTIONS: usize = 16;

/// Tuning: how long one read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Tuning: after answering, how long in all to wait for the client to
/// close, and how much of its unread input to discard meanwhile.
const LINGER_TIMEOUT: Duration = Duration::from_millis(500);
const LINGER_MAX_BYTES: usize = 64 * 1024;

/// Tuning: the pause after a failed `accept` (for example when out of file
/// descriptors), so the thread does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// What the daemon provides to the endpoint. Called once per request, on
/// that connection's thread: several requests may call it at once.
pub trait StatusSource: Send + Sync {
    /// The current state, for `/health` and `/ready`.
    fn snapshot(&self) -> Snapshot;

    /// Called before each `/metrics` scrape, to set gauges that are cheaper
    /// to compute on demand than to keep current (active sessions, peers,
    /// last-handshake times). Does nothing by default.
    fn refresh_metrics(&self, metrics: &Metrics) {
        let _ = metrics;
    }
}

/// The running endpoint. Stop it with [`MetricsServer::shutdown`]; dropping
/// it stops it too.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` and serves on a new thread.
    ///
    /// # Errors
    ///
    /// If the address cannot be bound or the thread cannot be started.
    pub fn start(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
        source: Arc<dyn StatusSource>,
        health_config: HealthConfig,
    ) -> io::Result<Self> {
        if !listen.ip().is_loopback() {
            tracing::warn!(
                %listen,
                "metrics endpoint listens beyond loopback; restrict it with a firewall \
                 or put an authenticating proxy in front (docs/observability.md)"
            );
        }
        let listener = TcpListener::bind(listen)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            metrics,
            source,
            health_config,
        };
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("dybervpn-metrics".to_owned())
            .spawn(move || serve(&listener, &handler, &thread_stop))?;
        tracing::info!(%local_addr, "metrics endpoint listening");
        Ok(Self {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets the connections being served finish (each is
    /// bounded in time) and joins the threads.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        match TcpStream::connect_timeout(&wake_addr(self.local_addr), IO_TIMEOUT) {
            Ok(_) => {
                if thread.join().is_err() {
                    tracing::error!("metrics endpoint thread panicked");
                }
            }
            // Joining would block forever; the thread exits on its next
            // connection instead.
            Err(e) => tracing::warn!(error = %e, "could not wake the metrics endpoint to stop it"),
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Where to connect to reach a listener bound to `addr`.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

struct Handler {
    metrics: Arc<Metrics>,
    source: Arc<dyn StatusSource>,
    health_config: HealthConfig,
}

/// Gives a connection slot back when dropped, also if the connection's
/// thread panics.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn serve(listener: &TcpListener, handler: &Handler, stop: &AtomicBool) {
    let active = AtomicUsize::new(0);
    // Bounded: each connection ends by its deadlines, and the scope waits
    // for those still being served once `stop` ends the loop.
    thread::scope(|scope| {
        while !stop.load(Ordering::SeqCst) {
            let (stream, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "metrics endpoint accept failed");
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let slot = Slot(&active);
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                drop(slot);
                turn_away(stream);
                continue;
            }
            let spawned = thread::Builder::new()
                .name("dybervpn-metrics-conn".to_owned())
                .spawn_scoped(scope, move || {
                    let _slot = slot;
                    if let Err(e) = handle_connection(stream, handler) {
                        tracing::debug!(%peer, error = %e, "metrics request failed");
                    }
                });
            if let Err(e) = spawned {
                tracing::debug!(error = %e, "metrics endpoint cannot start a connection thread");
            }
        }
    });
}

/// Answers a connection beyond [`MAX_CONNECTIONS`] with 503 on the
/// accepting thread, so without waiting on the client: the response fits
/// the socket's buffer, and what the client already sent is read without
/// blocking, since closing with unread input would reset the connection
/// and could destroy the 503 before the client reads it. (Input that
/// arrives later can still do that; the client then sees a reset.)
fn turn_away(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(&Response::text(503, "busy: too many connections\n").to_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 1024];
        for _ in 0..8 {
            if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

fn handle_connection(mut stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let head_deadline = Instant::now() + HEAD_DEADLINE;
    // Read through a shared reference, so the closure can cut the same
    // socket's read timeout between reads.
    let bound_read = |left: Duration| {
        let _ = stream.set_read_timeout(Some(left.min(IO_TIMEOUT)));
    };
    let response = match read_head(&mut &stream, head_deadline, bound_read) {
        Ok(head) => match parse_request_line(&head) {
            // A panic in the daemon's callbacks costs one 500, not the
            // endpoint.
            Ok(request) => {
                let mut response =
                    std::panic::catch_unwind(AssertUnwindSafe(|| handler.respond(&request)))
                        .unwrap_or_else(|_| Response::text(500, "internal error\n"));
                // HEAD: GET's head (its Content-Length too), no body.
                response.head_only = request.method == "HEAD";
                response
            }
            Err(e) => Response::text(e.status(), e.message()),
        },
        Err(HeadError::TooLarge) => Response::text(431, "request head too large\n"),
        Err(HeadError::TimedOut) => Response::text(408, "request timed out\n"),
        Err(HeadError::Io(e)) => return Err(e),
    };
    write_by(&mut stream, &response.to_bytes(), deadline)?;
    linger(&mut stream);
    Ok(())
}

/// Writes all of `bytes` by `deadline`: a client that reads a large
/// `/metrics` slowly is cut off then, however steadily it makes progress
/// (each write's own timeout would restart with every byte it takes).
fn write_by(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read the response too slowly",
            ));
        }
        stream.set_write_timeout(Some(left.min(IO_TIMEOUT)))?;
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.flush()
}

/// Half-closes and reads what the client still sends (bounded in bytes and
/// in time overall), so that closing with unread input does not reset the
/// connection and destroy the response before the client reads it (as it
/// would after a 431). A client that keeps sending a byte now and then is
/// dropped when the time is up.
fn linger(stream: &mut TcpStream) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let end = Instant::now() + LINGER_TIMEOUT;
    let mut sink = [0u8; 1024];
    let mut drained = 0;
    while drained < LINGER_MAX_BYTES {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

impl Handler {
    fn respond(&self, request: &Request<'_>) -> Response {
        let known = matches!(request.path, "/metrics" | "/health" | "/ready");
        if !known {
            return Response::text(404, "not found: try /metrics, /health or /ready\n");
        }
        if request.method != "GET" && request.method != "HEAD" {
            return Response::text(405, "method not allowed: use GET or HEAD\n");
        }
        match request.path {
            "/metrics" => {
                self.source.refresh_metrics(&self.metrics);
                match self.metrics.encode() {
                    Ok(body) => Response::new(200, CONTENT_TYPE, body),
                    Err(_) => Response::text(500, "encoding the metrics failed\n"),
                }
            }
            "/health" => {
                let v = health::health(&self.source.snapshot(), &self.health_config);
                Response::new(v.status, JSON, v.body)
            }
            _ => {
                let v = health::ready(&self.source.snapshot(), &self.health_config);
                Response::new(v.status, JSON, v.body)
            }
        }
    }
}

enum HeadError {
    TooLarge,
    TimedOut,
    Io(io::Error),
}

/// Reads until the blank line that ends the request head. The body, if any,
/// is ignored (no path takes one).
///
/// Before each read `bound_read` is given the time left, so that the
/// stream's read timeout can be cut to it: a read that started just before
/// the deadline must not block for a whole `IO_TIMEOUT` past it.
fn read_head(
    stream: &mut impl Read,
    deadline: Instant,
    mut bound_read: impl FnMut(Duration),
) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if head_complete(&head) {
            return Ok(head);
        }
        if head.len() >= MAX_REQUEST_BYTES {
            return Err(HeadError::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::TimedOut);
        }
        bound_read(left);
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(HeadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the request was complete",
                )))
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::TimedOut)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeadError::Io(e)),
        };
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The path without its query string.
    path: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
enum BadRequest {
    NotUtf8,
    Malformed,
    Version,
}

impl BadRequest {
    fn status(&self) -> u16 {
        match self {
            Self::Version => 505,
            Self::NotUtf8 | Self::Malformed => 400,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "request line is not UTF-8\n",
            Self::Malformed => "malformed request line\n",
            Self::Version => "only HTTP/1.0 and HTTP/1.1 are served\n",
        }
    }
}

/// For the `http_request` fuzz target: reads a request head from `bytes`
/// as the server reads one from a connection, and parses its request line.
/// Returns the method and path, or the status the server would answer.
#[doc(hidden)]
pub fn fuzz_request(bytes: &[u8]) -> Result<(String, String), u16> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let head = match read_head(&mut io::Cursor::new(bytes), deadline, |_| {}) {
        Ok(head) => head,
        Err(HeadError::TooLarge) => return Err(431),
        Err(HeadError::TimedOut) => return Err(408),
        Err(HeadError::Io(_)) => return Err(0),
    };
    match parse_request_line(&head) {
        Ok(r) => Ok((r.method.to_owned(), r.path.to_owned())),
        Err(e) => Err(e.status()),
    }
}

/// Parses `METHOD SP TARGET SP HTTP/1.x` from the start of the head.
fn parse_request_line(head: &[u8]) -> Result<Request<'_>, BadRequest> {
    let end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(BadRequest::Malformed)?;
    let line = head.get(..end).ok_or(BadRequest::Malformed)?;
    let line = std::str::from_utf8(line).map_err(|_| BadRequest::NotUtf8)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed);
    };
    // The absolute form (`http://host:port/metrics`), which RFC 9112 §3.2.2
    // has servers accept: its path is what follows the authority.
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => target,
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(BadRequest::Malformed);
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(BadRequest::Version);
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Request { method, path })
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// An answer to HEAD: the head alone.
    head_only: bool,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
            head_only: false,
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Self::new(status, TEXT, body.to_owned())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let allow = if self.status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len(),
        );
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Request {
                method: "GET",
                path: "/metrics"
            })
        );
        assert_eq!(
            parse_request_line(b"GET /ready?verbose=1 HTTP/1.0\n\n").map(|r| r.path),
            Ok("/ready")
        );
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/2\r\n\r\n"),
            Err(BadRequest::Version)
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1 extra\r\n\r\n",
            b"no newline at all",
            b"",
        ] {
            assert_eq!(
                parse_request_line(bad),
                Err(BadRequest::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_request_line(b"GET http://10.0.0.1:9586/ready?x HTTP/1.1\r\n\r\n")
                .map(|r| r.path),
            Ok("/ready"),
            "the absolute form"
        );
        assert_eq!(
            parse_request_line(b"GET http://10.0.0.1:9586 HTTP/1.1\r\n\r\n").map(|r| r.path),
            Ok("/")
        );
        assert_eq!(
            parse_request_line(b"GET /\xff HTTP/1.1\r\n\r\n"),
            Err(BadRequest::NotUtf8)
        );
    }

    #[test]
    fn head_is_bounded() {
        let endless = io::repeat(b'a');
        let deadline = Instant::now() + REQUEST_DEADLINE;
        assert!(matches!(
            read_head(&mut endless.take(1 << 20), deadline, |_| {}),
            Err(HeadError::TooLarge)
        ));
        let mut complete = &b"GET / HTTP/1.1\r\n\r\nbody"[..];
        assert!(read_head(&mut complete, deadline, |_| {}).is_ok());
        let mut cut = &b"GET / HTTP/1.1\r\n"[..];
        assert!(matches!(
            read_head(&mut cut, deadline, |_| {}),
            Err(HeadError::Io(_))
        ));
    }

    #[test]
    fn wake_address_for_wildcards_is_loopback() {
        let any4: SocketAddr = "0.0.0.0:9586".parse().unwrap_or(DEFAULT_LISTEN);
        assert_eq!(wake_addr(any4), DEFAULT_LISTEN);
        let any6: SocketAddr = "[::]:1".parse().unwrap_or(DEFAULT_LISTEN);
        assert_eq!(wake_addr(any6), "[::1]:1".parse().unwrap_or(DEFAULT_LISTEN));
        assert_eq!(wake_addr(DEFAULT_LISTEN), DEFAULT_LISTEN);
    }
}
