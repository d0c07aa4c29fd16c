//! The `dybervpn` binary, run as a user would: exit codes, messages, files.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use dybervpn_config::Config;
use dybervpn_proto::Mode;

const BIN: &str = env!("CARGO_BIN_EXE_dybervpn");

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run dybervpn")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dybervpn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
}

fn fails(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "stdout: {}", stdout(o));
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn help_works_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["--help"], dir.path());
    ok(&o);
    for cmd in [
        "genkey",
        "pubkey",
        "init",
        "check",
        "import",
        "export",
        "version",
        "benchmark",
        "completions",
    ] {
        assert!(stdout(&o).contains(cmd), "{cmd} missing from --help");
        ok(&run(&[cmd, "--help"], dir.path()));
    }
}

#[test]
fn bad_usage_exits_2_with_one_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    fails(&run(&["--no-such-flag"], dir.path()));
    fails(&run(&["genkey", "--mode", "quantum"], dir.path()));
    fails(&run(&["frobnicate"], dir.path()));
    fails(&run(&["init"], dir.path()));
    let e = fails(&run(&["check", "missing.toml"], dir.path()));
    assert!(e.contains("missing.toml: error: cannot read"), "{e}");
    let e = fails(&run(&["import", "missing.conf"], dir.path()));
    assert!(e.contains("missing.conf"), "{e}");
    let e = fails(&run(&["export", "missing.toml"], dir.path()));
    assert!(e.contains("missing.toml"), "{e}");
    let e = fails(&run(
        &[
            "init",
            "--client",
            "nope",
            "--server-config",
            "missing.toml",
        ],
        dir.path(),
    ));
    assert!(e.contains("--client"), "{e}");
    assert!(files(dir.path()).is_empty(), "left {:?}", files(dir.path()));
}

#[test]
fn check_lists_every_error_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        "[interface]\nprivate_key = \"short\"\nlisten_port = 0\nmtuu = 1400\n",
    )
    .expect("write");
    let e = fails(&run(&["check", "bad.toml"], dir.path()));
    assert!(e.contains("3 errors in the configuration"), "{e}");
    assert!(
        e.contains("bad.toml:2:15: error: interface.private_key: "),
        "{e}"
    );
    assert!(
        e.contains("bad.toml:3:15: error: interface.listen_port: 0 is out of range 1..=65535"),
        "{e}"
    );
    assert!(
        e.contains(r#"bad.toml:4:1: error: interface: unknown key "mtuu"; did you mean "mtu"?"#),
        "{e}"
    );

    std::fs::write(dir.path().join("broken.toml"), "[interface\n").expect("write");
    let e = fails(&run(&["check", "broken.toml"], dir.path()));
    assert!(e.contains("broken.toml:1:"), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
}

/// `genkey` into a file others can read warns, as `wg genkey` does; into a
/// 0600 file (or a pipe) it does not.
#[cfg(target_os = "linux")]
#[test]
fn genkey_warns_when_its_output_file_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        let path = dir.path().join(format!("key-{mode:o}"));
        let file = std::fs::File::create(&path).expect("create");
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        let o = Command::new(BIN)
            .args(["genkey", "--format", "wg"])
            .stdout(file)
            .output()
            .expect("run");
        ok(&o);
        assert_eq!(
            stderr(&o).contains("others"),
            warned,
            "{mode:o}: {}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read").trim().len(),
            44
        );
    }
    let piped = run(&["genkey"], dir.path());
    assert!(stderr(&piped).is_empty(), "{}", stderr(&piped));
}

