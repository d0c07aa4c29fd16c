//! `dybervpn benchmark`: per-operation timings of each crypto backend on this
//! machine.
//!
//! Each row is a [`Case`]: a name, the bytes one operation processes (for
//! throughput rows), an untimed preparation and a closure doing one
//! operation. The crypto rows come from [`cases`]; the full-handshake rows
//! (one per mode: two [`Device`]s in memory, both sides on this core —
//! create the initiation, consume it and create the response, consume the
//! response and send the first queued packet) from [`handshake_cases`].

use std::time::{Duration, Instant};

use clap::Args;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use dybervpn_crypto::{backend, AeadKey, BackendKind, CryptoBackend, MlDsaSeed, AEAD_TAG_LEN};
use dybervpn_proto::{Action, Device, Mode, Now, PeerConfig, PeerId};
use serde_json::json;

use crate::error::{CliError, Result};

/// Size of the packets the AEAD rows encrypt: the default tunnel MTU.
const PACKET_LEN: usize = 1420;
/// Untimed runs before measuring each case.
const WARMUP: usize = 10;
/// Most timed runs of a full handshake (each also needs two fresh devices).
const HANDSHAKE_MAX_ITERATIONS: u32 = 300;

/// Measure the cryptographic operations of the protocol: ML-KEM-768
/// keygen/encaps/decaps, ML-DSA-65 sign/verify, X25519,
/// ChaCha20-Poly1305 on 1420-byte packets, and a full handshake in each
/// mode (both sides on one core) and the responder's share of it (the
/// handshakes per second one core can answer). Figures are for this machine.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed runs per operation.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub iterations: u32,
    /// Only this backend (aws-lc or libcrux); default: all.
    #[arg(long)]
    pub backend: Option<BackendKind>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One operation to time.
struct Case<'a> {
    op: &'static str,
    /// Bytes processed per run, for a throughput figure.
    bytes: Option<usize>,
    /// Untimed work before each timed run (fresh devices for a handshake).
    prepare: Option<Box<dyn FnMut() -> Result<()> + 'a>>,
    /// Cap on timed runs, for slow cases.
    max_iterations: Option<u32>,
    run: Box<dyn FnMut() -> Result<()> + 'a>,
}

impl<'a> Case<'a> {
    fn new(
        op: &'static str,
        bytes: Option<usize>,
        run: impl FnMut() -> std::result::Result<(), dybervpn_crypto::CryptoError> + 'a,
    ) -> Self {
        let mut run = run;
        Self {
            op,
            bytes,
            prepare: None,
            max_iterations: None,
            run: Box::new(move || run().map_err(CliError::from)),
        }
    }
}

/// The measured figures of one case.
#[derive(Debug)]
struct Row {
    backend: &'static str,
    op: &'static str,
    mean: Duration,
    median: Duration,
    bytes: Option<usize>,
    iterations: u32,
}

impl Row {
    fn ops_per_sec(&self) -> f64 {
        1.0 / self.mean.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn gbit_per_sec(&self) -> Option<f64> {
        self.bytes
            .map(|b| b as f64 * 8.0 / self.mean.as_secs_f64().max(f64::MIN_POSITIVE) / 1e9)
    }
}

/// The cases for one backend, with their inputs prepared.
fn cases(b: &dyn CryptoBackend) -> Result<Vec<Case<'_>>> {
    let (dk, ek) = b.mlkem_generate()?;
    let (ct, _) = b.mlkem_encapsulate(&ek)?;
    let mut seed = [0u8; 32];
    b.fill_random(&mut seed)?;
    let pair = b.mldsa_from_seed(&MlDsaSeed::from_bytes(seed))?;
    let message = [0x42u8; 256];
    let context = b"dybervpn benchmark";
    let signature = b.mldsa_sign(&pair, context, &message)?;
    let (x_secret, _) = b.x25519_generate()?;
    let (_, x_peer) = b.x25519_generate()?;
    let mut key_bytes = [0u8; 32];
    b.fill_random(&mut key_bytes)?;
    let cipher = b.transport_cipher(&AeadKey::new(key_bytes));
    let open_cipher = b.transport_cipher(&AeadKey::new(key_bytes));
    let mut sealed = vec![0u8; PACKET_LEN];
    let tag: [u8; AEAD_TAG_LEN] = open_cipher.seal(7, &mut sealed)?;
    let mut seal_buf = vec![0u8; PACKET_LEN];
    let mut open_buf = vec![0u8; PACKET_LEN];
    let mut counter = 0u64;

