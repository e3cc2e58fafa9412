//! The terminal's live view of a run: a progress bar over the run's events, with each
//! unexpected result named as it comes (the full report follows the run, `terminal`).
use crate::run::events::RunEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Consumes `events` until the runner drops its sender, then clears the bar.
pub fn spawn(total: usize, mut events: mpsc::Receiver<RunEvent>) -> JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                RunEvent::CaseFinished(r) => {
                    bar.inc(1);
                    if r.is_unexpected() {
                        bar.println(format!("  {} {}", r.verdict, r.id));
                    }
                }
                RunEvent::Retried { id, attempt, verdict } => bar.set_message(format!("{id}: attempt {attempt} {verdict}")),
            }
        }
        bar.finish_and_clear();
    })
}
