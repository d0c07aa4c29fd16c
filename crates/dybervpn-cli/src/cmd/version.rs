//! `dybervpn version`: what this binary is built from and what it speaks.

use clap::Args;
use dybervpn_crypto::BackendKind;
use dybervpn_proto::Mode;

use crate::error::Result;

/// Print the version, git commit, crypto backends with the libraries each
/// algorithm comes from, and the supported handshake modes.
#[derive(Debug, Args)]
pub struct VersionArgs {}

/// Where each algorithm of a backend comes from (see the
/// `dybervpn-crypto` crate documentation).
fn sources(kind: BackendKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        BackendKind::AwsLc => &[
            ("X25519", "aws-lc-rs"),
            ("ML-KEM-768", "aws-lc-rs"),
            ("ChaCha20-Poly1305", "aws-lc-rs"),
            ("ML-DSA-65", "libcrux-ml-dsa"),
            (
                "XChaCha20-Poly1305",
                "RustCrypto chacha20 (HChaCha20) + aws-lc-rs",
            ),
            ("BLAKE2s", "RustCrypto blake2"),
        ],
        _ => &[
            ("X25519", "x25519-dalek"),
            ("ML-KEM-768", "libcrux-ml-kem"),
            ("ChaCha20-Poly1305", "RustCrypto chacha20poly1305"),
            ("ML-DSA-65", "libcrux-ml-dsa"),
            ("XChaCha20-Poly1305", "RustCrypto chacha20poly1305"),
            ("BLAKE2s", "RustCrypto blake2"),
        ],
    }
}

/// Prints the report.
pub fn run(_args: &VersionArgs) -> Result<()> {
    println!(
        "dybervpn {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("DYBERVPN_GIT_COMMIT")
    );
    println!("crypto backends:");
    for kind in BackendKind::ALL {
        let default = if kind == BackendKind::default() {
            " (default)"
        } else {
            ""
        };
        println!("  {kind}{default}");
        for (alg, lib) in sources(kind) {
            println!("    {alg:<20} {lib}");
        }
    }
    let modes: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
    println!("modes: {} (default {})", modes.join(", "), Mode::default());
    Ok(())
}
