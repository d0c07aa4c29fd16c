//! The running daemon as a userspace-API target: `wg show` reads it,
//! `wg set` changes it.
//!
//! A change-set is applied in two phases. First the whole new peer set is
//! computed and checked (pq-only peers need ML-DSA keys on both sides, no
//! peer may be this device, a running device cannot change its private key
//! or port); nothing is touched if any check fails. Then the fwmark is set,
//! and peers are removed, added and updated in the core and the routing
//! table. The core's own checks are exactly the ones made in the first
//! phase, so the second cannot fail half-way except on an internal bug,
//! which is reported as `EIO`.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dybervpn_crypto::X25519PublicKey;
use dybervpn_proto::PeerId;

use super::Shared;
use crate::peers::PeerInfo;
use crate::prefix::Prefix;
use crate::uapi::{ChangeSet, DeviceSnapshot, PeerSnapshot, UapiError, UapiTarget, EINVAL, EIO};

pub(super) struct DaemonTarget(pub(super) Arc<Shared>);

pub(super) fn snapshot(shared: &Shared) -> DeviceSnapshot {
    let _whole = shared
        .reconfig
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut snap = DeviceSnapshot {
        private_key: Some(shared.private_key.clone()),
        listen_port: shared.udp.port(),
        fwmark: shared.fwmark.load(Ordering::Relaxed),
        peers: Vec::new(),
        dybervpn_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        last_reload: shared
            .last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
        drops: shared.drops(),
        handshake_wire: shared
            .events
            .wire
            .named()
            .iter()
            .map(|(name, c)| {
                let (messages, bytes) = c.get();
                ((*name).to_owned(), messages, bytes)
            })
            .collect(),
    };
    let Ok(table) = shared.table.read() else {
        return snap;
    };
    for (id, info) in table.sorted() {
        let mut p = PeerSnapshot::new(info.public_key, info.mode);
        p.preshared_key.clone_from(&info.preshared_key);
        p.mldsa_public_key.clone_from(&info.mldsa_public_key);
        p.persistent_keepalive_interval = info.persistent_keepalive;
        p.allowed_ips.clone_from(&info.allowed_ips);
        p.endpoint = info.endpoint;
        if let Some(stats) = shared.device.peer_stats(id) {
            p.endpoint = stats.endpoint.or(p.endpoint);
            p.last_handshake = stats.last_handshake;
            p.last_handshake_mode = stats.last_handshake_mode;
            p.tx_bytes = stats.tx_bytes;
            p.rx_bytes = stats.rx_bytes;
            p.handshakes = stats.handshakes;
        }
        p.last_handshake_duration = shared.events.last_duration(id);
        snap.peers.push(p);
    }
    snap
}

fn rejected(message: impl Into<String>) -> UapiError {
    UapiError::Rejected {
        errno: EINVAL,
        message: message.into(),
    }
}

impl UapiTarget for DaemonTarget {
    fn snapshot(&self) -> DeviceSnapshot {
        snapshot(&self.0)
    }

    fn apply(&self, changes: ChangeSet) -> Result<(), UapiError> {
        let shared = &self.0;
        // Until the routes follow too (see `Shared::reconfig`).
        let _whole = shared
            .reconfig
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Read before the peer table is taken: the network configuration's
        // lock may be held while a helper command runs (`reload`'s DNS),
        // and the data path must not wait on that through the table. Only
        // a change under `reconfig` moves the default routes.
        let defaults: Vec<(Prefix, u32)> = shared
            .net
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|net| net.default_tables().to_vec())
            .unwrap_or_default();
        let mut table = shared
            .table
            .write()
            .map_err(|_| UapiError::Io("peer table poisoned".into()))?;

