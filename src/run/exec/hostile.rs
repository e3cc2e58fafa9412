//! Steps that only a hostile client takes: raw TCP (half-open requests, slowloris, lying
//! headers) and the sid-guessability check. Every loop is bounded in count and time.
use super::{fail, Exec, StepResult, Stop};
use crate::protocol::eio::{Data, Packet, PacketType};
use crate::protocol::sio::SioRevision;
use crate::suite::steps::{SettleStep, SidQualityStep, TcpStep};
use crate::wire::session::Received;
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::run::timing::{HOLD_MS as DEFAULT_HOLD_MS, SETTLE_MS as DEFAULT_SETTLE_MS};
const SETTLE: &str = "siospec: settle";

/// A follow-up's text, and how its answer is told apart.
pub(super) type FollowUp = (&'static str, fn(&str) -> bool);

/// What one raw connection got back.
#[derive(Debug, PartialEq, Eq, Hash, Clone)]
enum Answer {
    Status(u16),
    Garbage,
    Nothing,
    Closed,
    Refused,
}

impl Answer {
    fn show(&self) -> String {
        match self {
            Answer::Status(s) => format!("HTTP {s}"),
            Answer::Garbage => "a response that is not HTTP".into(),
            Answer::Nothing => "no response".into(),
            Answer::Closed => "closed without a response".into(),
            Answer::Refused => "connection refused".into(),
        }
    }
}

async fn one(addr: String, bytes: Vec<u8>, trickle: Vec<u8>, interval: Duration, hold: Duration) -> Answer {
    let until = Instant::now() + hold;
    let Ok(Ok(mut stream)) = tokio::time::timeout(hold, TcpStream::connect(&addr)).await else { return Answer::Refused };
    let (mut rd, mut wr) = stream.split();
    let write = async {
        if wr.write_all(&bytes).await.is_ok() {
            for b in &trickle {
                tokio::time::sleep(interval).await;
                if wr.write_all(std::slice::from_ref(b)).await.is_err() {
                    break;
                }
            }
        }
        // Keep the connection open until the hold is over.
        std::future::pending::<()>().await
    };
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return if got.is_empty() { Answer::Closed } else { status_of(&got) },
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(2).any(|w| w == b"\r\n") || got.len() > 64 {
                        return status_of(&got);
                    }
                }
            }
        }
    };
    tokio::select! {
        a = read => a,
        _ = write => Answer::Nothing,
        _ = tokio::time::sleep_until(until) => Answer::Nothing,
    }
}

fn status_of(got: &[u8]) -> Answer {
    let line = String::from_utf8_lossy(got);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Answer::Status(code),
        _ => Answer::Garbage,
    }
}

/// Unescapes what TOML literal strings cannot write: `\r`, `\n`, `\\`.
fn bytes_of(s: &str) -> Vec<u8> {
    s.replace("\\r", "\r").replace("\\n", "\n").into_bytes()
}

