#![no_main]
//! The cookie-reply parser (type 3) never panics.
use dybervpn_proto::messages::CookieReply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if CookieReply::parse(data).is_ok() {
        assert_eq!(data.len(), 64);
    }
});
