#![no_main]
//! The metrics server's request reading and request-line parsing never
//! panic; a request they accept has a non-empty method and a path that
//! starts with `/` and carries no query string.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((method, path)) = dybervpn_metrics::server::fuzz_request(data) {
        assert!(!method.is_empty());
        assert!(path.starts_with('/'));
        assert!(!path.contains('?'));
    }
});
