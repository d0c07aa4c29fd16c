//! The daemon as a [`StatusSource`] for the metrics endpoint
//! (`metrics_listen`): `/health` from the loops' heartbeats, `/ready` from
//! the peers' handshakes, and before each scrape the counters the core and
//! the data path keep copied into the registry (as deltas, since
//! Prometheus counters only go up).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use dybervpn_metrics::{
    DropReason as MetricDrop, HealthConfig, LoopStatus, Metrics, MetricsServer, PeerMetrics,
    PeerStatus, Snapshot, StatusSource, REJECT_AFTER_TIME,
};
use dybervpn_proto::PeerId;

use super::events::metric_drop;
use super::Shared;

/// One peer's series and what was last copied into them.
struct Series {
    label: String,
    metrics: PeerMetrics,
    copied: [u64; 4],
}

struct Source {
    shared: Arc<Shared>,
    series: Mutex<HashMap<PeerId, Series>>,
    drops_copied: Mutex<HashMap<MetricDrop, u64>>,
}

/// Starts the endpoint on `listen`.
pub(super) fn start(shared: &Arc<Shared>, listen: SocketAddr) -> io::Result<MetricsServer> {
    let source = Arc::new(Source {
        shared: Arc::clone(shared),
        series: Mutex::new(HashMap::new()),
        drops_copied: Mutex::new(HashMap::new()),
    });
    MetricsServer::start(
        listen,
        Arc::clone(&shared.metrics),
        source,
        HealthConfig::default(),
    )
}

impl Source {
    /// Every drop the metrics know a reason for, summed by that reason.
    fn drop_totals(&self) -> HashMap<MetricDrop, u64> {
        let s = &self.shared;
        let mut totals: HashMap<MetricDrop, u64> = HashMap::new();
        for (reason, n) in s.device.drop_counts() {
            *totals.entry(metric_drop(reason)).or_default() += n;
        }
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        *totals.entry(MetricDrop::NoRoute).or_default() += load(&s.counters.no_route);
        *totals.entry(MetricDrop::SourceNotAllowed).or_default() += load(&s.counters.bad_source);
        *totals.entry(MetricDrop::Malformed).or_default() += load(&s.counters.not_ip);
        *totals.entry(MetricDrop::HandshakeQueueFull).or_default() +=
            load(&s.counters.handshake_queue_full);
        totals
    }
}

impl StatusSource for Source {
    fn snapshot(&self) -> Snapshot {
        let s = &self.shared;
        let now = s.clock.now();
        let mut peers = Vec::new();
        if let Ok(table) = s.table.read() {
            for (id, info) in table.sorted() {
                let stats = s.device.peer_stats(id);
                let has_endpoint = stats
                    .as_ref()
                    .and_then(|st| st.endpoint)
                    .or(info.endpoint)
                    .is_some();
                // Monotonic: a wall-clock step (NTP's first sync on a board
                // without a clock) must not make a live peer look stale or
                // a dead one fresh.
                let last_handshake = stats.as_ref().and_then(|st| st.last_handshake_mono);
                // Failing to reach it since the first initiation after its
                // last handshake: while an attempt is under way, and for
                // REJECT_AFTER_TIME after one was given up (after that,
                // with nothing sent since, the peer is merely idle).
                let failing_since = stats.as_ref().and_then(|st| {
                    let given_up_long_ago = st
                        .handshake_gave_up
                        .is_some_and(|t| now.mono.saturating_sub(t) > REJECT_AFTER_TIME);
                    st.failing_since.filter(|_| !given_up_long_ago)
                });
                peers.push(PeerStatus {
                    name: info.label(),
                    has_endpoint,
                    last_handshake,
                    failing_since,
                });
            }
        }
        // One loop per UDP socket (a stalled IPv4 loop must not hide
        // behind a turning IPv6 one), and the timers.
        let mut loops = Vec::with_capacity(3);
        for (v6, present, name) in [
            (false, s.udp.v4.is_some(), "udp4"),
            (true, s.udp.v6.is_some(), "udp6"),
        ] {
            if present {
                loops.push(LoopStatus {
                    name: name.to_owned(),
                    last_turn: s.events.udp_heartbeat(v6),
                });
            }
        }
        loops.push(LoopStatus {
            name: "timers".to_owned(),
            last_turn: s.events.timers_heartbeat(),
        });
        Snapshot {
            now: now.mono,
            // Up and running, as `ip link` shows it: `ip link set … down`
            // makes the tunnel unready.
            interface_up: !s.stopping() && s.tun.is_up(),
            peers,
            loops,
        }
    }

    fn refresh_metrics(&self, metrics: &Metrics) {
        let s = &self.shared;
        let now_unix = s.clock.now().unix;
        let mut active = 0usize;
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let peers: Vec<(PeerId, String)> = s
            .table
            .read()
            .map(|t| {
                t.sorted()
                    .into_iter()
                    .map(|(id, i)| (id, i.label()))
                    .collect()
            })
            .unwrap_or_default();
        metrics.set_peers(peers.len());
        // A map, not a scan of `peers` per series: 10,000 peers would make
        // every scrape 10^8 comparisons.
        let current: HashMap<PeerId, &str> =
            peers.iter().map(|(id, l)| (*id, l.as_str())).collect();
        // Each series handle was one `peer()` call; the registry keeps a
        // series two peers share (the same name) until the last goes.
        series.retain(|id, ser| {
            let keep = current.get(id) == Some(&ser.label.as_str());
            if !keep {
                // By the label the handle records under: a peer folded into
                // `_other` must not take away a series of its own name
                // that another peer got later.
                metrics.remove_peer(ser.metrics.label());
            }
            keep
        });
        for (id, label) in peers {
            let Some(stats) = s.device.peer_stats(id) else {
                continue;
            };
            let ser = series.entry(id).or_insert_with(|| Series {
                metrics: metrics.peer(&label),
                label,
                copied: [0; 4],
            });
            let now = [
                stats.tx_packets,
                stats.tx_bytes,
                stats.rx_packets,
                stats.rx_bytes,
            ];
            let d: Vec<u64> = now
                .iter()
                .zip(ser.copied.iter())
                .map(|(n, c)| n.saturating_sub(*c))
                .collect();
            if let [tp, tb, rp, rb] = d[..] {
                ser.metrics.record_sent(tp, tb);
                ser.metrics.record_received(rp, rb);
            }
            ser.copied = now;
            if let Some(t) = stats.last_handshake {
                ser.metrics.set_last_handshake(t);
                if now_unix.saturating_sub(t) < REJECT_AFTER_TIME {
                    active += 1;
                }
            }
        }
        metrics.set_active_sessions(active);
        let totals = self.drop_totals();
        let mut copied = self
            .drops_copied
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (reason, total) in totals {
            let before = copied.entry(reason).or_default();
            let delta = total.saturating_sub(*before);
            if delta > 0 {
                metrics.record_drops(reason, delta);
            }
            *before = total;
        }
    }
}
