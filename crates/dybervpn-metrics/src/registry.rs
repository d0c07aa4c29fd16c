//! The metrics registry: every series DyberVPN exposes, and cheap ways to
//! record into them.
//!
//! Intended use by the daemon:
//!
//! - One [`Metrics`] for the process, shared as `Arc<Metrics>` with the
//!   HTTP server.
//! - One [`PeerMetrics`] handle per peer, taken with [`Metrics::peer`] when
//!   the peer is added and kept in the peer's state. Recording through it is
//!   a relaxed atomic add: no lock, no allocation, no lookup. The event loop
//!   may count each packet, or sum a batch and record once.
//! - [`Metrics::record_drop`] indexes a fixed array of counters, so a flood of
//!   bad packets costs one atomic add each.
//! - Handshakes are rare; [`Metrics::record_handshake`] takes a read lock.
//! - [`Metrics::remove_peer`] when a peer is removed from the configuration,
//!   so its series disappear.
//!
//! Cardinality: at most [`MAX_PEER_SERIES`] distinct `peer` label values
//! (plus [`OTHER_PEER`]); every other label comes from a closed enum in
//! [`crate::labels`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::labels::{DropReason, HandshakeMode, HandshakeResult, Role};

/// Tuning: the most peers that get series of their own. Peers registered
/// beyond this share the series labelled [`OTHER_PEER`].
pub const MAX_PEER_SERIES: usize = 1024;

/// The `peer` label value shared by peers beyond [`MAX_PEER_SERIES`].
pub const OTHER_PEER: &str = "_other";

/// Tuning: peer label values are cut to this many bytes (on a character
/// boundary). A key fingerprint or a configured name fits easily.
pub const MAX_PEER_LABEL_LEN: usize = 64;

