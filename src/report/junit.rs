//! JUnit XML (`--junit FILE`): one testsuite per siospec suite.
//!
//! Red in JUnit means what exit code 1 means: an unexpected result. A known
//! deviation is a passing testcase that says so; an unsupported case is skipped.
use crate::run::{CaseResult, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
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
                st.set_description(r.timed_transcript.join("\n"));
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
            if r.verdict != Verdict::Pass && !r.is_unexpected() && r.verdict != Verdict::Unsupported {
                tc.set_system_out(format!(
                    "known deviation: {} as expected. {}\n{}",
                    r.verdict,
                    r.expected_reason.as_deref().unwrap_or(""),
                    r.message
                ));
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
