#![no_main]
//! Reading the source and destination of a decrypted packet (which the
//! peer chose) never panics, and an address is found only in a packet long
//! enough to hold the header of its version.
use dybervpn_tunnel::packet::{destination, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, dst) = (source(data), destination(data));
    assert_eq!(src.is_some(), dst.is_some());
    if let Some(a) = dst {
        assert!(data.len() >= if a.is_ipv4() { 20 } else { 40 });
    }
});
