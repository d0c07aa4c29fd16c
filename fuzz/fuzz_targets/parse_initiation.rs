#![no_main]
//! The initiation parser (types 1, 5, 7) never panics and agrees with the
//! layout table.
use dybervpn_proto::messages::{initiation_layout, Initiation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Initiation::parse(data) {
        assert_eq!(data.len(), initiation_layout(m.mode).len);
        assert_eq!(m.macs.before_mac1.len() + 32, data.len());
    }
});
