//! `to_toml` and WireGuard import/export give back what went in.

use std::path::Path;

use dybervpn_config::wg::{self, ExportError};
use dybervpn_config::{Config, Problem};
use dybervpn_crypto::encoding::to_base64;
use dybervpn_proto::Mode;

const PRIV: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
const PEER1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const PEER2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const SEED: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

fn config(mode: Mode) -> String {
    let mldsa = to_base64(&[9u8; 1952]);
    let (seed, pk) = if mode == Mode::PqOnly {
        (
            format!("mldsa_private_key = \"{SEED}\"\n"),
            format!("mldsa_public_key = \"{mldsa}\"\n"),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        "[interface]\nprivate_key = \"{PRIV}\"\nlisten_port = 51820\nmode = \"{mode}\"\n{seed}\
         address = [\"10.0.0.1/24\", \"fd00::1/64\"]\nmtu = 1380\ndns = [\"9.9.9.9\"]\nfwmark = 51820\n\
         crypto_backend = \"libcrux\"\nmetrics_listen = \"[::1]:9100\"\nlog_format = \"json\"\n\n\
         [[peer]]\nname = \"a \\\"quoted\\\" name\"\npublic_key = \"{PEER1}\"\n{pk}preshared_key = \"{SEED}\"\n\
         endpoint = \"vpn.example.invalid:51820\"\nallowed_ips = [\"10.0.0.2/32\", \"fd00::2/128\"]\n\
         persistent_keepalive = 25\n\n\
         [[peer]]\npublic_key = \"{PEER2}\"\nmode = \"classic\"\nallowed_ips = [\"192.168.0.0/16\"]\n"
    )
}

#[test]
fn to_toml_round_trips_in_every_mode() {
    for mode in Mode::ALL {
        let path = Path::new("x.toml");
        let first = Config::parse(&config(mode), path).expect("valid").config;
        let text = first.to_toml();
        let second = Config::parse(&text, path)
            .unwrap_or_else(|e| panic!("re-parse of\n{}\nfailed:\n{e}", text.as_str()))
            .config;
        assert_eq!(first, second, "{mode}");
        assert_eq!(second.peers[0].mode, mode);
        assert_eq!(second.peers[1].mode, Mode::Classic);
    }
}

const WG: &str = "\
[interface]  # section names and keys without regard to case
privatekey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=
ListenPort=51820
Address = 10.0.0.1/24
Address = fd00::1/64
FwMark = 0x20
MTU = 1400
DNS = 1.1.1.1, 1.0.0.1

[Peer]
PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
PresharedKey = AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=
AllowedIPs = 10.0.0.2/32,fd00::2/128
AllowedIPs = 10.1.0.0/16
Endpoint = 192.0.2.1:51820
PersistentKeepalive = off

[Peer]
PublicKey = AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
AllowedIPs = 192.168.0.0/16
";

#[test]
fn wg_import_export_import_is_equal() {
    let path = Path::new("wg0.conf");
    let loaded = wg::import(WG, path).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let first = loaded.config;
    let i = &first.interface;
    assert_eq!(i.mode, Mode::Classic);
    assert_eq!(i.address.len(), 2, "repeated keys accumulate");
    assert_eq!(i.fwmark, Some(0x20));
    assert_eq!(i.mtu, 1400);
    assert_eq!(i.dns.len(), 2);
    assert_eq!(first.peers[0].allowed_ips.len(), 3);
    assert_eq!(first.peers[0].persistent_keepalive, None);
    assert!(first.peers.iter().all(|p| p.mode == Mode::Classic));

    let exported = first.to_wg_conf().expect("classic");
    let second = wg::import(&exported, path).expect("re-import").config;
    assert_eq!(first, second);

    // And through TOML too.
    let third = Config::parse(&first.to_toml(), Path::new("wg0.toml"))
        .expect("valid")
        .config;
    assert_eq!(first, third);
}

#[test]
fn export_refuses_post_quantum_modes() {
    let c = Config::parse(&config(Mode::Hybrid), Path::new("x.toml"))
        .expect("valid")
        .config;
    let e = c.to_wg_conf().expect_err("hybrid");
    assert_eq!(e, ExportError::InterfaceNotClassic { mode: Mode::Hybrid });
    let mut c = c;
    c.interface.mode = Mode::Classic;
    let e = c.to_wg_conf().expect_err("peer 0 is hybrid");
    assert!(matches!(
        e,
        ExportError::NotClassic {
            peer: 0,
            mode: Mode::Hybrid,
            ..
        }
    ));
    assert!(e.to_string().contains("WireGuard cannot speak"), "{e}");
}

/// A `.conf` saved with a byte-order mark (as Windows editors do) imports
/// as the same file without one; a DyberVPN configuration with one loads.
#[test]
fn a_byte_order_mark_is_not_part_of_the_first_line() {
    let conf = format!(
        "[Interface]\nPrivateKey = {PRIV}\nAddress = 10.0.0.1/24\n\n\
         [Peer]\nPublicKey = {PEER1}\nAllowedIPs = 10.0.0.2/32\n"
    );
    let plain = wg::import(&conf, Path::new("wg0.conf"))
        .expect("valid")
        .config;
    let marked = wg::import(&format!("\u{feff}{conf}"), Path::new("wg0.conf"))
        .expect("valid with a BOM")
        .config;
    assert_eq!(plain, marked);
    let toml = config(Mode::Hybrid);
    let plain = Config::parse(&toml, Path::new("x.toml"))
        .expect("valid")
        .config;
    let marked = Config::parse(&format!("\u{feff}{toml}"), Path::new("x.toml"))
        .expect("valid with a BOM")
        .config;
    assert_eq!(plain, marked);
}

#[test]
fn wg_import_errors_and_warnings_have_lines() {
    let text = "\
PrivateKey = x
[Interface]
PrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=
ListenPort = 99999
Table = off
DNS = 1.1.1.1, example.com
[Peer]
PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
AllowedIP = 10.0.0.0/8
Endpoint = nowhere
[Wat]
";
    let e = wg::import(text, Path::new("wg0.conf")).expect_err("refused");
    let lines: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "wg0.conf:1:1: error: a key outside any section; put it under [Interface] or [Peer]",
            "wg0.conf:4:14: error: interface.listen_port: 99999 is out of range 0..=65535",
            "wg0.conf:5:1: warning: Interface.Table: ignored: a wg-quick setting DyberVPN has no equivalent for",
            "wg0.conf:6:16: warning: interface.dns: ignored: DNS search domains are not supported",
            "wg0.conf:7:1: warning: peer[0].allowed_ips: empty: no traffic will be routed to this peer or accepted from it",
            r#"wg0.conf:9:1: error: Peer[0]: unknown key "AllowedIP"; did you mean "AllowedIPs"?"#,
            r#"wg0.conf:10:12: error: peer[0].endpoint: "nowhere": expected HOST:PORT, e.g. vpn.example.com:51820"#,
            "wg0.conf:11:1: error: unknown section; expected [Interface] or [Peer]",
        ]
    );
    assert!(e
        .diagnostics
        .iter()
        .any(|d| matches!(d.problem, Problem::Ignored { .. })));
}
