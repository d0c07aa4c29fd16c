//! Tests of the userspace API: parsing, serialising, every refusal path,
//! atomicity, the socket server, and (as root with `wg` installed) the real
//! wireguard-tools client against a fake device.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dybervpn_crypto::{MlDsaPublicKey, PresharedKey, X25519PublicKey, X25519SecretKey};
use dybervpn_proto::Mode;

use super::*;
use crate::prefix::Prefix;

/// An in-memory device: applies a change-set to a copy of its state and
/// swaps the copy in only if every change was valid.
#[derive(Default)]
pub(crate) struct Fake {
    state: Mutex<DeviceSnapshot>,
}

fn apply_to(state: &mut DeviceSnapshot, changes: ChangeSet) -> Result<(), UapiError> {
    if let Some(k) = changes.private_key {
        state.private_key = k;
    }
    if let Some(port) = changes.listen_port {
        if port == 1 {
            return Err(UapiError::Rejected {
                errno: EADDRINUSE,
                message: "port 1 is in use".into(),
            });
        }
        state.listen_port = port;
    }
    if let Some(mark) = changes.fwmark {
        state.fwmark = mark;
    }
    if changes.replace_peers {
        state.peers.clear();
    }
    let mut peers: BTreeMap<[u8; 32], PeerSnapshot> =
        state.peers.drain(..).map(|p| (p.public_key.0, p)).collect();
    for change in changes.peers {
        let key = change.public_key.0;
        if change.remove {
            peers.remove(&key);
            continue;
        }
        if change.update_only && !peers.contains_key(&key) {
            continue;
        }
        let peer = peers
            .entry(key)
            .or_insert_with(|| PeerSnapshot::new(change.public_key, Mode::default()));
        if let Some(psk) = change.preshared_key {
            peer.preshared_key = psk;
        }
        if let Some(e) = change.endpoint {
            peer.endpoint = Some(e);
        }
        if let Some(k) = change.persistent_keepalive_interval {
            peer.persistent_keepalive_interval = k;
        }
        if change.replace_allowed_ips {
            peer.allowed_ips.clear();
        }
        peer.allowed_ips
            .retain(|p| !change.removed_allowed_ips.contains(p));
        for p in change.allowed_ips {
            if !peer.allowed_ips.contains(&p) {
                peer.allowed_ips.push(p);
            }
        }
        if let Some(m) = change.mode {
            peer.mode = m;
        }
        if let Some(k) = change.mldsa_public_key {
            peer.mldsa_public_key = Some(k);
        }
        if peer.mode.needs_mldsa() && peer.mldsa_public_key.is_none() {
            return Err(UapiError::Rejected {
                errno: EINVAL,
                message: "a pq-only peer needs dybervpn_mldsa_public_key".into(),
            });
        }
    }
    state.peers = peers.into_values().collect();
    Ok(())
}

impl UapiTarget for Fake {
    fn snapshot(&self) -> DeviceSnapshot {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn apply(&self, changes: ChangeSet) -> Result<(), UapiError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| UapiError::Io("poisoned".into()))?;
        let mut next = guard.clone();
        apply_to(&mut next, changes)?;
        *guard = next;
        Ok(())
    }
}

const K1: &str = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
const K2: &str = "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376";
const PSK: &str = "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52";

fn key(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).expect("test key");
    out
}

fn mldsa_key(seed: u8) -> MlDsaPublicKey {
    let mut bytes = Box::new([0u8; dybervpn_crypto::MLDSA65_PK_LEN]);
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    MlDsaPublicKey(bytes)
}

fn p(s: &str) -> Prefix {
    s.parse().expect("test prefix")
}

/// Runs one connection's worth of input against `target`, returning the
/// output and the connection's result.
fn converse(target: &Fake, input: &str) -> (String, Result<(), UapiError>) {
    let mut out = Vec::new();
    let result = serve_connection(Cursor::new(input.as_bytes().to_vec()), &mut out, target);
    (String::from_utf8(out).expect("utf-8 response"), result)
}

// ---- set parsing -------------------------------------------------------

