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
    /// What the case checks and where that requirement is written (the suite's `requirement`,
    /// `source` and `level`), so a report can say why a non-passing case matters.
    pub requirement: String,
    pub source: String,
    pub level: crate::suite::Level,
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
    /// The verdicts the expectations file accepts, when it lists several (a race inside the
    /// implementation, named in the reason): any of them is expected.
    #[serde(rename = "accepted", skip_serializing_if = "single")]
    pub accepted: Vec<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_reason: Option<String>,
    /// How many times the case ran: 1, or more when an unexpected result was retried.
    pub attempts: u32,
    /// The verdicts of the earlier attempts, oldest first (empty unless retried).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_verdicts: Vec<Verdict>,
    /// Witness cases on a launched target: the server process's resident memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<super::resources::Memory>,
}

fn single(v: &[Verdict]) -> bool {
    v.len() <= 1
}

impl CaseResult {
    /// The expectation accepts several verdicts and this one is among them: expected, but
    /// only because the file tolerates a race; reports count and show it as such.
    pub fn is_accepted_from_set(&self) -> bool {
        self.accepted.len() > 1 && self.accepted.contains(&self.verdict)
    }

    /// Expected only on a retry: the first attempt was unexpected.
    pub fn is_flaky(&self) -> bool {
        self.attempts > 1 && !self.is_unexpected()
    }

    /// Unsupported is never a surprise: the target said it cannot do it.
    pub fn is_unexpected(&self) -> bool {
        self.verdict != self.expected && self.verdict != Verdict::Unsupported
    }

    /// `fail then pass on a retry` for a flaky result.
    pub fn attempts_note(&self) -> String {
        let mut seq: Vec<&str> = self.earlier_verdicts.iter().map(|v| v.as_str()).collect();
        seq.push(self.verdict.as_str());
        format!("{} ({} attempts)", seq.join(" then "), self.attempts)
    }

    /// `pass|fail`: the accepted set as one word.
    pub fn accepted_set(&self) -> String {
        self.accepted.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("|")
    }
}
