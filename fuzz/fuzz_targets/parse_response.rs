#![no_main]
//! The response parser (types 2, 6, 8) never panics and agrees with the
//! layout table.
use dybervpn_proto::messages::{response_layout, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Response::parse(data) {
        assert_eq!(data.len(), response_layout(m.mode).len);
        assert_eq!(m.kem_ct.is_some(), response_layout(m.mode).kem_ct.is_some());
    }
});