#[test]
fn parses_the_xplatform_example() {
    let body = format!(
        "private_key={K1}\nlisten_port=12912\nfwmark=0\nreplace_peers=true\n\
         public_key={K2}\npreshared_key={PSK}\nreplace_allowed_ips=true\n\
         allowed_ip=192.168.4.4/32\nallowed_ip=10.1.2.3/8\nendpoint=[abcd:23::33%2]:51820\n"
    );
    // A numeric IPv6 scope is kept; a named one (what `wg` sends for a
    // link-local endpoint) becomes the interface's index; an interface that
    // does not exist is refused on its line, not mangled.
    let scoped = parse_set(&body).expect("numeric scope");
    match scoped.peers[0].endpoint {
        Some(SocketAddr::V6(a)) => assert_eq!(a.scope_id(), 2),
        other => panic!("endpoint {other:?}"),
    }
    let named = parse_set(&body.replace("%2]", "%lo]")).expect("named scope");
    match named.peers[0].endpoint {
        Some(SocketAddr::V6(a)) => assert_eq!((a.scope_id(), a.port()), (1, 51820)),
        other => panic!("endpoint {other:?}"),
    }
    let missing = body.replace("%2]", "%nosuchif0]");
    assert!(matches!(
        parse_set(&missing),
        Err(UapiError::Invalid { line: 10, ref message, .. }) if message.contains("nosuchif0")
    ));
    let bad_port = body.replace("%2]:51820", "%lo]:0");
    assert!(matches!(
        parse_set(&bad_port),
        Err(UapiError::Invalid { line: 10, ref message, .. }) if message.contains("port")
    ));
    let body = body.replace("[abcd:23::33%2]:51820", "[abcd:23::33]:51820");
    let cs = parse_set(&body).expect("valid request");
    assert_eq!(
        cs.private_key,
        Some(Some(X25519SecretKey::from_bytes(key(K1))))
    );
    assert_eq!(cs.listen_port, Some(12912));
    assert_eq!(cs.fwmark, Some(0));
    assert!(cs.replace_peers);
    assert_eq!(cs.peers.len(), 1);
    let peer = &cs.peers[0];
    assert_eq!(peer.public_key, X25519PublicKey(key(K2)));
    assert_eq!(
        peer.preshared_key,
        Some(Some(PresharedKey::from_bytes(key(PSK))))
    );
    assert!(peer.replace_allowed_ips);
    assert_eq!(peer.allowed_ips, vec![p("192.168.4.4/32"), p("10.0.0.0/8")]);
    assert_eq!(
        peer.endpoint,
        Some("[abcd:23::33]:51820".parse::<SocketAddr>().expect("addr"))
    );
}

#[test]
fn zero_keys_mean_removal_and_uppercase_hex_is_accepted() {
    let zero = "0".repeat(64);
    let body = format!(
        "private_key={zero}\npublic_key={}\npreshared_key={zero}\n",
        K2.to_uppercase()
    );
    let cs = parse_set(&body).expect("valid");
    assert_eq!(cs.private_key, Some(None));
    assert_eq!(cs.peers[0].public_key, X25519PublicKey(key(K2)));
    assert_eq!(cs.peers[0].preshared_key, Some(None));
}

#[test]
fn dybervpn_keys_parse_in_hex_and_base64() {
    let k = mldsa_key(7);
    let hex_body = format!(
        "public_key={K1}\ndybervpn_mode=pq-only\ndybervpn_mldsa_public_key={}\n",
        hex::encode(&k.0[..])
    );
    let cs = parse_set(&hex_body).expect("hex");
    assert_eq!(cs.peers[0].mode, Some(Mode::PqOnly));
    assert_eq!(cs.peers[0].mldsa_public_key.as_ref(), Some(&k));
    let b64_body = format!(
        "public_key={K1}\ndybervpn_mldsa_public_key={}\n",
        k.to_base64()
    );
    let cs = parse_set(&b64_body).expect("base64");
    assert_eq!(cs.peers[0].mldsa_public_key.as_ref(), Some(&k));
}

