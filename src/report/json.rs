//! The JSON report (`--json FILE`).
use crate::run::{CaseResult, Summary};
use serde::Serialize;

#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub siospec: &'static str,
    pub target: &'a str,
    pub summary: Summary,
    pub cases: &'a [CaseResult],
}

pub fn render(target: &str, results: &[CaseResult]) -> String {
    let rep = JsonReport { siospec: env!("CARGO_PKG_VERSION"), target, summary: Summary::of(results), cases: results };
    serde_json::to_string_pretty(&rep).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