#[test]
fn genkey_pubkey_pipeline() {
    // RFC 7748 §6.1 (Alice): a bare key gives exactly what `wg pubkey` prints.
    let o = run_stdin(
        &["pubkey"],
        b"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n",
    );
    ok(&o);
    assert_eq!(stdout(&o), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n");

    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["genkey", "--format", "wg"], dir.path());
    ok(&o);
    let key = stdout(&o);
    assert_eq!(key.trim().len(), 44);
    let o = run_stdin(&["pubkey"], key.as_bytes());
    ok(&o);
    assert_eq!(stdout(&o).trim().len(), 44);

    for mode in ["classic", "hybrid", "pq-only"] {
        let o = run(&["genkey", "--mode", mode], dir.path());
        ok(&o);
        let snippet = stdout(&o);
        assert!(snippet.contains(&format!("mode = \"{mode}\"")), "{snippet}");
        assert_eq!(snippet.contains("mldsa_private_key"), mode == "pq-only");
        let o = run_stdin(&["pubkey"], snippet.as_bytes());
        ok(&o);
        let out = stdout(&o);
        assert!(out.starts_with("public_key = \""), "{out}");
        assert_eq!(out.contains("mldsa_public_key"), mode == "pq-only", "{out}");
        assert_eq!(
            out.contains("ML-DSA-65 fingerprint"),
            mode == "pq-only",
            "{out}"
        );
    }
    let e = fails(&run(
        &["genkey", "--mode", "pq-only", "--format", "wg"],
        dir.path(),
    ));
    assert!(e.contains("ML-DSA-65"), "{e}");
    let e = fails(&run_stdin(&["pubkey"], b"not a key\n"));
    assert!(e.contains("base64"), "{e}");
}

#[test]
fn pubkey_matches_wg_if_installed() {
    let Ok(genkey) = Command::new("wg").arg("genkey").output() else {
        println!("SKIPPED: `wg` (wireguard-tools) is not installed");
        return;
    };
    assert!(genkey.status.success());
    let mut child = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("wg pubkey");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&genkey.stdout)
        .expect("write");
    let wg_pub = child.wait_with_output().expect("wait");
    let ours = run_stdin(&["pubkey"], &genkey.stdout);
    ok(&ours);
    assert_eq!(ours.stdout, wg_pub.stdout);
}

/// `init --client` with a server configuration behind a symbolic link
/// adds the client to the file the link points at, and leaves the link a
/// link; the file keeps the group permission its owner gave it.
#[cfg(unix)]
#[test]
fn init_client_follows_a_symlinked_server_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("real")).expect("mkdir");
    std::fs::create_dir(d.join("etc")).expect("mkdir");
    ok(&run(
        &[
            "init",
            "--server",
            "--address",
            "10.9.0.1/24",
            "-o",
            "real/wg0.toml",
        ],
        d,
    ));
    let real = d.join("real/wg0.toml");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::symlink("../real/wg0.toml", d.join("etc/wg0.toml")).expect("symlink");
    ok(&run(
        &[
            "init",
            "--client",
            "vpn.example.com:51820",
            "--server-config",
            "etc/wg0.toml",
            "-o",
            "client.toml",
        ],
        d,
    ));
    let link = std::fs::symlink_metadata(d.join("etc/wg0.toml")).expect("meta");
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    let server = Config::load(&real).expect("valid").config;
    assert_eq!(server.peers.len(), 1, "the real file has the client");
    let mode = std::fs::metadata(&real).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

