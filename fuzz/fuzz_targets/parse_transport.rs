#![no_main]
//! The transport header parsers (ours and the session module's) never panic
//! and agree.
use dybervpn_proto::messages::TransportHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = TransportHeader::parse(data);
    let theirs = dybervpn_proto::transport::parse_header(data);
    assert_eq!(ours.is_ok(), theirs.is_ok());
    if let (Ok(a), Ok(b)) = (ours, theirs) {
        assert_eq!((a.receiver, a.counter), (b.receiver, b.counter));
    }
});
