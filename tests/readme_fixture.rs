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
mod common;
use common::{root, run_report, scratch, start, Server};

fn url(h: &Server, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", h.port)
}

const EXTRA_REASON: &str = "which the standard fixture does not have";

#[test]
fn readme_server_gets_no_fail_through_url() {
    let dir = scratch("readme-fixture", "readme");
    let server = start("tests/readme-fixture/server.js", &[]);
    let mut bad = Vec::new();
    for (path, protocol) in [("/engine.io/", "eio4"), ("/socket.io/", "sio5")] {
        let known = root().join("fixtures/expectations/socket.io@4.8.4.toml");
        let (got, code) =
            run_report(&dir, protocol, &["--url", &url(&server, path), "--protocol", protocol, "--expectations", known.to_str().unwrap()]);
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
