//! What crossed the wire in a case, with relative times; redacted before it is shown or snapshotted.
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Entry {
    pub at_ms: u64,
    pub line: String,
}

#[derive(Clone)]
pub struct Transcript {
    start: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
    /// While set, lines are dropped: a flood of thousands of packets is summarised instead.
    muted: Arc<std::sync::atomic::AtomicBool>,
    /// Lines left out past `MAX_ENTRIES`.
    over: Arc<std::sync::atomic::AtomicU64>,
}

/// Lines a transcript keeps; later ones are counted, and the count is its last line.
pub const MAX_ENTRIES: usize = 20_000;

/// Long bodies are cut so a transcript stays readable and bounded.
const MAX_LINE: usize = 300;

impl Transcript {
    pub fn new() -> Self {
        Transcript { start: Instant::now(), entries: Arc::new(Mutex::new(Vec::new())), muted: Arc::default(), over: Arc::default() }
    }
    /// Mutes (or unmutes) the transcript; the caller logs a summary of what it left out.
    pub fn mute(&self, on: bool) {
        self.muted.store(on, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn log(&self, line: impl Into<String>) {
        if self.muted.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut line = line.into();
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = line.len();
            line.truncate(cut);
            line.push_str(&format!("… ({total} bytes)"));
        }
        let at_ms = self.start.elapsed().as_millis() as u64;
        if let Ok(mut e) = self.entries.lock() {
            if e.len() < MAX_ENTRIES {
                e.push(Entry { at_ms, line });
            } else {
                self.over.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = self.entries.lock().map(|e| e.clone()).unwrap_or_default();
        let over = self.over.load(std::sync::atomic::Ordering::Relaxed);
        if over > 0 {
            let at_ms = self.start.elapsed().as_millis() as u64;
            out.push(Entry { at_ms, line: format!("… {over} more lines left out (a transcript keeps {MAX_ENTRIES})") });
        }
        out
    }
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

/// Replaces volatile values (sids, socket ids, ports) by stable names.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    pairs: Vec<(String, String)>,
}

impl Redactor {
    pub fn add(&mut self, value: &str, name: &str) {
        if value.len() >= 4 && !self.pairs.iter().any(|(v, _)| v == value) {
            self.pairs.push((value.to_string(), format!("<{name}>")));
        }
    }
    pub fn apply(&self, s: &str) -> String {
        let mut out = s.to_string();
        // Longest first, so a value that contains another is replaced whole.
        let mut pairs = self.pairs.clone();
        pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        for (v, name) in &pairs {
            out = out.replace(v.as_str(), name);
        }
        // Sids the case never captured (a second handshake, an error message) are volatile too.
        out = redact_after(&out, "\"sid\":\"", |c| c == '"');
        redact_after(&out, "sid=", |c| c == '&' || c == ' ' || c == '"')
    }
}

fn redact_after(s: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let len = tail.find(&end).unwrap_or(tail.len());
        let value = &tail[..len];
        if value.starts_with('<') || value.is_empty() {
            out.push_str(value);
        } else {
            out.push_str("<other-sid>");
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values_then_unknown_sids() {
        let mut r = Redactor::default();
        r.add("abcdef", "sid");
        let got = r.apply(r#"GET /?sid=abcdef&x=1 | 0{"sid":"zzzz1234","upgrades":[]} sid=qqqq"#);
        assert_eq!(got, r#"GET /?sid=<sid>&x=1 | 0{"sid":"<other-sid>","upgrades":[]} sid=<other-sid>"#);
    }
}

#[cfg(test)]
mod bound_tests {
    use super::{Transcript, MAX_ENTRIES};

    #[test]
    fn a_transcript_keeps_a_bounded_number_of_lines_and_says_how_many_it_left_out() {
        let t = Transcript::new();
        for i in 0..MAX_ENTRIES + 5 {
            t.log(format!("line {i}"));
        }
        let e = t.entries();
        assert_eq!(e.len(), MAX_ENTRIES + 1);
        assert_eq!(e[MAX_ENTRIES - 1].line, format!("line {}", MAX_ENTRIES - 1));
        assert!(e[MAX_ENTRIES].line.starts_with("… 5 more lines left out"), "{}", e[MAX_ENTRIES].line);
    }
}
