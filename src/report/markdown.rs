//! A Markdown summary sized for a pull-request comment.
use crate::run::{CaseResult, Summary, Verdict};
use std::fmt::Write;

pub fn render(target: &str, results: &[CaseResult]) -> String {
    let s = Summary::of(results);
    let mut out = String::new();
    let head = if s.unexpected == 0 { "✅ all results as expected" } else { "❌ unexpected results" };
    let _ = writeln!(out, "### siospec · `{target}` · {head}\n");
    let _ = writeln!(
        out,
        "| cases | pass | fail | non-strict | unsupported | error | timeout | unexpected | accepted from a verdict set | flaky |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | **{}** | {} | {} |\n",
        s.total, s.pass, s.fail, s.non_strict, s.unsupported, s.error, s.timeout, s.unexpected, s.accepted_from_set, s.flaky
    );
    let unexpected: Vec<&CaseResult> = results.iter().filter(|r| r.is_unexpected()).collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "#### Unexpected\n");
        for r in unexpected {
            let _ = writeln!(out, "- **{}** — {} (expected {}): {}", r.id, r.verdict, r.expected, escape(&r.message));
            for l in super::requirement_lines(r) {
                let _ = writeln!(out, "  {}", escape(&l));
            }
            for c in super::caveats(r) {
                let _ = writeln!(out, "  {}", escape(&c));
            }
            let _ = writeln!(
                out,
                "  <details><summary>transcript</summary>\n\n  ```\n{}\n  ```\n  </details>",
                r.timed_transcript.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
            );
        }
        out.push('\n');
    }
    let known: Vec<&CaseResult> =
        results.iter().filter(|r| !r.is_unexpected() && !matches!(r.verdict, Verdict::Pass | Verdict::Unsupported)).collect();
    if !known.is_empty() {
        let _ = writeln!(out, "<details><summary>{} known deviation(s)</summary>\n", known.len());
        for r in known {
            let _ = writeln!(out, "- `{}` {} — {}", r.id, r.verdict, escape(r.expected_reason.as_deref().unwrap_or("")));
            for l in super::requirement_lines(r) {
                let _ = writeln!(out, "  {}", escape(&l));
            }
        }
        let _ = writeln!(out, "\n</details>");
    }
    let caveated: Vec<&CaseResult> = results.iter().filter(|r| !r.is_unexpected() && !super::caveats(r).is_empty()).collect();
    if !caveated.is_empty() {
        let _ = writeln!(out, "<details><summary>{} accepted from a verdict set, {} flaky</summary>\n", s.accepted_from_set, s.flaky);
        for r in caveated {
            let _ = writeln!(out, "- `{}` {} — {}", r.id, r.verdict, escape(&super::caveats(r).join("; ")));
        }
        let _ = writeln!(out, "\n</details>");
    }
    let unsupported: Vec<&CaseResult> = results.iter().filter(|r| r.verdict == Verdict::Unsupported).collect();
    if !unsupported.is_empty() {
        let _ = writeln!(out, "<details><summary>{} unsupported</summary>\n", unsupported.len());
        for r in unsupported {
            let _ = writeln!(out, "- `{}` — {}", r.id, escape(&r.message));
            for l in super::requirement_lines(r) {
                let _ = writeln!(out, "  {}", escape(&l));
            }
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
