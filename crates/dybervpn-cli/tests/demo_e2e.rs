//! `dybervpn demo` as a user runs it: the real binary, as root. It must
//! succeed, print the mode and the handshake message sizes, and leave no
//! namespace, interface or process behind. Without root it prints
//! `skipped: needs root (...)` and passes (the refusal itself is tested in
//! daemon_cli.rs).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dybervpn");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

fn lines_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn demo_hybrid_succeeds_and_cleans_up() {
    if !is_root() {
        dybervpn_tunnel::netns::report_skip("skipped: needs root (network namespaces)");
        return;
    }
    if Command::new("ping").arg("-V").output().is_err() {
        dybervpn_tunnel::netns::report_skip("skipped: `ping` (iputils-ping) is not installed");
        return;
    }
    // Bounded: the demo takes a few seconds; a hang is killed and fails.
    let out = dybervpn_tunnel::os::command::complete(
        Command::new(BIN).args(["demo", "--mode", "hybrid"]),
        None,
        std::time::Duration::from_secs(180),
    )
    .expect("the demo ran and ended");
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("hybrid (X25519 + ML-KEM-768)"), "{stdout}");
    assert!(
        stdout.contains("initiation 1332 B, response 1180 B"),
        "{stdout}"
    );
    assert!(
        stdout.contains("handshake complete in hybrid mode"),
        "{stdout}"
    );
    assert!(stdout.contains("5/5 answered"), "{stdout}");
    assert!(stdout.contains("Mbit/s"), "{stdout}");
    // The demo's namespaces and interfaces carry its PID: none remain.
    let pid = stdout
        .lines()
        .find_map(|l| l.split("daemon in each: dya").nth(1))
        .and_then(|rest| rest.split('x').next())
        .expect("the demo names its interfaces")
        .to_owned();
    let netns = lines_of("ip", &["netns", "list"]);
    assert!(
        !netns.lines().any(|l| l.contains(&format!("{pid}x"))),
        "namespaces left: {netns}"
    );
    // Its daemons ran with their files in its directory: no process left
    // names it (read from /proc, which every Linux has, unlike `ps`).
    let dir = std::env::temp_dir().join(format!("dybervpn-demo-{pid}"));
    let marker = dir.to_string_lossy().into_owned();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(left.is_empty(), "daemons left: {left:?}");
    assert!(!dir.exists(), "{} left", dir.display());
}
