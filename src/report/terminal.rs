//! The readable terminal report.
use crate::run::{CaseResult, Summary, Verdict};
use std::fmt::Write;

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::NonStrict => "NSTR",
        Verdict::Unsupported => "UNSP",
        Verdict::Error => "ERR ",
        Verdict::Timeout => "TIME",
    }
}

/// One line per case, then the details of every unexpected result (every non-passing one
/// with `verbose`) and a summary line that also counts results accepted from a verdict set
/// and flaky ones, so a green run says how green it is.
pub fn render(target: &str, results: &[CaseResult], verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target: {target}");
    for r in results {
        let mut notes = Vec::new();
        if r.is_unexpected() {
            notes.push("<- unexpected".to_string());
        } else if r.verdict != Verdict::Pass && r.verdict != Verdict::Unsupported {
            notes.push(format!("(expected: {})", r.expected_reason.as_deref().unwrap_or("")));
        } else if r.verdict == Verdict::Unsupported {
            notes.push(format!("({})", r.message));
        }
        for c in super::caveats(r) {
            notes.push(format!("[{c}]"));
        }
        let note = if notes.is_empty() { String::new() } else { format!("  {}", notes.join(" ")) };
        let _ = writeln!(out, "  {} {:>5}ms {}{}", mark(r.verdict), r.duration_ms, r.id, note);
    }
    let shown: Vec<&CaseResult> = results.iter().filter(|r| r.is_unexpected() || (verbose && r.verdict != Verdict::Pass)).collect();
    for r in shown {
        let _ = writeln!(out, "\n--- {} [{}; expected {}]", r.id, r.verdict, r.expected);
        let _ = writeln!(out, "    {}", r.title);
        for l in super::requirement_lines(r) {
            let _ = writeln!(out, "    {l}");
        }
        if let Some(reason) = r.expected_reason.as_deref().filter(|_| !r.is_unexpected()) {
            let _ = writeln!(out, "    known deviation: {reason}");
        }
        for c in super::caveats(r) {
            let _ = writeln!(out, "    {c}");
        }
        if !r.message.is_empty() {
            let _ = writeln!(out, "    {}", r.message);
        }
        for l in &r.timed_transcript {
            let _ = writeln!(out, "    {l}");
        }
    }
    let s = Summary::of(results);
    let _ = writeln!(out, "\n{}", s.line());
    out
}
