//! CPU time of this thread and of another process's threads, from
//! `/proc/*/schedstat` (nanoseconds on the CPU).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, ns).
pub fn own_cpu() -> Duration {
    schedstat("/proc/thread-self/schedstat").unwrap_or_default()
}

fn schedstat(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU time of every thread of `pid`, keyed `name/tid` (threads spawned
/// without a name carry their parent's).
pub fn threads_cpu(pid: u32) -> HashMap<String, Duration> {
    let mut by_name = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let tid = task.file_name().to_string_lossy().into_owned();
        let path = dir.join("schedstat");
        if let Some(cpu) = path.to_str().and_then(schedstat) {
            by_name.insert(format!("{}/{tid}", name.trim()), cpu);
        }
    }
    by_name
}
