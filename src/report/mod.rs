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
        if r.is_expected_race() {
            // Which side of a known race this run fell on is noise; the allowed set is the fact.
            let set: Vec<&str> = r.expected_set.iter().map(|v| v.as_str()).collect();
            out.push_str(&format!("{:<width$}  {}  (race, expected)", r.id, set.join("|")));
        } else {
            out.push_str(&format!("{:<width$}  {}", r.id, r.verdict));
            if r.expected != crate::run::Verdict::Pass {
                out.push_str(&format!("  (expected {})", r.expected));
            }
        }
        out.push('\n');
    }
    out
}
