//! Loading and validation: every check, with the exact diagnostic text.

use std::path::Path;

use dybervpn_config::{Config, ConfigErrors, Loaded, LogFormat, Problem, Severity};
use dybervpn_crypto::encoding::to_base64;
use dybervpn_crypto::BackendKind;
use dybervpn_proto::Mode;

/// RFC 7748 §6.1: Alice's private key and its public key.
const ALICE_PRIV: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
const ALICE_PUB: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
const PEER1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const PEER2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const PEER3: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
const SEED: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

fn mldsa_pub() -> String {
    to_base64(&[7u8; 1952])
}

fn parse(text: &str) -> Result<Loaded, ConfigErrors> {
    Config::parse(text, Path::new("wg0.toml"))
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(l) => panic!("accepted; warnings: {:?}", l.warnings),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(l) => l.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("refused:\n{e}"),
    }
}

#[test]
fn a_full_configuration_loads_with_its_values_and_defaults() {
    let text = format!(
        r#"
[interface]
private_key = "{ALICE_PRIV}"
listen_port = 51820
address = ["10.0.0.1/24", "fd00::1/64"]
dns = ["1.1.1.1", "2606:4700:4700::1111"]
fwmark = 0x10
metrics_listen = "127.0.0.1:9090"
log_format = "json"
crypto_backend = "libcrux"

[[peer]]
name = "laptop"
public_key = "{PEER1}"
endpoint = "[::1]:51820"
allowed_ips = ["10.0.0.2/32"]
persistent_keepalive = 25
preshared_key = "{PEER2}"

[[peer]]
public_key = "{PEER2}"
mode = "classic"
endpoint = "vpn.example.invalid:51820"
allowed_ips = "10.0.1.0/24"
"#
    );
    let loaded = parse(&text).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    let i = &c.interface;
    assert_eq!(i.public_key.to_base64(), ALICE_PUB, "derived public key");
    assert_eq!(i.listen_port, Some(51820));
    assert_eq!(i.mode, Mode::Hybrid, "default mode");
    assert_eq!(i.mtu, 1420, "default mtu");
    assert_eq!(i.address.len(), 2);
    assert_eq!(i.dns.len(), 2);
    assert_eq!(i.fwmark, Some(16));
    assert_eq!(i.crypto_backend, BackendKind::Libcrux);
    assert_eq!(i.log_format, LogFormat::Json);
    assert_eq!(c.peers.len(), 2);
    assert_eq!(c.peers[0].mode, Mode::Hybrid, "inherited");
    assert_eq!(c.peers[1].mode, Mode::Classic, "overridden");
    assert_eq!(c.peers[0].persistent_keepalive, Some(25));
    assert_eq!(
        c.peers[1].endpoint.as_ref().map(ToString::to_string),
        Some("vpn.example.invalid:51820".to_owned()),
        "names stay unresolved"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_position_and_field() {
    let text = format!(
        r#"[interface]
private_key = "{ALICE_PRIV}"
listen_prot = 51820
mtu = "big"
mode = "quantum"

[[peer]]
name = "laptop"
public_key = "{PEER1}"
allowed_ips = ["10.0.0.0/16"]

[[peer]]
public_key = "not-a-key"
allowed_ips = ["10.1.0.0/24"]

[[peer]]
public_key = "{PEER2}"
allowed_ips = ["10.0.0.0/16"]
"#
    );
    let got = errors(&text);
    let want = [
        r#"wg0.toml:3:1: error: interface: unknown key "listen_prot"; did you mean "listen_port"?"#,
        "wg0.toml:4:7: error: interface.mtu: expected an integer, found a string",
        r#"wg0.toml:5:8: error: interface.mode: "quantum": unknown mode "quantum": expected "classic", "hybrid" or "pq-only""#,
        "wg0.toml:13:14: error: peer[1].public_key: not valid base64; expected the standard base64 encoding of 32 bytes (44 characters)",
        r#"wg0.toml:18:16: error: peer[2].allowed_ips: 10.0.0.0/16 is also an allowed IP of peer[0] ("laptop")"#,
    ];
    assert_eq!(got, want);
}

/// A gateway peer routing everything beside a more specific peer is how
/// WireGuard setups look; longest-prefix match decides, so nesting is only a
/// warning.
#[test]
fn nested_allowed_ips_between_peers_are_a_warning() {
    let text = format!(
        r#"[interface]
private_key = "{ALICE_PRIV}"

[[peer]]
name = "gateway"
public_key = "{PEER1}"
allowed_ips = ["0.0.0.0/0"]

[[peer]]
public_key = "{PEER2}"
allowed_ips = ["10.0.0.0/24"]
"#
    );
    assert_eq!(
        warnings(&text),
        [
            r#"wg0.toml:11:16: warning: peer[1].allowed_ips: 10.0.0.0/24 overlaps 0.0.0.0/0 of peer[0] ("gateway"); the longest prefix wins"#
        ]
    );
}

#[test]
fn syntax_errors_have_positions() {
    let got = errors("[interface]\nprivate_key = \"abc\nmtu = 1420\n");
    assert!(got.iter().all(|e| e.starts_with("wg0.toml:2:")), "{got:?}");
    assert!(got[0].contains("error: invalid TOML"), "{got:?}");
}

#[test]
fn structural_mistakes_are_explained() {
    let got = errors(&format!(
        "[interfce]\nprivate_key = \"{ALICE_PRIV}\"\n[peer]\npublic_key = \"{PEER1}\"\n"
    ));
    assert_eq!(
        got,
        [
            "wg0.toml:1:1: error: interface: missing, and required",
            r#"wg0.toml:1:2: error: unknown key "interfce"; did you mean "interface"?"#,
            "wg0.toml:3:1: error: peer: expected an array of tables: write [[peer]], with double brackets, found a single table ([peer])",
        ]
    );
}

#[test]
fn missing_keys_and_ranges() {
    let got = errors("[interface]\nlisten_port = 70000\nmtu = 100\n\n[[peer]]\nallowed_ips = []\npersistent_keepalive = -1\n");
    let joined = got.join("\n");
    for want in [
        "wg0.toml:1:1: error: interface.private_key: missing, and required",
        "wg0.toml:2:15: error: interface.listen_port: 70000 is out of range 1..=65535",
        "wg0.toml:3:7: error: interface.mtu: 100 is out of range 576..=9000",
        "wg0.toml:5:1: error: peer[0].public_key: missing, and required",
        "wg0.toml:7:24: error: peer[0].persistent_keepalive: -1 is out of range 0..=65535",
        "wg0.toml:5:1: warning: peer[0].allowed_ips: empty",
    ] {
        assert!(joined.contains(want), "missing {want:?} in\n{joined}");
    }
}

#[test]
fn duplicate_and_own_keys_are_errors() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         [[peer]]\nname = \"a\"\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.2/32\"]\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.3/32\"]\n\
         [[peer]]\npublic_key = \"{ALICE_PUB}\"\nallowed_ips = [\"10.0.0.4/32\"]\n"
    ));
    assert_eq!(
        got,
        [
            r#"wg0.toml:8:14: error: peer[1].public_key: same public key as peer[0] ("a")"#,
            "wg0.toml:11:14: error: peer[2].public_key: this is the interface's own public key",
        ]
    );
}

