//! Reports of a run: terminal, JSON, JUnit, Markdown, and the verdict table used for snapshots.
pub mod json;
pub mod junit;
pub mod markdown;
pub mod matrix_page;
pub mod matrix_text;
pub mod progress;
pub mod terminal;

use crate::run::{CaseResult, Verdict};

/// Why an expected result is only conditionally green, for the per-case notes of every
/// report: accepted from a verdict set (with the set), flaky (with the attempts), or both.
pub fn caveats(r: &CaseResult) -> Vec<String> {
    let mut v = Vec::new();
    if r.is_accepted_from_set() {
        v.push(format!("accepted from the verdict set {} (a race the expectations file tolerates)", r.accepted_set()));
    }
    if r.is_flaky() {
        v.push(format!("flaky: {}", r.attempts_note()));
    } else if r.attempts > 1 {
        v.push(format!("retried: {}", r.attempts_note()));
    }
    v
}

/// `requirement (LEVEL) — source`, for every non-passing case in every report.
pub fn requirement_lines(r: &CaseResult) -> [String; 2] {
    let level = match r.level {
        crate::suite::Level::Must => "MUST",
        crate::suite::Level::Should => "SHOULD",
    };
    [format!("requirement ({level}): {}", r.requirement), format!("source: {}", r.source)]
}

/// Every report shows the requirement and source of these.
pub fn is_non_passing(r: &CaseResult) -> bool {
    r.verdict != Verdict::Pass
}

/// One line per case: `id  verdict` (and the expected verdict when it differs from pass).
/// Stable across runs, so it is snapshot material.
pub fn verdict_table(results: &[CaseResult]) -> String {
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results {
        if r.is_accepted_from_set() {
            // Which side of a known race this run fell on is noise; the allowed set is the fact.
            out.push_str(&format!("{:<width$}  {}  (race, expected)", r.id, r.accepted_set()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Summary;

    fn result(id: &str, verdict: Verdict, accepted: &[Verdict], earlier: &[Verdict]) -> CaseResult {
        CaseResult {
            id: id.into(),
            suite: "eio4".into(),
            title: "t".into(),
            requirement: "the server answers".into(),
            source: "engine.io-protocol v4, Handshake".into(),
            level: crate::suite::Level::Must,
            verdict,
            duration_ms: 1,
            message: String::new(),
            transcript: vec![],
            timed_transcript: vec![],
            expected: if accepted.contains(&verdict) { verdict } else { accepted[0] },
            accepted: accepted.to_vec(),
            expected_reason: (accepted.len() > 1).then(|| "a race in Foo.bar()".to_string()),
            attempts: earlier.len() as u32 + 1,
            earlier_verdicts: earlier.to_vec(),
            memory: None,
        }
    }

    fn sample() -> Vec<CaseResult> {
        use Verdict::*;
        vec![
            result("eio4/a", Pass, &[Pass], &[]),
            result("eio4/b", Fail, &[Fail, Pass], &[]),
            result("eio4/c", Pass, &[Pass], &[Fail]),
            result("eio4/d", Fail, &[Pass], &[Fail]),
        ]
    }

    #[test]
    fn summary_counts_accepted_sets_and_flaky_results() {
        let s = Summary::of(&sample());
        assert_eq!((s.accepted_from_set, s.flaky, s.unexpected), (1, 1, 1));
        assert!(s.line().ends_with("; 1 unexpected; 1 accepted from a verdict set, 1 flaky"), "{}", s.line());
    }

    #[test]
    fn every_report_names_the_flaky_and_the_accepted_ones() {
        let rs = sample();
        let term = terminal::render("x", &rs, true);
        assert!(term.contains("[flaky: fail then pass (2 attempts)]"), "{term}");
        assert!(term.contains("[accepted from the verdict set fail|pass"), "{term}");
        assert!(
            term.contains("requirement (MUST): the server answers") && term.contains("source: engine.io-protocol v4, Handshake"),
            "{term}"
        );
        let json: serde_json::Value = serde_json::from_str(&json::render("x", &rs)).unwrap();
        assert_eq!(json["cases"][1]["accepted"], serde_json::json!(["fail", "pass"]));
        assert_eq!(json["cases"][2]["attempts"], 2);
        assert_eq!(json["cases"][2]["earlier_verdicts"], serde_json::json!(["fail"]));
        assert_eq!(json["summary"]["flaky"], 1);
        let xml = junit::render("x", &rs).unwrap();
        assert!(xml.contains(r#"name="siospec.attempts" value="2""#) && xml.contains("flaky: fail then pass"), "{xml}");
        assert!(xml.contains(r#"name="siospec.accepted" value="fail|pass""#), "{xml}");
        let md = markdown::render("x", &rs);
        assert!(md.contains("1 accepted from a verdict set, 1 flaky") && md.contains("`eio4/c` pass — flaky"), "{md}");
        assert!(md.contains("requirement (MUST): the server answers"), "{md}");
    }
}
