//! Verdicts and per-case results.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// A SHOULD requirement is broken.
    NonStrict,
    /// The target lacks what the case needs (capability, fixture option, revision).
    Unsupported,
    /// The harness or the target broke: crash, could not start, unreachable.
    Error,
    /// The case overran its whole budget.
    Timeout,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NonStrict => "non-strict",
            Verdict::Unsupported => "unsupported",
            Verdict::Error => "error",
            Verdict::Timeout => "timeout",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Verdict::Pass, Verdict::Fail, Verdict::NonStrict, Verdict::Unsupported, Verdict::Error, Verdict::Timeout]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub suite: String,
    pub title: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    pub message: String,
    /// Redacted transcript lines, without times.
    pub transcript: Vec<String>,
    /// The same lines with their relative times, for people reading a failure.
    #[serde(skip)]
    pub timed_transcript: Vec<String>,
    /// What the expectations file says, when it lists the case.
    pub expected: Verdict,
    /// Several verdicts when the file records a race inside the implementation.
    #[serde(skip_serializing_if = "racy_not")]
    pub expected_set: Vec<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_reason: Option<String>,
}

fn racy_not(v: &[Verdict]) -> bool {
    v.len() <= 1
}

impl CaseResult {
    /// The expectation allows several verdicts and this one is among them.
    pub fn is_expected_race(&self) -> bool {
        self.expected_set.len() > 1 && self.expected_set.contains(&self.verdict)
    }

    /// Unsupported is never a surprise: the target said it cannot do it.
    pub fn is_unexpected(&self) -> bool {
        self.verdict != self.expected && self.verdict != Verdict::Unsupported
    }
}
