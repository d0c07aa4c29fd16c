//! `private_key_file`: a file holding the base64 private key, and the check
//! that no one but its owner can read it.

use std::fs;
use std::ops::Range;
use std::path::Path;

use dybervpn_crypto::X25519SecretKey;
use zeroize::Zeroizing;

use crate::diag::Problem;
use crate::draft::Ctx;

/// Reads the key file named by `path_text` (relative paths are relative to
/// the configuration file's directory). Problems are reported at `span`.
pub(crate) fn read(
    ctx: &mut Ctx<'_>,
    path_text: &str,
    span: Range<usize>,
    field: &str,
) -> Option<X25519SecretKey> {
    let path = ctx.base_dir().join(path_text);
    let text = match fs::read_to_string(&path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) => {
            ctx.report(
                span,
                field,
                Problem::Io {
                    message: format!("{}: {e}", path.display()),
                },
            );
            return None;
        }
    };
    if let Some(mode) = readable_by_others(&path) {
        ctx.report(span.clone(), field, Problem::ReadableByOthers { mode });
    }
    match X25519SecretKey::from_base64(field, &text) {
        Ok(k) => Some(k),
        Err(e) => {
            ctx.report(span, field, Problem::BadKey(e));
            None
        }
    }
}

/// The permission bits of `path` if group or others may read it.
#[must_use]
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
