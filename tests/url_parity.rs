//! `--url` tells the truth about a server started by hand.
//!
//! - `hand_started_node_servers_match_launched`: each launched Node server target's fixture
//!   (`fixtures/drivers/node/server.js --impl <alias> --port 0 --no-stdin`), started by hand and
//!   run through `--url` with each revision it speaks at the standard fixture (no allowEIO3):
//!   every case's verdict is the launched one (its conformance snapshot, or a verdict its
//!   expectations file accepts), or `unsupported` with a reason. Never `fail` via --url where
//!   the launched target passes. Run with `--expectations` of the launched target, so the exit
//!   code says the same.
//! - `broken_servers_are_caught_through_url`: every `broken/*` server target of the catalog
//!   (engine.io 6 with a defect), started by hand: through --url it fails at least one case
//!   that the healthy engine.io 6 passes, and every failure its expectations list shows up
//!   via --url too (or is `unsupported` there, with the reason).
mod common;
use common::{root, run_report, scratch, start, Server};
use siospec::run::expectations::Expectations;
use siospec::run::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The tests of this file run one at a time: timing cases on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `node fixtures/drivers/node/server.js <args> --port 0 --no-stdin`, as a user starts it.
fn start_driver(args: &[&str]) -> Server {
    let mut all = args.to_vec();
    all.extend(["--port", "0", "--no-stdin"]);
    start("fixtures/drivers/node/server.js", &all)
}

struct Run {
    code: Option<i32>,
    /// Case id → (verdict, message).
    cases: BTreeMap<String, (String, String)>,
}