#[test]
fn pq_only_without_keys_is_an_error_never_a_fallback() {
    // Interface pq-only, no seed, peer without its ML-DSA key.
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmode = \"pq-only\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.2/32\"]\n"
    ));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("wg0.toml:3:8: error: interface.mode: the interface uses pq-only mode, which needs interface.mldsa_private_key"), "{got:?}");
    assert_eq!(got[1], "wg0.toml:4:1: error: peer[0].mldsa_public_key: pq-only peer needs its mldsa_public_key (`dybervpn pubkey` prints it)");

    // A hybrid interface with one pq-only peer: the seed is still needed.
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nmode = \"pq-only\"\nmldsa_public_key = \"{}\"\nallowed_ips = [\"10.0.0.2/32\"]\n",
        mldsa_pub()
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("wg0.toml:5:8: error: peer[0].mode: peer[0] uses pq-only mode"),
        "{got:?}"
    );
}

#[test]
fn pq_only_with_keys_loads() {
    let loaded = parse(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmode = \"pq-only\"\nmldsa_private_key = \"{SEED}\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nmldsa_public_key = \"{}\"\nallowed_ips = [\"10.0.0.2/32\"]\n",
        mldsa_pub()
    ))
    .expect("valid");
    assert_eq!(loaded.config.peers[0].mode, Mode::PqOnly);
    assert!(loaded.config.peers[0].mldsa_public_key.is_some());
}

