//! Reports of a run: terminal, JSON, JUnit, Markdown, and the verdict table used for snapshots.
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;

use crate::run::CaseResult;

/// One line per case: `id  verdict` (and the expected verdict when it differs from pass).
/// Stable across runs, so it is snapshot material.
pub fn verdict_table(results: &[CaseResult]) -> String {
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("{:<width$}  {}", r.id, r.verdict));
        if r.expected != crate::run::Verdict::Pass {
            out.push_str(&format!("  (expected {})", r.expected));
        }
        out.push('\n');
    }
    out
}