    Ok(vec![
        Case::new("ML-KEM-768 keygen", None, move || {
            b.mlkem_generate().map(drop)
        }),
        Case::new("ML-KEM-768 encaps", None, move || {
            b.mlkem_encapsulate(&ek).map(drop)
        }),
        Case::new("ML-KEM-768 decaps", None, move || {
            b.mlkem_decapsulate(&dk, &ct).map(drop)
        }),
        Case::new("ML-DSA-65 sign", None, {
            let pair = pair.clone();
            move || b.mldsa_sign(&pair, context, &message).map(drop)
        }),
        Case::new("ML-DSA-65 verify", None, move || {
            b.mldsa_verify(&pair.public, context, &message, &signature)
        }),
        Case::new("X25519 DH", None, move || {
            b.x25519(&x_secret, &x_peer).map(drop)
        }),
        Case::new(
            "ChaCha20-Poly1305 seal 1420 B",
            Some(PACKET_LEN),
            move || {
                counter = counter.wrapping_add(1);
                cipher.seal(counter, &mut seal_buf).map(drop)
            },
        ),
        Case::new(
            "ChaCha20-Poly1305 open 1420 B",
            Some(PACKET_LEN),
            move || {
                open_buf.copy_from_slice(&sealed);
                open_cipher.open(7, &mut open_buf, &tag)
            },
        ),
    ])
}

const A_ADDR: &str = "192.0.2.1:51820";
const B_ADDR: &str = "192.0.2.2:51820";

/// Two devices that know each other, `a` initiating to `b`.
struct Pair {
    a: Device,
    b: Device,
    a_peer: PeerId,
}

fn pair(be: &Arc<dyn CryptoBackend>, mode: Mode) -> Result<Pair> {
    let (sa, pa) = be.x25519_generate()?;
    let (sb, pb) = be.x25519_generate()?;
    let (ma, mb) = if mode.needs_mldsa() {
        let mut seed = [0u8; 32];
        be.fill_random(&mut seed)?;
        let ma = be.mldsa_from_seed(&MlDsaSeed::from_bytes(seed))?;
        be.fill_random(&mut seed)?;
        let mb = be.mldsa_from_seed(&MlDsaSeed::from_bytes(seed))?;
        (Some(ma), Some(mb))
    } else {
        (None, None)
    };
    let fail = |e: &dyn std::fmt::Display| CliError::new(format!("handshake setup: {e}"));
    let mut ca = PeerConfig::new(pb);
    ca.mldsa_public_key = mb.as_ref().map(|k| k.public.clone());
    ca.endpoint = Some(B_ADDR.parse().map_err(|e| fail(&e))?);
    let mut cb = PeerConfig::new(pa);
    cb.mldsa_public_key = ma.as_ref().map(|k| k.public.clone());
    let a = Device::new(sa, mode, ma, Arc::clone(be)).map_err(|e| fail(&e))?;
    let b = Device::new(sb, mode, mb, Arc::clone(be)).map_err(|e| fail(&e))?;
    let a_peer = a.add_peer(ca).map_err(|e| fail(&e))?;
    b.add_peer(cb).map_err(|e| fail(&e))?;
    Ok(Pair { a, b, a_peer })
}

