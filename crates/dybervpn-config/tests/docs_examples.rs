//! The TOML examples in docs/configuration.md are valid configurations.

use std::path::Path;

use dybervpn_config::Config;

#[test]
fn documented_examples_validate() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let Ok(doc) = std::fs::read_to_string(&doc_path) else {
        println!("SKIPPED: {} not found", doc_path.display());
        return;
    };
    let mut checked = 0;
    for (i, block) in doc.split("```toml\n").skip(1).enumerate() {
        let text = block.split("```").next().unwrap_or("");
        // Abbreviated keys ("…") cannot validate; the rest must.
        if text.contains('…') {
            continue;
        }
        let name = format!("configuration.md example {i}");
        if let Err(e) = Config::parse(text, Path::new(&name)) {
            panic!("{name} is invalid:\n{e}\n{text}");
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} examples checked");
}
