//! The Grafana dashboard under `deploy/` is valid JSON, lays out its panels
//! without overlap, and queries only series the daemon really exposes.

use std::collections::HashSet;
use std::time::Duration;

use dybervpn_metrics::{DropReason, HandshakeMode, HandshakeResult, Metrics, Role};
use serde_json::Value;

const DASHBOARD: &str = include_str!("../../../deploy/grafana-dashboard.json");

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("deploy/grafana-dashboard.json is valid JSON")
}

fn panels(d: &Value) -> Vec<&Value> {
    d["panels"].as_array().expect("panels").iter().collect()
}

fn exprs(d: &Value) -> Vec<String> {
    panels(d)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has an expr")
                .to_owned()
        })
        .collect()
}

/// Sample names in a populated exposition.
fn exposed_names() -> HashSet<String> {
    let m = Metrics::new();
    m.peer("p").record_sent(1, 1);
    m.peer("p").set_last_handshake(Duration::from_secs(1));
    m.record_handshake(
        HandshakeMode::Hybrid,
        Role::Initiator,
        HandshakeResult::Success,
    );
    m.observe_handshake_duration(HandshakeMode::Hybrid, Duration::from_millis(1));
    m.record_drop(DropReason::Replay);
    m.encode()
        .expect("encode")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn it_is_a_grafana_dashboard() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert_eq!(d["uid"], "dybervpn-overview");
    assert!(d["title"].is_string());
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["datasource", "instance"]);
}

#[test]
fn panels_have_unique_ids_and_do_not_overlap() {
    let d = dashboard();
    let mut ids = HashSet::new();
    let mut cells = HashSet::new();
    for p in panels(&d) {
        assert!(ids.insert(p["id"].as_u64().expect("id")), "duplicate id");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().expect("gridPos"));
        assert!(x + w <= 24, "{} is wider than the grid", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
    }
}

#[test]
fn it_plots_what_the_issue_asks_for() {
    let d = dashboard();
    let titles: Vec<&str> = panels(&d)
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Throughput",
        "Handshakes by mode and result",
        "Handshake latency",
        "Drop reasons",
        "Active sessions",
        "Peers",
        "Last handshake age per peer",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
    let all = exprs(&d).join("\n");
    assert!(all.contains("histogram_quantile(0.5,"));
    assert!(all.contains("histogram_quantile(0.99,"));
    assert!(all.contains("sum by (mode, result)"));
    assert!(all.contains("sum by (reason)"));
}

#[test]
fn every_queried_series_is_exposed() {
    let exposed = exposed_names();
    let d = dashboard();
    let mut queried = 0;
    for expr in exprs(&d) {
        for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if token.starts_with("dybervpn_") {
                queried += 1;
                assert!(
                    exposed.contains(token),
                    "{token} (in {expr}) is not exposed; exposed: {exposed:?}"
                );
            }
        }
    }
    assert!(queried >= 10);
}
