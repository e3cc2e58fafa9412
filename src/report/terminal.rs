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

/// One line per case, then the details of every unexpected result and a summary.
pub fn render(target: &str, results: &[CaseResult], verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target: {target}");
    for r in results {
        let note = if r.is_unexpected() {
            "  <- unexpected".to_string()
        } else if r.verdict != Verdict::Pass && r.verdict != Verdict::Unsupported {
            format!("  (expected: {})", r.expected_reason.as_deref().unwrap_or(""))
        } else if r.verdict == Verdict::Unsupported {
            format!("  ({})", r.message)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {} {:>5}ms {}{}", mark(r.verdict), r.duration_ms, r.id, note);
    }
    let unexpected: Vec<&CaseResult> = results.iter().filter(|r| r.is_unexpected() || (verbose && r.verdict != Verdict::Pass)).collect();
    for r in unexpected {
        let _ = writeln!(out, "\n--- {} [{}; expected {}]", r.id, r.verdict, r.expected);
        let _ = writeln!(out, "    {}", r.title);
        if !r.message.is_empty() {
            let _ = writeln!(out, "    {}", r.message);
        }
        for l in &r.timed_transcript {
            let _ = writeln!(out, "    {l}");
        }
    }
    let s = Summary::of(results);
    let _ = writeln!(
        out,
        "\n{} cases: {} pass, {} fail, {} non-strict, {} unsupported, {} error, {} timeout; {} unexpected",
        s.total, s.pass, s.fail, s.non_strict, s.unsupported, s.error, s.timeout, s.unexpected
    );
    out
}
