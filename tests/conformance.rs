//! Suites × targets as trials (`cargo test --test conformance -- --list`): server suites
//! against server targets, client suites (the mock server) against client targets.
//!
//! Each trial `<target>::<suite>` runs one suite against one target, fails on any
//! result its expectations file does not predict, and snapshots the verdict table,
//! so a changed verdict is a reviewed diff. Deliberately broken targets run here too:
//! their expectations list the failures the harness must find.
use libtest_mimic::{Arguments, Failed, Trial};
use siospec::project::Project;
use siospec::report;
use siospec::run::{self, RunOptions};
use siospec::targets::prepare::Readiness;
use siospec::targets::Target;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime"))
}

fn project() -> &'static Project {
    static P: OnceLock<Project> = OnceLock::new();
    P.get_or_init(|| Project::load(&root()).unwrap_or_else(|e| panic!("cannot load the project: {e}")))
}

fn time_scale() -> f64 {
    // The same resolution as the CLI's (environment, ./siospec.toml, default).
    siospec::settings::Settings::resolve(&Default::default()).unwrap_or_else(|e| panic!("{e}")).time_scale.value
}

type Started = Arc<tokio::sync::OnceCell<Result<Arc<Target>, String>>>;

/// One driver per target, shared by its trials, started on first use.
fn target(name: &str) -> Result<Arc<Target>, String> {
    static CELLS: OnceLock<Mutex<HashMap<String, Started>>> = OnceLock::new();
    let cell = {
        let mut m = CELLS.get_or_init(Default::default).lock().expect("targets lock");
        m.entry(name.to_string()).or_default().clone()
    };
    runtime()
        .block_on(async {
            cell.get_or_init(|| async {
                let p = project();
                let def = p.catalog.find(name).map_err(|e| e.to_string())?;
                p.open_target(def, time_scale()).await.map(Arc::new).map_err(|e| e.to_string())
            })
            .await
            .clone()
        })
        .inspect(|t| register(t.clone()))
}

fn register(t: Arc<Target>) {
    let mut all = started().lock().expect("started lock");
    if !all.iter().any(|x| Arc::ptr_eq(x, &t)) {
        all.push(t);
    }
}

fn started() -> &'static Mutex<Vec<Arc<Target>>> {
    static S: OnceLock<Mutex<Vec<Arc<Target>>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