/// `siospec run --url <url> --protocol <suite> [extra…] --json …`.
fn run_url(dir: &Path, label: &str, url: &str, suite: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--url", url, "--protocol", suite];
    args.extend(extra);
    let (cases, code) = run_report(dir, label, &args);
    Run { code, cases }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// The launched verdicts: the conformance snapshot `verdicts__<target>__<suite>.snap`.
fn snapshot(target: &str, suite: &str) -> BTreeMap<String, String> {
    let path = root().join("tests/snapshots").join(format!("verdicts__{}__{suite}.snap", sanitize(target)));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body = text.splitn(3, "---\n").nth(2).unwrap_or_default();
    body.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

fn expectations_file(target: &str) -> PathBuf {
    siospec::run::expectations::file_for(&root(), target)
}

/// Verdicts the launched target may have for a case: its snapshot's, and any its
/// expectations file accepts (a race inside the implementation).
fn accepted(snapshot_verdict: &str, exp: &Expectations, id: &str) -> Vec<String> {
    let mut v = vec![snapshot_verdict.to_string()];
    if let Some((set, _)) = exp.get(id) {
        v.extend(set.iter().map(|x| x.as_str().to_string()));
    }
    v
}

/// Node server targets: (server.js alias, catalog name, [(path, suite)]) — the revisions each
/// speaks with the standard fixture (allowEIO3 off).
const NODE_SERVERS: &[(&str, &str, &[(&str, &str)])] = &[
    ("socket.io-4.8", "socket.io@4.8.4", &[("/engine.io/", "eio4"), ("/socket.io/", "sio5")]),
    ("socket.io-3.1", "socket.io@3.1.2", &[("/engine.io/", "eio4"), ("/socket.io/", "sio5")]),
    ("engine.io-6", "engine.io@6.6.12", &[("/engine.io/", "eio4")]),
    ("socket.io-2.5", "socket.io@2.5.1", &[("/engine.io/", "eio3"), ("/socket.io/", "sio4")]),
    ("socket.io-1.7", "socket.io@1.7.4", &[("/engine.io/", "eio3"), ("/socket.io/", "sio4")]),
];

#[test]
fn hand_started_node_servers_match_launched() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("url-parity", "parity");
    let mut problems = Vec::new();
    let mut table = Vec::new();
    for (alias, target, revisions) in NODE_SERVERS {
        let exp_file = expectations_file(target);
        let exp = Expectations::load(&exp_file).unwrap();
        let hand = start_driver(&["--impl", alias]);
        for (path, suite) in *revisions {
            let url = format!("http://127.0.0.1:{}{path}", hand.port);
            let launched = snapshot(target, suite);
            let exp_arg = exp_file.to_str().unwrap();
            let mut got = run_url(&dir, &format!("{target}-{suite}"), &url, suite, &["--expectations", exp_arg]);
            let differs = |id: &str, got: &BTreeMap<String, (String, String)>| -> Option<String> {
                let (uv, um) = got.get(id)?;
                let ok = accepted(&launched[id], &exp, id).contains(uv) || (uv == "unsupported" && !um.trim().is_empty());
                (!ok).then(|| format!("{target} {id}: launched {}, via --url {uv}: {um}", launched[id]))
            };
            // A difference gets one more try alone, like the conformance trials' retry.
            let again: Vec<String> = launched.keys().filter(|id| differs(id, &got.cases).is_some()).cloned().collect();
            for id in &again {
                let one = run_url(&dir, &format!("{target}-{id}"), &url, suite, &["--case", id, "--expectations", exp_arg]);
                if let Some(r) = one.cases.get(id) {
                    got.cases.insert(id.clone(), r.clone());
                }
            }
            let (mut same, mut unsupported) = (0, 0);
            for id in launched.keys() {
                if !got.cases.contains_key(id) {
                    problems.push(format!("{target} {id}: not run via --url"));
                } else if let Some(p) = differs(id, &got.cases) {
                    problems.push(p);
                } else if got.cases[id].0 == "unsupported" && !accepted(&launched[id], &exp, id).contains(&"unsupported".to_string()) {
                    unsupported += 1;
                } else {
                    same += 1;
                }
            }
            if again.is_empty() && got.code != Some(0) {
                problems.push(format!("{target} {suite}: exit {:?} via --url with --expectations {exp_arg}", got.code));
            }
            table.push(format!(
                "{target:<18} {suite}: {:>3} cases, {same:>3} same verdict, {unsupported:>3} unsupported via --url only, {} other",
                launched.len(),
                launched.len() - same - unsupported
            ));
        }
    }
    println!("--url parity (hand-started vs launched):\n  {}", table.join("\n  "));
    assert!(problems.is_empty(), "{}\n\n{}", table.join("\n"), problems.join("\n"));
}

/// The `broken/*` server targets of the catalog and their defect names.
fn broken_servers() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(root().join("fixtures/targets.toml")).unwrap();
    let cat: toml::Value = toml::from_str(&text).unwrap();
    cat["target"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"].as_str() == Some("server") && t["name"].as_str().is_some_and(|n| n.starts_with("broken/")))
        .map(|t| {
            let cmd: Vec<&str> = t["command"].as_array().unwrap().iter().filter_map(|c| c.as_str()).collect();
            let defect = cmd.iter().position(|c| *c == "--defect").map(|i| cmd[i + 1]).expect("a broken server names its --defect");
            // A server broken for one suite (`suites = ["robust"]`) is run through that one.
            let suite = t.get("suites").and_then(|s| s.as_array()).and_then(|s| s.first()).and_then(|s| s.as_str()).unwrap_or("eio4");
            (t["name"].as_str().unwrap().to_string(), defect.to_string(), suite.to_string())
        })
        .collect()
}

#[test]
fn broken_servers_are_caught_through_url() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("url-parity", "broken");
    let broken = broken_servers();
    assert!(broken.len() >= 5, "the catalog's broken servers: {broken:?}");
    let mut caught = Vec::new();
    let mut problems = Vec::new();
    for (name, defect, suite) in &broken {
        let healthy = snapshot("engine.io@6.6.12", suite);
        let mut hand = start_driver(&["--impl", "engine.io-6", "--defect", defect]);
        let url = format!("http://127.0.0.1:{}/engine.io/", hand.port);
        let got = run_url(&dir, name, &url, "eio4", &["--suite", suite]);
        // Failures the healthy engine.io 6 does not have.
        let found: Vec<&String> = got
            .cases
            .iter()
            .filter(|(id, (v, _))| matches!(v.as_str(), "fail" | "non-strict") && healthy.get(*id).map(String::as_str) == Some("pass"))
            .map(|(id, _)| id)
            .collect();
        // Memory is measured on launched targets only: a leak is invisible through --url.
        let memory_only = Expectations::load(&expectations_file(name))
            .map(|e| e.ids().all(|id| e.get(id).is_some_and(|(_, r)| r.contains("memory is measured"))))
            .unwrap_or(false);
        if found.is_empty() && memory_only {
            caught.push(format!("{name}: not observable through --url (memory is measured on launched targets)"));
        } else if found.is_empty() {
            problems.push(format!("{name}: nothing caught through --url"));
        } else {
            caught.push(format!("{name}: {}", found.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        }
        // A server started by hand that died is not started again (a launched one is): the
        // cases after its death cannot be compared, only that it was caught.
        if hand.child.try_wait().ok().flatten().is_some() {
            continue;
        }
        // Every failure the launched broken target must show: the same via --url, or unsupported.
        let exp = Expectations::load(&expectations_file(name)).unwrap();
        for id in exp.ids() {
            let (set, reason) = exp.get(id).unwrap();
            if !set.contains(&Verdict::Fail) {
                continue;
            }
            match got.cases.get(id) {
                Some((v, _)) if v == "fail" => {}
                // Memory is measured on launched targets only (suites/README.md, "Witness suites").
                Some((v, _)) if v == "pass" && reason.contains("memory is measured") => {}
                Some((v, m)) if v == "unsupported" && !m.is_empty() => {}
                other => problems.push(format!("{name} {id}: launched fail, via --url {other:?}")),
            }
        }
    }
    println!("broken servers caught through --url: {} of {}\n  {}", caught.len(), broken.len(), caught.join("\n  "));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
