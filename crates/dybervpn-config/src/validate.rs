//! Checks that span several fields or several peers, and the assembly of the
//! validated [`Config`].
//!
//! Policy, in brief (the reasons are in `docs/configuration.md`):
//! * pq-only in effect without the ML-DSA-65 keys it needs is an error, never
//!   a silent fallback to a weaker mode.
//! * ML-DSA-65 keys where no pq-only handshake uses them: a warning.
//! * Allowed IPs with host bits set: a warning (WireGuard accepts and
//!   truncates them, so imported files keep working), and the network is used.
//! * The same allowed-IPs prefix on two different peers: an error, since
//!   packets to it could not be routed to one peer.
//! * Nested prefixes on two different peers: a warning. Longest-prefix match
//!   decides, as in WireGuard, which is what a gateway peer with `0.0.0.0/0`
//!   beside more specific peers relies on.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use dybervpn_crypto::{backend, X25519PublicKey};
use dybervpn_proto::Mode;

use crate::cidr::Cidr;
use crate::diag::Problem;
use crate::draft::{Ctx, InterfaceDraft, PeerDraft, Sp};
use crate::model::{Config, InterfaceConfig, PeerConfig, DEFAULT_MTU, MAX_MTU, MIN_MTU_IPV6};

/// Runs the checks and builds the configuration if no error was reported
/// (by this or by earlier stages).
pub(crate) fn validate(
    ctx: &mut Ctx<'_>,
    iface: Option<InterfaceDraft>,
    peers: Vec<PeerDraft>,
) -> Option<Config> {
    let seed_span = iface
        .as_ref()
        .and_then(|i| i.mldsa_private_key.as_ref())
        .map(|s| s.span.clone());
    let iface = iface.and_then(|i| interface(ctx, i));
    let mode = iface.as_ref().map_or(Mode::default(), |i| i.mode);
    let has_seed = iface
        .as_ref()
        .is_some_and(|i| i.mldsa_private_key.is_some());

    let checked: Vec<Checked> = peers
        .into_iter()
        .enumerate()
        .map(|(i, p)| peer(ctx, p, i, mode, has_seed))
        .collect();

    if let Some(iface) = &iface {
        let pq_in_use = iface.mode == Mode::PqOnly
            || checked
                .iter()
                .filter_map(|c| c.peer.as_ref())
                .any(|p| p.mode == Mode::PqOnly);
        if iface.mldsa_private_key.is_some() && !pq_in_use {
            ctx.report(
                seed_span.unwrap_or(0..0),
                "interface.mldsa_private_key",
                Problem::UnusedMlDsaKey { mode: iface.mode },
            );
        }
    }
    cross_peer(ctx, iface.as_ref(), &checked);

    if ctx.diags.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(Config {
        interface: iface?,
        peers: checked
            .into_iter()
            .map(|c| c.peer)
            .collect::<Option<Vec<_>>>()?,
    })
}

fn interface(ctx: &mut Ctx<'_>, d: InterfaceDraft) -> Option<InterfaceConfig> {
    let mode = d.mode.as_ref().map_or(Mode::default(), |m| m.value);
    if mode == Mode::PqOnly && d.mldsa_private_key.is_none() {
        let span = d.mode.as_ref().map_or(d.span.clone(), |m| m.span.clone());
        ctx.report(
            span,
            "interface.mode",
            Problem::MissingMlDsaPrivateKey {
                because: "the interface".into(),
            },
        );
    }
    // The same address twice (whatever the prefix): `ip address add`
    // refuses the second, so `up` would fail half-way.
    for (i, a) in d.address.iter().enumerate() {
        if let Some(first) = d.address[..i]
            .iter()
            .position(|b| b.value.addr() == a.value.addr())
        {
            ctx.report(
                a.span.clone(),
                format!("interface.address[{i}]"),
                Problem::InvalidValue {
                    value: a.value.to_string(),
                    reason: format!(
                        "the same address as address[{first}] ({}); an interface has each \
                         address once",
                        d.address[first].value
                    ),
                },
            );
        }
    }
    let mtu = d.mtu.as_ref().map_or(DEFAULT_MTU, |m| m.value);
    if mtu < MIN_MTU_IPV6 && d.address.iter().any(|a| a.value.addr().is_ipv6()) {
        let span = d.mtu.as_ref().map_or(d.span.clone(), |m| m.span.clone());
        ctx.report(
            span,
            "interface.mtu",
            Problem::OutOfRange {
                value: mtu.to_string(),
                min: MIN_MTU_IPV6.into(),
                max: MAX_MTU.into(),
                note: "the interface has an IPv6 address, and IPv6 needs an MTU of at least 1280",
            },
        );
    }
    let Some(private_key) = d.private_key else {
        // Absent, or present but unreadable (reported already).
        if !d.private_key_given {
            ctx.report(d.span.clone(), "interface.private_key", Problem::Missing);
        }
        return None;
    };
    let crypto_backend = d.crypto_backend.unwrap_or_default();
    let public_key = match backend(crypto_backend).x25519_public_key(&private_key.value) {
        Ok(k) => k,
        Err(e) => {
            ctx.report(
                private_key.span,
                "interface.private_key",
                Problem::Crypto(e),
            );
            return None;
        }
    };
    let mut out = InterfaceConfig::new(private_key.value, public_key, mode);
    out.private_key_file = d.private_key_file;
    out.listen_port = d.listen_port;
    out.address = d.address.into_iter().map(|a| a.value).collect();
    out.mldsa_private_key = d.mldsa_private_key.map(|s| s.value);
    out.mldsa_private_key_file = d.mldsa_private_key_file;
    out.mtu = mtu;
    out.dns = d.dns;
    out.fwmark = d.fwmark;
    out.crypto_backend = crypto_backend;
    out.metrics_listen = d.metrics_listen;
    out.log_format = d.log_format.unwrap_or_default();
    Some(out)
}

