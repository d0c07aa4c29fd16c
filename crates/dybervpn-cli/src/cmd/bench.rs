//! `dybervpn benchmark`: per-operation timings of each crypto backend on this
//! machine.
//!
//! Each row is a [`Case`]: a name, the bytes one operation processes (for
//! throughput rows) and a closure doing one operation. To add a row (the
//! handshakes, say), push another case in [`cases`].

use std::time::{Duration, Instant};

use clap::Args;
use dybervpn_crypto::{
    backend, AeadKey, BackendKind, CryptoBackend, CryptoError, MlDsaSeed, AEAD_TAG_LEN,
};
use serde_json::json;

use crate::error::{CliError, Result};

/// Size of the packets the AEAD rows encrypt: the default tunnel MTU.
const PACKET_LEN: usize = 1420;
/// Untimed runs before measuring each case.
const WARMUP: usize = 10;

/// Measure the cryptographic operations of the protocol: ML-KEM-768
/// keygen/encaps/decaps, ML-DSA-65 sign/verify, X25519, and
/// ChaCha20-Poly1305 on 1420-byte packets. Figures are for this machine.
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
    run: Box<dyn FnMut() -> std::result::Result<(), CryptoError> + 'a>,
}

/// The measured figures of one case.
#[derive(Debug)]
struct Row {
    backend: &'static str,
    op: &'static str,
    mean: Duration,
    median: Duration,
    bytes: Option<usize>,
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
        Case {
            op: "ML-KEM-768 keygen",
            bytes: None,
            run: Box::new(move || b.mlkem_generate().map(drop)),
        },
        Case {
            op: "ML-KEM-768 encaps",
            bytes: None,
            run: Box::new(move || b.mlkem_encapsulate(&ek).map(drop)),
        },
        Case {
            op: "ML-KEM-768 decaps",
            bytes: None,
            run: Box::new(move || b.mlkem_decapsulate(&dk, &ct).map(drop)),
        },
        Case {
            op: "ML-DSA-65 sign",
            bytes: None,
            run: Box::new({
                let pair = pair.clone();
                move || b.mldsa_sign(&pair, context, &message).map(drop)
            }),
        },
        Case {
            op: "ML-DSA-65 verify",
            bytes: None,
            run: Box::new(move || b.mldsa_verify(&pair.public, context, &message, &signature)),
        },
        Case {
            op: "X25519 DH",
            bytes: None,
            run: Box::new(move || b.x25519(&x_secret, &x_peer).map(drop)),
        },
        Case {
            op: "ChaCha20-Poly1305 seal 1420 B",
            bytes: Some(PACKET_LEN),
            run: Box::new(move || {
                counter = counter.wrapping_add(1);
                cipher.seal(counter, &mut seal_buf).map(drop)
            }),
        },
        Case {
            op: "ChaCha20-Poly1305 open 1420 B",
            bytes: Some(PACKET_LEN),
            run: Box::new(move || {
                open_buf.copy_from_slice(&sealed);
                open_cipher.open(7, &mut open_buf, &tag)
            }),
        },
    ])
}

fn measure(backend: &'static str, case: &mut Case<'_>, iterations: u32) -> Result<Row> {
    let fail = |e: CryptoError| CliError::new(format!("{backend}: {}: {e}", case.op));
    for _ in 0..WARMUP {
        (case.run)().map_err(fail)?;
    }
    let mut times = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
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
        for mut case in cases(b.as_ref())? {
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
                    "iterations": args.iterations,
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
