//! `/health` and `/ready`, decided by pure functions over a snapshot.
//!
//! No clock is read here: the daemon supplies `now` and every timestamp as a
//! monotonic `Duration` since one origin fixed for the process's life (the
//! same `mono` time it gives the protocol core), so the tests drive a virtual
//! clock.
//!
//! - **health** (liveness): every event loop has turned within
//!   [`HealthConfig::loop_stall_after`]. A stalled loop means the process
//!   should be restarted.
//! - **ready** (readiness): the interface is up and no peer that has an
//!   endpoint is failing (see [`ready`]): one the daemon has been trying to
//!   reach for [`HealthConfig::failing_after`] or longer, without a
//!   handshake within REJECT_AFTER_TIME. An idle peer is fine, and a peer
//!   without an endpoint only answers, so neither makes us unready.

use std::time::Duration;

use serde::Serialize;

/// WireGuard's REJECT_AFTER_TIME: a session older than this is unusable.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

/// Tuning: how long a loop may go without turning before `/health` fails.
/// The daemon's loops wake at least every timer tick (well under a second),
/// so ten seconds without a turn is a hang, not a busy moment.
pub const DEFAULT_LOOP_STALL_AFTER: Duration = Duration::from_secs(10);

/// The default [`HealthConfig::failing_after`]: `REKEY_TIMEOUT`, 5 s, the
/// time an initiation is given before it is sent again.
pub const DEFAULT_FAILING_AFTER: Duration = Duration::from_secs(5);

/// The thresholds the decisions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// A peer's handshake younger than this counts as working.
    pub reject_after: Duration,
    /// A peer without a working session that the daemon has been failing
    /// to reach for this long makes the daemon unready: one unanswered
    /// initiation and its first retry (the handshake's own timeout).
    pub failing_after: Duration,
    /// A loop that has not turned for longer than this makes it unhealthy.
    pub loop_stall_after: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            reject_after: REJECT_AFTER_TIME,
            failing_after: DEFAULT_FAILING_AFTER,
            loop_stall_after: DEFAULT_LOOP_STALL_AFTER,
        }
    }
}

/// What the daemon knows about itself at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The current monotonic time.
    pub now: Duration,
    /// Whether the tunnel interface exists and is up.
    pub interface_up: bool,
    /// One entry per configured peer.
    pub peers: Vec<PeerStatus>,
    /// One entry per event loop (for example `udp`, `tun`, `timers`).
    pub loops: Vec<LoopStatus>,
}

/// One peer as readiness sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's name or key fingerprint, as in the metrics' `peer` label.
    pub name: String,
    /// Whether we know an endpoint to send handshakes to.
    pub has_endpoint: bool,
    /// Monotonic time of the last successful handshake, if any.
    pub last_handshake: Option<Duration>,
    /// Monotonic time since which the daemon has been trying to reach the
    /// peer and failing (its handshake attempt under way began, or the
    /// last one was given up then); `None` for a peer nobody is trying to
    /// reach, such as an idle one.
    pub failing_since: Option<Duration>,
}

/// One event loop's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopStatus {
    /// The loop's name.
    pub name: String,
    /// Monotonic time the loop last went round.
    pub last_turn: Duration,
}

/// An HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// 200 when healthy or ready, 503 when not.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

impl Verdict {
    /// Whether the status says OK.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.status == STATUS_OK
    }
}

const STATUS_OK: u16 = 200;
const STATUS_UNAVAILABLE: u16 = 503;

#[derive(Serialize)]
struct HealthBody<'a> {
    status: &'static str,
    loops: Vec<LoopBody<'a>>,
}

#[derive(Serialize)]
struct LoopBody<'a> {
    name: &'a str,
    seconds_since_turn: f64,
    ok: bool,
}

#[derive(Serialize)]
struct ReadyBody<'a> {
    status: &'static str,
    interface_up: bool,
    peers: Vec<PeerBody<'a>>,
}

#[derive(Serialize)]
struct PeerBody<'a> {
    name: &'a str,
    has_endpoint: bool,
    seconds_since_handshake: Option<f64>,
    seconds_failing: Option<f64>,
    ok: bool,
}

