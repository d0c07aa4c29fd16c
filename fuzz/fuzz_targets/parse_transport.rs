#![no_main]
//! The transport-message parsers never panic, and the read-only split, the
//! in-place split and the header alone agree on every input.
use dybervpn_proto::transport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = transport::parse_header(data);
    let view = transport::split(data);
    let mut copy = data.to_vec();
    let in_place = transport::parse(&mut copy);
    assert_eq!(header.is_ok(), view.is_ok());
    assert_eq!(view.is_ok(), in_place.is_ok());
    if let (Ok(h), Ok(v), Ok(m)) = (header, view, in_place) {
        assert_eq!(
            (h.receiver, h.counter),
            (v.header.receiver, v.header.counter)
        );
        assert_eq!(
            (v.header.receiver, v.header.counter),
            (m.header.receiver, m.header.counter)
        );
        assert_eq!(v.payload, &*m.payload);
        assert_eq!(v.tag, &m.tag);
        assert_eq!(v.payload.len() + 32, data.len());
    }
});
