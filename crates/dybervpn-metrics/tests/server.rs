//! The endpoint over real loopback sockets: status codes, content types and
//! bodies of every path, and a scrape while traffic is being recorded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use dybervpn_metrics::{
    HandshakeMode, HandshakeResult, HealthConfig, LoopStatus, Metrics, MetricsServer, PeerStatus,
    Role, Snapshot, StatusSource,
};

/// A daemon stand-in whose state the test sets.
struct FakeDaemon {
    snapshot: Mutex<Snapshot>,
}

impl StatusSource for FakeDaemon {
    fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn refresh_metrics(&self, metrics: &Metrics) {
        let peers = self.snapshot().peers.len();
        metrics.set_peers(peers);
    }
}

fn healthy(now: Duration) -> Snapshot {
    Snapshot {
        now,
        interface_up: true,
        peers: vec![PeerStatus {
            name: "site-b".to_owned(),
            has_endpoint: true,
            last_handshake: Some(now),
            failing_since: None,
        }],
        loops: vec![LoopStatus {
            name: "udp".to_owned(),
            last_turn: now,
        }],
    }
}

fn start(snapshot: Snapshot) -> (MetricsServer, Arc<Metrics>, Arc<FakeDaemon>) {
    let metrics = Arc::new(Metrics::new());
    let daemon = Arc::new(FakeDaemon {
        snapshot: Mutex::new(snapshot),
    });
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let server = MetricsServer::start(
        listen,
        Arc::clone(&metrics),
        Arc::clone(&daemon) as Arc<dyn StatusSource>,
        HealthConfig::default(),
    )
    .expect("start the endpoint on loopback");
    (server, metrics, daemon)
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` verbatim and reads the whole reply (the server closes).
fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
}

#[test]
fn every_path_answers_with_the_right_status_and_type() {
    let (server, metrics, daemon) = start(healthy(Duration::from_secs(1000)));
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());

    let m = get(addr, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m
        .head
        .contains("Content-Type: application/openmetrics-text; version=1.0.0"));
    assert!(m.body.ends_with("# EOF\n"));
    // refresh_metrics ran before encoding.
    assert!(m.body.contains("\ndybervpn_peers 1\n"), "{}", m.body);

    let h = get(addr, "/health");
    assert_eq!(h.status, 200);
    assert!(h.head.contains("Content-Type: application/json"));
    let v: serde_json::Value = serde_json::from_str(&h.body).expect("health JSON");
    assert_eq!(v["status"], "ok");

    let r = get(addr, "/ready?x=1");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("ready JSON");
    assert_eq!(v["status"], "ready");
    assert_eq!(v["peers"][0]["name"], "site-b");

    // The peer goes quiet past REJECT_AFTER_TIME while the daemon has
    // been trying to reach it for a minute, and a loop stalls.
    {
        let mut s = daemon.snapshot.lock().expect("lock");
        s.now = Duration::from_secs(1181);
        s.peers[0].failing_since = Some(Duration::from_secs(1121));
    }
    let r = get(addr, "/ready");
    assert_eq!(r.status, 503);
    assert!(r.head.starts_with("HTTP/1.1 503 Service Unavailable"));
    let h = get(addr, "/health");
    assert_eq!(h.status, 503);

    assert_eq!(get(addr, "/").status, 404);
    assert_eq!(get(addr, "/metricsx").status, 404);
    let post = raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
    assert!(post.head.contains("Allow: GET, HEAD"));
    // HEAD: GET's status and length, no body.
    let head = raw(addr, b"HEAD /health HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 503, "the stalled loop");
    assert!(head.body.is_empty(), "{}", head.body);
    assert!(!head.head.contains("Content-Length: 0\r"), "{}", head.head);
    assert_eq!(raw(addr, b"garbage\r\n\r\n").status, 400);
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(raw(addr, huge.as_bytes()).status, 431);

    drop(metrics);
    server.shutdown();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the listener is closed after shutdown"
    );
}

/// Returns the value of the sample `series` in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn counters_and_histogram_move_while_traffic_flows() {
    let (server, metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    let sent = r#"dybervpn_bytes_sent_total{peer="site-b"}"#;
    let received = r#"dybervpn_packets_received_total{peer="site-b"}"#;
    let handshakes = r#"dybervpn_handshake_duration_seconds_count{mode="hybrid"}"#;

    let before = get(addr, "/metrics").body;

    // The "data plane": a thread recording packets and handshakes while the
    // test scrapes. Bounded: 2,000 iterations.
    let peer = metrics.peer("site-b");
    let recorder_metrics = Arc::clone(&metrics);
    let traffic = thread::spawn(move || {
        for i in 0..2_000u64 {
            peer.record_sent(1, 1420);
            peer.record_received(1, 1420);
            if i % 500 == 0 {
                recorder_metrics.record_handshake(
                    HandshakeMode::Hybrid,
                    Role::Initiator,
                    HandshakeResult::Success,
                );
                recorder_metrics
                    .observe_handshake_duration(HandshakeMode::Hybrid, Duration::from_millis(4));
            }
        }
    });
    let during = get(addr, "/metrics").body;
    traffic.join().expect("traffic thread");
    let after = get(addr, "/metrics").body;

    assert_eq!(sample(&before, sent), 0.0);
    assert!(sample(&during, sent) <= sample(&after, sent));
    assert_eq!(sample(&after, sent), 2_000.0 * 1420.0);
    assert_eq!(sample(&after, received), 2_000.0);
    assert_eq!(sample(&before, handshakes), 0.0);
    assert_eq!(sample(&after, handshakes), 4.0);
    server.shutdown();
}

#[test]
fn dropping_the_server_stops_it() {
    let (server, _metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/health").status, 200);
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// A daemon whose snapshot panics.
struct Broken;

impl StatusSource for Broken {
    fn snapshot(&self) -> Snapshot {
        panic!("the daemon's snapshot panicked (on purpose)")
    }
}

#[test]
fn a_panicking_source_costs_a_500_not_the_endpoint() {
    let server = MetricsServer::start(
        "127.0.0.1:0".parse().expect("address"),
        Arc::new(Metrics::new()),
        Arc::new(Broken),
        HealthConfig::default(),
    )
    .expect("start");
    let addr = server.local_addr();
    assert_eq!(get(addr, "/ready").status, 500);
    assert_eq!(get(addr, "/metrics").status, 200);
    server.shutdown();
}

/// A client that, once answered, keeps sending a byte now and then never
/// closes by itself; the server must still move on to the next client
/// (before, it read on for up to 64 KiB at up to half a second a byte).
#[test]
fn a_client_trickling_after_its_answer_does_not_hold_the_endpoint() {
    let (server, _metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickler = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            // Bounded: 300 bytes at most (a minute), or until the next
            // client was served, or the server dropped the connection.
            for _ in 0..300 {
                if done.load(std::sync::atomic::Ordering::SeqCst) || slow.write_all(b"x").is_err() {
                    return true;
                }
                thread::sleep(Duration::from_millis(200));
            }
            false
        })
    };
    thread::sleep(Duration::from_millis(300));
    assert_eq!(get(addr, "/health").status, 200);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        trickler.join().expect("trickler"),
        "the next client was served only after the trickler gave up"
    );
    server.shutdown();
}

#[test]
fn broken_and_idle_clients_do_not_hold_the_endpoint() {
    let (server, _metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    // Half a request, then the client closes.
    {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /hea").expect("send");
    }
    // A client that connects and says nothing: the server gives up on it
    // after its read timeout and serves the next one.
    let _idle = TcpStream::connect(addr).expect("connect");
    assert_eq!(get(addr, "/health").status, 200);
    server.shutdown();
}

/// Clients trickling their request heads, a byte now and then, each hold
/// a connection of their own, not the endpoint: a probe is answered while
/// they are all still connected. (Served one at a time, the probe would
/// wait until the server had cut each of them off.)
#[test]
fn a_probe_is_answered_beside_clients_trickling_their_requests() {
    let (server, _metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    let mut slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /met").expect("send");
            s
        })
        .collect();
    // Let the server take all three up before the probe.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(get(addr, "/health").status, 200);
    for s in &mut slow {
        s.set_nonblocking(true).expect("nonblocking");
        let mut byte = [0u8; 1];
        let still_open =
            matches!(s.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(
            still_open,
            "a trickling client was cut off before the probe was served"
        );
    }
    drop(slow);
    server.shutdown();
}

/// Beyond the connection cap a client is told 503 at once, not queued.
#[test]
fn clients_beyond_the_cap_are_turned_away_at_once() {
    let (server, _metrics, _daemon) = start(healthy(Duration::from_secs(1)));
    let addr = server.local_addr();
    let held: Vec<TcpStream> = (0..dybervpn_metrics::server::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    thread::sleep(Duration::from_millis(200));
    let reply = get(addr, "/health");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body.contains("too many connections"),
        "{}",
        reply.body
    );
    drop(held);
    server.shutdown();
}