impl Exec<'_> {
    pub(super) async fn tcp(&mut self, s: &TcpStep) -> StepResult {
        let host = self.http.base.trim_start_matches("http://").trim_end_matches('/').to_string();
        self.vars.set("host", host.clone());
        let bytes = bytes_of(&self.vars.render(&s.send));
        let trickle = s.trickle.as_ref().map(|t| bytes_of(&self.vars.render(t))).unwrap_or_default();
        let n = s.connections.unwrap_or(1).clamp(1, 500);
        let hold = self.scaled(s.hold_ms.unwrap_or(DEFAULT_HOLD_MS).min(10_000));
        let interval = Duration::from_millis(s.byte_interval_ms.unwrap_or(1000));
        let shown = crate::wire::http::show_bytes(&bytes);
        let slow = if trickle.is_empty() {
            String::new()
        } else {
            format!(", then {} one byte every {} ms", crate::wire::http::show_bytes(&trickle), interval.as_millis())
        };
        self.transcript.log(format!("→ tcp ×{n}, held {} ms: {shown}{slow}", hold.as_millis()));
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(one(host.clone(), bytes.clone(), trickle.clone(), interval, hold))).collect();
        let mut tally: Vec<(Answer, u32)> = Vec::new();
        for t in tasks {
            let a = t.await.unwrap_or(Answer::Nothing);
            match tally.iter_mut().find(|(x, _)| *x == a) {
                Some((_, c)) => *c += 1,
                None => tally.push((a, 1)),
            }
        }
        let summary = tally.iter().map(|(a, c)| format!("{} × {c}", a.show())).collect::<Vec<_>>().join(", ");
        self.transcript.log(format!("← tcp: {summary}"));
        if let Some(want) = s.expect_status {
            if tally.iter().any(|(a, _)| *a != Answer::Status(want)) {
                return fail(format!("expected HTTP {want} on every connection, got {summary}"));
            }
        }
        Ok(())
    }

    /// What `settle` (and `expect_closed` with `kept_if_answered`) sends after the input, and
    /// how its answer is told apart: the standard fixture's echo (Engine.IO), its `message` →
    /// `message-back` (Socket.IO), or, on a session that never sent CONNECT, a CONNECT (its
    /// answer: CONNECT or CONNECT_ERROR). Socket.IO v4 servers connect `/` by themselves.
    pub(super) fn follow_up(&self, name: &str) -> FollowUp {
        let connected = self.sio == Some(SioRevision::V4) || self.sio_connected.contains(name);
        match self.sio {
            None => (SETTLE, |t| t == SETTLE),
            Some(_) if connected => ("2[\"message\",\"siospec: settle\"]", |t| t.contains(SETTLE)),
            Some(_) => ("0", |t| t.starts_with('0') || t.starts_with('4')),
        }
    }

    /// The `settle` step (see `SettleStep`): a follow-up on the session, then its answer or
    /// the session's end, whichever comes first; neither by the deadline is noted, not judged.
    pub(super) async fn settle(&mut self, s: &SettleStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let within = self.scaled(s.within_ms.unwrap_or(DEFAULT_SETTLE_MS));
        let (follow_up, answer) = self.follow_up(&name);
        let started = Instant::now();
        let deadline = started + within;
        let sent = self.session(&name)?.send(&[Packet::message(follow_up)], false, within).await;
        let sign = match sent {
            Err(e) => Some(format!("the follow-up could not be sent ({e})")),
            Ok(Some(r)) if r.status != 200 => Some(format!("the follow-up was refused ({})", r.status)),
            Ok(_) => None,
        };
        let sign = match sign {
            Some(s) => s,
            None => loop {
                match self.session(&name)?.recv(deadline).await {
                    Ok(Received::Packet(p)) if p.kind == PacketType::Close => break "the server closed the session".to_string(),
                    Ok(Received::Packet(p)) if p.kind == PacketType::Message => {
                        if matches!(&p.data, Data::Text(t) if answer(t)) {
                            break "the follow-up was answered".to_string();
                        }
                    }
                    Ok(Received::Packet(p)) => {
                        let _ = self.auto_pong(&name, &p).await;
                    }
                    Ok(Received::Ended { .. }) => break "the session ended".to_string(),
                    Err(crate::wire::WireError::Timeout { .. }) => {
                        break format!("neither an answer to the follow-up nor the session's end within {} ms", within.as_millis())
                    }
                    Err(e) => break format!("the session ended ({e})"),
                }
            },
        };
        self.transcript.log(format!("# settled after {} ms: {sign}", started.elapsed().as_millis()));
        Ok(())
    }

    pub(super) async fn sid_quality(&mut self, s: &SidQualityStep) -> StepResult {
        let count = s.count.unwrap_or(200).clamp(10, 1000) as usize;
        let min_bits = s.min_bits.unwrap_or(64) as f64;
        let query = format!("EIO={}&transport=polling", self.vars.get("eio").unwrap_or("4"));
        let target = format!("{}?{query}", self.path);
        self.transcript.log(format!("→ {count} × GET {target} (sids collected quietly)"));
        self.transcript.mute(true);
        let mut sids = Vec::with_capacity(count);
        let mut refused = None;
        for _ in 0..count {
            let req = crate::wire::http::Request {
                method: "GET".into(),
                target: target.clone(),
                headers: vec![],
                body: None,
                timeout: self.within(None),
            };
            match self.http.send(req).await {
                Ok(r) if r.status == 200 => {
                    let body = String::from_utf8_lossy(&r.body).to_string();
                    match sid_in(&body) {
                        Some(sid) => sids.push(sid),
                        None => refused = Some(format!("a handshake gave no sid: {}", crate::wire::http::show_text(&body))),
                    }
                }
                Ok(r) => refused = Some(format!("a handshake was answered {}", r.status)),
                Err(e) => refused = Some(format!("a handshake failed: {e}")),
            }
            if refused.is_some() {
                break;
            }
        }
        self.transcript.mute(false);
        if let Some(why) = refused {
            self.transcript.log(format!("← after {} sids: {why}", sids.len()));
            return Err(Stop::Fail(format!("after {} handshakes: {why}", sids.len())));
        }
        let q = judge(&sids);
        self.transcript.log(format!(
            "← {} sids, e.g. {} {}: {} distinct, about {:.0} bits of entropy{}",
            sids.len(),
            sids[0],
            sids[1],
            q.distinct,
            q.bits,
            if q.sequential { ", sequential" } else { "" }
        ));
        let mut wrong = Vec::new();
        if q.distinct < sids.len() {
            wrong.push(format!("{} of {} sids were handed out twice", sids.len() - q.distinct, sids.len()));
        }
        if q.sequential {
            wrong.push(format!("each sid follows from the previous one ({} then {})", sids[0], sids[1]));
        }
        if q.bits < min_bits {
            wrong.push(format!("about {:.0} bits of entropy, under {min_bits:.0} (e.g. {} {})", q.bits, sids[0], sids[1]));
        }
        if !wrong.is_empty() {
            return fail(format!("predictable session ids: {}", wrong.join("; ")));
        }
        Ok(())
    }
}

