//! JUnit XML (`--junit FILE`): one testsuite per siospec suite.
//!
//! Red in JUnit means what exit code 1 means: an unexpected result. A known
//! deviation is a passing testcase that says so; an unsupported case is skipped. A result
//! accepted from a verdict set, or expected only on a retry (flaky), passes with properties
//! (`siospec.accepted`, `siospec.attempts`, `siospec.earlier_verdicts`) and a system-out note;
//! every non-passing case carries its requirement and source.
use crate::run::{CaseResult, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn render(target: &str, results: &[CaseResult]) -> Result<String, String> {
    let mut report = Report::new(format!("siospec {target}"));
    let mut suites: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        suites.entry(r.suite.as_str()).or_default().push(r);
    }
    let mut total = Duration::ZERO;
    for (name, cases) in suites {
        let mut suite = TestSuite::new(name);
        let mut time = Duration::ZERO;
        for r in cases {
            let status = if r.is_unexpected() {
                let kind = match r.verdict {
                    Verdict::Error | Verdict::Timeout => NonSuccessKind::Error,
                    _ => NonSuccessKind::Failure,
                };
                let mut st = TestCaseStatus::non_success(kind);
                st.set_type(r.verdict.as_str());
                st.set_message(format!("{} (expected {}): {}", r.verdict, r.expected, r.message));
                let mut text: Vec<String> = super::requirement_lines(r).to_vec();
                text.extend(super::caveats(r));
                text.extend(r.timed_transcript.iter().cloned());
                st.set_description(text.join("\n"));
                st
            } else if r.verdict == Verdict::Unsupported {
                let mut st = TestCaseStatus::skipped();
                st.set_message(format!("unsupported: {}", r.message));
                st
            } else {
                TestCaseStatus::success()
            };
            let mut tc = TestCase::new(r.id.clone(), status);
            tc.set_classname(format!("{target}.{}", r.suite));
            let d = Duration::from_millis(r.duration_ms);
            tc.set_time(d);
            time += d;
            tc.add_property(Property::new("siospec.verdict", r.verdict.as_str()));
            if super::is_non_passing(r) {
                tc.add_property(Property::new("siospec.requirement", r.requirement.as_str()));
                tc.add_property(Property::new("siospec.source", r.source.as_str()));
            }
            if r.accepted.len() > 1 {
                tc.add_property(Property::new("siospec.accepted", r.accepted_set()));
            }
            if r.attempts > 1 {
                tc.add_property(Property::new("siospec.attempts", r.attempts.to_string()));
                let earlier: Vec<&str> = r.earlier_verdicts.iter().map(|v| v.as_str()).collect();
                tc.add_property(Property::new("siospec.earlier_verdicts", earlier.join(",")));
            }
            let mut out = Vec::new();
            if r.verdict != Verdict::Pass && !r.is_unexpected() && r.verdict != Verdict::Unsupported {
                out.push(format!("known deviation: {} as expected. {}", r.verdict, r.expected_reason.as_deref().unwrap_or("")));
                out.extend(super::requirement_lines(r));
                out.push(r.message.clone());
            } else if r.verdict == Verdict::Unsupported {
                out.extend(super::requirement_lines(r));
            }
            if !r.is_unexpected() {
                for c in super::caveats(r) {
                    out.push(c);
                }
                if r.is_accepted_from_set() && r.verdict == Verdict::Pass {
                    out.push(format!("reason: {}", r.expected_reason.as_deref().unwrap_or("")));
                }
            }
            if !out.is_empty() {
                tc.set_system_out(out.join("\n"));
            }
            suite.add_test_case(tc);
        }
        suite.set_time(time);
        total += time;
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report.to_string().map_err(|e| e.to_string())
}
