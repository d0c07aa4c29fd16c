#![no_main]
//! A whole userspace-API connection (what a client writes to the socket)
//! served against an in-memory device never panics, and whatever `get`
//! prints parses back; the same bytes read as a `get` response (what a
//! `status` reads from another implementation's socket) never panic the
//! response parser either.
use std::sync::Mutex;

use dybervpn_tunnel::uapi::{
    parse_get, serve_connection, ChangeSet, DeviceSnapshot, UapiError, UapiTarget,
};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Device {
    applied: Mutex<usize>,
}

impl UapiTarget for Device {
    fn snapshot(&self) -> DeviceSnapshot {
        DeviceSnapshot::default()
    }
    fn apply(&self, _changes: ChangeSet) -> Result<(), UapiError> {
        *self.applied.lock().expect("lock") += 1;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let device = Device::default();
    let mut out = Vec::new();
    let _ = serve_connection(data, &mut out, &device);
    // Every response is `key=value` lines, each ending with errno=N.
    let text = String::from_utf8(out).expect("responses are text");
    for answer in text.split("\n\n").filter(|a| !a.is_empty()) {
        assert!(
            answer
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("errno=")),
            "{answer:?}"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_get(text);
    }
});