        // Phase 1: compute and check, touching nothing.
        match &changes.private_key {
            Some(Some(k)) if k == &shared.private_key => {}
            None => {}
            Some(_) => {
                return Err(rejected(
                    "changing the private key of a running interface is not supported: restart it",
                ))
            }
        }
        if let Some(port) = changes.listen_port {
            // 0 asks for any port, and the one bound is one: `wg setconf`
            // and `wg syncconf` send `listen_port=0` for a file without
            // `ListenPort`, which is most client configurations.
            if port != 0 && port != shared.udp.port() {
                return Err(rejected(
                    "changing listen_port of a running interface is not supported: restart it",
                ));
            }
        }
        let own_public = shared.device.public_key();
        let old: BTreeMap<X25519PublicKey, (PeerId, PeerInfo)> = table
            .sorted()
            .into_iter()
            .map(|(id, info)| (info.public_key, (id, info.clone())))
            .collect();
        let mut next: BTreeMap<X25519PublicKey, PeerInfo> = if changes.replace_peers {
            BTreeMap::new()
        } else {
            old.iter().map(|(k, (_, i))| (*k, i.clone())).collect()
        };
        // Who holds each prefix, as the changes go: a prefix a change adds
        // leaves the peer that had it, whichever comes first in key order
        // (as in wireguard-go, where the last writer wins). An entry may be
        // stale (its peer since removed or cleared); taking the prefix from
        // a peer that no longer has it does nothing.
        let mut owner: HashMap<Prefix, X25519PublicKey> = next
            .iter()
            .flat_map(|(k, i)| i.allowed_ips.iter().map(move |p| (*p, *k)))
            .collect();
        // The peers whose endpoint the changes name: only those are moved.
        // Any other keeps the endpoint it roamed to, whatever else changes
        // (as wireguard-go, which sets an endpoint only on `endpoint=`).
        let mut endpoint_named: HashSet<X25519PublicKey> = HashSet::new();
        for change in &changes.peers {
            let key = change.public_key;
            if change.remove {
                next.remove(&key);
                continue;
            }
            if change.update_only && !next.contains_key(&key) {
                continue;
            }
            if key == own_public {
                // As wireguard-go: a peer that is this device is ignored.
                continue;
            }
            let recreated = !next.contains_key(&key) && old.contains_key(&key);
            let info = next.entry(key).or_insert_with(|| match old.get(&key) {
                // Removed and added again (`replace_peers`, as `wg setconf`
                // sends): what `wg` cannot say — the name, the mode and the
                // ML-DSA key — carries over, so applying `wg showconf`'s
                // output changes nothing. Otherwise a pq-only peer would
                // fall to the interface's mode, or be refused.
                Some((_, before)) => {
                    let mut again = PeerInfo::new(key, before.mode);
                    again.name.clone_from(&before.name);
                    again.mldsa_public_key.clone_from(&before.mldsa_public_key);
                    again
                }
                None => PeerInfo::new(key, shared.device.mode()),
            });
            if let Some(psk) = &change.preshared_key {
                info.preshared_key.clone_from(psk);
            }
            if let Some(e) = change.endpoint {
                info.endpoint = Some(e);
                endpoint_named.insert(key);
            }
            if let Some(k) = change.persistent_keepalive_interval {
                info.persistent_keepalive = k;
            }
            if change.replace_allowed_ips {
                info.allowed_ips.clear();
            }
            if !change.removed_allowed_ips.is_empty() {
                // A set: a removal of many prefixes from a peer with many
                // must not take quadratic time (the table is locked).
                let removed: HashSet<&Prefix> = change.removed_allowed_ips.iter().collect();
                info.allowed_ips.retain(|p| !removed.contains(p));
            }
            info.allowed_ips.extend(change.allowed_ips.iter().copied());
            info.allowed_ips.sort();
            info.allowed_ips.dedup();
            if let Some(m) = change.mode {
                info.mode = m;
            }
            match &change.mldsa_public_key {
                Some(k) => info.mldsa_public_key = Some(k.clone()),
                // A key carried over is for a pq-only peer; one that is no
                // longer pq-only (a reload that changed its mode) drops it.
                None if recreated && !info.mode.needs_mldsa() => info.mldsa_public_key = None,
                None => {}
            }
            for p in &change.allowed_ips {
                if let Some(had) = owner.insert(*p, key).filter(|had| *had != key) {
                    if let Some(other) = next.get_mut(&had) {
                        other.allowed_ips.retain(|q| q != p);
                    }
                }
            }
        }
        let fwmark = checked_fwmark(shared, changes.fwmark, &defaults, &next)?;
        for info in next.values() {
            if info.mode.needs_mldsa() {
                if !shared.has_mldsa {
                    return Err(rejected(
                        "a pq-only peer needs this interface's ML-DSA-65 key, which it does not have",
                    ));
                }
                if info.mldsa_public_key.is_none() {
                    return Err(rejected(format!(
                        "pq-only peer {} needs dybervpn_mldsa_public_key",
                        dybervpn_crypto::encoding::to_base64(info.public_key.as_bytes())
                    )));
                }
            }
        }