#[test]
fn unused_mldsa_keys_and_host_bits_are_warnings() {
    let got = warnings(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmldsa_private_key = \"{SEED}\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nmldsa_public_key = \"{}\"\nallowed_ips = [\"10.0.0.7/24\", \"10.0.0.9/32\"]\n",
        mldsa_pub()
    ));
    assert_eq!(
        got,
        [
            "wg0.toml:3:21: warning: interface.mldsa_private_key: ignored: ML-DSA-65 keys are used only in pq-only mode, and this is hybrid",
            "wg0.toml:6:20: warning: peer[0].mldsa_public_key: ignored: ML-DSA-65 keys are used only in pq-only mode, and this is hybrid",
            "wg0.toml:7:16: warning: peer[0].allowed_ips: 10.0.0.7/24 has host bits set; it is used as 10.0.0.0/24 (write that to silence this)",
            "wg0.toml:7:31: warning: peer[0].allowed_ips: 10.0.0.9/32 is already covered by 10.0.0.0/24",
        ]
    );
}

#[test]
fn ipv6_address_needs_mtu_1280() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\naddress = [\"fd00::1/64\"]\nmtu = 1000\n"
    ));
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("wg0.toml:4:7: error: interface.mtu: 1000 is out of range 1280..=9000 (the interface has an IPv6 address"), "{got:?}");
}

/// A wg-quick file given where a DyberVPN configuration is expected gets
/// one error that says what it is and how to convert it, not one per line.
#[test]
fn a_wireguard_conf_file_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("wg0.conf");
    std::fs::write(
        &conf,
        format!(
            "[Interface]\nPrivateKey = {ALICE_PRIV}\nAddress = 10.0.0.1/24\nListenPort = 51820\n\n\
             [Peer]\nPublicKey = {PEER1}\nAllowedIPs = 10.0.0.2/32\nEndpoint = 192.0.2.1:51820\n"
        ),
    )
    .expect("write");
    let e = Config::load(&conf).expect_err("not TOML");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("WireGuard (wg-quick) .conf file") && text.contains("dybervpn import"),
        "{text}"
    );
}

#[test]
fn two_peers_with_one_name_are_a_warning() {
    let got = warnings(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         [[peer]]\nname = \"laptop\"\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.2/32\"]\n\
         [[peer]]\nname = \"laptop\"\npublic_key = \"{PEER2}\"\nallowed_ips = [\"10.0.0.3/32\"]\n"
    ));
    assert_eq!(
        got,
        ["wg0.toml:9:14: warning: peer[1].name: peer[0] has this name too; metrics label peers by name, so the two share one series (give each its own name)"],
    );
}

#[test]
fn a_duplicate_key_is_named() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmtu = 1400\nmtu = 1300\n"
    ));
    assert_eq!(
        got,
        [
            r#"wg0.toml:4:1: error: invalid TOML: duplicate key "mtu"; a key may be given once in a table"#
        ],
    );
}

#[test]
fn a_value_toml_cannot_read_is_shown_as_the_key_takes_it() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nlisten_port = 51820 51821\n"
    ));
    assert_eq!(
        got,
        ["wg0.toml:3:15: error: invalid TOML: string values must be quoted, expected literal string; write it like listen_port = 51820 (one port)"],
    );
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\naddress = 10.0.0.1/24\nmode = hybrid\n"
    ));
    assert_eq!(
        got,
        [
            r#"wg0.toml:3:15: error: invalid TOML: invalid float, expected nothing; write it like address = ["10.8.0.1/24", "fd00:8::1/64"]"#,
            r#"wg0.toml:4:8: error: invalid TOML: string values must be quoted, expected literal string; write it like mode = "hybrid""#,
        ],
    );
    // A broken key is not a value: no example.
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmtu 1420\n"
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!got[0].contains("write it like"), "{got:?}");
}