/// Handshake latency buckets: 0.5 ms doubling to about 8 s (15 bounds).
const HANDSHAKE_BUCKET_START: f64 = 0.0005;
const HANDSHAKE_BUCKET_COUNT: u16 = 15;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HandshakeLabels {
    mode: HandshakeMode,
    role: Role,
    result: HandshakeResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ModeLabels {
    mode: HandshakeMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: DropReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily = Family<ModeLabels, Histogram, fn() -> Histogram>;

fn handshake_histogram() -> Histogram {
    Histogram::new(exponential_buckets(
        HANDSHAKE_BUCKET_START,
        2.0,
        HANDSHAKE_BUCKET_COUNT,
    ))
}

/// Every metric DyberVPN exposes. Cheap to share (`Arc<Metrics>`); all
/// recording methods take `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    handshakes: Family<HandshakeLabels, Counter>,
    handshake_duration: HistogramFamily,
    drops: Vec<Counter>,
    active_sessions: Gauge,
    peers: Gauge,
    bytes_sent: Family<PeerLabels, Counter>,
    bytes_received: Family<PeerLabels, Counter>,
    packets_sent: Family<PeerLabels, Counter>,
    packets_received: Family<PeerLabels, Counter>,
    last_handshake: Family<PeerLabels, FloatGauge>,
    /// Peer label values that have series of their own, each with the
    /// number of [`Metrics::peer`] calls not yet matched by a
    /// [`Metrics::remove_peer`]: two peers can share a label (the same
    /// name, or names alike in their first 64 bytes), and the series goes
    /// only with the last of them.
    named_peers: Mutex<HashMap<String, usize>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under the `dybervpn_` prefix.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dybervpn");

        let handshakes = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "handshakes",
            "Completed or abandoned handshakes, by mode, role and result",
            handshakes.clone(),
        );

        let handshake_duration: HistogramFamily =
            Family::new_with_constructor(handshake_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "handshake_duration",
            "Initiator's time from sending an initiation to holding session keys, by mode",
            Unit::Seconds,
            handshake_duration.clone(),
        );

        let drop_family = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "dropped_packets",
            "Packets and handshake messages dropped, by reason",
            drop_family.clone(),
        );
        let drops = DropReason::ALL
            .iter()
            .map(|&reason| drop_family.get_or_create_owned(&ReasonLabels { reason }))
            .collect();

        let active_sessions = Gauge::default();
        registry.register(
            "active_sessions",
            "Peers holding a current session (keys younger than REJECT_AFTER_TIME)",
            active_sessions.clone(),
        );
        let peers = Gauge::default();
        registry.register("peers", "Configured peers", peers.clone());

        let bytes_sent = Family::<PeerLabels, Counter>::default();
        registry.register(
            "bytes_sent",
            "Bytes of UDP payload sent to a peer: transport and handshake messages, as wg show's transfer counts them",
            bytes_sent.clone(),
        );
        let bytes_received = Family::<PeerLabels, Counter>::default();
        registry.register(
            "bytes_received",
            "Bytes of UDP payload received from a peer and authenticated: transport and handshake messages",
            bytes_received.clone(),
        );
        let packets_sent = Family::<PeerLabels, Counter>::default();
        registry.register(
            "packets_sent",
            "Transport messages sent to a peer",
            packets_sent.clone(),
        );
        let packets_received = Family::<PeerLabels, Counter>::default();
        registry.register(
            "packets_received",
            "Transport messages received from a peer and authenticated",
            packets_received.clone(),
        );
        let last_handshake = Family::<PeerLabels, FloatGauge>::default();
        registry.register(
            "last_handshake_timestamp_seconds",
            "Unix time of the peer's last successful handshake",
            last_handshake.clone(),
        );

        Self {
            registry,
            handshakes,
            handshake_duration,
            drops,
            active_sessions,
            peers,
            bytes_sent,
            bytes_received,
            packets_sent,
            packets_received,
            last_handshake,
            named_peers: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one handshake that ended with `result`.
    pub fn record_handshake(&self, mode: HandshakeMode, role: Role, result: HandshakeResult) {
        self.handshakes
            .get_or_create(&HandshakeLabels { mode, role, result })
            .inc();
    }

    /// Records how long a successful handshake took (initiator side: from
    /// sending the initiation that succeeded to deriving the session keys).
    pub fn observe_handshake_duration(&self, mode: HandshakeMode, took: Duration) {
        self.handshake_duration
            .get_or_create(&ModeLabels { mode })
            .observe(took.as_secs_f64());
    }

    /// Counts `count` dropped packets or messages for `reason`.
    pub fn record_drops(&self, reason: DropReason, count: u64) {
        if let Some(counter) = self.drops.get(reason.index()) {
            counter.inc_by(count);
        }
    }

    /// Counts one dropped packet or message for `reason`.
    pub fn record_drop(&self, reason: DropReason) {
        self.record_drops(reason, 1);
    }

    /// Sets the number of peers with a current session.
    pub fn set_active_sessions(&self, sessions: usize) {
        self.active_sessions.set(to_i64(sessions));
    }

    /// Sets the number of configured peers.
    pub fn set_peers(&self, peers: usize) {
        self.peers.set(to_i64(peers));
    }

    /// The recording handle for a peer, creating its series.
    ///
    /// `name` is the peer's configured name, or its key fingerprint when it
    /// has none; never a key itself. Calling this again with the same name
    /// (or one with the same label) returns a handle onto the same series;
    /// each call is one user of it, to be matched by one
    /// [`Metrics::remove_peer`]. Once [`MAX_PEER_SERIES`] labels have
    /// series, further peers share the [`OTHER_PEER`] series.
    #[must_use]
    pub fn peer(&self, name: &str) -> PeerMetrics {
        let label = peer_label(name);
        let own_series = {
            let mut named = self
                .named_peers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(users) = named.get_mut(&label) {
                *users += 1;
                true
            } else if named.len() < MAX_PEER_SERIES && label != OTHER_PEER {
                named.insert(label.clone(), 1);
                true
            } else {
                false
            }
        };
        let labels = PeerLabels {
            peer: if own_series {
                label
            } else {
                OTHER_PEER.to_owned()
            },
        };
        PeerMetrics {
            bytes_sent: self.bytes_sent.get_or_create_owned(&labels),
            bytes_received: self.bytes_received.get_or_create_owned(&labels),
            packets_sent: self.packets_sent.get_or_create_owned(&labels),
            packets_received: self.packets_received.get_or_create_owned(&labels),
            // Created at the first handshake, not at zero: a dashboard's
            // `time() - x` would show a peer that never handshook as 56
            // years stale.
            last_handshake: own_series.then(|| (self.last_handshake.clone(), labels.clone())),
            label: labels.peer,
        }
    }

    /// One user of `name`'s series is gone (a peer was removed); the
    /// series goes with the last. Handles still held for it then count into
    /// nothing, except that setting a last-handshake time through one would
    /// create that gauge again: drop a peer's handle with the peer. A peer that shared [`OTHER_PEER`] leaves that series alone:
    /// counters never go down.
    pub fn remove_peer(&self, name: &str) {
        let label = peer_label(name);
        let last = {
            let mut named = self
                .named_peers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match named.get_mut(&label) {
                Some(users) if *users > 1 => {
                    *users -= 1;
                    false
                }
                Some(_) => named.remove(&label).is_some(),
                None => false,
            }
        };
        if last {
            let labels = PeerLabels { peer: label };
            self.bytes_sent.remove(&labels);
            self.bytes_received.remove(&labels);
            self.packets_sent.remove(&labels);
            self.packets_received.remove(&labels);
            self.last_handshake.remove(&labels);
        }
    }

    /// The whole exposition in the OpenMetrics text format (which ends in
    /// `# EOF`). Serve it with [`CONTENT_TYPE`].
    ///
    /// # Errors
    ///
    /// Only if the encoder reports a formatting error, which writing into a
    /// `String` does not produce.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The Content-Type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The recording handle for one peer's series. Clone it freely; every clone
/// counts into the same series.
#[derive(Debug, Clone)]
pub struct PeerMetrics {
    label: String,
    bytes_sent: Counter,
    bytes_received: Counter,
    packets_sent: Counter,
    packets_received: Counter,
    /// `None` for peers folded into [`OTHER_PEER`]: one peer's timestamp
    /// would say nothing about the others.
    last_handshake: Option<(Family<PeerLabels, FloatGauge>, PeerLabels)>,
}

impl PeerMetrics {
    /// The `peer` label value this handle records under.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Counts transport messages sent to the peer and their UDP payload bytes.
    pub fn record_sent(&self, packets: u64, bytes: u64) {
        self.packets_sent.inc_by(packets);
        self.bytes_sent.inc_by(bytes);
    }

    /// Counts authenticated transport messages received from the peer and
    /// their UDP payload bytes.
    pub fn record_received(&self, packets: u64, bytes: u64) {
        self.packets_received.inc_by(packets);
        self.bytes_received.inc_by(bytes);
    }

    /// Sets the wall-clock time (since the Unix epoch) of the peer's last
    /// successful handshake.
    pub fn set_last_handshake(&self, since_unix_epoch: Duration) {
        if let Some((family, labels)) = &self.last_handshake {
            let gauge = family.get_or_create(labels);
            gauge.set(since_unix_epoch.as_secs_f64());
        }
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A peer name cut to [`MAX_PEER_LABEL_LEN`] bytes, with control
/// characters replaced, so a label value is always one short printable line.
fn peer_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_PEER_LABEL_LEN));
    for c in name.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > MAX_PEER_LABEL_LEN {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('?');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(m: &Metrics) -> String {
        m.encode().unwrap_or_default()
    }

    /// The value of the sample line starting with `series ` (name and labels
    /// exactly as encoded), if any.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn every_required_family_is_exposed() {
        let m = Metrics::new();
        let p = m.peer("alice");
        p.record_sent(1, 100);
        p.set_last_handshake(Duration::from_secs(1_700_000_000));
        m.record_handshake(
            HandshakeMode::Hybrid,
            Role::Initiator,
            HandshakeResult::Success,
        );
        m.observe_handshake_duration(HandshakeMode::Hybrid, Duration::from_millis(3));
        let text = encoded(&m);
        for name in [
            "# TYPE dybervpn_handshakes counter",
            "# TYPE dybervpn_handshake_duration_seconds histogram",
            "# TYPE dybervpn_dropped_packets counter",
            "# TYPE dybervpn_active_sessions gauge",
            "# TYPE dybervpn_peers gauge",
            "# TYPE dybervpn_bytes_sent counter",
            "# TYPE dybervpn_bytes_received counter",
            "# TYPE dybervpn_packets_sent counter",
            "# TYPE dybervpn_packets_received counter",
            "# TYPE dybervpn_last_handshake_timestamp_seconds gauge",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(
            sample(
                &text,
                r#"dybervpn_handshakes_total{mode="hybrid",role="initiator",result="success"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"dybervpn_last_handshake_timestamp_seconds{peer="alice"}"#
            ),
            Some(1_700_000_000.0)
        );
    }

    #[test]
    fn peer_counters_add_up() {
        let m = Metrics::new();
        let p = m.peer("alice");
        let again = m.peer("alice");
        p.record_sent(2, 300);
        again.record_sent(1, 50);
        p.record_received(4, 1000);
        let text = encoded(&m);
        assert_eq!(
            sample(&text, r#"dybervpn_bytes_sent_total{peer="alice"}"#),
            Some(350.0)
        );
        assert_eq!(
            sample(&text, r#"dybervpn_packets_sent_total{peer="alice"}"#),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, r#"dybervpn_bytes_received_total{peer="alice"}"#),
            Some(1000.0)
        );
        assert_eq!(
            sample(&text, r#"dybervpn_packets_received_total{peer="alice"}"#),
            Some(4.0)
        );
    }

    #[test]
    fn every_drop_reason_starts_at_zero_and_counts() {
        let m = Metrics::new();
        m.record_drop(DropReason::Replay);
        m.record_drops(DropReason::BadMac1, 5);
        let text = encoded(&m);
        for reason in DropReason::ALL {
            let want = match reason {
                DropReason::Replay => 1.0,
                DropReason::BadMac1 => 5.0,
                _ => 0.0,
            };
            let series = format!(r#"dybervpn_dropped_packets_total{{reason="{reason}"}}"#);
            assert_eq!(sample(&text, &series), Some(want), "{series}");
        }
    }

    #[test]
    fn histogram_counts_by_mode() {
        let m = Metrics::new();
        m.observe_handshake_duration(HandshakeMode::PqOnly, Duration::from_millis(2));
        m.observe_handshake_duration(HandshakeMode::PqOnly, Duration::from_secs(20));
        let text = encoded(&m);
        let count = r#"dybervpn_handshake_duration_seconds_count{mode="pq-only"}"#;
        assert_eq!(sample(&text, count), Some(2.0));
        let small = r#"dybervpn_handshake_duration_seconds_bucket{le="0.002",mode="pq-only"}"#;
        assert_eq!(sample(&text, small), Some(1.0), "{text}");
        let inf = r#"dybervpn_handshake_duration_seconds_bucket{le="+Inf",mode="pq-only"}"#;
        assert_eq!(sample(&text, inf), Some(2.0));
    }

    #[test]
    fn gauges_set() {
        let m = Metrics::new();
        m.set_peers(3);
        m.set_active_sessions(2);
        let text = encoded(&m);
        assert_eq!(sample(&text, "dybervpn_peers"), Some(3.0));
        assert_eq!(sample(&text, "dybervpn_active_sessions"), Some(2.0));
    }

    #[test]
    fn removed_peer_series_disappear() {
        let m = Metrics::new();
        m.peer("alice").record_sent(1, 10);
        m.peer("bob").record_sent(1, 10);
        m.remove_peer("alice");
        let text = encoded(&m);
        assert!(!text.contains(r#"peer="alice""#), "{text}");
        assert!(text.contains(r#"peer="bob""#));
    }

    #[test]
    fn a_peer_has_no_handshake_time_until_its_first_handshake() {
        let m = Metrics::new();
        let p = m.peer("new");
        p.record_sent(1, 1);
        let series = r#"dybervpn_last_handshake_timestamp_seconds{peer="new"}"#;
        assert!(!encoded(&m).contains(series), "a zero would read as 1970");
        p.set_last_handshake(Duration::from_secs(1_700_000_000));
        assert_eq!(sample(&encoded(&m), series), Some(1.7e9));
    }

    #[test]
    fn removing_a_folded_peer_by_its_handle_label_spares_a_namesake() {
        let m = Metrics::new();
        for i in 0..MAX_PEER_SERIES {
            let _ = m.peer(&format!("p{i}"));
        }
        let folded = m.peer("x");
        assert_eq!(folded.label(), OTHER_PEER);
        m.remove_peer("p0");
        let own = m.peer("x");
        assert_eq!(own.label(), "x");
        // The folded one goes, by the label it records under.
        m.remove_peer(folded.label());
        own.record_sent(1, 1);
        assert!(encoded(&m).contains(r#"peer="x""#));
    }

    #[test]
    fn a_series_two_peers_share_goes_with_the_last() {
        let m = Metrics::new();
        // Alike in their first 64 bytes: one label.
        let (a, b) = ("x".repeat(64) + "-A", "x".repeat(64) + "-B");
        assert_eq!(m.peer(&a).label(), m.peer(&b).label());
        m.remove_peer(&a);
        m.peer(&b).record_sent(1, 5);
        let text = encoded(&m);
        assert!(
            text.contains(&format!("peer=\"{}\"", "x".repeat(64))),
            "{text}"
        );
        m.remove_peer(&b);
        m.remove_peer(&b);
        assert!(!encoded(&m).contains(&"x".repeat(64)));
    }

    #[test]
    fn peers_beyond_the_cap_share_other() {
        let m = Metrics::new();
        for i in 0..MAX_PEER_SERIES {
            let _ = m.peer(&format!("p{i}"));
        }
        let late = m.peer("late");
        assert_eq!(late.label(), OTHER_PEER);
        late.record_sent(1, 7);
        m.peer("later").record_sent(1, 3);
        // An existing peer still gets its own series.
        assert_eq!(m.peer("p0").label(), "p0");
        let text = encoded(&m);
        assert_eq!(
            sample(&text, r#"dybervpn_bytes_sent_total{peer="_other"}"#),
            Some(10.0)
        );
        assert!(!text.contains(r#"dybervpn_last_handshake_timestamp_seconds{peer="_other"}"#));
        let peer_values: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("dybervpn_bytes_sent_total{"))
            .collect();
        assert_eq!(peer_values.len(), MAX_PEER_SERIES + 1);

        // Removing a named peer frees its place.
        m.remove_peer("p1");
        assert_eq!(m.peer("newcomer").label(), "newcomer");
    }

    #[test]
    fn peer_labels_are_bounded_and_printable() {
        assert_eq!(peer_label("a\nb\"c"), "a?b\"c");
        assert_eq!(peer_label(""), "?");
        let long = "é".repeat(100);
        let cut = peer_label(&long);
        assert!(cut.len() <= MAX_PEER_LABEL_LEN);
        assert_eq!(cut.chars().count(), MAX_PEER_LABEL_LEN / 2);
        // A peer may not claim the shared label.
        let m = Metrics::new();
        assert_eq!(m.peer(OTHER_PEER).label(), OTHER_PEER);
        m.remove_peer(OTHER_PEER);
        m.peer("x").record_sent(1, 1);
        assert!(encoded(&m).contains(r#"peer="_other""#));
    }
}