#[test]
fn every_invalid_input_is_refused_with_its_kind() {
    let zero = "0".repeat(64);
    let long = "0".repeat(66);
    let cases: Vec<(String, i32)> = vec![
        ("no_equals_sign".into(), EPROTO),
        ("frobnicate=1".into(), EPROTO),
        ("allowed_ip=10.0.0.0/8".into(), EPROTO), // peer key before public_key
        (format!("public_key={K1}\nlisten_port=1"), EPROTO), // device key after peer
        (format!("public_key={K1}\ndybervpn_unknown=1"), EPROTO),
        (
            format!("public_key={K1}\nlast_handshake_time_sec=1"),
            EPROTO,
        ), // get-only
        (format!("private_key={}", &K1[..63]), EINVAL),
        (format!("private_key={long}"), EINVAL),
        (format!("private_key={}g", &K1[..63]), EINVAL),
        ("listen_port=65536".into(), EINVAL),
        ("listen_port=-1".into(), EINVAL),
        ("listen_port=+1".into(), EINVAL),
        ("listen_port=".into(), EINVAL),
        ("listen_port= 1".into(), EINVAL),
        ("fwmark=4294967296".into(), EINVAL),
        ("replace_peers=false".into(), EINVAL),
        ("replace_peers=1".into(), EINVAL),
        (format!("public_key={zero}x"), EINVAL),
        (format!("public_key={K1}\nremove=yes"), EINVAL),
        (format!("public_key={K1}\nupdate_only=false"), EINVAL),
        (format!("public_key={K1}\nendpoint=1.2.3.4"), EINVAL),
        (format!("public_key={K1}\nendpoint=1.2.3.4:0"), EINVAL),
        (
            format!("public_key={K1}\nendpoint=example.com:51820"),
            EINVAL,
        ),
        (format!("public_key={K1}\nendpoint=[::1:51820"), EINVAL),
        (
            format!("public_key={K1}\npersistent_keepalive_interval=65536"),
            EINVAL,
        ),
        (format!("public_key={K1}\nallowed_ip=10.0.0.0/33"), EINVAL),
        (format!("public_key={K1}\nallowed_ip=10.0.0.0"), EINVAL),
        (format!("public_key={K1}\nallowed_ip=::/129"), EINVAL),
        (format!("public_key={K1}\nprotocol_version=2"), EINVAL),
        (format!("public_key={K1}\ndybervpn_mode=quantum"), EINVAL),
        (
            format!("public_key={K1}\ndybervpn_mldsa_public_key=abcd"),
            EINVAL,
        ),
        (
            format!("public_key={K1}\nremove=true\nallowed_ip=10.0.0.0/8"),
            EINVAL,
        ),
        (
            format!("public_key={K1}\nallowed_ip=10.0.0.0/8\nremove=true"),
            EINVAL,
        ),
    ];
    for (body, errno) in cases {
        let err = parse_set(&body).expect_err(&body);
        assert_eq!(err.errno(), errno, "{body:?}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn change_set_round_trips_through_its_request_text() {
    let mut peer = PeerChange::new(X25519PublicKey(key(K2)));
    peer.update_only = true;
    peer.preshared_key = Some(Some(PresharedKey::from_bytes(key(PSK))));
    peer.endpoint = Some("[2001:db8::1]:51820".parse().expect("addr"));
    peer.persistent_keepalive_interval = Some(25);
    peer.replace_allowed_ips = true;
    peer.allowed_ips = vec![p("10.0.0.0/24"), p("fd00::/64")];
    peer.removed_allowed_ips = vec![p("10.9.0.0/16")];
    peer.mode = Some(Mode::PqOnly);
    peer.mldsa_public_key = Some(mldsa_key(3));
    let mut removed = PeerChange::new(X25519PublicKey(key(K1)));
    removed.remove = true;
    let mut cleared = PeerChange::new(X25519PublicKey(key(PSK)));
    cleared.preshared_key = Some(None);
    let cs = ChangeSet {
        private_key: Some(Some(X25519SecretKey::from_bytes(key(K1)))),
        listen_port: Some(51820),
        fwmark: Some(0x1234),
        replace_peers: true,
        peers: vec![peer, removed, cleared],
    };
    let text = cs.to_request();
    let body = text
        .strip_prefix("set=1\n")
        .and_then(|b| b.strip_suffix("\n\n"))
        .expect("framing");
    assert_eq!(parse_set(body).expect("own output parses"), cs);
    let empty = ChangeSet::default();
    assert_eq!(&*empty.to_request(), "set=1\n\n");
}

// ---- get -----------------------------------------------------------------

fn sample_snapshot() -> DeviceSnapshot {
    let mut a = PeerSnapshot::new(X25519PublicKey(key(K2)), Mode::Hybrid);
    a.preshared_key = Some(PresharedKey::from_bytes(key(PSK)));
    a.endpoint = Some("192.0.2.1:51820".parse().expect("addr"));
    a.last_handshake = Some(Duration::new(1_700_000_000, 123_456_789));
    a.last_handshake_mode = Some(Mode::Hybrid);
    a.tx_bytes = 1 << 40;
    a.rx_bytes = 12345;
    a.persistent_keepalive_interval = 25;
    a.allowed_ips = vec![p("10.0.0.2/32"), p("fd00::2/128")];
    let mut b = PeerSnapshot::new(X25519PublicKey(key(PSK)), Mode::PqOnly);
    b.mldsa_public_key = Some(mldsa_key(9));
    DeviceSnapshot {
        private_key: Some(X25519SecretKey::from_bytes(key(K1))),
        listen_port: 51820,
        fwmark: 0xca6c,
        peers: vec![a, b],
        dybervpn_version: Some("0.1.0".into()),
        last_reload: Some(LastReload {
            number: 3,
            status: ReloadStatus::Partly,
            message: "line one\nC:\\x\\n is not a newline\r\nlast".into(),
        }),
        drops: vec![("no_route".into(), 3), ("replay".into(), 0)],
        handshake_wire: vec![("initiation_sent".into(), 2, 2664)],
    }
}

#[test]
fn get_response_has_the_wireguard_order_and_round_trips() {
    let snap = sample_snapshot();
    let text = snap.to_response();
    let keys: Vec<&str> = text
        .lines()
        .take(26)
        .map(|l| l.split('=').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "private_key",
            "listen_port",
            "fwmark",
            "dybervpn_version",
            "dybervpn_last_reload",
            "dybervpn_drop_no_route",
            "dybervpn_drop_replay",
            "dybervpn_wire_initiation_sent",
            "public_key",
            "preshared_key",
            "protocol_version",
            "endpoint",
            "last_handshake_time_sec",
            "last_handshake_time_nsec",
            "tx_bytes",
            "rx_bytes",
            "persistent_keepalive_interval",
            "allowed_ip",
            "allowed_ip",
            "dybervpn_mode",
            "dybervpn_last_handshake_mode",
            "dybervpn_handshakes",
            "public_key",
            "preshared_key",
            "protocol_version",
            "last_handshake_time_sec",
        ]
    );
    assert!(text.contains(&format!("private_key={K1}\n")));
    assert!(text.contains("last_handshake_time_nsec=123456789\n"));
    assert!(text.contains(&format!("preshared_key={}\n", "0".repeat(64))));
    assert!(text.ends_with("errno=0\n\n"));
    assert_eq!(parse_get(&text).expect("own output parses"), snap);
}

#[test]
fn get_parser_refuses_bad_responses_and_ignores_unknown_keys() {
    assert!(parse_get("listen_port=1\nsome_future_key=x\nerrno=0\n\n").is_ok());
    assert!(matches!(
        parse_get("errno=-71\n\n"),
        Err(UapiError::Rejected { errno: 71, .. })
    ));
    assert!(parse_get("listen_port=1\n").is_err(), "missing errno");
    assert!(parse_get("listen_port=x\nerrno=0\n").is_err());
    assert!(parse_get(&format!(
        "public_key={K1}\nlast_handshake_time_nsec=1000000000\nerrno=0\n"
    ))
    .is_err());
    assert!(parse_get("garbage\nerrno=0\n").is_err());
}

// ---- the connection protocol ---------------------------------------------

#[test]
fn set_then_get_over_a_connection() {
    let fake = Fake::default();
    let request = format!(
        "set=1\nprivate_key={K1}\nlisten_port=4242\npublic_key={K2}\nallowed_ip=10.9.0.0/16\n\nget=1\n\n"
    );
    let (out, result) = converse(&fake, &request);
    result.expect("clean end");
    let (first, rest) = out.split_once("\n\n").expect("set response");
    assert_eq!(first, "errno=0");
    let snap = parse_get(rest).expect("get response");
    assert_eq!(snap.listen_port, 4242);
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(snap.peers[0].allowed_ips, vec![p("10.9.0.0/16")]);
}

#[test]
fn an_invalid_request_changes_nothing() {
    let fake = Fake::default();
    let (out, _) = converse(
        &fake,
        &format!("set=1\nlisten_port=4242\npublic_key={K1}\nallowed_ip=10.0.0.0/8\n\n"),
    );
    assert_eq!(out, "errno=0\n\n");
    let before = fake.snapshot();

    // Invalid in the parser, late in the request.
    let (out, result) = converse(
        &fake,
        &format!("set=1\nlisten_port=5555\nreplace_peers=true\npublic_key={K2}\nallowed_ip=10.0.0.0/99\n\n"),
    );
    assert_eq!(out, format!("errno=-{EINVAL}\n\n"));
    assert!(result.is_ok(), "the connection stays in step");
    assert_eq!(fake.snapshot(), before);

    // Valid syntax, refused by the target half-way through its changes.
    let (out, _) = converse(
        &fake,
        &format!("set=1\nlisten_port=5555\nreplace_peers=true\npublic_key={K2}\ndybervpn_mode=pq-only\n\n"),
    );
    assert_eq!(out, format!("errno=-{EINVAL}\n\n"));
    assert_eq!(fake.snapshot(), before);

    let (out, _) = converse(&fake, "set=1\nlisten_port=1\n\n");
    assert_eq!(out, format!("errno=-{EADDRINUSE}\n\n"));
    assert_eq!(fake.snapshot(), before);

    // Unterminated request: refused, connection closed.
    let (out, result) = converse(&fake, "set=1\nlisten_port=5555\n");
    assert_eq!(out, format!("errno=-{EPROTO}\n\n"));
    assert!(result.is_err());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn framing_errors_end_the_connection() {
    let fake = Fake::default();
    for input in ["bogus=1\n\n", "get=2\n\n", "get=1\nx=y\n\n", "get=1"] {
        let (out, result) = converse(&fake, input);
        if input == "get=1" {
            // A final line without newline is end of input.
            assert_eq!(out, "");
            assert!(result.is_ok());
            continue;
        }
        assert_eq!(out, format!("errno=-{EPROTO}\n\n"), "{input:?}");
        assert!(result.is_err(), "{input:?}");
    }
    let long_line = format!("set=1\nallowed_ip={}\n\n", "1".repeat(MAX_LINE_LEN + 10));
    let (out, result) = converse(&fake, &long_line);
    assert_eq!(out, format!("errno=-{EPROTO}\n\n"));
    assert!(result.is_err());
    let (out, _) = converse(&fake, "set=1\n\u{fffd}\u{0}=\n\n");
    assert_eq!(out, format!("errno=-{EPROTO}\n\n"));
    let (out, result) = converse(&fake, "");
    assert!(out.is_empty() && result.is_ok());
}

// ---- the socket ---------------------------------------------------------------

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dybervpn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn server_serves_clients_and_cleans_up() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = TempDir::new("uapi-sock");
    let fake = Arc::new(Fake::default());
    let server = UapiServer::start_in(&dir.0, "dvtest0", fake.clone()).expect("server");
    let path = server.path().to_owned();
    let meta = std::fs::symlink_metadata(&path).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // A second server for the same interface is refused while one runs.
    let err = UapiServer::start_in(&dir.0, "dvtest0", fake.clone()).expect_err("in use");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

    let mut cs = ChangeSet {
        listen_port: Some(777),
        ..ChangeSet::default()
    };
    let mut peer = PeerChange::new(X25519PublicKey(key(K2)));
    peer.allowed_ips.push(p("10.7.0.0/16"));
    cs.peers.push(peer);
    client::set_in(&dir.0, "dvtest0", &cs).expect("set");
    let snap = client::get_in(&dir.0, "dvtest0").expect("get");
    assert_eq!(snap.listen_port, 777);
    assert_eq!(snap.peers[0].allowed_ips, vec![p("10.7.0.0/16")]);
    let bad = ChangeSet {
        listen_port: Some(1),
        ..ChangeSet::default()
    };
    assert!(matches!(
        client::set_in(&dir.0, "dvtest0", &bad),
        Err(UapiError::Rejected {
            errno: EADDRINUSE,
            ..
        })
    ));
    drop(server);
    assert!(!path.exists(), "socket removed on drop");
    assert!(client::get_in(&dir.0, "dvtest0").is_err());
}

/// Drops `server` on a thread of its own; whether that ended `within`
/// (a drop that hangs is left behind, and the test fails rather than
/// hangs).
fn dropped_within(server: UapiServer, within: Duration) -> bool {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    finished.recv_timeout(within).is_ok()
}

/// A server whose socket file was removed, or removed and replaced by
/// another process's, still stops: its accepting thread ends (it held the
/// target) and drop returns; a socket put in its place is left alone.
#[test]
fn a_server_stops_cleanly_after_its_socket_is_removed_or_replaced() {
    let dir = TempDir::new("uapi-gone");
    for replaced in [false, true] {
        let fake = Arc::new(Fake::default());
        let server = UapiServer::start_in(&dir.0, "dvgone0", fake.clone()).expect("server");
        let path = server.path().to_owned();
        std::fs::remove_file(&path).expect("rm");
        let other = replaced.then(|| std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(
            dropped_within(server, Duration::from_secs(5)),
            "drop hung (replaced: {replaced})"
        );
        assert_eq!(
            Arc::strong_count(&fake),
            1,
            "the accepting thread still runs (replaced: {replaced})"
        );
        assert_eq!(path.exists(), replaced, "only our own socket is removed");
        drop(other);
        let _ = std::fs::remove_file(&path);
    }
}

/// A client that keeps its connection open does not hold up stopping:
/// the server shuts the connections it serves down, so drop returns well
/// before the client timeout (10 s) would end the connection.
#[test]
fn a_server_stops_at_once_with_a_client_connected() {
    use std::io::{Read, Write};
    let dir = TempDir::new("uapi-busy");
    let fake = Arc::new(Fake::default());
    let server = UapiServer::start_in(&dir.0, "dvbusy0", fake.clone()).expect("server");
    let mut client = std::os::unix::net::UnixStream::connect(server.path()).expect("connect");
    // One request answered, then the connection stays open.
    client.write_all(b"get=1\n\n").expect("request");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"errno=0\n\n") {
        assert_eq!(
            client.read(&mut byte).expect("answer"),
            1,
            "answer cut short"
        );
        answer.push(byte[0]);
    }
    assert!(
        dropped_within(server, Duration::from_secs(3)),
        "drop waited for the open connection"
    );
    assert_eq!(Arc::strong_count(&fake), 1);
    // The client sees its connection closed.
    assert!(matches!(client.read(&mut byte), Ok(0) | Err(_)));
}

#[test]
fn stale_socket_is_replaced_but_other_files_are_not() {
    let dir = TempDir::new("uapi-stale");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let path = server::socket_path_in(&dir.0, "dvstale");
    // A socket nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let server = UapiServer::start_in(&dir.0, "dvstale", Arc::new(Fake::default()))
        .expect("stale socket replaced");
    assert!(client::get_in(&dir.0, "dvstale").is_ok());
    drop(server);

    std::fs::write(&path, b"not a socket").expect("write");
    let err = UapiServer::start_in(&dir.0, "dvstale", Arc::new(Fake::default()))
        .expect_err("regular file kept");
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(path.exists());

    assert!(UapiServer::start_in(&dir.0, "../evil", Arc::new(Fake::default())).is_err());
}

// ---- against the real `wg` ----------------------------------------------------

fn wg_available() -> Option<&'static str> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        return Some("skipped: needs root (wg talks to /var/run/wireguard)");
    }
    match std::process::Command::new("wg").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("skipped: `wg` (wireguard-tools) is not installed"),
    }
}

