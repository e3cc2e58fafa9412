//! What the tests that start servers by hand share: a node process that prints the driver
//! ready line, killed when dropped, and the siospec binary.
#![allow(dead_code)]
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A server process started for a test; killed (by its own pid) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `node SCRIPT ARGS…`, once it printed its port: `{"event":"ready","port":N}` (a driver) or
/// `listening N` (the README server).
pub fn start(script: &str, args: &[&str]) -> Server {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(root())
        // Held open, never written: the README server exits when its stdin ends.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script} {args:?}: {e}"));
    let out = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let port = line.strip_prefix("listening ").and_then(|p| p.trim().parse::<u16>().ok()).or_else(|| {
                let v: Value = serde_json::from_str(&line).ok()?;
                (v["event"] == "ready").then(|| v["port"].as_u64())?.map(|p| p as u16)
            });
            if let Some(p) = port {
                let _ = tx.send(p);
            }
        }
    });
    let port = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("{script} {args:?} sent no ready line"));
    Server { child, port }
}

pub fn siospec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siospec")).args(args).current_dir(root()).output().expect("siospec runs")
}

/// The JSON report a run wrote: case id → the case's object.
pub fn cases(report: &std::path::Path) -> std::collections::BTreeMap<String, Value> {
    let text = std::fs::read_to_string(report).unwrap_or_else(|e| panic!("no report at {}: {e}", report.display()));
    let v: Value = serde_json::from_str(&text).expect("the report is JSON");
    v["cases"].as_array().expect("cases").iter().map(|c| (c["id"].as_str().unwrap_or("").to_string(), c.clone())).collect()
}

/// A fresh directory for one test's reports.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siospec-{prefix}-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `siospec --root <checkout> run ARGS… --json DIR/LABEL.json`: case id → (verdict, message),
/// and the exit code, which must be 0 or 1 (2 would be a setup error).
pub fn run_report(
    dir: &std::path::Path,
    label: &str,
    args: &[&str],
) -> (std::collections::BTreeMap<String, (String, String)>, Option<i32>) {
    let json = dir.join(format!("{}.json", label.replace(['/', '@', '*'], "_")));
    let o = Command::new(env!("CARGO_BIN_EXE_siospec"))
        .args(["--root", root().to_str().unwrap(), "run"])
        .args(args)
        .args(["--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "siospec run {args:?}: {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let by_id = cases(&json)
        .into_iter()
        .map(|(id, c)| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (id, (s("verdict"), s("message")))
        })
        .collect();
    (by_id, o.status.code())
}