/// `init --server` then two `init --client`s, in every mode: all three files
/// pass `check` and match each other.
#[test]
fn init_server_and_clients_match_in_every_mode() {
    for mode in Mode::ALL {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        ok(&run(
            &[
                "init",
                "--server",
                "--mode",
                mode.name(),
                "--listen-port",
                "51999",
                "--address",
                "10.9.0.1/24",
            ],
            d,
        ));
        let server_before = std::fs::read_to_string(d.join("server.toml")).expect("read");
        ok(&run(
            &[
                "init",
                "--client",
                "vpn.example.com:51999",
                "--server-config",
                "server.toml",
            ],
            d,
        ));
        ok(&run(
            &[
                "init",
                "--client",
                "[2001:db8::1]:51999",
                "--server-config",
                "server.toml",
                "-o",
                "phone.toml",
                "--name",
                "my phone",
            ],
            d,
        ));
        assert_eq!(files(d), ["client.toml", "phone.toml", "server.toml"]);
        for f in files(d) {
            ok(&run(&["check", &f], d));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let m = std::fs::metadata(d.join(&f))
                    .expect("meta")
                    .permissions()
                    .mode();
                assert_eq!(m & 0o777, 0o600, "{f}");
            }
        }
        let server_after = std::fs::read_to_string(d.join("server.toml")).expect("read");
        assert!(
            server_after.starts_with(&server_before),
            "server text was not preserved"
        );

        let load = |f: &str| Config::load(&d.join(f)).expect("valid").config;
        let server = load("server.toml");
        assert_eq!(server.interface.mode, mode);
        assert_eq!(server.peers.len(), 2);
        for (i, (file, addr)) in [("client.toml", "10.9.0.2"), ("phone.toml", "10.9.0.3")]
            .iter()
            .enumerate()
        {
            let client = load(file);
            let to_server = &client.peers[0];
            let to_client = &server.peers[i];
            assert_eq!(client.interface.mode, mode);
            assert_eq!(to_server.mode, mode);
            assert_eq!(to_client.mode, mode);
            assert_eq!(to_server.public_key, server.interface.public_key);
            assert_eq!(to_client.public_key, client.interface.public_key);
            assert_eq!(to_server.preshared_key, to_client.preshared_key);
            assert!(to_server.preshared_key.is_some());
            assert_eq!(
                client.interface.address[0].to_string(),
                format!("{addr}/24")
            );
            assert_eq!(to_client.allowed_ips[0].to_string(), format!("{addr}/32"));
            assert_eq!(to_server.allowed_ips[0].to_string(), "10.9.0.0/24");
            assert_eq!(to_server.endpoint.as_ref().map(|e| e.port), Some(51999));
            // ML-DSA keys cross over exactly in pq-only.
            let b = dybervpn_crypto::backend(dybervpn_crypto::BackendKind::default());
            let server_pair = server.interface.mldsa_keypair(b.as_ref()).expect("derive");
            let client_pair = client.interface.mldsa_keypair(b.as_ref()).expect("derive");
            assert_eq!(server_pair.is_some(), mode == Mode::PqOnly);
            assert_eq!(to_server.mldsa_public_key, server_pair.map(|p| p.public));
            assert_eq!(to_client.mldsa_public_key, client_pair.map(|p| p.public));
        }
        assert_eq!(server.peers[1].name.as_deref(), Some("my phone"));
    }
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&run(&["init", "--server"], d));
    let before = std::fs::read(d.join("server.toml")).expect("read");
    let e = fails(&run(&["init", "--server"], d));
    assert!(e.contains("already exists; pass --force"), "{e}");
    assert_eq!(std::fs::read(d.join("server.toml")).expect("read"), before);
    ok(&run(&["init", "--server", "--force"], d));
    assert_ne!(std::fs::read(d.join("server.toml")).expect("read"), before);

    ok(&run(
        &["init", "--client", "h:1", "--server-config", "server.toml"],
        d,
    ));
    let server = std::fs::read(d.join("server.toml")).expect("read");
    let e = fails(&run(
        &["init", "--client", "h:1", "--server-config", "server.toml"],
        d,
    ));
    assert!(e.contains("client.toml already exists"), "{e}");
    assert_eq!(
        std::fs::read(d.join("server.toml")).expect("read"),
        server,
        "server untouched"
    );
    assert_eq!(
        files(d),
        ["client.toml", "server.toml"],
        "no temporary files left"
    );
}

#[test]
fn concurrent_init_clients_each_get_their_own_peer_and_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&run(&["init", "--server", "--mode", "classic"], d));
    const CLIENTS: usize = 8;
    let children: Vec<_> = (0..CLIENTS)
        .map(|i| {
            Command::new(BIN)
                .args(["init", "--client", "h:1", "--server-config", "server.toml"])
                .args(["--output", &format!("c{i}.toml")])
                .current_dir(d)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn dybervpn")
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().expect("wait"));
    }
    let server = Config::load(&d.join("server.toml")).expect("server").config;
    let mut addresses: Vec<String> = server
        .peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter().map(ToString::to_string))
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(server.peers.len(), CLIENTS, "a client's peer was lost");
    assert_eq!(addresses.len(), CLIENTS, "two clients share an address");
    for i in 0..CLIENTS {
        let client = Config::load(&d.join(format!("c{i}.toml")))
            .expect("client")
            .config;
        assert!(
            server
                .peers
                .iter()
                .any(|p| p.public_key == client.interface.public_key),
            "client {i} is not the server's peer"
        );
    }
}

