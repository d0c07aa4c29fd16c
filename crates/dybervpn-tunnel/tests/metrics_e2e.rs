//! The metrics endpoint of a running daemon (`metrics_listen`), end to
//! end: two daemons in network namespaces, ping and TCP traffic, and
//! `/metrics`, `/health` and `/ready` scraped from inside the namespace
//! (`ip netns exec <ns> curl`), where the endpoint listens on loopback.
//! The scrape is checked by `promtool check metrics` when installed
//! (Debian package `prometheus`), in the classic text format promtool
//! 2.42 wants, converted as crates/dybervpn-metrics/tests/promtool.rs does.
//!
//! Root only (prints `skipped: needs root (...)` otherwise); also skipped
//! without `curl`.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{ping_until, skip_reason, start, write_config, Node, TempDir};
use dybervpn_config::Config;
use dybervpn_metrics::promtool::{check_metrics, to_text_0_0_4};
use dybervpn_proto::Mode;
use dybervpn_tunnel::netns::{unique_name, veth_pair, Netns};

#[test]
#[ignore = "runs inside a namespace, started by the tests in this file"]
fn inner_up() {
    common::inner_up();
}

const METRICS: &str = "127.0.0.1:9586";

fn scrape(ns: &Netns, path: &str) -> (String, String) {
    let url = format!("http://{METRICS}{path}");
    let out = ns
        .exec(
            "curl",
            &["-s", "-w", "\n%{http_code}", "--max-time", "5", &url],
            Duration::from_secs(10),
        )
        .expect("curl");
    let (body, code) = out.stdout.rsplit_once('\n').expect("status line");
    (body.to_owned(), code.trim().to_owned())
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(exposition: &str, prefix: &str) -> f64 {
    exposition
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix}\n{exposition}"))
}

fn promtool(input: &str) -> Option<std::process::Output> {
    check_metrics(input).expect("running promtool")
}

#[test]
fn metrics_move_with_traffic_and_promtool_accepts_them() {
    if let Some(why) = skip_reason() {
        dybervpn_tunnel::netns::report_skip(why);
        return;
    }
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        dybervpn_tunnel::netns::report_skip("skipped: `curl` is not installed");
        return;
    }
    let ns = [
        Netns::create("dma").expect("ns"),
        Netns::create("dmb").expect("ns"),
    ];
    veth_pair(&ns[0], "10.242.0.1/24", &ns[1], "10.242.0.2/24").expect("veth");
    let dir = TempDir::new("metrics");
    let (a, b) = (Node::new(21, Mode::Hybrid), Node::new(22, Mode::Hybrid));
    let names = [unique_name("dma"), unique_name("dmb")];
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    let mut b_peer = b.as_peer(Some(ip("10.242.0.2")), &["10.98.2.2/32"]);
    b_peer.name = Some("site-b".to_owned());
    let mut ca = Config {
        interface: a.interface("10.98.2.1/32"),
        peers: vec![b_peer],
    };
    ca.interface.metrics_listen = Some(METRICS.parse().expect("addr"));
    ca.interface.log_format = dybervpn_config::LogFormat::Json;
    let cb = Config {
        interface: b.interface("10.98.2.2/32"),
        peers: vec![a.as_peer(Some(ip("10.242.0.1")), &["10.98.2.1/32"])],
    };
    let pa = write_config(&dir, &names[0], &ca);
    let pb = write_config(&dir, &names[1], &cb);
    let mut da = start(&ns[0], &pa, &names[0]);
    let mut db = start(&ns[1], &pb, &names[1]);

    let (body, code) = scrape(&ns[0], "/metrics");
    assert_eq!(code, "200", "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let sent_before = sample(&body, "dybervpn_bytes_sent_total{peer=\"site-b\"}");
    assert_eq!(sample(&body, "dybervpn_peers "), 1.0);
    // Before any traffic nobody is trying to reach the peer: idle, which
    // is no reason to be unready.
    let (body, ready) = scrape(&ns[0], "/ready");
    assert_eq!(ready, "200", "{body}");
    assert!(body.contains("\"seconds_failing\":null"), "{body}");

    // A initiates: ping, then a TCP transfer through the tunnel.
    assert!(ping_until(&ns[0], "10.98.2.2", Duration::from_secs(20)).is_some());
    let _ = ns[0].exec(
        "ping",
        &["-c", "20", "-i", "0.05", "-s", "1200", "10.98.2.2"],
        Duration::from_secs(20),
    );

    let (body, code) = scrape(&ns[0], "/metrics");
    assert_eq!(code, "200");
    let sent = sample(&body, "dybervpn_bytes_sent_total{peer=\"site-b\"}");
    let received = sample(&body, "dybervpn_bytes_received_total{peer=\"site-b\"}");
    assert!(
        sent > sent_before + 20.0 * 1200.0,
        "bytes sent moved: {sent}"
    );
    assert!(received > 20.0 * 1200.0, "bytes received moved: {received}");
    assert!(
        sample(
            &body,
            "dybervpn_handshakes_total{mode=\"hybrid\",role=\"initiator\",result=\"success\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &body,
            "dybervpn_handshake_duration_seconds_count{mode=\"hybrid\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &body,
            "dybervpn_handshake_duration_seconds_sum{mode=\"hybrid\"}"
        ) > 0.0
    );
    assert_eq!(sample(&body, "dybervpn_active_sessions "), 1.0);
    assert!(
        sample(
            &body,
            "dybervpn_last_handshake_timestamp_seconds{peer=\"site-b\"}"
        ) > 1e9
    );
    // B, the responder, has no endpoint of its own here but counts too.
    let (health, code) = scrape(&ns[0], "/health");
    assert_eq!(code, "200", "{health}");
    assert!(health.contains("\"udp4\""), "one loop per socket: {health}");
    let (ready, code) = scrape(&ns[0], "/ready");
    assert_eq!(code, "200", "{ready}");
    assert!(ready.contains("site-b"), "{ready}");
    // An interface set down is not ready, whatever its peers; back up, it
    // is again.
    ns[0]
        .ip(&["link", "set", &names[0], "down"])
        .expect("link down");
    let (ready, code) = scrape(&ns[0], "/ready");
    assert_eq!(code, "503", "{ready}");
    assert!(ready.contains("\"interface_up\":false"), "{ready}");
    ns[0]
        .ip(&["link", "set", &names[0], "up"])
        .expect("link up");
    let (ready, code) = scrape(&ns[0], "/ready");
    assert_eq!(code, "200", "{ready}");

    match promtool(&body) {
        None => dybervpn_tunnel::netns::report_skip("skipped: promtool (apt-get install prometheus) is not installed: the exposition was not checked"),
        Some(raw) => {
            assert_ne!(raw.status.code(), Some(1), "promtool parse error: {raw:?}");
            let classic = promtool(&to_text_0_0_4(&body)).expect("promtool ran");
            assert!(
                classic.status.success(),
                "promtool lint: {}{}",
                String::from_utf8_lossy(&classic.stdout),
                String::from_utf8_lossy(&classic.stderr)
            );
        }
    }
    assert!(da.stop(Duration::from_secs(10)) && db.stop(Duration::from_secs(10)));
}