/// One peer after its own checks, with what the cross-peer checks need.
struct Checked {
    /// The peer, if it was complete.
    peer: Option<PeerConfig>,
    /// Where its public key was written.
    key_span: std::ops::Range<usize>,
    /// Its allowed IPs, truncated to networks, with their spans.
    ips: Vec<Sp<Cidr>>,
}

/// Checks one peer on its own.
fn peer(
    ctx: &mut Ctx<'_>,
    d: PeerDraft,
    i: usize,
    iface_mode: Mode,
    iface_has_seed: bool,
) -> Checked {
    let mode = d.mode.as_ref().map_or(iface_mode, |m| m.value);
    if mode == Mode::PqOnly {
        // An inherited pq-only is reported once, on the interface.
        if let Some(m) = d.mode.as_ref().filter(|_| !iface_has_seed) {
            if iface_mode != Mode::PqOnly {
                ctx.report(
                    m.span.clone(),
                    format!("peer[{i}].mode"),
                    Problem::MissingMlDsaPrivateKey {
                        because: format!("peer[{i}]"),
                    },
                );
            }
        }
        if d.mldsa_public_key.is_none() {
            ctx.report(
                d.span.clone(),
                format!("peer[{i}].mldsa_public_key"),
                Problem::MissingMlDsaPublicKey,
            );
        }
    } else if let Some(k) = &d.mldsa_public_key {
        ctx.report(
            k.span.clone(),
            format!("peer[{i}].mldsa_public_key"),
            Problem::UnusedMlDsaKey { mode },
        );
    }

    let field = format!("peer[{i}].allowed_ips");
    if d.allowed_ips.is_empty() {
        ctx.report(d.span.clone(), field.as_str(), Problem::NoAllowedIps);
    }
    let mut ips: Vec<Sp<Cidr>> = Vec::new();
    for ip in d.allowed_ips {
        let network = ip.value.network();
        if network != ip.value {
            ctx.report(
                ip.span.clone(),
                field.as_str(),
                Problem::HostBitsSet {
                    given: ip.value,
                    network,
                },
            );
        }
        if let Some(wider) = ips.iter().find(|o| o.value.covers(&network)) {
            let covered_by = wider.value;
            ctx.report(
                ip.span.clone(),
                field.as_str(),
                Problem::RedundantAllowedIp {
                    cidr: network,
                    covered_by,
                },
            );
            continue;
        }
        ips.push(Sp::new(network, ip.span));
    }

    let Some(public_key) = d.public_key else {
        if !d.public_key_given {
            ctx.report(d.span, format!("peer[{i}].public_key"), Problem::Missing);
        }
        return Checked {
            peer: None,
            key_span: 0..0,
            ips,
        };
    };
    let mut out = PeerConfig::new(public_key.value, mode);
    out.name = d.name;
    out.mldsa_public_key = d.mldsa_public_key.map(|k| k.value);
    out.preshared_key = d.preshared_key;
    out.endpoint = d.endpoint;
    out.allowed_ips = ips.iter().map(|s| s.value).collect();
    out.persistent_keepalive = d.persistent_keepalive;
    Checked {
        peer: Some(out),
        key_span: public_key.span,
        ips,
    }
}

