//! Running helper commands (`ip`) with a deadline.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::OsError;

/// The deadline for one `ip` invocation; they normally take milliseconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first pause between checks on a running command. `ip` usually
/// finishes within a millisecond, so the pauses start short and double.
const FIRST_POLL: Duration = Duration::from_micros(100);
/// The longest pause between checks: bounds the delay a slow command adds.
const MAX_POLL: Duration = Duration::from_millis(2);

/// What a command that ran to completion did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The command line as text, for errors and logs.
#[must_use]
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

/// Runs `cmd` to completion whatever its exit status, feeding it `input` on
/// standard input (closed at once if `None`), and kills it after `timeout`.
/// Fails only if it cannot start, times out or cannot be waited for.
pub fn complete(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, OsError> {
    let line = describe(cmd);
    let failed = |detail: String| OsError::Command {
        command: line.clone(),
        detail,
    };
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start: {e}")))?;
    // Feed and drain the pipes on threads, so a chatty child cannot block on
    // a full pipe while we block on another.
    let writer = match (child.stdin.take(), input) {
        (Some(mut pipe), Some(bytes)) => {
            let bytes = bytes.to_vec();
            // A child that exits early closes its end: the write fails with
            // EPIPE (Rust ignores SIGPIPE), and the exit status tells why.
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let out_reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_POLL;
    // Bounded by `deadline`: each round sleeps, and past it the child is killed.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {
                let now = Instant::now();
                if now >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("timed out after {timeout:?}"));
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(MAX_POLL);
            }
            Err(e) => break Err(format!("wait failed: {e}")),
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    status.map_err(failed).map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

/// Runs `cmd` to completion, killing it after `timeout`. Succeeds only on
/// exit status 0. Standard input is closed.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, OsError> {
    run_fed(cmd, None, timeout)
}

/// [`complete`], succeeding only on exit status 0.
fn run_fed(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Result<Output, OsError> {
    let out = complete(cmd, input, timeout)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(OsError::Command {
            command: describe(cmd),
            detail: format!("{}: {}", out.status, out.stderr.trim()),
        })
    }
}

/// Runs `program args` with `input` on standard input and the default
/// deadline; succeeds on exit status 0. If `program` is not installed, the
/// error says `missing` instead of "cannot start".
pub fn run_with_input(
    program: &str,
    args: &[&str],
    input: &str,
    missing: &str,
) -> Result<(), OsError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    match run_fed(&mut cmd, Some(input.as_bytes()), DEFAULT_TIMEOUT) {
        // ENOENT from spawning: not on the PATH.
        Err(OsError::Command { command, detail }) if detail.contains("(os error 2)") => {
            Err(OsError::Command {
                command,
                detail: missing.to_owned(),
            })
        }
        result => result.map(drop),
    }
}

/// Runs `ip` with `args` and the default deadline.
pub fn ip(args: &[&str]) -> Result<Output, OsError> {
    run(Command::new("ip").args(args), DEFAULT_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_failure_and_timeout() {
        let out = run(
            Command::new("sh").args(["-c", "echo hi; echo err >&2"]),
            DEFAULT_TIMEOUT,
        )
        .expect("sh runs");
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
        let err = run(
            Command::new("sh").args(["-c", "echo nope >&2; exit 3"]),
            DEFAULT_TIMEOUT,
        )
        .expect_err("exit 3");
        assert!(err.to_string().contains("nope"), "{err}");
        // Were the timeout not enforced, `sleep 30` would end and succeed,
        // which `expect_err` refuses.
        let err =
            run(Command::new("sleep").arg("30"), Duration::from_millis(200)).expect_err("timeout");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(run(&mut Command::new("/nonexistent/dybervpn"), DEFAULT_TIMEOUT).is_err());
    }

    #[test]
    fn a_program_that_is_not_installed_is_named_with_what_to_do() {
        let e = run_with_input("dybervpn-no-such-program", &["-x"], "", "install it")
            .expect_err("not installed");
        let OsError::Command { command, detail } = e else {
            panic!("{e}");
        };
        assert_eq!(
            (command.as_str(), detail.as_str()),
            ("dybervpn-no-such-program -x", "install it")
        );
        // Installed, and failing: its status and standard error.
        let e = run_with_input("sh", &["-c", "cat >&2; exit 3"], "why", "install it")
            .expect_err("exit 3");
        assert!(e.to_string().contains("exit status: 3: why"), "{e}");
    }

    #[test]
    fn input_reaches_the_child_and_a_failure_is_still_complete() {
        // More than a pipe buffer (64 KiB) each way: neither side may block.
        let input = "line\n".repeat(40_000);
        let out = complete(
            Command::new("sh").args(["-c", "cat; echo done >&2; exit 4"]),
            Some(input.as_bytes()),
            DEFAULT_TIMEOUT,
        )
        .expect("sh runs to completion");
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(out.stdout, input);
        assert_eq!(out.stderr, "done\n");
        // A child that never reads its input still finishes.
        let out = complete(
            Command::new("true").arg("ignored"),
            Some(input.as_bytes()),
            DEFAULT_TIMEOUT,
        )
        .expect("true runs");
        assert!(out.status.success());
    }
}