/// Liveness: 200 when every loop turned within `loop_stall_after`.
#[must_use]
pub fn health(snapshot: &Snapshot, config: &HealthConfig) -> Verdict {
    let loops: Vec<LoopBody<'_>> = snapshot
        .loops
        .iter()
        .map(|l| {
            let age = snapshot.now.saturating_sub(l.last_turn);
            LoopBody {
                name: &l.name,
                seconds_since_turn: age.as_secs_f64(),
                ok: age <= config.loop_stall_after,
            }
        })
        .collect();
    let ok = loops.iter().all(|l| l.ok);
    let body = HealthBody {
        status: if ok { "ok" } else { "stalled" },
        loops,
    };
    verdict(ok, &body)
}

/// Readiness: 200 when the interface is up and no peer with an endpoint is
/// failing: one whose last handshake is older than `reject_after` (or
/// absent) while the daemon has been trying to reach it for
/// `failing_after` or longer. An idle peer (nobody trying to reach it) is
/// not failing: like WireGuard, the daemon handshakes only when there is
/// something to send, so an idle tunnel has no fresh session and is fine.
#[must_use]
pub fn ready(snapshot: &Snapshot, config: &HealthConfig) -> Verdict {
    let peers: Vec<PeerBody<'_>> = snapshot
        .peers
        .iter()
        .map(|p| {
            let age = p.last_handshake.map(|t| snapshot.now.saturating_sub(t));
            let fresh = age.is_some_and(|a| a <= config.reject_after);
            let failing = p.failing_since.map(|t| snapshot.now.saturating_sub(t));
            let failing_long = failing.is_some_and(|f| f >= config.failing_after);
            PeerBody {
                name: &p.name,
                has_endpoint: p.has_endpoint,
                seconds_since_handshake: age.map(|a| a.as_secs_f64()),
                seconds_failing: failing.map(|f| f.as_secs_f64()),
                ok: fresh || !p.has_endpoint || !failing_long,
            }
        })
        .collect();
    let ok = snapshot.interface_up && peers.iter().all(|p| p.ok);
    let body = ReadyBody {
        status: if ok { "ready" } else { "not_ready" },
        interface_up: snapshot.interface_up,
        peers,
    };
    verdict(ok, &body)
}