fn wg(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("wg")
        .args(args)
        .output()
        .expect("run wg");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn real_wg_tool_talks_to_a_fake_device() {
    if let Some(why) = wg_available() {
        crate::netns::report_skip(why);
        return;
    }
    let ifname = format!("dvwg{}", std::process::id() % 100_000);
    let fake = Arc::new(Fake::default());
    let server = UapiServer::start(&ifname, fake.clone()).expect("server");

    let priv_b64 = dybervpn_crypto::encoding::to_base64(&key(K1));
    let peer_b64 = dybervpn_crypto::encoding::to_base64(&key(K2));
    let dir = TempDir::new("wg-keyfile");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let keyfile = dir.0.join("key");
    std::fs::write(&keyfile, format!("{priv_b64}\n")).expect("key file");
    let keyfile = keyfile.to_string_lossy().into_owned();

    let (ok, out) = wg(&[
        "set",
        &ifname,
        "listen-port",
        "51999",
        "private-key",
        &keyfile,
        "peer",
        &peer_b64,
        "allowed-ips",
        "10.44.0.0/16,fd44::/64",
        "endpoint",
        "192.0.2.7:51820",
        "persistent-keepalive",
        "25",
    ]);
    assert!(ok, "wg set failed: {out}");
    let snap = fake.snapshot();
    assert_eq!(snap.listen_port, 51999);
    assert_eq!(snap.private_key, Some(X25519SecretKey::from_bytes(key(K1))));
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(
        snap.peers[0].allowed_ips,
        vec![p("10.44.0.0/16"), p("fd44::/64")]
    );
    assert_eq!(snap.peers[0].persistent_keepalive_interval, 25);

    let (ok, out) = wg(&["show", &ifname]);
    assert!(ok, "wg show failed: {out}");
    assert!(out.contains(&peer_b64), "{out}");
    assert!(
        out.contains("allowed ips: 10.44.0.0/16, fd44::/64"),
        "{out}"
    );
    assert!(out.contains("endpoint: 192.0.2.7:51820"), "{out}");
    assert!(out.contains("listening port: 51999"), "{out}");

    let (ok, out) = wg(&["showconf", &ifname]);
    assert!(ok, "wg showconf failed: {out}");
    assert!(out.contains(&format!("PrivateKey = {priv_b64}")), "{out}");
    assert!(
        out.contains("AllowedIPs = 10.44.0.0/16, fd44::/64"),
        "{out}"
    );
    assert!(out.contains("PersistentKeepalive = 25"), "{out}");

    // A refused change reaches `wg` as an error, and changes nothing.
    let before = fake.snapshot();
    let (ok, out) = wg(&["set", &ifname, "listen-port", "1"]);
    assert!(!ok, "wg set should have failed: {out}");
    assert!(out.contains("Address already in use"), "{out}");
    assert_eq!(fake.snapshot(), before);

    let (ok, out) = wg(&["set", &ifname, "peer", &peer_b64, "remove"]);
    assert!(ok, "wg set remove failed: {out}");
    assert!(fake.snapshot().peers.is_empty());
    drop(server);
    assert!(!server::socket_path_in(std::path::Path::new(server::SOCKET_DIR), &ifname).exists());
}

/// `allowed_ip=-<prefix>` (wireguard-tools since 2025, for `wg set …
/// allowed-ips -<prefix>`) removes one prefix; of two lines naming the
/// same prefix, the later decides.
#[test]
fn a_minus_allowed_ip_removes_and_the_later_line_wins() {
    let body = format!(
        "public_key={K2}\nallowed_ip=10.1.0.0/16\nallowed_ip=-10.2.0.0/16\n\
         allowed_ip=-10.1.0.0/16\nallowed_ip=10.3.0.0/16\nallowed_ip=-10.3.0.0/16\n\
         allowed_ip=10.3.0.0/16\n"
    );
    let cs = parse_set(&body).expect("parses");
    let peer = &cs.peers[0];
    assert_eq!(peer.allowed_ips, vec![p("10.3.0.0/16")]);
    assert_eq!(
        peer.removed_allowed_ips,
        vec![p("10.2.0.0/16"), p("10.1.0.0/16")]
    );
    assert!(parse_set(&format!("public_key={K2}\nallowed_ip=-\n")).is_err());
    assert!(parse_set(&format!("public_key={K2}\nallowed_ip=--10.1.0.0/16\n")).is_err());
}

/// A client that keeps its connection open without a request (or stalls
/// mid-request) does not hold up others: each connection has its own
/// thread. The idle one is still served afterwards, so the other request
/// was not answered only after the idle one had timed out.
#[test]
fn an_idle_connection_does_not_hold_up_others() {
    use std::io::{BufRead, BufReader, Write};
    let dir = TempDir::new("uapi-idle");
    let server =
        UapiServer::start_in(&dir.0, "dvidle0", Arc::new(Fake::default())).expect("server");
    let mut idle = std::os::unix::net::UnixStream::connect(server.path()).expect("connect");
    idle.write_all(b"get=").expect("half a request");
    // Served while `idle` waits mid-line.
    let snap = client::get_in(&dir.0, "dvidle0").expect("get beside an idle connection");
    assert!(snap.peers.is_empty());
    // The idle connection is still open and is answered once complete.
    idle.write_all(b"1\n\n").expect("rest of the request");
    let mut reader = BufReader::new(idle);
    let mut last = String::new();
    for _ in 0..64 {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            break;
        }
        if line.starts_with("errno=") {
            last = line;
            break;
        }
    }
    assert_eq!(last, "errno=0\n");
}
