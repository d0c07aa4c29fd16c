//! `dybervpn genkey` and `dybervpn pubkey`.

use std::io::Read as _;

use clap::{Args, ValueEnum};
use dybervpn_crypto::{backend, BackendKind, CryptoBackend, MlDsaSeed, X25519SecretKey};
use dybervpn_proto::Mode;
use toml::de::{DeTable, DeValue};
use zeroize::Zeroizing;

use crate::cmd::convert::print_stdout;
use crate::error::{CliError, Result};

/// Output format of `genkey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// An `[interface]` snippet with every private key the mode needs.
    Toml,
    /// Only the base64 X25519 private key, like `wg genkey`.
    Wg,
}

/// Generate fresh private key material for a mode and print it.
///
/// classic and hybrid need an X25519 private key; pq-only also an ML-DSA-65
/// seed. Pipe the output to `dybervpn pubkey` for the public keys.
#[derive(Debug, Args)]
pub struct GenkeyArgs {
    /// Handshake mode: classic, hybrid or pq-only.
    #[arg(long, default_value = "hybrid")]
    pub mode: Mode,
    /// toml: an [interface] snippet; wg: the bare X25519 key like `wg genkey`
    /// (not possible for pq-only, which also needs an ML-DSA-65 seed).
    #[arg(long, value_enum, default_value_t = KeyFormat::Toml)]
    pub format: KeyFormat,
}

/// Print the public keys of private key material read on stdin.
///
/// The input is either a bare base64 X25519 private key (as from
/// `wg genkey`; the output is then exactly what `wg pubkey` prints) or the
/// TOML that `dybervpn genkey` prints (or a whole configuration file), in
/// which case the output is TOML lines for a [[peer]] entry: public_key and,
/// for pq-only, mldsa_public_key with its fingerprint.
#[derive(Debug, Args)]
pub struct PubkeyArgs {}

/// Fresh key material for `mode`: the X25519 key and, for pq-only, the
/// ML-DSA-65 seed.
pub fn generate(b: &dyn CryptoBackend, mode: Mode) -> Result<(X25519SecretKey, Option<MlDsaSeed>)> {
    let (secret, _) = b.x25519_generate()?;
    let seed = if mode.needs_mldsa() {
        let mut bytes = Zeroizing::new([0u8; 32]);
        b.fill_random(bytes.as_mut())?;
        Some(MlDsaSeed::from_bytes(*bytes))
    } else {
        None
    };
    Ok((secret, seed))
}

/// Warns, as `wg genkey` does, when standard output is a regular file that
/// group or others may read (`dybervpn genkey > key` under umask 022).
fn warn_if_stdout_is_readable_by_others() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata("/proc/self/fd/1") {
            let mode = m.permissions().mode() & 0o777;
            if m.is_file() && mode & 0o077 != 0 {
                eprintln!(
                    "warning: writing a private key to a file with mode {mode:04o}, which others \
                     can read; `chmod 600` it (or set `umask 077` first)"
                );
            }
        }
    }
}

/// Runs `genkey`.
pub fn genkey(args: &GenkeyArgs) -> Result<()> {
    if args.format == KeyFormat::Wg && args.mode.needs_mldsa() {
        return Err(CliError::new(
            "--format wg cannot hold pq-only keys: WireGuard has no place for the ML-DSA-65 \
             seed; use --format toml",
        ));
    }
    warn_if_stdout_is_readable_by_others();
    let b = backend(BackendKind::default());
    let (secret, seed) = generate(b.as_ref(), args.mode)?;
    // Room for the whole text at once: a reallocation would free a block
    // holding part of the key without wiping it.
    let mut out = Zeroizing::new(String::with_capacity(512));
    match args.format {
        KeyFormat::Wg => {
            out.push_str(&secret.to_base64());
            out.push('\n');
        }
        KeyFormat::Toml => {
            out.push_str("[interface]\nprivate_key = \"");
            out.push_str(&secret.to_base64());
            out.push_str("\"\nmode = \"");
            out.push_str(args.mode.name());
            out.push_str("\"\n");
            if let Some(seed) = &seed {
                out.push_str("mldsa_private_key = \"");
                out.push_str(&seed.to_base64());
                out.push_str("\"\n");
            }
        }
    }
    print_stdout(&out)
}

