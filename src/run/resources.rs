//! The memory a launched server uses while a case runs: resident set size of the driver's
//! process and its descendants, read from `/proc` (Linux). Elsewhere nothing is measured and
//! nothing is judged.
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Idle and peak resident memory of the server process tree during one case, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub idle_kib: u64,
    pub peak_kib: u64,
}

impl Memory {
    pub fn growth_kib(&self) -> u64 {
        self.peak_kib.saturating_sub(self.idle_kib)
    }

    pub fn describe(&self) -> String {
        format!("server memory: idle {}, peak {} (+{})", mib(self.idle_kib), mib(self.peak_kib), mib(self.growth_kib()))
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|n| n.parse().ok())
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Resident memory of `pid` and every descendant (a JVM or a shell wrapper may fork).
pub fn tree_rss_kib(pid: u32) -> Option<u64> {
    let mut total = rss_kib(pid)?;
    let mut stack = children(pid);
    let mut seen = 0;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > 256 {
            break;
        }
        total += rss_kib(p).unwrap_or(0);
        stack.extend(children(p));
    }
    Some(total)
}

/// Samples the tree's memory every few milliseconds until stopped; the first sample is the
/// idle figure (taken before the case's first step).
pub struct Sampler {
    idle: u64,
    peak: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

const EVERY: Duration = Duration::from_millis(20);

impl Sampler {
    pub fn start(pid: u32) -> Option<Sampler> {
        let idle = tree_rss_kib(pid)?;
        let peak = Arc::new(Mutex::new(idle));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(EVERY).await;
                let Some(now) = tree_rss_kib(pid) else { break };
                if let Ok(mut peak) = p.lock() {
                    *peak = (*peak).max(now);
                }
            }
        });
        Some(Sampler { idle, peak, task })
    }

    pub fn stop(self, pid: u32) -> Memory {
        self.task.abort();
        let last = tree_rss_kib(pid).unwrap_or(0);
        let peak = self.peak.lock().map(|p| *p).unwrap_or(0).max(last);
        Memory { idle_kib: self.idle, peak_kib: peak }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory() {
        let kib = tree_rss_kib(std::process::id()).expect("Linux /proc");
        assert!(kib > 100, "{kib} KiB");
    }

    #[test]
    fn growth_never_underflows() {
        let m = Memory { idle_kib: 2048, peak_kib: 1024 };
        assert_eq!(m.growth_kib(), 0);
        assert_eq!(Memory { idle_kib: 1024, peak_kib: 3072 }.describe(), "server memory: idle 1.0 MB, peak 3.0 MB (+2.0 MB)");
    }
}
