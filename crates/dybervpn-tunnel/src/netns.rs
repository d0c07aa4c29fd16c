//! Network namespaces and veth pairs for tests and `dybervpn demo`.
//!
//! Everything created here is removed when its guard drops, including on
//! panic: [`Netns`] kills whatever still runs inside the namespace and
//! deletes it (which destroys its interfaces, veth ends included);
//! [`Process`] stops its child with SIGTERM, then SIGKILL after a deadline.
//! Names carry the process ID and a counter, so parallel tests never
//! collide; a namespace an interrupted earlier run left under the same PID
//! is replaced (and `scripts/test.sh` sweeps those whose process is gone).
//! Every wait has a deadline.
//!
//! Requires root (`CAP_SYS_ADMIN` and `CAP_NET_ADMIN`) and `ip`.
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::io::Write as _;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::os::command::{self, Output};
use crate::os::{signal, OsError};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The environment variable naming a file to which every skipped test is
/// appended, one `test: reason` line each (`scripts/test.sh` lists them at
/// the end).
pub const SKIP_LOG_ENV: &str = "DYBERVPN_SKIP_LOG";

/// Reports that the calling test was skipped and why (no root, a tool not
/// installed). Written to standard error directly, not through
/// `eprintln!`, whose output the test harness keeps to itself for a test
/// that passes; and appended to the file [`SKIP_LOG_ENV`] names, if set.
pub fn report_skip(reason: impl std::fmt::Display) {
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed thread)")
        .to_owned();
    let line = format!("{test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        if let Ok(mut log) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = log.write_all(line.as_bytes());
        }
    }
}

/// A unique short name: `<tag><pid>x<n>`, at most 15 bytes when `tag` is at
/// most 3, so it can also name an interface.
#[must_use]
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("{tag}{}x{n}", std::process::id());
    name.truncate(crate::ifname::MAX_IFNAME_LEN);
    name
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named after `tag` (see [`unique_name`]) with its
    /// loopback up.
    pub fn create(tag: &str) -> Result<Self, OsError> {
        let name = unique_name(tag);
        if command::ip(&["netns", "add", &name]).is_err() {
            // The name carries this process's PID, so a namespace already
            // there is an earlier process's under the same PID (a run
            // interrupted before its guards ran): nothing alive owns it.
            let _ = command::ip(&["netns", "delete", &name]);
            command::ip(&["netns", "add", &name])?;
        }
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, OsError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        command::ip(&full)
    }

    /// A command that runs `program` inside the namespace.
    #[must_use]
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args` inside the namespace to completion.
    pub fn exec(&self, program: &str, args: &[&str], timeout: Duration) -> Result<Output, OsError> {
        command::run(self.command(program).args(args), timeout)
    }

    /// Starts `program args` inside the namespace, stopped when the guard
    /// drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Process, OsError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        Process::spawn(&mut cmd)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Anything still inside would keep the namespace alive.
        if let Ok(out) = command::ip(&["netns", "pids", &self.name]) {
            for pid in out.stdout.split_whitespace() {
                if let Ok(pid) = pid.parse() {
                    let _ = signal::send(pid, signal::SIGKILL);
                }
            }
        }
        let _ = command::ip(&["netns", "delete", &self.name]);
    }
}

/// Joins two namespaces with a veth pair and addresses each end.
/// The pair is destroyed with either namespace.
pub fn veth_pair(
    a: &Netns,
    a_addr: &str,
    b: &Netns,
    b_addr: &str,
) -> Result<(String, String), OsError> {
    let a_if = unique_name("va");
    let b_if = unique_name("vb");
    command::ip(&[
        "link",
        "add",
        &a_if,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        &b_if,
        "netns",
        b.name(),
    ])?;
    a.ip(&["address", "add", a_addr, "dev", &a_if])?;
    b.ip(&["address", "add", b_addr, "dev", &b_if])?;
    a.ip(&["link", "set", &a_if, "up"])?;
    b.ip(&["link", "set", &b_if, "up"])?;
    Ok((a_if, b_if))
}

/// A child process, stopped on drop: SIGTERM, then SIGKILL if it has not
/// exited within [`Process::GRACE`].
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
}

impl Process {
    /// How long a stopped process gets to exit cleanly.
    pub const GRACE: Duration = Duration::from_secs(5);

    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> Result<Self, OsError> {
        let child = cmd
            .spawn()
            .map_err(|e| OsError::io("spawning a process", e))?;
        Ok(Self { child: Some(child) })
    }

    /// The child's process ID.
    #[must_use]
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child has exited (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_)) | Err(_)))
    }

    /// Sends SIGTERM and waits up to `grace`; SIGKILL after that. Returns
    /// whether the child exited on its own within `grace`.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        let _ = signal::send(child.id(), signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Self::GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let a = unique_name("dvt");
        let b = unique_name("dvt");
        assert_ne!(a, b);
        assert!(a.len() <= crate::ifname::MAX_IFNAME_LEN);
        assert!(crate::ifname::validate(&a).is_ok());
    }

    #[test]
    fn two_namespaces_ping_over_veth_and_vanish() {
        if !crate::os::is_root() {
            crate::netns::report_skip("skipped: needs root (network namespaces)");
            return;
        }
        if command::run(Command::new("ping").arg("-V"), command::DEFAULT_TIMEOUT).is_err() {
            crate::netns::report_skip("skipped: `ping` (iputils-ping) is not installed");
            return;
        }
        let name_a;
        {
            let a = Netns::create("dva").expect("netns a");
            let b = Netns::create("dvb").expect("netns b");
            name_a = a.name().to_owned();
            veth_pair(&a, "10.201.0.1/24", &b, "10.201.0.2/24").expect("veth");
            let out = a
                .exec(
                    "ping",
                    &["-c", "1", "-W", "2", "10.201.0.2"],
                    Duration::from_secs(10),
                )
                .expect("ping across the veth");
            assert!(out.stdout.contains("1 received"), "{}", out.stdout);
            // A process left running is stopped when its guard drops.
            let mut p = b.spawn("sleep", &["30"]).expect("spawn");
            assert!(!p.has_exited());
            assert!(p.stop(Duration::from_secs(5)));
            // One left running when the namespace drops is killed by it.
            std::mem::forget(b.spawn("sleep", &["30"]).expect("spawn"));
        }
        let list = command::ip(&["netns", "list"]).expect("list");
        assert!(!list.stdout.contains(&name_a), "{}", list.stdout);
    }
}
