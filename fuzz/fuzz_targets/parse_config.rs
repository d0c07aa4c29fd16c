#![no_main]
//! The TOML configuration parser and validator never panic, and whatever
//! they accept survives a round trip through `to_toml`.
use std::path::Path;

use dybervpn_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Key files are not read: a fuzzer must not make the target open
    // arbitrary paths (a FIFO would block it), however the key is spelled
    // (TOML escapes can write `private_key_file` without those letters).
    let path = Path::new("fuzz.toml");
    if let Ok(loaded) = Config::parse_without_files(text, path) {
        let again = Config::parse_without_files(&loaded.config.to_toml(), path)
            .expect("to_toml output of an accepted configuration is accepted");
        assert_eq!(again.config, loaded.config);
    }
});
