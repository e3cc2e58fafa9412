//! What a run tells its reporters while it goes: typed events over a bounded channel.
//!
//! The runner sends; a reporter (the terminal's progress, `report::progress`) receives in its
//! own task. A slow reporter holds the runner back rather than letting events pile up.
use super::{CaseResult, Verdict};
use tokio::sync::mpsc;

/// Events a reporter may fall behind by before the runner waits for it.
pub const CAPACITY: usize = 256;

#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A case was judged (its first attempt).
    CaseFinished(Box<CaseResult>),
    /// An unexpected result was run again, alone: `attempt` counts from 2.
    Retried { id: String, attempt: u32, verdict: Verdict },
}

pub type Events = mpsc::Sender<RunEvent>;

pub fn channel() -> (Events, mpsc::Receiver<RunEvent>) {
    mpsc::channel(CAPACITY)
}

/// Sends an event if anyone listens; a reporter that went away does not stop the run.
pub(crate) async fn emit(events: Option<&Events>, event: RunEvent) {
    if let Some(tx) = events {
        let _ = tx.send(event).await;
    }
}