fn run_trial(target_name: &str, suite: &str) -> Result<(), Failed> {
    let p = project();
    let t = target(target_name)?;
    let cases = p.select(&[suite.to_string()], None)?;
    let planned = run::plan(&t, &cases);
    let expectations = p.expectations(target_name)?;
    let opts = RunOptions { time_scale: time_scale(), jobs: 16 };
    let mut results = runtime().block_on(run::run_all(&t, &planned, &opts, &expectations, None));
    // An unexpected result gets one more try, alone, like nextest's retries: an implementation
    // race that its expectations do not list must not turn CI red at random, but it is named
    // (FLAKY here, `attempts` in the reports) and counted in the summary line.
    runtime().block_on(run::retry_unexpected(&t, &planned, &mut results, 1, &opts, &expectations, None));
    for r in results.iter().filter(|r| r.is_flaky()) {
        eprintln!("FLAKY {target_name}: {} was {}", r.id, r.attempts_note());
    }
    let summary = run::Summary::of(&results);
    if summary.accepted_from_set + summary.flaky > 0 {
        eprintln!("{target_name}::{suite}: {}", summary.line());
    }
    let table = report::verdict_table(&results);
    let unexpected: Vec<String> = results
        .iter()
        .filter(|r| r.is_unexpected())
        .map(|r| format!("{} [{}; expected {}]: {}\n    {}", r.id, r.verdict, r.expected, r.message, r.timed_transcript.join("\n    ")))
        .collect();
    if !unexpected.is_empty() {
        return Err(format!("{} unexpected result(s):\n{}", unexpected.len(), unexpected.join("\n")).into());
    }
    let stale: Vec<&String> =
        expectations.ids().filter(|id| id.starts_with(&format!("{suite}/")) && !cases.iter().any(|c| c.id() == id.as_str())).collect();
    if !stale.is_empty() {
        return Err(format!("expectations name cases that do not exist: {stale:?}").into());
    }
    let snap = format!("verdicts__{}__{}", sanitize(target_name), suite);
    std::panic::catch_unwind(|| {
        insta::with_settings!({ snapshot_path => root().join("tests/snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(snap, table);
        });
    })
    .map_err(|e| Failed::from(panic_text(e)))
}

/// Transcripts of a few deterministic cases are snapshots too: they show what crosses the wire.
fn transcript_trial(target_name: &str, case_id: &str) -> Result<(), Failed> {
    let p = project();
    let t = target(target_name)?;
    let cases = p.select(&[], Some(case_id))?;
    let planned: Vec<_> = run::plan(&t, &cases).into_iter().filter(|pl| pl.case.id() == case_id).collect();
    if planned.len() != 1 {
        return Err(format!("case {case_id} does not apply to {target_name}").into());
    }
    let opts = RunOptions { time_scale: time_scale(), jobs: 1 };
    let r = runtime().block_on(run::run_case(&t, &planned[0], &opts, &Default::default()));
    let text = format!("verdict: {}\n{}\n", r.verdict, r.transcript.join("\n"));
    let snap = format!("transcript__{}__{}", sanitize(target_name), sanitize(case_id));
    std::panic::catch_unwind(|| {
        insta::with_settings!({ snapshot_path => root().join("tests/snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(snap, text);
        });
    })
    .map_err(|e| Failed::from(panic_text(e)))
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panic".into())
}

const TRANSCRIPTS: &[(&str, &str)] = &[
    ("engine.io@6.6.12", "eio4/handshake/polling/opens-session"),
    ("engine.io@6.6.12", "eio4/upgrade/polling-to-websocket"),
    ("engine.io@6.6.12", "eio4/errors/unknown-sid"),
    ("engine.io-client@6.6.8", "client-eio4/errors/handshake-error-4"),
];

fn main() {
    let mut args = Arguments::from_args();
    // Each trial already runs its cases concurrently; many trials at once on a small
    // machine would only turn timing cases into noise.
    if args.test_threads.is_none() {
        args.test_threads = Some(2);
    }
    let p = project();
    let mut trials = Vec::new();
    // Server targets × server suites, client targets × client suites (`[suite] role`).
    for def in p.catalog.target.iter() {
        let ready = p.readiness(def);
        for suite in p.suites.names() {
            // A suite may hold several revisions (`robust`): the trial exists when the target
            // speaks one of them.
            if !def.runs_suite(&suite)
                || !p.suites.cases.iter().any(|c| c.suite == suite && c.role() == def.role && def.speaks(c.revision).is_some())
            {
                continue;
            }
            let (name, s) = (def.name.clone(), suite.clone());
            let trial = Trial::test(format!("{}::{}", def.name, suite), move || run_trial(&name, &s));
            trials.push(match &ready {
                // The short form labels the trial; `siospec targets` prints the whole reason.
                Readiness::Unavailable(why) => {
                    trial.with_ignored_flag(true).with_kind(format!("unavailable: {}", why.split(" (").next().unwrap_or(&why)))
                }
                _ => trial,
            });
        }
    }
    for (t, c) in TRANSCRIPTS {
        let (t, c) = (t.to_string(), c.to_string());
        trials.push(Trial::test(format!("transcript::{t}::{c}"), move || transcript_trial(&t, &c)));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    let all: Vec<Arc<Target>> = started().lock().map(|v| v.clone()).unwrap_or_default();
    runtime().block_on(async {
        for t in all {
            t.shutdown().await;
        }
    });
    conclusion.exit();
}