#[test]
fn a_peer_with_a_bad_key_still_has_its_allowed_ips_checked() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.2/32\"]\n\
         [[peer]]\npublic_key = \"not a key\"\nallowed_ips = [\"10.0.0.2/32\"]\n"
    ));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].contains("peer[1].public_key"), "{got:?}");
    assert!(
        got[1].starts_with("wg0.toml:8:16: error: peer[1].allowed_ips: 10.0.0.2/32 is also"),
        "{got:?}"
    );
}

#[test]
fn a_peer_name_with_a_control_character_is_refused() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         [[peer]]\nname = \"site-b\\nINFO forged\"\npublic_key = \"{PEER1}\"\nallowed_ips = [\"10.0.0.2/32\"]\n"
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("peer[0].name"), "{got:?}");
    assert!(got[0].contains("control characters"), "{got:?}");
}

#[test]
fn the_same_address_twice_is_refused() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\n\
         address = [\"10.0.0.2/24\", \"fd00::2/64\", \"10.0.0.2/16\"]\n"
    ));
    assert_eq!(
        got,
        ["wg0.toml:3:41: error: interface.address[2]: \"10.0.0.2/16\": the same address as address[0] (10.0.0.2/24); an interface has each address once"],
    );
}

#[test]
fn bad_values_name_the_field() {
    let got = errors(&format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\naddress = [\"10.0.0.1/33\"]\ndns = [\"one.one\"]\n\
         metrics_listen = \"localhost\"\ncrypto_backend = \"openssl\"\n\
         [[peer]]\npublic_key = \"{PEER1}\"\nendpoint = \"::1:51820\"\nallowed_ips = [\"10.0.0.2/32\"]\n\
         mldsa_public_key = \"AAAA\"\n"
    ));
    let fields: Vec<&str> = got
        .iter()
        .map(|e| e.split(": ").nth(2).unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "interface.address",
            "interface.dns",
            "interface.metrics_listen",
            "interface.crypto_backend",
            "peer[0].endpoint",
            "peer[0].mldsa_public_key",
        ],
        "{got:#?}"
    );
    assert!(got[5].ends_with("decodes to 3 bytes, expected 1952 bytes (2604 base64 characters)"));
}

/// The ML-DSA-65 seed can live in its own file too, as the X25519 key can:
/// read relative to the configuration, checked for its permissions, kept
/// as a reference when written back, and not combinable with an inline one.
#[test]
fn mldsa_private_key_file_is_read_checked_and_kept_as_a_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_path = dir.path().join("wg0.mldsa");
    std::fs::write(&seed_path, format!("{SEED}\n")).expect("write");
    let cfg = dir.path().join("wg0.toml");
    let text = format!(
        "[interface]\nprivate_key = \"{ALICE_PRIV}\"\nmode = \"pq-only\"\n\
         mldsa_private_key_file = \"wg0.mldsa\"\n"
    );
    std::fs::write(&cfg, &text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::set_permissions(&seed_path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let loaded = Config::load(&cfg).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let iface = &loaded.config.interface;
    assert_eq!(
        iface
            .mldsa_private_key
            .as_ref()
            .map(|s| to_base64(s.expose())),
        Some(SEED.to_owned())
    );
    let written = loaded.config.to_toml();
    assert!(
        written.contains("mldsa_private_key_file = \"wg0.mldsa\""),
        "{}",
        *written
    );
    assert!(!written.contains(SEED), "the seed was written out");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&seed_path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let loaded = Config::load(&cfg).expect("valid");
        assert!(
            loaded.warnings.iter().any(|w| {
                w.field == "interface.mldsa_private_key_file"
                    && matches!(w.problem, Problem::ReadableByOthers { mode: 0o644 })
            }),
            "{:?}",
            loaded.warnings
        );
    }

    let both = format!("{text}mldsa_private_key = \"{SEED}\"\n");
    std::fs::write(&cfg, both).expect("write");
    let e = Config::load(&cfg).expect_err("both").to_string();
    assert!(
        e.contains(
            "interface.mldsa_private_key: cannot be combined with interface.mldsa_private_key_file"
        ),
        "{e}"
    );
}

