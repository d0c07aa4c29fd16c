//! `up`, `down`, `status`, `reload` and `demo` as a user runs them, on the
//! paths that need no root and create nothing: bad configurations, an
//! interface that is not up, and (run as an unprivileged user when the test
//! runs as root) the refusal to start without root. The paths that do need
//! root are tested in crates/dybervpn-tunnel/tests (lifecycle.rs,
//! netns_e2e.rs).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dybervpn");

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run dybervpn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn exit2(o: &Output) -> String {
    let e = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {}\nstderr: {e}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// A name no daemon uses: the PID makes it unique on this machine.
fn ifname(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

/// Nothing of `name` exists: no PID file, no socket, no interface.
fn assert_nothing_created(name: &str) {
    assert!(!Path::new(&format!("/run/dybervpn/{name}.pid")).exists());
    assert!(!Path::new(&format!("/var/run/wireguard/{name}.sock")).exists());
    assert!(!Path::new(&format!("/sys/class/net/{name}")).exists());
}

#[test]
fn up_of_a_bad_config_prints_checks_diagnostics_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = ifname("dcb");
    let file = format!("{name}.toml");
    std::fs::write(
        dir.path().join(&file),
        "[interface]\nprivate_key = \"short\"\nlisten_port = 0\nmtuu = 1400\n",
    )
    .expect("write");
    let check = exit2(&run(&["check", &file], dir.path()));
    assert!(check.contains("3 errors in the configuration"), "{check}");
    for args in [vec!["up", &file], vec!["up", &file, "--foreground"]] {
        let up = exit2(&run(&args, dir.path()));
        assert_eq!(up, check, "`up` and `check` report the same diagnostics");
        assert_nothing_created(&name);
    }
    // Broken TOML and a missing file too.
    std::fs::write(dir.path().join(&file), "[interface\n").expect("write");
    let check = exit2(&run(&["check", &file], dir.path()));
    assert_eq!(exit2(&run(&["up", &file], dir.path())), check);
    let missing = format!("./{}.toml", ifname("dcm"));
    let e = exit2(&run(&["up", &missing], dir.path()));
    assert!(e.contains("cannot read"), "{e}");
    assert_nothing_created(&name);
}

#[test]
fn up_of_an_unknown_interface_name_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = ifname("dcn");
    let e = exit2(&run(&["up", &name], dir.path()));
    assert!(e.contains(&format!("/etc/dybervpn/{name}.toml")), "{e}");
    assert_nothing_created(&name);
    // A name that cannot be an interface.
    let e = exit2(&run(&["up", "./a name with spaces.toml"], dir.path()));
    assert!(e.contains("interface"), "{e}");
}

#[test]
fn down_status_reload_of_an_interface_that_is_not_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = ifname("dcd");
    for cmd in ["down", "status", "reload"] {
        let e = exit2(&run(&[cmd, &name], dir.path()));
        assert!(
            e.contains(&format!("interface {name} is not up")),
            "{cmd}: {e}"
        );
    }
    let e = exit2(&run(&["status", &name, "--json"], dir.path()));
    assert!(e.contains("is not up"), "{e}");
    let e = exit2(&run(&["down", "not/a/name"], dir.path()));
    assert!(e.contains("interface name"), "{e}");
}

#[test]
fn status_of_all_interfaces_is_valid_json_with_a_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["status", "--json"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["schema"], 2);
    assert!(v["interfaces"].is_array());
}

/// Runs the binary as `nobody` when this test runs as root (with
/// `setpriv`), or as ourselves when not root.
fn run_unprivileged(args: &[&str], dir: &Path) -> Option<Output> {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if !root {
        return Some(run(args, dir));
    }
    // A copy in `dir` (mode 0755): the build's own copy may sit where the
    // unprivileged user cannot reach it, e.g. in a clone under /root.
    let bin = dir.join("dybervpn-unprivileged");
    if !bin.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::copy(BIN, &bin).expect("copy the binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ]);
    cmd.arg(&bin);
    cmd.args(args).current_dir(dir);
    cmd.output().ok()
}

#[test]
fn up_and_demo_without_root_say_root_is_needed() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let name = ifname("dcr");
    let file = format!("{name}.toml");
    let o = run(
        &[
            "init",
            "--server",
            "--listen-port",
            "51999",
            "--address",
            "10.9.0.1/24",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::rename(dir.path().join("server.toml"), dir.path().join(&file)).expect("rename");
    {
        use std::os::unix::fs::PermissionsExt;
        // Readable by the unprivileged user (a test file, throw-away keys).
        std::fs::set_permissions(
            dir.path().join(&file),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
    }
    let Some(o) = run_unprivileged(&["up", &file], dir.path()) else {
        dybervpn_tunnel::netns::report_skip("skipped: `setpriv` (util-linux) is not installed");
        return;
    };
    let e = exit2(&o);
    assert!(e.contains("needs root"), "{e}");
    assert_nothing_created(&name);
    let e = exit2(&run_unprivileged(&["demo", "--mode", "classic"], dir.path()).expect("ran"));
    assert!(e.contains("needs root"), "{e}");
}

#[test]
fn help_explains_the_daemon_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["--help"], dir.path());
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in ["up", "down", "status", "reload", "demo"] {
        assert!(text.contains(&format!("  {cmd} ")), "{cmd}: {text}");
    }
    let o = run(&["up", "--help"], dir.path());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("--foreground"), "{text}");
    assert!(text.contains("/etc/dybervpn/<name>.toml"), "{text}");
    let o = run(&["demo", "--help"], dir.path());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("pq-only"), "{text}");
}
