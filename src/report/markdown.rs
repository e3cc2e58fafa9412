//! A Markdown summary sized for a pull-request comment.
use crate::run::{CaseResult, Summary, Verdict};
use std::fmt::Write;

pub fn render(target: &str, results: &[CaseResult]) -> String {
    let s = Summary::of(results);
    let mut out = String::new();
    let head = if s.unexpected == 0 { "✅ all results as expected" } else { "❌ unexpected results" };
    let _ = writeln!(out, "### siospec · `{target}` · {head}\n");
    let _ = writeln!(out, "| cases | pass | fail | non-strict | unsupported | error | timeout | unexpected |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | **{}** |\n",
        s.total, s.pass, s.fail, s.non_strict, s.unsupported, s.error, s.timeout, s.unexpected
    );
    let unexpected: Vec<&CaseResult> = results.iter().filter(|r| r.is_unexpected()).collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "#### Unexpected\n");
        for r in unexpected {
            let _ = writeln!(out, "- **{}** — {} (expected {}): {}", r.id, r.verdict, r.expected, escape(&r.message));
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
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
