#![no_main]
//! The WireGuard `.conf` importer never panics, and what it imports exports
//! back to a `.conf` that imports to the same configuration.
use std::path::Path;

use dybervpn_config::wg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.conf");
    if let Ok(loaded) = wg::import(text, path) {
        let exported = loaded
            .config
            .to_wg_conf()
            .expect("an imported configuration is classic and exports");
        let again = wg::import(&exported, path).expect("an exported configuration imports");
        assert_eq!(again.config, loaded.config);
    }
});