fn verdict<T: Serialize>(ok: bool, body: &T) -> Verdict {
    match serde_json::to_string(body) {
        Ok(body) => Verdict {
            status: if ok { STATUS_OK } else { STATUS_UNAVAILABLE },
            body,
        },
        // Serializing these plain structs cannot fail; if it somehow did,
        // report unavailable rather than a false "ok".
        Err(_) => Verdict {
            status: STATUS_UNAVAILABLE,
            body: r#"{"status":"error"}"#.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn json(v: &Verdict) -> serde_json::Value {
        serde_json::from_str(&v.body).unwrap_or_default()
    }

    /// A gateway whose peer `site-b` the daemon is trying to reach since
    /// `failing_since`, beside a roaming laptop it has no endpoint for.
    fn trying(
        now: Duration,
        last_handshake: Option<Duration>,
        failing_since: Option<Duration>,
    ) -> Snapshot {
        Snapshot {
            now,
            interface_up: true,
            peers: vec![
                PeerStatus {
                    name: "site-b".to_owned(),
                    has_endpoint: true,
                    last_handshake,
                    failing_since,
                },
                PeerStatus {
                    name: "roaming-laptop".to_owned(),
                    has_endpoint: false,
                    last_handshake: None,
                    failing_since: Some(S(0)),
                },
            ],
            loops: vec![LoopStatus {
                name: "udp".to_owned(),
                last_turn: now,
            }],
        }
    }

    /// The same gateway while the daemon keeps trying to reach `site-b`
    /// (since time 0).
    fn gateway(now: Duration, last_handshake: Option<Duration>) -> Snapshot {
        trying(now, last_handshake, Some(S(0)))
    }

    #[test]
    fn an_idle_peer_is_no_reason_to_be_unready() {
        let config = HealthConfig::default();
        // Handshook long ago, nothing to send since: no session, and fine.
        let v = ready(&trying(S(10_000), Some(S(100)), None), &config);
        assert!(v.is_ok(), "{}", v.body);
        // Never handshook, never tried (just started, no traffic yet).
        assert!(ready(&trying(S(3), None, None), &config).is_ok());
        // Trying, but for less than the handshake's own timeout.
        let v = ready(&trying(S(1104), Some(S(1)), Some(S(1100))), &config);
        assert!(v.is_ok(), "{}", v.body);
        // Trying for 5 s or more without a fresh session: unready.
        let v = ready(&trying(S(1105), Some(S(1)), Some(S(1100))), &config);
        assert_eq!(v.status, 503);
        assert_eq!(json(&v)["peers"][0]["seconds_failing"], 5.0);
    }

    #[test]
    fn ready_turns_false_when_the_peer_goes_quiet_past_reject_after() {
        let config = HealthConfig::default();
        let handshake_at = S(1000);
        // The virtual clock advances; the peer never handshakes again,
        // though the daemon keeps trying.
        let at = |t| ready(&gateway(t, Some(handshake_at)), &config);

        let fresh = at(S(1001));
        assert!(fresh.is_ok(), "{}", fresh.body);
        assert_eq!(json(&fresh)["status"], "ready");

        let edge = at(handshake_at + REJECT_AFTER_TIME);
        assert!(edge.is_ok(), "exactly REJECT_AFTER_TIME is still fresh");

        let stale = at(handshake_at + REJECT_AFTER_TIME + Duration::from_millis(1));
        assert_eq!(stale.status, 503);
        let body = json(&stale);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["peers"][0]["name"], "site-b");
        assert_eq!(body["peers"][0]["ok"], false);
        // The peer without an endpoint is never what blocks readiness.
        assert_eq!(body["peers"][1]["ok"], true);

        // A new handshake makes it ready again.
        let later = S(5000);
        assert!(ready(&gateway(later, Some(later)), &config).is_ok());
    }

    #[test]
    fn a_peer_tried_but_never_reached_is_not_ready() {
        let v = ready(&gateway(S(5), None), &HealthConfig::default());
        assert_eq!(v.status, 503);
        assert_eq!(
            json(&v)["peers"][0]["seconds_since_handshake"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn interface_down_is_not_ready() {
        let mut snap = gateway(S(10), Some(S(10)));
        assert!(ready(&snap, &HealthConfig::default()).is_ok());
        snap.interface_up = false;
        let v = ready(&snap, &HealthConfig::default());
        assert_eq!(v.status, 503);
        assert_eq!(json(&v)["interface_up"], false);
    }

    #[test]
    fn no_peers_and_interface_up_is_ready() {
        let snap = Snapshot {
            now: S(1),
            interface_up: true,
            ..Snapshot::default()
        };
        assert!(ready(&snap, &HealthConfig::default()).is_ok());
    }

    #[test]
    fn reject_after_is_a_parameter() {
        let config = HealthConfig {
            reject_after: S(30),
            ..HealthConfig::default()
        };
        assert!(ready(&gateway(S(130), Some(S(100))), &config).is_ok());
        assert!(!ready(&gateway(S(131), Some(S(100))), &config).is_ok());
    }

    #[test]
    fn health_turns_false_when_a_loop_stops_turning() {
        let config = HealthConfig::default();
        let snap = |now| Snapshot {
            now,
            interface_up: true,
            peers: Vec::new(),
            loops: vec![
                LoopStatus {
                    name: "udp".to_owned(),
                    last_turn: now,
                },
                LoopStatus {
                    name: "timers".to_owned(),
                    last_turn: S(100),
                },
            ],
        };
        let ok = health(&snap(S(100) + DEFAULT_LOOP_STALL_AFTER), &config);
        assert!(ok.is_ok(), "{}", ok.body);
        assert_eq!(json(&ok)["status"], "ok");

        let stalled = health(&snap(S(111)), &config);
        assert_eq!(stalled.status, 503);
        let body = json(&stalled);
        assert_eq!(body["status"], "stalled");
        assert_eq!(body["loops"][0]["ok"], true);
        assert_eq!(body["loops"][1]["name"], "timers");
        assert_eq!(body["loops"][1]["ok"], false);
        assert_eq!(body["loops"][1]["seconds_since_turn"], 11.0);
    }

    #[test]
    fn health_ignores_the_peers_and_the_interface() {
        let mut snap = gateway(S(1000), None);
        snap.interface_up = false;
        assert!(health(&snap, &HealthConfig::default()).is_ok());
    }

    #[test]
    fn timestamps_after_now_do_not_underflow() {
        let v = ready(&gateway(S(10), Some(S(20))), &HealthConfig::default());
        assert!(v.is_ok());
        assert_eq!(json(&v)["peers"][0]["seconds_since_handshake"], 0.0);
    }
}
