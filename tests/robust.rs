//! The `robust` suite catches what it exists for (issue 12): a server process that dies, an
//! event loop that stalls and memory that runs away, launched and through `--url`, and a
//! healthy server started by hand gets no false failure.
mod common;
use common::{cases, siospec, start};
use std::sync::Mutex;

/// One run at a time: the witness's deadlines on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn report(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("siospec-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn verdict(c: &std::collections::BTreeMap<String, serde_json::Value>, id: &str) -> String {
    c.get(id).unwrap_or_else(|| panic!("{id} not in the report: {:?}", c.keys().collect::<Vec<_>>()))["verdict"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_server_that_dies_fails_with_its_exit_status_and_the_next_case_gets_a_new_driver() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let json = report("crash.json");
    let out = siospec(&[
        "run",
        "--target",
        "broken/crash-on-invalid-packet",
        "--suite",
        "robust",
        "--case",
        "robust/eio4/u*",
        "--json",
        json.to_str().unwrap(),
    ]);
    // Its expectations file lists the failures the suite must find: exit 0 means they were found.
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let c = cases(&json);
    for id in ["robust/eio4/unknown-packet-types/polling", "robust/eio4/unknown-packet-types/websocket"] {
        assert_eq!(verdict(&c, id), "fail", "{id}");
        let m = c[id]["message"].as_str().unwrap_or("");
        assert!(m.contains("the server process died") && m.contains("exit status: 70"), "{id}: {m}");
        assert!(m.contains("defect crash-on-invalid-packet"), "its stderr is the evidence: {m}");
    }
    // Each later case ran on a driver started again after the crash.
    assert_eq!(verdict(&c, "robust/eio4/upgrade-probe-without-follow-up"), "pass");
    assert_eq!(verdict(&c, "robust/eio4/unusual-methods"), "pass");
}

#[test]
fn memory_that_runs_away_fails_and_is_reported() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let json = report("leak.json");
    let id = "robust/eio4/payload-of-thousands-of-packets/polling";
    let out = siospec(&["run", "--target", "broken/leak-on-flood", "--suite", "robust", "--case", id, "--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "the expected failure was found: {}", String::from_utf8_lossy(&out.stderr));
    let c = cases(&json);
    assert_eq!(verdict(&c, id), "fail");
    let m = &c[id]["memory"];
    let (idle, peak) = (m["idle_kib"].as_u64().unwrap_or(0), m["peak_kib"].as_u64().unwrap_or(0));
    assert!(idle > 0 && peak > idle + 256 * 1024, "idle {idle} KiB, peak {peak} KiB");
    assert!(c[id]["message"].as_str().unwrap_or("").contains("memory grew by more than 256 MB"));
}

#[test]
fn a_stalled_server_started_by_hand_loses_the_witness() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server =
        start("fixtures/drivers/node/server.js", &["--impl", "engine.io-6", "--defect", "stall-on-flood", "--port", "0", "--no-stdin"]);
    let url = format!("http://127.0.0.1:{}/engine.io/", server.port);
    let json = report("stall.json");
    let out = siospec(&[
        "run",
        "--url",
        &url,
        "--protocol",
        "eio4",
        "--suite",
        "robust",
        "--case",
        "robust/eio4/payload-of-thousands-of-packets/*",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let c = cases(&json);
    for t in ["polling", "websocket"] {
        let id = format!("robust/eio4/payload-of-thousands-of-packets/{t}");
        assert_eq!(verdict(&c, &id), "fail", "{id}");
        let m = c[&id]["message"].as_str().unwrap_or("");
        assert!(m.contains("the witness got no answer"), "{id}: {m}");
    }
}

#[test]
fn a_healthy_server_started_by_hand_passes_every_case() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = start("fixtures/drivers/node/server.js", &["--impl", "socket.io-4.8", "--port", "0", "--no-stdin"]);
    let url = format!("http://127.0.0.1:{}/socket.io/", server.port);
    let json = report("healthy.json");
    let out = siospec(&["run", "--url", &url, "--protocol", "sio5", "--suite", "robust", "--json", json.to_str().unwrap()]);
    let c = cases(&json);
    let not_passing: Vec<String> =
        c.iter().filter(|(_, v)| v["verdict"] != "pass").map(|(id, v)| format!("{id}: {} {}", v["verdict"], v["message"])).collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    assert!(c.len() >= 40, "only {} cases ran", c.len());
    assert_eq!(out.status.code(), Some(0));
}
