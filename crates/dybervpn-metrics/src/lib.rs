//! DyberVPN observability: the Prometheus metrics registry, the `/metrics`,
//! `/health` and `/ready` HTTP endpoint, and log setup.
//!
//! This crate depends on no other DyberVPN crate: the daemon feeds it plain
//! data (label enums, numbers, per-peer snapshots). See
//! `docs/observability.md` for every metric and endpoint.
#![forbid(unsafe_code)]

pub mod health;
pub mod labels;
pub mod logging;
pub mod promtool;
pub mod ratelimit;
pub mod registry;
pub mod server;

pub use health::{HealthConfig, LoopStatus, PeerStatus, Snapshot, Verdict, REJECT_AFTER_TIME};
pub use labels::{DropReason, HandshakeMode, HandshakeResult, Role, UnknownLabel};
pub use logging::LogFormat;
pub use ratelimit::{LimitConfig, WarnLimiter};
pub use registry::{Metrics, PeerMetrics, CONTENT_TYPE, MAX_PEER_SERIES, OTHER_PEER};
pub use server::{MetricsServer, StatusSource, DEFAULT_LISTEN};
