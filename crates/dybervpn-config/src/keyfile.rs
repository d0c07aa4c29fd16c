//! `private_key_file` and `mldsa_private_key_file`: a file holding one
//! base64 secret key, and the check that no one but its owner can read it.

use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use dybervpn_crypto::KeyError;
use zeroize::Zeroizing;

use crate::diag::Problem;
use crate::draft::Ctx;

/// Reads the key file named by `path_text` (relative paths are relative to
/// the configuration file's directory) and decodes it with `decode`.
/// Problems are reported at `span`.
pub(crate) fn read<K>(
    ctx: &mut Ctx<'_>,
    path_text: &str,
    span: Range<usize>,
    field: &str,
    decode: fn(&str, &str) -> Result<K, KeyError>,
) -> Option<K> {
    let path = ctx.base_dir().join(path_text);
    if !ctx.read_files {
        ctx.report(
            span,
            field,
            Problem::Io {
                message: format!("{}: not read (key files are not read here)", path.display()),
            },
        );
        return None;
    }
    let text = match read_bounded(&path) {
        Ok(t) => t,
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
    match decode(field, &text) {
        Ok(k) => Some(k),
        Err(e) => {
            ctx.report(span, field, Problem::BadKey(e));
            None
        }
    }
}

/// A key file holds 44 base64 characters and perhaps a newline. Reading
/// stops after this many bytes, so a path like `/dev/zero` is refused
/// instead of exhausting memory.
const MAX_KEY_FILE_LEN: u64 = 4096;

fn read_bounded(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    fs::File::open(path)?
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_KEY_FILE_LEN} bytes; a key file holds one base64 key"),
        ));
    }
    Ok(text)
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