#[test]
fn private_key_file_is_read_relative_to_the_config_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("wg0.key");
    std::fs::write(&key, format!("{ALICE_PRIV}\n")).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let cfg = dir.path().join("wg0.toml");
    std::fs::write(&cfg, "[interface]\nprivate_key_file = \"wg0.key\"\n").expect("write");
    let loaded = Config::load(&cfg).expect("valid");
    assert_eq!(loaded.config.interface.public_key.to_base64(), ALICE_PUB);
    #[cfg(unix)]
    {
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(matches!(
            loaded.warnings[0].problem,
            Problem::ReadableByOthers { mode: 0o644 }
        ));
        assert_eq!(loaded.warnings[0].severity(), Severity::Warning);
    }
    // With the key in its own file, a pre-shared key or an ML-DSA seed in
    // the configuration is still a secret anyone could read.
    for secret in [
        format!("[[peer]]\npublic_key = \"{PEER1}\"\npreshared_key = \"{PEER2}\"\n"),
        format!("mode = \"pq-only\"\nmldsa_private_key = \"{SEED}\"\n"),
    ] {
        let (iface, peer) = if secret.starts_with("[[peer]]") {
            (String::new(), secret)
        } else {
            (secret, String::new())
        };
        std::fs::write(
            &cfg,
            format!("[interface]\nprivate_key_file = \"wg0.key\"\n{iface}{peer}"),
        )
        .expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let loaded = Config::load(&cfg).expect("valid");
            let readable = loaded
                .warnings
                .iter()
                .filter(|w| matches!(w.problem, Problem::ReadableByOthers { mode: 0o644 }))
                .count();
            assert_eq!(
                readable, 2,
                "the key file and the configuration: {:?}",
                loaded.warnings
            );
        }
    }
    std::fs::write(&cfg, "[interface]\nprivate_key_file = \"wg0.key\"\n").expect("write");
    let loaded = Config::load(&cfg).expect("valid");
    // Round trip keeps the file reference, not the key.
    let text = loaded.config.to_toml();
    assert!(text.contains("private_key_file = \"wg0.key\""));
    assert!(!text.contains(ALICE_PRIV));

    // Missing file, and both forms at once.
    std::fs::write(
        &cfg,
        format!("[interface]\nprivate_key = \"{ALICE_PRIV}\"\nprivate_key_file = \"nope.key\"\n"),
    )
    .expect("write");
    let e = Config::load(&cfg).expect_err("refused").to_string();
    assert!(e.contains(":2:15: error: interface.private_key: cannot be combined with interface.private_key_file"), "{e}");
    assert!(
        e.contains(":3:20: error: interface.private_key_file: cannot read:"),
        "{e}"
    );
}

/// A key file is read with a bound, so pointing `private_key_file` at an
/// endless file is an error, not a hang that eats all memory.
#[test]
fn private_key_file_reading_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("wg0.toml");
    std::fs::write(&cfg, "[interface]\nprivate_key_file = \"/dev/zero\"\n").expect("write");
    let e = Config::load(&cfg).expect_err("refused").to_string();
    assert!(
        e.contains("interface.private_key_file: cannot read: /dev/zero: longer than 4096 bytes"),
        "{e}"
    );
}

#[test]
fn missing_config_file_is_one_clear_error() {
    let e = Config::load(Path::new("/nonexistent/wg9.toml")).expect_err("refused");
    assert_eq!(e.diagnostics.len(), 1);
    assert!(e
        .to_string()
        .starts_with("/nonexistent/wg9.toml: error: cannot read:"));
}

#[test]
fn unused_peer3_constant_is_a_valid_key() {
    // Keeps the constant honest for other tests that may use it.
    assert!(dybervpn_crypto::X25519PublicKey::from_base64("k", PEER3).is_ok());
}

/// Text checked without touching the file system refuses a key file, also
/// when its key is spelled with a TOML escape, instead of opening it.
#[test]
fn parsing_without_files_opens_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("wg0.key");
    std::fs::write(&key, format!("{ALICE_PRIV}\n")).expect("write");
    let text = format!(
        "[interface]\n\"private\\u005fkey_file\" = \"{}\"\n",
        key.display()
    );
    let path = std::path::Path::new("wg0.toml");
    assert!(
        dybervpn_config::Config::parse(&text, path).is_ok(),
        "the escape names the key"
    );
    let err = dybervpn_config::Config::parse_without_files(&text, path).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("interface.private_key_file") && text.contains("not read"),
        "{text}"
    );
}
