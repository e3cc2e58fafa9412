//! The command line on good and bad input: exit codes and messages a person can act on.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siospec"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A scratch project: the real catalog and drivers, and the suites we hand it.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("siospec-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("suites/eio4")).unwrap();
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    std::fs::copy(root().join("fixtures/targets.toml"), dir.join("fixtures/targets.toml")).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/drivers"), dir.join("fixtures/drivers")).unwrap();
    dir
}

fn write(p: &Path, s: &str) {
    std::fs::write(p, s).unwrap();
}

#[test]
fn list_prints_one_case_id_per_line_prefixed_by_its_suite() {
    let o = bin().args(["list", "--suite", "eio4"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = out.lines().collect();
    assert!(ids.len() >= 25, "eio4 has at least the 25 official cases, got {}", ids.len());
    assert!(ids.iter().all(|l| l.starts_with("eio4/")), "{out}");
    assert!(ids.contains(&"eio4/handshake/polling/opens-session"));
}

#[test]
fn settings_come_from_flag_env_or_file_and_bad_ones_say_where() {
    let dir = scratch("settings");
    write(&dir.join("siospec.toml"), "[run]\njobs = 0\n");
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = bin();
        c.current_dir(&dir).args(["run", "--url", "http://127.0.0.1:9/engine.io/", "--protocol", "eio4"]).args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = run(&[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("siospec.toml: `jobs` must be at least 1, got `0`"), "{}", text(&o));
    let o = run(&["--jobs", "2"], &[("SIOSPEC_TIME_SCALE", "slow")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("environment SIOSPEC_TIME_SCALE: `time_scale` must be a number, got `slow`"), "{}", text(&o));
    // Good settings get as far as the URL (nothing listens on port 9), and -v says where each came from.
    let o = run(&["--jobs", "2", "-v"], &[("SIOSPEC_TIME_SCALE", "1.5")]);
    let t = text(&o);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        t.contains("settings: time_scale = 1.5 (environment SIOSPEC_TIME_SCALE); jobs = 2 (flag --jobs); retries = 0 (default)"),
        "{t}"
    );
}

#[test]
fn unknown_suite_is_a_usage_error() {
    let o = bin().args(["list", "--suite", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown suite `nope`"), "{}", text(&o));
}

#[test]
fn malformed_suite_names_file_and_line() {
    let dir = scratch("malformed");
    write(
        &dir.join("suites/eio4/bad.toml"),
        "[suite]\nname = \"eio4\"\nrevision = \"eio4\"\nlayer = \"engine.io\"\n\n[[case]]\nid = \"eio4/x\"\ntitle = \"x\"\nrequirement = \"x\"\nsource = \"x\"\nlevel = \"MAYBE\"\ntransports = [\"polling\"]\n[[case.step]]\ndo = \"sleep\"\nms = 1\n",
    );
    let o = bin().args(["--root", dir.to_str().unwrap(), "list"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("bad.toml:11:"), "error must name file and line: {t}");
    assert!(t.contains("MAYBE"), "error must say what is wrong: {t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn unknown_step_kind_names_the_line() {
    let dir = scratch("step");
    write(
        &dir.join("suites/eio4/bad.toml"),
        "[suite]\nname = \"eio4\"\nrevision = \"eio4\"\nlayer = \"engine.io\"\n\n[[case]]\nid = \"eio4/x\"\ntitle = \"x\"\nrequirement = \"x\"\nsource = \"x\"\nlevel = \"MUST\"\ntransports = [\"polling\"]\n[[case.step]]\ndo = \"teleport\"\n",
    );
    let o = bin().args(["--root", dir.to_str().unwrap(), "list"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("bad.toml:14:") && t.contains("teleport"), "{t}");
}

#[test]
fn case_id_outside_its_suite_is_refused() {
    let dir = scratch("prefix");
    write(
        &dir.join("suites/eio4/bad.toml"),
        "[suite]\nname = \"eio4\"\nrevision = \"eio4\"\nlayer = \"engine.io\"\n\n[[case]]\nid = \"eio3/x\"\ntitle = \"x\"\nrequirement = \"x\"\nsource = \"x\"\nlevel = \"MUST\"\ntransports = [\"polling\"]\n[[case.step]]\ndo = \"sleep\"\nms = 1\n",
    );
    let o = bin().args(["--root", dir.to_str().unwrap(), "list"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("bad.toml:7:") && text(&o).contains("must start with `eio4/`"), "{}", text(&o));
}

#[test]
fn unknown_target_lists_the_known_ones() {
    let o = bin().args(["run", "--target", "socket.io@9"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("unknown target `socket.io@9`") && t.contains("socket.io@4.8.4") && t.contains("engine.io@6.6.12"), "{t}");
}

#[test]
fn unreachable_url_says_so_in_the_guides_words() {
    // Port 9 (discard) on loopback has no listener here.
    let o = bin().args(["run", "--url", "http://127.0.0.1:9/engine.io/", "--protocol", "eio4"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("Is the server running"), "{t}");
}

#[test]
fn url_without_path_is_refused() {
    let o = bin().args(["run", "--url", "http://127.0.0.1:9", "--protocol", "eio4"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("must include the path"), "{}", text(&o));
}

#[test]
fn target_that_does_not_start_shows_its_output() {
    let dir = scratch("nostart");
    write(
        &dir.join("fixtures/targets.toml"),
        "[family.sh]\ndir = \".\"\nprepare = [\"true\"]\ninputs = []\nrequires = [\"sh\"]\ninstall_hint = \"a POSIX shell\"\n\n[[target]]\nname = \"dies\"\nrole = \"server\"\nfamily = \"sh\"\nrevisions = [\"eio4\"]\ncommand = [\"sh\", \"-c\", \"echo the-driver-said-boom >&2; exit 3\"]\n",
    );
    std::fs::copy(root().join("suites/eio4/handshake.toml"), dir.join("suites/eio4/handshake.toml")).unwrap();
    let o = bin().args(["--root", dir.to_str().unwrap(), "run", "--target", "dies"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("the-driver-said-boom") && t.contains("exited before it was ready"), "{t}");
}

#[test]
fn unexpected_failure_exits_1_and_reports_are_written() {
    // broken/no-ping without its expectations file: its heartbeat failures are unexpected.
    let dir = scratch("exit1");
    std::fs::copy(root().join("suites/eio4/heartbeat.toml"), dir.join("suites/eio4/heartbeat.toml")).unwrap();
    let junit = dir.join("report.xml");
    let json = dir.join("report.json");
    let md = dir.join("report.md");
    let o = bin()
        .args(["--root", dir.to_str().unwrap(), "run", "--target", "broken/no-ping", "--case", "*ping-pong"])
        .args(["--junit", junit.to_str().unwrap(), "--json", json.to_str().unwrap(), "--markdown", md.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["target"], "broken/no-ping");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        assert_eq!(c["verdict"], "fail", "{c}");
        assert!(c["message"].as_str().unwrap().contains("ping"), "{c}");
        assert!(c["duration_ms"].is_u64());
        assert!(!c["transcript"].as_array().unwrap().is_empty());
    }
    assert_eq!(v["summary"]["unexpected"], 2);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("unexpected results") && md.contains("eio4/heartbeat/polling/ping-pong"), "{md}");
    check_junit_with_a_real_consumer(&junit, 2);
}

/// Parses the JUnit file with junitparser (PyPI), as CI consumers do.
fn check_junit_with_a_real_consumer(path: &Path, failures: usize) {
    let script = r#"
import sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
n = 0
for suite in xml:
    for case in suite:
        for r in case.result:
            if isinstance(r, Failure):
                assert r.message and r.text, "a failure carries a message and the transcript"
                n += 1
print(n)
"#;
    let o = Command::new("python3").args(["-c", script, path.to_str().unwrap()]).output().expect("python3 runs");
    assert!(o.status.success(), "junitparser (pip install junitparser) must parse the report: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), failures.to_string());
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // The parent pid is the second field after the parenthesised command name.
        let after = stat.rsplit(')').next().unwrap_or("");
        if after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

#[test]
fn ctrl_c_stops_the_run_and_its_driver() {
    let mut child = bin()
        .args(["run", "--target", "socket.io@4.8.4", "--suite", "eio4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let drivers = loop {
        let c = children_of(pid);
        if !c.is_empty() {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "the driver never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "siospec did not stop after SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    for d in drivers {
        let gone = (0..100).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{d}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false);
            if alive {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "driver {d} outlived the interrupted run");
    }
}

/// A scratch project with the eio4 handshake suite and an expectations file for engine.io.
fn scratch_with_expectations(name: &str, expectations: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::copy(root().join("suites/eio4/handshake.toml"), dir.join("suites/eio4/handshake.toml")).unwrap();
    std::fs::create_dir_all(dir.join("fixtures/expectations")).unwrap();
    write(&dir.join("fixtures/expectations/engine.io@6.6.12.toml"), expectations);
    dir
}

#[test]
fn a_result_accepted_from_a_verdict_set_is_shown_and_counted() {
    let dir = scratch_with_expectations(
        "accepted",
        "[[expect]]\ncase = \"eio4/handshake/polling/opens-session\"\nverdict = [\"fail\", \"pass\"]\nreason = \"a race inside the implementation (test)\"\n",
    );
    let json = dir.join("report.json");
    let junit = dir.join("report.xml");
    let md = dir.join("report.md");
    let o = bin()
        .args(["--root", dir.to_str().unwrap(), "run", "--target", "engine.io@6.6.12", "--case", "eio4/handshake/polling/opens-*"])
        .args(["--json", json.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "--markdown", md.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("; 0 unexpected; 1 accepted from a verdict set, 0 flaky"), "summary line: {out}");
    assert!(out.contains("accepted from the verdict set fail|pass"), "the case line says so: {out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["summary"]["accepted_from_set"], 1, "{v}");
    assert_eq!(v["summary"]["flaky"], 0, "{v}");
    let c = &v["cases"][0];
    assert_eq!(c["id"], "eio4/handshake/polling/opens-session");
    assert_eq!(c["verdict"], "pass");
    assert_eq!(c["accepted"], serde_json::json!(["fail", "pass"]), "{c}");
    assert_eq!(c["attempts"], 1, "{c}");
    assert!(c.get("earlier_verdicts").is_none(), "{c}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"name="siospec.accepted" value="fail|pass""#) && xml.contains("accepted from the verdict set"), "{xml}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("1 accepted from a verdict set, 0 flaky"), "{md}");
}

#[test]
fn retried_unexpected_results_keep_their_attempts_and_non_passing_ones_show_requirement_and_source() {
    // broken/no-ping without its expectations file: the ping-pong case fails on both attempts.
    let dir = scratch("retries");
    std::fs::copy(root().join("suites/eio4/heartbeat.toml"), dir.join("suites/eio4/heartbeat.toml")).unwrap();
    let json = dir.join("report.json");
    let junit = dir.join("report.xml");
    let o = bin()
        .args(["--root", dir.to_str().unwrap(), "run", "--target", "broken/no-ping", "--case", "eio4/heartbeat/websocket/ping-pong"])
        .args(["--retries", "1", "-v", "--json", json.to_str().unwrap(), "--junit", junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("; 1 unexpected; 0 accepted from a verdict set, 0 flaky"), "a result unexpected twice is not flaky: {out}");
    assert!(out.contains("requirement (MUST): ") && out.contains("source: engine.io-protocol v4"), "{out}");
    assert!(out.contains("retried: fail then fail (2 attempts)"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let c = &v["cases"][0];
    assert_eq!(c["verdict"], "fail", "{c}");
    assert_eq!(c["attempts"], 2, "{c}");
    assert_eq!(c["earlier_verdicts"], serde_json::json!(["fail"]), "{c}");
    assert!(c["requirement"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    assert!(c["source"].as_str().is_some_and(|s| s.starts_with("engine.io-protocol v4")), "{c}");
    assert_eq!(c["level"], "MUST", "{c}");
    assert!(c.get("accepted").is_none(), "{c}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"name="siospec.attempts" value="2""#) && xml.contains(r#"name="siospec.source""#), "{xml}");
    assert!(xml.contains("requirement (MUST): "), "the failure text names the requirement: {xml}");
}

#[test]
fn expectations_file_that_is_missing_or_malformed_is_a_usage_error() {
    // Checked before anything starts: the URL need not answer.
    let o = bin()
        .args(["run", "--url", "http://127.0.0.1:9/engine.io/", "--protocol", "eio4", "--expectations", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--expectations /nonexistent/x.toml: no such file"), "{}", text(&o));
    let dir = scratch("expectations");
    let bad = dir.join("bad.toml");
    write(&bad, "[[expect]]\ncase = \"eio4/x\"\nverdict = \"maybe\"\nreason = \"r\"\n");
    let o = bin()
        .args(["run", "--url", "http://127.0.0.1:9/engine.io/", "--protocol", "eio4", "--expectations", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown verdict `maybe`"), "{}", text(&o));
}
