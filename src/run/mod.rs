//! Running cases against a target: planning, parallel execution, deadlines, verdicts.
pub mod client_exec;
pub mod engine;
pub mod events;
pub mod exec;
pub mod expectations;
pub mod matchers;
pub mod outgoing;
pub mod preflight;
pub mod resources;
pub mod timing;
pub mod vars;
pub mod verdict;
pub mod witness;

use crate::suite::{Case, Level};
use crate::targets::{ServerError, ServerRequest, Target};
use crate::wire::transcript::Redactor;
use crate::wire::Transcript;
use exec::{Exec, Stop};
use expectations::Expectations;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
pub use verdict::{CaseResult, Verdict};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stretches every deadline (not protocol timers).
    pub time_scale: f64,
    /// Cases in flight at once.
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { time_scale: crate::settings::DEFAULT_TIME_SCALE, jobs: crate::settings::DEFAULT_JOBS }
    }
}

/// A case the target speaks, and whether its server needs allowEIO3 for it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub case: Case,
    pub allow_eio3: bool,
}

/// Keeps the cases of the target's role (server or client suites) whose revision it speaks.
pub fn plan(target: &Target, cases: &[Case]) -> Vec<Planned> {
    cases
        .iter()
        .filter(|c| c.role() == target.role())
        .filter(|c| match target {
            Target::Process { def, .. } => def.runs_suite(&c.suite),
            Target::Url { .. } => true,
        })
        .filter_map(|c| target.speaks(c.revision).map(|allow_eio3| Planned { case: c.clone(), allow_eio3 }))
        .collect()
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

pub async fn run_case(target: &Target, p: &Planned, opts: &RunOptions, expectations: &Expectations) -> CaseResult {
    let started = Instant::now();
    let transcript = Transcript::new();
    let mut redactor = Redactor::default();
    let mut memory = None;
    let (verdict, message) = run_case_inner(target, p, opts, &transcript, &mut redactor, &mut memory).await;
    result_of(p, started, (verdict, message), &transcript, &redactor, memory, expectations)
}

fn result_of(
    p: &Planned,
    started: Instant,
    (verdict, message): (Verdict, String),
    transcript: &Transcript,
    redactor: &Redactor,
    memory: Option<resources::Memory>,
    expectations: &Expectations,
) -> CaseResult {
    let case = &p.case;
    let message = bounded(message);
    let (expected, accepted, expected_reason) = match expectations.get(case.id()) {
        Some((set, r)) => (if set.contains(&verdict) { verdict } else { set[0] }, set.clone(), Some(r.clone())),
        None => (Verdict::Pass, vec![Verdict::Pass], None),
    };
    let entries = transcript.entries();
    CaseResult {
        id: case.id().to_string(),
        suite: case.suite.clone(),
        title: case.def.title.clone(),
        requirement: case.def.requirement.clone(),
        source: case.def.source.clone(),
        level: case.def.level,
        verdict,
        duration_ms: started.elapsed().as_millis() as u64,
        message: redactor.apply(&message),
        transcript: entries.iter().map(|e| redactor.apply(&e.line)).collect(),
        timed_transcript: entries.iter().map(|e| format!("+{:>5}ms {}", e.at_ms, redactor.apply(&e.line))).collect(),
        expected,
        accepted,
        expected_reason,
        attempts: 1,
        earlier_verdicts: Vec::new(),
        memory,
    }
}

async fn run_case_inner(
    target: &Target,
    p: &Planned,
    opts: &RunOptions,
    transcript: &Transcript,
    redactor: &mut Redactor,
    memory: &mut Option<resources::Memory>,
) -> (Verdict, String) {
    let case = &p.case;
    for need in &case.def.needs {
        if !target.has_capability(need) {
            return (Verdict::Unsupported, format!("the target does not declare capability `{need}`"));
        }
    }
    if case.role() == crate::suite::Role::Server {
        if let Some(why) = target.missing_handler(&case.def.handlers) {
            return (Verdict::Unsupported, why);
        }
    }
    let scale = opts.time_scale;
    let key = format!("c{}", NEXT_KEY.fetch_add(1, Ordering::Relaxed));
    let steps = match &case.def.steps {
        crate::suite::Steps::Client(steps) => {
            return client_exec::run_client_case(target, p, steps, &key, opts, transcript, redactor).await
        }
        crate::suite::Steps::Server(steps) => steps,
    };
    let req = ServerRequest { key, layer: case.layer, fixture: &case.def.fixture, allow_eio3: p.allow_eio3 };
    let server = match target.server(req, timing::scaled(scale, timing::SERVER_START_MS)).await {
        Ok(s) => s,
        Err(ServerError::Unsupported(why)) => return (Verdict::Unsupported, why),
        Err(ServerError::Error(why)) => return (Verdict::Error, format!("the target could not start a server: {why}")),
    };
    if let Some(port) = server.base.rsplit(':').next() {
        redactor.add(port, "port");
    }
    let mut exec = match Exec::new(case, steps, &server.base, &server.path, None, scale, transcript.clone()) {
        Ok(e) => e,
        Err(e) => return (Verdict::Error, e.to_string()),
    };
    let mut server = server;
    exec.set_events(server.events.take());
    let witness = if case.witness {
        match witness::Witness::start(&server.base, &server.path, case.revision.eio(), case.revision.sio(), case.layer, scale).await {
            Ok(w) => Some(w),
            // The run's preflight reached the server: one that now refuses connections went
            // down during the run (a server started by hand is not started again).
            Err(e) if e.contains("connection refused") => {
                return (
                    Verdict::Fail,
                    format!("availability: the server refuses connections before any hostile input of this case; it accepted them when the run started, so an earlier case may have taken it down ({e})"),
                )
            }
            Err(e) => return (Verdict::Error, format!("before any hostile input: {e}")),
        }
    } else {
        None
    };
    let pid = if case.witness { target.pid() } else { None };
    let sampler = pid.and_then(resources::Sampler::start);
    let deadline = timing::scaled(scale, case.def.deadline_ms.unwrap_or(timing::CASE_DEADLINE_MS));
    let outcome = tokio::time::timeout(deadline, exec.run()).await;
    exec.finish().await;
    for (value, name) in exec.volatile() {
        redactor.add(&value, &name);
    }
    let mut judged = verdict_of(outcome, case.def.level, deadline);
    if let Some(w) = witness {
        // A server that dies of what a case sent may do so as the case's sessions close: the
        // witness's last exchange comes after a grace, so a server started by hand that died
        // then is seen too.
        tokio::time::sleep(timing::scaled(scale, timing::WITNESS_FINAL_GRACE_MS)).await;
        let report = w.finish().await;
        *memory = sampler.zip(pid).map(|(s, pid)| s.stop(pid));
        if let Some(m) = memory {
            transcript.log(format!("# {}", m.describe()));
        }
        judged = availability(target, case, report, *memory, transcript).unwrap_or(judged);
    }
    drop(server);
    judged
}

/// The verdict of a witness case when the server did not stay available: its process died, the
/// witness lost it, or its memory grew past the case's limit. None: the steps' verdict stands.
fn availability(
    target: &Target,
    case: &Case,
    report: witness::Report,
    memory: Option<resources::Memory>,
    transcript: &Transcript,
) -> Option<(Verdict, String)> {
    for line in &report.evidence {
        transcript.log(line.clone());
    }
    if let Some(how) = target.ended() {
        transcript.log(format!("# the server process died: {}", how.lines().next().unwrap_or("")));
        return Some((Verdict::Fail, format!("availability: the server process died ({how})")));
    }
    if let Some(lost) = report.lost {
        return Some((Verdict::Fail, format!("availability: another client lost the server: {lost}")));
    }
    transcript.log(format!("# witness: {} exchange(s) answered, the slowest in {} ms", report.exchanges, report.slowest_ms));
    let limit_kib = case.memory_limit_mb * 1024;
    match memory {
        Some(m) if m.growth_kib() > limit_kib => Some((
            Verdict::Fail,
            format!("availability: the server's memory grew by more than {} MB ({})", case.memory_limit_mb, m.describe()),
        )),
        _ => None,
    }
}

/// Messages quote what the server sent or what was sent to it, which a hostile case makes huge.
fn bounded(mut m: String) -> String {
    const MAX: usize = 2000;
    if m.len() > MAX {
        let mut cut = MAX;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = m.len();
        m.truncate(cut);
        m.push_str(&format!("… ({total} bytes)"));
    }
    m
}

/// How a case's outcome becomes a verdict: a broken MUST fails, a broken SHOULD is non-strict.
pub(crate) fn verdict_of(
    outcome: Result<Result<(), Stop>, tokio::time::error::Elapsed>,
    level: Level,
    deadline: Duration,
) -> (Verdict, String) {
    match outcome {
        Err(_) => (Verdict::Timeout, format!("the case did not finish within its {} ms budget", deadline.as_millis())),
        Ok(Ok(())) => (Verdict::Pass, String::new()),
        Ok(Err(Stop::Fail(m))) => match level {
            Level::Must => (Verdict::Fail, m),
            Level::Should => (Verdict::NonStrict, m),
        },
        Ok(Err(Stop::Should(m))) => (Verdict::NonStrict, m),
        Ok(Err(Stop::Unsupported(m))) => (Verdict::Unsupported, m),
        Ok(Err(Stop::Error(m))) => (Verdict::Error, m),
    }
}

/// Runs the planned cases with at most `opts.jobs` in flight; results come back sorted by id.
///
/// Witness cases (`[suite] witness`) run afterwards, each alone on a driver process of its own
/// (`Target::isolated`; a few such drivers side by side, see `lanes`): one of them may kill
/// its server, and its memory is measured, so no other case may share that process. A driver
/// that died is started again for the next.
pub async fn run_all(
    target: &Target,
    planned: &[Planned],
    opts: &RunOptions,
    expectations: &Expectations,
    events: Option<&events::Events>,
) -> Vec<CaseResult> {
    let (alone, shared): (Vec<&Planned>, Vec<&Planned>) = planned.iter().partition(|p| p.case.witness);
    let mut results: Vec<CaseResult> = futures_util::stream::iter(shared)
        .map(|p| async move {
            let r = run_case(target, p, opts, expectations).await;
            events::emit(events, events::RunEvent::CaseFinished(Box::new(r.clone()))).await;
            r
        })
        .buffer_unordered(opts.jobs.max(1))
        .collect()
        .await;
    results.extend(run_alone(target, &alone, opts, expectations, events).await);
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// How many isolated drivers take witness cases at once: one more than the CPUs (most of these
/// cases hold slow connections open and wait), at most four, never more than `--jobs`. A
/// server started by hand is one process, so its cases run one at a time (an outage must be
/// laid at the door of the case that caused it).
fn lanes(target: &Target, opts: &RunOptions, cases: usize) -> usize {
    if matches!(target, Target::Url { .. }) {
        return 1;
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cpus + 1).min(4).min(opts.jobs.max(1)).min(cases).max(1)
}

/// A case whose input keeps the server's CPU busy: hundreds of packets (held connections, even
/// many, mostly wait).
fn floods(case: &Case) -> bool {
    use crate::suite::{steps::ServerStep, Steps};
    let Steps::Server(steps) = &case.def.steps else { return false };
    steps.iter().any(|s| matches!(s, ServerStep::Send(s) if s.repeat.is_some_and(|n| n >= 100)))
}

async fn run_alone(
    target: &Target,
    planned: &[&Planned],
    opts: &RunOptions,
    expectations: &Expectations,
    events: Option<&events::Events>,
) -> Vec<CaseResult> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let machine = tokio::sync::RwLock::new(());
    let lanes = (0..lanes(target, opts, planned.len())).map(|_| lane(target, planned, &next, &machine, opts, expectations, events));
    futures_util::future::join_all(lanes).await.into_iter().flatten().collect()
}

/// One driver of its own taking the next witness case until none is left; a driver that died
/// is replaced before the next case.
async fn lane(
    target: &Target,
    planned: &[&Planned],
    next: &std::sync::atomic::AtomicUsize,
    machine: &tokio::sync::RwLock<()>,
    opts: &RunOptions,
    expectations: &Expectations,
    events: Option<&events::Events>,
) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let ready = timing::scaled(opts.time_scale, timing::DRIVER_READY_MS);
    let mut own: Option<Target> = None;
    while let Some(p) = planned.get(next.fetch_add(1, Ordering::SeqCst)) {
        if own.as_ref().is_none_or(|t| t.ended().is_some()) {
            if let Some(dead) = own.take() {
                dead.shutdown().await;
            }
            match target.isolated(ready).await {
                Ok(t) => own = Some(t),
                Err(e) => {
                    let why = (Verdict::Error, format!("could not start a driver of its own for this case: {e}"));
                    let r = result_of(p, Instant::now(), why, &Transcript::new(), &Redactor::default(), None, expectations);
                    events::emit(events, events::RunEvent::CaseFinished(Box::new(r.clone()))).await;
                    out.push(r);
                    continue;
                }
            }
        }
        let t = own.as_ref().expect("started above");
        // A flood has the machine to itself: run beside others, the CPU they take would slow
        // the server's answers to its witness, which is the harness's doing, not the server's.
        let (_shared, _alone) = if floods(&p.case) { (None, Some(machine.write().await)) } else { (Some(machine.read().await), None) };
        let mut r = run_case(t, p, opts, expectations).await;
        // The driver died after the previous case was judged and before this one had its
        // server: not this case's doing, so it runs again on a new driver.
        if r.verdict == Verdict::Error && t.ended().is_some() {
            if let Some(dead) = own.take() {
                dead.shutdown().await;
            }
            match target.isolated(ready).await {
                Ok(t) => {
                    r = run_case(&t, p, opts, expectations).await;
                    own = Some(t);
                }
                Err(e) => r.message = format!("{}; and no driver of its own could be started again: {e}", r.message),
            }
        }
        events::emit(events, events::RunEvent::CaseFinished(Box::new(r.clone()))).await;
        out.push(r);
    }
    if let Some(t) = own {
        t.shutdown().await;
    }
    out
}