        // Phase 2: apply.
        let internal = |e: String| UapiError::Rejected {
            errno: EIO,
            message: e,
        };
        if let Some(mark) = fwmark {
            shared
                .udp
                .set_fwmark(mark)
                .map_err(|e| internal(e.to_string()))?;
            shared.fwmark.store(mark, Ordering::Relaxed);
        }
        let routes_before = table.all_allowed_ips();
        for (key, (id, _)) in &old {
            if !next.contains_key(key) {
                shared
                    .device
                    .remove_peer(*id)
                    .map_err(|e| internal(e.to_string()))?;
                table.remove(*id);
                shared.events.forget(*id);
                shared.sources.forget(Some(*id));
            }
        }
        for (key, info) in next {
            match old.get(&key) {
                Some((id, before)) => {
                    if before.core_differs(&info) {
                        let mut config = info.to_proto();
                        if !endpoint_named.contains(&key) {
                            config.endpoint = None;
                        }
                        shared
                            .device
                            .update_peer(*id, config)
                            .map_err(|e| internal(e.to_string()))?;
                    }
                    table.set(*id, info);
                }
                None => {
                    let id = shared
                        .device
                        .add_peer(info.to_proto())
                        .map_err(|e| internal(e.to_string()))?;
                    table.set(id, info);
                }
            }
        }
        let routes_after = table.all_allowed_ips();
        drop(table);
        sync_routes(shared, &routes_before, &routes_after);
        shared.wake_timers();
        Ok(())
    }
}

/// The mark to give the sockets, if any, given the default routes in place
/// (`defaults`) and the peers to be. A default route that stays needs
/// its policy table's mark on them, or the tunnel's own datagrams would be
/// routed into the tunnel: `fwmark=0` (which `wg setconf` and `wg syncconf`
/// send for a file without `FwMark`) leaves that mark in place, and any
/// other mark is refused.
fn checked_fwmark(
    shared: &Shared,
    asked: Option<u32>,
    defaults: &[(Prefix, u32)],
    next: &BTreeMap<X25519PublicKey, PeerInfo>,
) -> Result<Option<u32>, UapiError> {
    let Some(mark) = asked else {
        return Ok(None);
    };
    let needed = defaults
        .iter()
        .find(|(p, _)| next.values().any(|i| i.allowed_ips.contains(p)))
        .copied();
    match needed {
        None => Ok(Some(mark)),
        Some((_, table)) if mark == table => Ok(Some(mark)),
        Some((prefix, table)) if mark == 0 => {
            tracing::info!(
                interface = %shared.interface,
                "fwmark 0 asked: the mark stays {table}, which the default route {prefix} needs"
            );
            Ok(None)
        }
        Some((prefix, table)) => Err(rejected(format!(
            "fwmark {mark} would send the tunnel's own packets into it: the default route \
             {prefix} uses routing table {table} and needs the mark {table}"
        ))),
    }
}

/// Adds routes for prefixes that became allowed and removes those no
/// longer allowed, as `wg-quick` would on a fresh start. The peer change
/// has already happened, so a route `ip` refuses is logged, not returned.
fn sync_routes(shared: &Shared, before: &[Prefix], after: &[Prefix]) {
    let mut net = shared
        .net
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(net) = net.as_mut() else {
        return;
    };
    let before_set: HashSet<&Prefix> = before.iter().collect();
    let after_set: HashSet<&Prefix> = after.iter().collect();
    let gone: Vec<Prefix> = before
        .iter()
        .filter(|p| !after_set.contains(p))
        .copied()
        .collect();
    if let Err(e) = net.remove_routes(&gone) {
        tracing::warn!(interface = %shared.interface, "removing {} routes: {e}", gone.len());
    }
    let added: Vec<Prefix> = after
        .iter()
        .filter(|p| !before_set.contains(p))
        .copied()
        .collect();
    if added.is_empty() {
        return;
    }
    let mark = shared.fwmark.load(Ordering::Relaxed);
    let report = match net.add_routes(&added, mark) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(interface = %shared.interface, "adding {} routes: {e}", added.len());
            return;
        }
    };
    for e in &report.failed {
        tracing::warn!(interface = %shared.interface, "adding a route: {e}");
    }
    if let Some(table) = report.policy_table.filter(|t| *t != mark) {
        if let Err(e) = shared.udp.set_fwmark(table) {
            tracing::warn!(interface = %shared.interface, "setting fwmark {table}: {e}");
        } else {
            shared.fwmark.store(table, Ordering::Relaxed);
        }
    }
}