/// The sid of an open packet at the start of a polling body (v3 `<len>:0{…}` or v4 `0{…}`).
fn sid_in(body: &str) -> Option<String> {
    let start = body.find("0{")?;
    let json = &body[start + 1..];
    let end = json.find('}')?;
    let v: serde_json::Value = serde_json::from_str(&json[..=end]).ok()?;
    v.get("sid")?.as_str().map(String::from)
}

#[derive(Debug)]
struct Quality {
    distinct: usize,
    sequential: bool,
    bits: f64,
}

/// Estimates how guessable a series of sids is: an entropy bound from the characters seen at
/// each position (log2 of the distinct ones, positions that never change count for nothing),
/// and whether each sid is the previous one plus a small step (numbers, or the same prefix
/// with only the last characters counting up).
fn judge(sids: &[String]) -> Quality {
    let distinct = sids.iter().collect::<HashSet<_>>().len();
    let len = sids.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut bits = 0.0;
    for i in 0..len {
        let seen: HashSet<u8> = sids.iter().filter_map(|s| s.as_bytes().get(i).copied()).collect();
        if seen.len() > 1 {
            bits += (seen.len() as f64).log2();
        }
    }
    let pairs = sids.len().saturating_sub(1).max(1);
    let numeric = sids.iter().all(|s| s.parse::<u128>().is_ok());
    let steps = sids
        .windows(2)
        .filter(|w| {
            if numeric {
                let (a, b) = (w[0].parse::<u128>().unwrap_or(0), w[1].parse::<u128>().unwrap_or(0));
                b > a && b - a < 1_000_000
            } else {
                let common = w[0].bytes().zip(w[1].bytes()).take_while(|(x, y)| x == y).count();
                w[0].len() == w[1].len() && common + 3 >= w[0].len()
            }
        })
        .count();
    Quality { distinct, sequential: steps * 10 >= pairs * 9, bits }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn counters_are_sequential_and_short() {
        let ids: Vec<String> = (1000..1200).map(|n| n.to_string()).collect();
        let q = judge(&ids);
        assert!(q.sequential);
        assert!(q.bits < 20.0, "{q:?}");
        let prefixed: Vec<String> = (0..200).map(|n| format!("session-{n:05}")).collect();
        assert!(judge(&prefixed).sequential);
    }

    #[test]
    fn random_ids_are_neither() {
        // A fixed pseudo-random series (xorshift), base64url like engine.io's.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let ids: Vec<String> = (0..200)
            .map(|_| {
                (0..20)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % 64) as usize] as char
                    })
                    .collect()
            })
            .collect();
        let q = judge(&ids);
        assert!(!q.sequential);
        assert!(q.bits > 100.0, "{q:?}");
        assert_eq!(q.distinct, 200);
    }

    #[test]
    fn reused_ids_are_counted() {
        assert_eq!(judge(&v(&["a", "b", "a"])).distinct, 2);
    }

    #[test]
    fn sids_come_from_v3_and_v4_open_packets() {
        assert_eq!(sid_in(r#"0{"sid":"abc","upgrades":[]}"#).as_deref(), Some("abc"));
        assert_eq!(sid_in(r#"96:0{"sid":"xyz","upgrades":["websocket"],"pingInterval":300}2:40"#).as_deref(), Some("xyz"));
        assert_eq!(sid_in("nothing"), None);
    }

    #[test]
    fn status_lines_are_read() {
        assert_eq!(status_of(b"HTTP/1.1 400 Bad Request\r\n"), Answer::Status(400));
        assert_eq!(status_of(b"garbage"), Answer::Garbage);
    }
}
