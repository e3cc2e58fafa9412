//! `--url` gives no false FAIL to a server written from README.md's standard fixture list,
//! and a launched target's fixture started by hand gets the verdicts it gets launched
//! (or `unsupported`, with the reason).
//!
//! - `readme_server_gets_no_fail_through_url`: `tests/readme-fixture/server.js`, a minimal
//!   socket.io 4.8 server with exactly README's handlers and options, through
//!   `siospec run --url …/engine.io/ --protocol eio4` and `…/socket.io/ --protocol sio5`.
//!   With `--expectations fixtures/expectations/socket.io@4.8.4.toml` (the server is socket.io
//!   4.8, whose known SHOULD deviations it shares) the run exits 0.
//!
//! Hand-started launched targets vs launched, and the broken servers: `tests/url_parity.rs`.
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siospec-readme-fixture-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server process started by hand; killed (by its own pid) when dropped.
struct Hand {
    child: Child,
    port: u16,
}

impl Drop for Hand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `node <args>` on a free port (port 0) and reads the port from its first stdout
/// lines: `listening <port>` (the README server) or `{"event":"ready","port":…}` (the driver).
fn start(args: &[&str]) -> Hand {
    let mut child = Command::new("node")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {args:?}: {e}"));
    let out = child.stdout.take().unwrap();
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
    let port = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("node {args:?} did not say it listens"));
    Hand { child, port }
}

/// Case id → (verdict, message) of a `siospec run` with these arguments (`--json` report),
/// and its exit code.
fn run(dir: &Path, label: &str, args: &[&str]) -> (BTreeMap<String, (String, String)>, Option<i32>) {
    let json = dir.join(format!("{label}.json"));
    let o = Command::new(env!("CARGO_BIN_EXE_siospec"))
        .args(["--root", root().to_str().unwrap(), "run"])
        .args(args)
        .args(["--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    // 0 or 1 (unexpected results); 2 would be a setup error.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "siospec run {args:?}: {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let cases = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("id"), (s("verdict"), s("message")))
        })
        .collect();
    (cases, o.status.code())
}

fn url(h: &Hand, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", h.port)
}

const EXTRA_REASON: &str = "which the standard fixture does not have";

#[test]
fn readme_server_gets_no_fail_through_url() {
    let dir = scratch("readme");
    let server = start(&["tests/readme-fixture/server.js"]);
    let mut bad = Vec::new();
    for (path, protocol) in [("/engine.io/", "eio4"), ("/socket.io/", "sio5")] {
        let known = root().join("fixtures/expectations/socket.io@4.8.4.toml");
        let (got, code) =
            run(&dir, protocol, &["--url", &url(&server, path), "--protocol", protocol, "--expectations", known.to_str().unwrap()]);
        let unexpected_exit = code != Some(0);
        assert!(!got.is_empty(), "{protocol}: no cases ran");
        let count = |v: &str| got.values().filter(|(x, _)| x == v).count();
        println!(
            "README server, {protocol}: {} cases, {} pass, {} non-strict, {} unsupported",
            got.len(),
            count("pass"),
            count("non-strict"),
            count("unsupported")
        );
        for (id, (verdict, message)) in &got {
            match verdict.as_str() {
                "fail" | "error" | "timeout" => bad.push(format!("{id}: {verdict}: {message}")),
                "unsupported" if message.trim().is_empty() => bad.push(format!("{id}: unsupported without a reason")),
                _ => {}
            }
        }
        if unexpected_exit {
            bad.push(format!("{protocol}: exit {code:?} with --expectations {} (expected 0)", known.display()));
        }
        if protocol == "sio5" {
            // The extra handlers: unsupported, with the reason.
            for (id, handler) in [
                ("sio5/disconnect/server-close-ends-connection", "close-me"),
                ("sio5/disconnect/server-disconnect-sends-disconnect-packet", "disconnect-me"),
                ("sio5/message/server-emit-with-ack-answered-by-client", "emit-with-ack"),
            ] {
                let (v, m) = &got[id];
                let want = format!("needs handler `{handler}`, {EXTRA_REASON}");
                assert!(v == "unsupported" && m.starts_with(&want), "{id}: {v}: {m}");
            }
            // connectTimeout 1000 is standard: the connect-timeout cases run.
            for id in ["sio5/connect/no-handshake-closes-after-connect-timeout", "sio5/connect/no-handshake-over-polling-closes"] {
                assert_eq!(got[id].0, "pass", "{id}: {:?}", got[id]);
            }
        }
    }
    assert!(bad.is_empty(), "a server written from README.md got:\n{}", bad.join("\n"));
}
