#![no_main]
//! The parsers of what the system prints (`/proc/locks` for the PID
//! file's holder, `ip route show` for the routes already in place) and of
//! interface addresses never panic on any text, and an address that parses
//! prints back as one that parses to the same.
use dybervpn_tunnel::os::netconf::{parse_route_listing, InterfaceAddress};
use dybervpn_tunnel::pidfile::lock_holder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (dev, ino) = (
        u64::from(data.len() as u8) << 8,
        u64::from(data.first().copied().unwrap_or(0)),
    );
    let _ = lock_holder(text, dev, ino);
    if let Ok(a) = text.parse::<InterfaceAddress>() {
        let again: InterfaceAddress = a.to_string().parse().expect("printed address parses");
        assert_eq!(again.to_string(), a.to_string());
    }
    for v6 in [false, true] {
        for p in parse_route_listing(text, v6) {
            assert_eq!(p.addr().is_ipv6(), v6);
        }
    }
});