/// One complete handshake between fresh devices: initiation, response,
/// and the initiator's first transport message (the queued packet).
fn handshake(p: &Pair, buf: &mut [u8], buf2: &mut [u8], packet: &[u8]) -> Result<()> {
    let now = Now {
        mono: Duration::from_secs(100),
        unix: Duration::from_secs(1_700_000_000),
    };
    let fail = |step: &str| CliError::new(format!("handshake: no {step}"));
    let a_addr: SocketAddr = A_ADDR.parse().map_err(|_| fail("address"))?;
    let b_addr: SocketAddr = B_ADDR.parse().map_err(|_| fail("address"))?;
    let Ok(Action::SendToNetwork { datagram: init, .. }) =
        p.a.encapsulate(now, p.a_peer, packet, buf)
    else {
        return Err(fail("initiation"));
    };
    let Ok(Action::SendToNetwork { datagram: resp, .. }) = p.b.decapsulate(now, a_addr, init, buf2)
    else {
        return Err(fail("response"));
    };
    let Ok(Action::SendToNetwork {
        datagram: first, ..
    }) = p.a.decapsulate(now, b_addr, resp, buf)
    else {
        return Err(fail("first transport message"));
    };
    if first.first() == Some(&4) {
        Ok(())
    } else {
        Err(fail("transport message after the response"))
    }
}

/// One full-handshake case per mode; each run gets two fresh devices
/// (built untimed), so every run is a first handshake.
fn handshake_cases(b: &Arc<dyn CryptoBackend>) -> Vec<Case<'static>> {
    Mode::ALL
        .into_iter()
        .map(|mode| {
            let slot: Rc<RefCell<Option<Pair>>> = Rc::new(RefCell::new(None));
            let (be, prep_slot) = (Arc::clone(b), Rc::clone(&slot));
            let mut buf = vec![0u8; 8192];
            let mut buf2 = vec![0u8; 8192];
            let mut packet = vec![0u8; 64];
            packet[0] = 0x45;
            packet[3] = 64;
            Case {
                op: match mode {
                    Mode::Classic => "handshake classic (both sides)",
                    Mode::Hybrid => "handshake hybrid (both sides)",
                    Mode::PqOnly => "handshake pq-only (both sides)",
                },
                bytes: None,
                prepare: Some(Box::new(move || {
                    *prep_slot.borrow_mut() = Some(pair(&be, mode)?);
                    Ok(())
                })),
                max_iterations: Some(HANDSHAKE_MAX_ITERATIONS),
                run: Box::new(move || {
                    let p = slot.borrow();
                    let p = p
                        .as_ref()
                        .ok_or_else(|| CliError::new("handshake: no devices"))?;
                    handshake(p, &mut buf, &mut buf2, &packet)
                }),
            }
        })
        .collect()
}

/// Fresh devices and the initiation `a` sent `b`.
type Prepared = (Pair, Vec<u8>);

