#![no_main]
//! The userspace-API `set` parser never panics, and a request it accepts
//! serializes to one that parses to the same change set.
use dybervpn_tunnel::uapi::parse_set;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(change) = parse_set(text) {
        let request = change.to_request();
        let body = request
            .strip_prefix("set=1\n")
            .expect("requests start with set=1")
            .trim_end_matches('\n');
        let again = parse_set(body).expect("a serialized request parses");
        assert_eq!(again, change);
    }
});