const WG_CONF: &str = "\
# A wg-quick file
[Interface]
PrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=
ListenPort = 51820
Address = 10.0.0.1/24, fd00::1/64
DNS = 1.1.1.1
PostUp = iptables -A FORWARD -i %i -j ACCEPT

[Peer]
PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
AllowedIPs = 10.0.0.2/32, fd00::2/128
Endpoint = [2001:db8::2]:51820
PersistentKeepalive = 25
";

#[test]
fn wg_import_export_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("wg0.conf"), WG_CONF).expect("write");
    let o = run(&["import", "wg0.conf", "-o", "wg0.toml"], d);
    ok(&o);
    assert!(
        stderr(&o).contains("wg0.conf:7:1: warning: Interface.PostUp: ignored"),
        "{}",
        stderr(&o)
    );
    ok(&run(&["check", "wg0.toml"], d));
    let o = run(&["export", "wg0.toml"], d);
    ok(&o);
    let exported = stdout(&o);
    std::fs::write(d.join("again.conf"), &exported).expect("write");
    let o = run(&["import", "again.conf"], d);
    ok(&o);
    let toml_again = stdout(&o);
    let first = std::fs::read_to_string(d.join("wg0.toml")).expect("read");
    // Same configuration apart from the "imported from" comment line.
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&first), body(&toml_again));

    // A hybrid configuration cannot be exported.
    ok(&run(&["init", "--server"], d));
    let e = fails(&run(&["export", "server.toml"], d));
    assert!(e.contains("WireGuard cannot speak"), "{e}");

    std::fs::write(d.join("bad.conf"), "[Interface]\nPrivateKey = x\nListenPort = 51820\n[Peer]\nAllowedIps = 10.0.0.0/8\nFoo = 1\n").expect("write");
    let e = fails(&run(&["import", "bad.conf"], d));
    assert!(
        e.contains("bad.conf:2:14: error: interface.private_key"),
        "{e}"
    );
    assert!(
        e.contains(r#"bad.conf:6:1: error: Peer[0]: unknown key "Foo""#),
        "{e}"
    );
    assert!(
        e.contains("bad.conf:4:1: error: peer[0].public_key: missing"),
        "{e}"
    );
}

#[test]
fn version_and_completions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["version"], dir.path());
    ok(&o);
    let v = stdout(&o);
    assert!(
        v.starts_with(&format!("dybervpn {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    for s in [
        "aws-lc",
        "libcrux",
        "ML-KEM-768",
        "ML-DSA-65",
        "classic, hybrid, pq-only",
    ] {
        assert!(v.contains(s), "{s} missing: {v}");
    }
    let o = run(&["completions", "bash"], dir.path());
    ok(&o);
    assert!(stdout(&o).contains("dybervpn"));
}

#[test]
fn benchmark_json_has_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(
        &[
            "benchmark",
            "--iterations",
            "2",
            "--backend",
            "aws-lc",
            "--json",
        ],
        dir.path(),
    );
    ok(&o);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    // 8 primitive rows, a full handshake and the responder's share per mode.
    assert_eq!(rows.len(), 14);
    for r in rows {
        assert_eq!(r["backend"], "aws-lc");
        assert!(r["mean_us"].as_f64().expect("mean") > 0.0);
    }
    assert!(rows.iter().any(|r| r["gbit_per_sec"].as_f64().is_some()));
    for mode in ["classic", "hybrid", "pq-only"] {
        for kind in ["handshake", "responder"] {
            let name = format!("{kind} {mode} ");
            assert!(
                rows.iter().any(|r| r["operation"]
                    .as_str()
                    .is_some_and(|o| o.starts_with(&name))),
                "no {name}row"
            );
        }
    }
}