/// Runs every unexpected result of `results` again, up to `retries` more times, one case at a
/// time (like nextest's retries): a race inside an implementation that its expectations do
/// not list must not turn CI red at random, but it is not hidden either — the result keeps
/// its `attempts` and earlier verdicts, and reports count it as flaky. Returns how many
/// results were retried.
pub async fn retry_unexpected(
    target: &Target,
    planned: &[Planned],
    results: &mut [CaseResult],
    retries: u32,
    opts: &RunOptions,
    expectations: &Expectations,
    events: Option<&events::Events>,
) -> usize {
    let mut retried = 0;
    for r in results.iter_mut() {
        if !r.is_unexpected() {
            continue;
        }
        let Some(p) = planned.iter().find(|p| p.case.id() == r.id) else { continue };
        retried += 1;
        let mut earlier = vec![r.verdict];
        for attempt in 2..=retries + 1 {
            let mut again = run_case(target, p, &RunOptions { jobs: 1, ..opts.clone() }, expectations).await;
            again.attempts = attempt;
            again.earlier_verdicts = earlier.clone();
            earlier.push(again.verdict);
            events::emit(events, events::RunEvent::Retried { id: again.id.clone(), attempt, verdict: again.verdict }).await;
            *r = again;
            if !r.is_unexpected() {
                break;
            }
        }
    }
    retried
}