/// The responder's share alone, per mode: consume a fresh initiation and
/// create the response — what bounds the handshakes per second one core
/// can answer (before the cookie mechanism sheds load). Each run gets
/// fresh devices and a fresh initiation, built untimed.
fn responder_cases(b: &Arc<dyn CryptoBackend>) -> Vec<Case<'static>> {
    Mode::ALL
        .into_iter()
        .map(|mode| {
            // The devices and the initiation, prepared for the next run.
            let slot: Rc<RefCell<Option<Prepared>>> = Rc::new(RefCell::new(None));
            let (be, prep_slot) = (Arc::clone(b), Rc::clone(&slot));
            let mut out = vec![0u8; 8192];
            let mut prep_buf = vec![0u8; 8192];
            let mut packet = vec![0u8; 64];
            packet[0] = 0x45;
            packet[3] = 64;
            let now = Now {
                mono: Duration::from_secs(100),
                unix: Duration::from_secs(1_700_000_000),
            };
            Case {
                op: match mode {
                    Mode::Classic => "responder classic (init→resp)",
                    Mode::Hybrid => "responder hybrid (init→resp)",
                    Mode::PqOnly => "responder pq-only (init→resp)",
                },
                bytes: None,
                prepare: Some(Box::new(move || {
                    let p = pair(&be, mode)?;
                    let Ok(Action::SendToNetwork { datagram, .. }) =
                        p.a.encapsulate(now, p.a_peer, &packet, &mut prep_buf)
                    else {
                        return Err(CliError::new("handshake: no initiation"));
                    };
                    let init = datagram.to_vec();
                    *prep_slot.borrow_mut() = Some((p, init));
                    Ok(())
                })),
                max_iterations: Some(HANDSHAKE_MAX_ITERATIONS),
                run: Box::new(move || {
                    let prepared = slot.borrow();
                    let (p, init) = prepared
                        .as_ref()
                        .ok_or_else(|| CliError::new("responder: no devices"))?;
                    let from: SocketAddr = A_ADDR
                        .parse()
                        .map_err(|_| CliError::new("responder: address"))?;
                    match p.b.decapsulate(now, from, init, &mut out) {
                        Ok(Action::SendToNetwork { .. }) => Ok(()),
                        _ => Err(CliError::new("responder: no response")),
                    }
                }),
            }
        })
        .collect()
}

fn measure(backend: &'static str, case: &mut Case<'_>, iterations: u32) -> Result<Row> {
    let iterations = case
        .max_iterations
        .map_or(iterations, |m| iterations.min(m));
    let fail = |e: CliError| CliError::new(format!("{backend}: {}: {e}", case.op));
    for _ in 0..WARMUP {
        if let Some(prepare) = case.prepare.as_mut() {
            prepare().map_err(fail)?;
        }
        (case.run)().map_err(fail)?;
    }
    let mut times = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        if let Some(prepare) = case.prepare.as_mut() {
            prepare().map_err(fail)?;
        }
        let start = Instant::now();
        (case.run)().map_err(fail)?;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    let total: Duration = times.iter().sum();
    let mean = total / iterations.max(1);
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    Ok(Row {
        backend,
        op: case.op,
        mean,
        median,
        bytes: case.bytes,
        iterations,
    })
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> Result<()> {
    let kinds: Vec<BackendKind> = match args.backend {
        Some(k) => vec![k],
        None => BackendKind::ALL.to_vec(),
    };
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; build with --release for representative figures");
    }
    let mut rows = Vec::new();
    for kind in kinds {
        let b = backend(kind);
        let name = b.name();
        let mut all = cases(b.as_ref())?;
        all.extend(handshake_cases(&b));
        all.extend(responder_cases(&b));
        for mut case in all {
            let row = measure(name, &mut case, args.iterations)?;
            if !args.json {
                print_row(&row);
            }
            rows.push(row);
        }
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "backend": r.backend,
                    "operation": r.op,
                    "iterations": r.iterations,
                    "mean_us": r.mean.as_secs_f64() * 1e6,
                    "median_us": r.median.as_secs_f64() * 1e6,
                    "ops_per_sec": r.ops_per_sec(),
                    "gbit_per_sec": r.gbit_per_sec(),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&list)
            .map_err(|e| CliError::new(format!("cannot encode JSON: {e}")))?;
        println!("{text}");
    }
    Ok(())
}

fn print_row(r: &Row) {
    let tput = r
        .gbit_per_sec()
        .map(|g| format!("  {g:7.2} Gbit/s"))
        .unwrap_or_default();
    println!(
        "{:<8} {:<32} mean {:>10.2} µs  median {:>10.2} µs  {:>12.0} ops/s{tput}",
        r.backend,
        r.op,
        r.mean.as_secs_f64() * 1e6,
        r.median.as_secs_f64() * 1e6,
        r.ops_per_sec()
    );
}
