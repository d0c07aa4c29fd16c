//! "Did you mean" suggestions for unknown keys.

/// The known key closest to `key`, if it is close enough to be a likely typo.
///
/// Keys are compared without case, `_` or `-`, so WireGuard spellings
/// (`PrivateKey`, `AllowedIPs`) find their TOML names.
#[must_use]
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let norm = normalize(key);
    known
        .iter()
        .map(|k| (distance(&norm, &normalize(k)), *k))
        .filter(|(d, _)| *d <= (norm.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev_diag = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let cost = usize::from(ca != *cb);
            let value = (prev_diag + cost).min(above + 1).min(left + 1);
            prev_diag = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["private_key", "listen_port", "allowed_ips", "mtu"];

    #[test]
    fn finds_typos_and_wireguard_spellings() {
        assert_eq!(closest("listen_prot", KEYS), Some("listen_port"));
        assert_eq!(closest("PrivateKey", KEYS), Some("private_key"));
        assert_eq!(closest("AllowedIPs", KEYS), Some("allowed_ips"));
        assert_eq!(closest("mut", KEYS), Some("mtu"));
        assert_eq!(closest("colour", KEYS), None);
    }

    #[test]
    fn distance_is_levenshtein() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
    }
}
