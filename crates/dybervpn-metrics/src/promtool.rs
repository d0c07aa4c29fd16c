//! Checking an exposition with Prometheus' own validator, `promtool check
//! metrics` (Debian package `prometheus`), for tests and for operators who
//! want to validate a scrape by hand.
//!
//! promtool (2.42, Debian 12) reads the Prometheus text format 0.0.4; the
//! endpoint serves OpenMetrics text, nearly a superset of it. For the metric
//! types used here the only differences are that 0.0.4 names counter
//! families with their `_total` suffix and has no `# UNIT` or `# EOF` lines,
//! which [`to_text_0_0_4`] rewrites.

use std::io::{ErrorKind, Write};
use std::process::{Command, Output, Stdio};

/// The 0.0.4 rendering of an OpenMetrics exposition of counters, gauges and
/// histograms.
#[must_use]
pub fn to_text_0_0_4(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::new();
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Runs `promtool check metrics` with `input` on its standard input.
/// `Ok(None)` when promtool is not installed.
pub fn check_metrics(input: &str) -> std::io::Result<Option<Output>> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    child.wait_with_output().map(Some)
}