/// The cross-peer checks: duplicate keys, the interface's own key, and
/// overlapping allowed IPs.
///
/// Each peer is checked against the earlier ones through two indexes (keys
/// in a hash map, allowed IPs in an ordered map), so 10,000 peers cost
/// about 10,000 × 33 map probes rather than 50 million pairwise
/// comparisons. The reports are exactly those of the pairwise comparison,
/// in the same order, which a test checks against a naive reference
/// (`naive_cross_peer` below).
fn cross_peer(ctx: &mut Ctx<'_>, iface: Option<&InterfaceConfig>, checked: &[Checked]) {
    let mut first_with_key: HashMap<X25519PublicKey, usize> = HashMap::new();
    let mut first_with_name: HashMap<&str, usize> = HashMap::new();
    // Every earlier peer's allowed IPs: prefix -> (peer, position in its list).
    let mut earlier_ips: BTreeMap<Cidr, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, c) in checked.iter().enumerate() {
        if let Some(p) = &c.peer {
            if iface.is_some_and(|f| f.public_key == p.public_key) {
                ctx.report(
                    c.key_span.clone(),
                    format!("peer[{i}].public_key"),
                    Problem::OwnPublicKey,
                );
            }
            if let Some(name) = p.name.as_deref() {
                if let Some(&j) = first_with_name.get(name) {
                    ctx.report(
                        c.key_span.clone(),
                        format!("peer[{i}].name"),
                        Problem::DuplicateName { first: j },
                    );
                } else {
                    first_with_name.insert(name, i);
                }
            }
            match first_with_key.entry(p.public_key) {
                Entry::Occupied(first) => {
                    let j = *first.get();
                    ctx.report(
                        c.key_span.clone(),
                        format!("peer[{i}].public_key"),
                        Problem::DuplicatePeer {
                            first: j,
                            first_name: checked
                                .get(j)
                                .and_then(|f| f.peer.as_ref())
                                .and_then(|f| f.name.clone()),
                        },
                    );
                }
                Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        // A peer whose key is missing or bad is checked too, so a second
        // run does not bring up what the first could have said.
        for ip in &c.ips {
            for (j, o) in overlapping(&earlier_ips, checked, ip.value) {
                let other_name = checked
                    .get(j)
                    .and_then(|q| q.peer.as_ref())
                    .and_then(|q| q.name.clone());
                let problem = clash(ip.value, o, j, other_name);
                ctx.report(ip.span.clone(), format!("peer[{i}].allowed_ips"), problem);
            }
        }
        // A peer without a key still claims its prefixes for later peers.
        for (pos, ip) in c.ips.iter().enumerate() {
            earlier_ips.entry(ip.value).or_default().push((i, pos));
        }
    }
}

/// The problem with `cidr` when peer `other_peer` has `other`, which
/// overlaps it: the same prefix, or one nested in the other.
fn clash(cidr: Cidr, other: Cidr, other_peer: usize, other_name: Option<String>) -> Problem {
    if other == cidr {
        Problem::DuplicateAllowedIp {
            cidr,
            other_peer,
            other_name,
        }
    } else {
        Problem::OverlappingAllowedIps {
            cidr,
            other,
            other_peer,
            other_name,
        }
    }
}

/// The earlier peers with an allowed IP overlapping `ip` (a network), in
/// peer order, each with its first such prefix (in its own list's order).
fn overlapping(
    earlier: &BTreeMap<Cidr, Vec<(usize, usize)>>,
    checked: &[Checked],
    ip: Cidr,
) -> Vec<(usize, Cidr)> {
    let mut hits: Vec<(usize, usize)> = Vec::new();
    // Prefixes containing `ip` (itself included): one probe per length.
    for len in 0..=ip.prefix_len() {
        if let Some(wider) = Cidr::new(ip.addr(), len).map(|c| c.network()) {
            if let Some(owners) = earlier.get(&wider) {
                hits.extend(owners);
            }
        }
    }
    // Prefixes inside `ip`: a range of the ordered map, from `ip` itself to
    // its last address at full length.
    let full = if ip.addr().is_ipv4() { 32 } else { 128 };
    let host_bits = u32::from(full - ip.prefix_len());
    let last = ip
        .nth(u128::MAX.checked_shr(128 - host_bits).unwrap_or(0))
        .and_then(|a| Cidr::new(a, full));
    if let Some(last) = last.filter(|l| *l >= ip) {
        for (inner, owners) in earlier.range((Bound::Included(ip), Bound::Included(last))) {
            if ip.covers(inner) {
                hits.extend(owners);
            }
        }
    }
    hits.sort_unstable();
    hits.dedup_by_key(|(j, _)| *j);
    hits.into_iter()
        .filter_map(|(j, pos)| {
            let o = checked.get(j)?.ips.get(pos)?.value;
            Some((j, o))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::path::Path;

    /// The original pairwise comparison, kept as the reference.
    fn naive_cross_peer(ctx: &mut Ctx<'_>, iface: Option<&InterfaceConfig>, checked: &[Checked]) {
        for (i, c) in checked.iter().enumerate() {
            if let Some(p) = &c.peer {
                if iface.is_some_and(|f| f.public_key == p.public_key) {
                    ctx.report(
                        c.key_span.clone(),
                        format!("peer[{i}].public_key"),
                        Problem::OwnPublicKey,
                    );
                }
                let earlier = checked.iter().enumerate().take(i);
                if let Some((j, first)) = earlier
                    .filter_map(|(j, o)| o.peer.as_ref().map(|q| (j, q)))
                    .find(|(_, q)| q.public_key == p.public_key)
                {
                    ctx.report(
                        c.key_span.clone(),
                        format!("peer[{i}].public_key"),
                        Problem::DuplicatePeer {
                            first: j,
                            first_name: first.name.clone(),
                        },
                    );
                }
            }
            for ip in &c.ips {
                for (j, other) in checked.iter().enumerate().take(i) {
                    if let Some(o) = other.ips.iter().find(|o| o.value.overlaps(&ip.value)) {
                        let other_name = other.peer.as_ref().and_then(|q| q.name.clone());
                        let problem = clash(ip.value, o.value, j, other_name);
                        ctx.report(ip.span.clone(), format!("peer[{i}].allowed_ips"), problem);
                    }
                }
            }
        }
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A prefix from a small pool, so duplicates and nesting are common:
    /// IPv4 and IPv6, lengths 0 to full, addresses sharing high bits.
    fn random_cidr(rng: &mut Rng) -> Cidr {
        let v6 = rng.below(4) == 0;
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, rng.below(4) as u16))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                10,
                rng.below(3) as u8,
                rng.below(3) as u8,
                rng.below(3) as u8,
            ))
        };
        let full = if v6 { 128 } else { 32 };
        let len = match rng.below(5) {
            0 => 0,
            1 => full,
            _ => rng.below(u64::from(full) + 1) as u8,
        };
        Cidr::new(addr, len).expect("len within width").network()
    }

    /// Peers as `peer()` leaves them: networks only, none covered by an
    /// earlier one of the same peer; some without a key, some sharing one.
    fn random_checked(rng: &mut Rng, peers: usize) -> Vec<Checked> {
        (0..peers)
            .map(|i| {
                let mut ips: Vec<Sp<Cidr>> = Vec::new();
                for k in 0..rng.below(4) {
                    let c = random_cidr(rng);
                    if !ips.iter().any(|o| o.value.covers(&c)) {
                        ips.push(Sp::new(c, (i * 10 + k as usize)..(i * 10 + 5)));
                    }
                }
                let peer = (rng.below(8) != 0).then(|| {
                    let mut p =
                        PeerConfig::new(X25519PublicKey([rng.below(6) as u8; 32]), Mode::Hybrid);
                    p.name = (rng.below(2) == 0).then(|| format!("p{i}"));
                    p
                });
                Checked {
                    peer,
                    key_span: i..i + 1,
                    ips,
                }
            })
            .collect()
    }

    #[test]
    fn indexed_checks_report_exactly_what_the_pairwise_ones_do() {
        let path = Path::new("t.toml");
        let (mut reports, mut overlaps) = (0usize, 0usize);
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let peers = 1 + rng.below(12) as usize;
            let checked = random_checked(&mut rng, peers);
            let mut fast = Ctx::new(path, "");
            let mut naive = Ctx::new(path, "");
            cross_peer(&mut fast, None, &checked);
            naive_cross_peer(&mut naive, None, &checked);
            assert_eq!(fast.diags, naive.diags, "seed {seed}");
            reports += fast.diags.len();
            overlaps += fast
                .diags
                .iter()
                .filter(|d| d.to_string().contains("overlaps"))
                .count();
        }
        // The pool is small enough that every kind of report happens.
        assert!(
            reports > 200 && overlaps > 50,
            "{reports} reports, {overlaps} overlaps"
        );
    }
}
