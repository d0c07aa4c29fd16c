//! Validates the exposition with Prometheus' own checker, `promtool check
//! metrics` (Debian package `prometheus`). Skipped, saying so, where
//! promtool is not installed.
//!
//! promtool parses the Prometheus text format 0.0.4, of which OpenMetrics
//! text is nearly a superset. Two checks:
//! 1. the exposition exactly as served parses (no parse error);
//! 2. its 0.0.4 rendering (counter families named with `_total`, no
//!    `# UNIT`/`# EOF`, the only differences between the formats for the
//!    metric types used here) passes every lint.

use std::process::Output;
use std::time::Duration;

use dybervpn_metrics::promtool::{check_metrics, to_text_0_0_4};
use dybervpn_metrics::{DropReason, HandshakeMode, HandshakeResult, Metrics, Role};

fn populated() -> Metrics {
    let m = Metrics::new();
    m.set_peers(3);
    m.set_active_sessions(2);
    for (i, name) in ["site-b", "laptop \"quoted\"", "k:9f3a0c"]
        .iter()
        .enumerate()
    {
        let p = m.peer(name);
        let n = u64::try_from(i).unwrap_or(0) + 1;
        p.record_sent(n * 10, n * 14_200);
        p.record_received(n * 9, n * 12_000);
        p.set_last_handshake(Duration::from_secs(1_700_000_000 + n));
    }
    for mode in HandshakeMode::ALL {
        for role in Role::ALL {
            for result in HandshakeResult::ALL {
                m.record_handshake(mode, role, result);
            }
        }
        m.observe_handshake_duration(mode, Duration::from_micros(2_500));
        m.observe_handshake_duration(mode, Duration::from_millis(90));
    }
    for reason in DropReason::ALL {
        m.record_drop(reason);
    }
    m
}

/// Runs `promtool check metrics` on `input`; `None` if promtool is absent.
fn promtool(input: &str) -> Option<Output> {
    check_metrics(input).expect("running promtool")
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn promtool_accepts_the_exposition() {
    let exposition = populated().encode().expect("encode");
    let Some(raw) = promtool(&exposition) else {
        skip_without_promtool();
        return;
    };
    // Exit 1 is a parse error; 3 is lint findings, expected here because
    // 0.0.4 sees OpenMetrics' counter samples as untyped.
    assert_ne!(raw.status.code(), Some(1), "{}", describe(&raw));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&raw.stdout),
        String::from_utf8_lossy(&raw.stderr)
    );
    assert!(!said.contains("error"), "{}", describe(&raw));

    let text = to_text_0_0_4(&exposition);
    let lint = promtool(&text).expect("promtool ran once already");
    assert!(lint.status.success(), "{}\n{text}", describe(&lint));
    assert!(
        lint.stdout.is_empty() && lint.stderr.is_empty(),
        "{}",
        describe(&lint)
    );
}

#[test]
fn promtool_rejects_what_it_should() {
    // The check itself can fail: a counter without the _total suffix and
    // without help text is reported.
    let Some(out) = promtool("# TYPE broken counter\nbroken 1\n") else {
        skip_without_promtool();
        return;
    };
    assert!(!out.status.success(), "{}", describe(&out));
    let Some(out) = promtool("dybervpn_x{a=\"b\"} not-a-number\n") else {
        skip_without_promtool();
        return;
    };
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn the_0_0_4_rendering_renames_only_counter_families() {
    let om = "# HELP a_bytes Help.\n# TYPE a_bytes counter\na_bytes_total 1\n\
              # HELP g Gauge.\n# TYPE g gauge\n# UNIT g seconds\ng 2\n# EOF\n";
    assert_eq!(
        to_text_0_0_4(om),
        "# HELP a_bytes_total Help.\n# TYPE a_bytes_total counter\na_bytes_total 1\n\
         # HELP g Gauge.\n# TYPE g gauge\ng 2\n"
    );
}

/// Says this test was skipped, as `dybervpn_tunnel::netns::report_skip`
/// does (which this crate cannot use: the tunnel crate depends on it):
/// past the harness's capture, and into `$DYBERVPN_SKIP_LOG`.
fn skip_without_promtool() {
    use std::io::Write as _;
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let line = format!("{test}: skipped: promtool is not installed (apt-get install prometheus)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("DYBERVPN_SKIP_LOG") {
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = log.write_all(line.as_bytes());
        }
    }
}