/// Counts by verdict and the unexpected ones.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub non_strict: usize,
    pub unsupported: usize,
    pub error: usize,
    pub timeout: usize,
    pub unexpected: usize,
    /// Expected only because the expectations file accepts a set of verdicts (a race).
    pub accepted_from_set: usize,
    /// Expected only on a retry (the first attempt was unexpected).
    pub flaky: usize,
}

impl Summary {
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary { total: results.len(), ..Default::default() };
        for r in results {
            match r.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::NonStrict => s.non_strict += 1,
                Verdict::Unsupported => s.unsupported += 1,
                Verdict::Error => s.error += 1,
                Verdict::Timeout => s.timeout += 1,
            }
            if r.is_unexpected() {
                s.unexpected += 1;
            }
            if r.is_accepted_from_set() {
                s.accepted_from_set += 1;
            }
            if r.is_flaky() {
                s.flaky += 1;
            }
        }
        s
    }

    /// `312 cases: 290 pass, …; 0 unexpected; 3 accepted from a verdict set, 1 flaky`.
    pub fn line(&self) -> String {
        format!(
            "{} cases: {} pass, {} fail, {} non-strict, {} unsupported, {} error, {} timeout; {} unexpected; {} accepted from a verdict set, {} flaky",
            self.total,
            self.pass,
            self.fail,
            self.non_strict,
            self.unsupported,
            self.error,
            self.timeout,
            self.unexpected,
            self.accepted_from_set,
            self.flaky
        )
    }
}
