//! Running helper commands (`ip`) with a deadline.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::OsError;

/// The deadline for one `ip` invocation; they normally take milliseconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, killing it after `timeout`. Succeeds only on
/// exit status 0. Standard input is closed.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, OsError> {
    let line = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| OsError::Command {
            command: line.clone(),
            detail: format!("cannot start: {e}"),
        })?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("wait failed: {e}")),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => Ok(Output { stdout, stderr }),
        Ok(s) => Err(OsError::Command {
            command: line,
            detail: format!("{s}: {}", stderr.trim()),
        }),
        Err(detail) => Err(OsError::Command {
            command: line,
            detail,
        }),
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
        let start = Instant::now();
        let err =
            run(Command::new("sleep").arg("30"), Duration::from_millis(200)).expect_err("timeout");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(run(&mut Command::new("/nonexistent/dybervpn"), DEFAULT_TIMEOUT).is_err());
    }
}
