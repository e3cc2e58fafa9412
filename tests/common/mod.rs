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

/// `node SCRIPT ARGS…`, once it printed `{"event":"ready","port":N}`.
pub fn start(script: &str, args: &[&str]) -> Server {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script} {args:?}: {e}"));
    let out = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["event"] == "ready" {
                let _ = tx.send(v["port"].as_u64().unwrap_or(0) as u16);
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