/// The public keys of some private key material, as printed by `pubkey`.
pub fn public_keys_text(input: &str) -> Result<String> {
    let b = backend(BackendKind::default());
    let trimmed = input.trim();
    let bare = X25519SecretKey::from_base64("private key on stdin", trimmed);
    let looks_like_toml = trimmed.contains('\n') || trimmed.contains("private_key");
    if let Ok(secret) = &bare {
        let public = b.x25519_public_key(secret)?;
        return Ok(format!("{}\n", public.to_base64()));
    }
    if !looks_like_toml {
        let detail = bare.err().map(|e| e.to_string()).unwrap_or_default();
        return Err(CliError::new(format!(
            "{detail}\n(expected a base64 X25519 private key as from `wg genkey`, or the TOML \
             printed by `dybervpn genkey`)"
        )));
    }
    let doc = DeTable::parse(input)
        .map_err(|e| CliError::new(format!("stdin: invalid TOML: {}", e.message().trim())))?;
    let root = doc.get_ref();
    let table = match root.get("interface").map(|v| v.get_ref()) {
        Some(DeValue::Table(t)) => t,
        _ => root,
    };
    let get = |key: &str| match table.get(key).map(|v| v.get_ref()) {
        Some(DeValue::String(s)) => Ok(Some(s.as_ref())),
        None => Ok(None),
        Some(_) => Err(CliError::new(format!("stdin: {key} must be a string"))),
    };
    let secret_text = get("private_key")?.ok_or_else(|| {
        CliError::new("stdin: no private_key found (private_key_file is not read by pubkey)")
    })?;
    let secret = X25519SecretKey::from_base64("private_key", secret_text)
        .map_err(|e| CliError::new(format!("stdin: {e}")))?;
    let mut out = format!(
        "public_key = \"{}\"\n",
        b.x25519_public_key(&secret)?.to_base64()
    );
    let seed_text = get("mldsa_private_key")?;
    // A pq-only peer entry without the ML-DSA-65 public key would fail only
    // later, on the other machine: say so here.
    if seed_text.is_none() {
        if get("mldsa_private_key_file")?.is_some() {
            return Err(CliError::new(
                "stdin: no mldsa_private_key found (mldsa_private_key_file is not read by \
                 pubkey): give it the seed inline to print the ML-DSA-65 public key",
            ));
        }
        if get("mode")? == Some("pq-only") {
            return Err(CliError::new(
                "stdin: mode is pq-only but there is no mldsa_private_key, so the ML-DSA-65 \
                 public key the peers need cannot be printed",
            ));
        }
    }
    if let Some(seed_text) = seed_text {
        let seed = MlDsaSeed::from_base64("mldsa_private_key", seed_text)
            .map_err(|e| CliError::new(format!("stdin: {e}")))?;
        let pair = b.mldsa_from_seed(&seed)?;
        out.push_str(&format!(
            "# ML-DSA-65 fingerprint {}\nmldsa_public_key = \"{}\"\n",
            pair.public.fingerprint(),
            pair.public.to_base64()
        ));
    }
    Ok(out)
}

/// Runs `pubkey`.
pub fn pubkey(_args: &PubkeyArgs) -> Result<()> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::new(format!("cannot read stdin: {e}")))?;
    print_stdout(&public_keys_text(&input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_key_gives_the_rfc7748_public_key() {
        // RFC 7748 §6.1, Alice.
        let out =
            public_keys_text("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n").expect("valid key");
        assert_eq!(out, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for input in [
            "",
            "abc",
            "[interface]\n",
            "[interface]\nprivate_key = 3\n",
            "[[[\n",
        ] {
            assert!(public_keys_text(input).is_err(), "{input:?}");
        }
    }

    /// pq-only input whose ML-DSA-65 seed pubkey cannot see is refused,
    /// rather than printing a peer entry without `mldsa_public_key`.
    #[test]
    fn pq_only_without_a_readable_seed_is_refused() {
        let key = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
        for (input, says) in [
            (
                format!("[interface]\nprivate_key = \"{key}\"\nmode = \"pq-only\"\nmldsa_private_key_file = \"s\"\n"),
                "mldsa_private_key_file is not read",
            ),
            (
                format!("[interface]\nprivate_key = \"{key}\"\nmode = \"pq-only\"\n"),
                "mode is pq-only",
            ),
        ] {
            let e = public_keys_text(&input).expect_err("refused").to_string();
            assert!(e.contains(says), "{e}");
        }
        let hybrid = format!("[interface]\nprivate_key = \"{key}\"\nmode = \"hybrid\"\n");
        assert!(public_keys_text(&hybrid).is_ok());
    }
}
