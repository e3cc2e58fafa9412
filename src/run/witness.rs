//! The witness: a well-behaved session, connected before a hostile input is sent on another
//! one, that keeps exchanging messages with the server while the case runs. Its verdict is
//! the server's availability to everyone else: cut, or no answer within its deadline, and the
//! case fails whatever the hostile session got.
use crate::protocol::eio::{EioRevision, Packet, PacketType};
use crate::protocol::sio::SioRevision;
use crate::suite::Layer;
use crate::wire::http::HttpClient;
use crate::wire::session::{EioSession, Received};
use crate::wire::Transcript;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::timing::{self, WITNESS_ANSWER_MS as ANSWER_MS, WITNESS_EVERY_MS as EVERY_MS};

pub struct Witness {
    stop: watch::Sender<bool>,
    task: JoinHandle<Report>,
    transcript: Transcript,
}

/// What the witness saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub exchanges: u32,
    pub slowest_ms: u64,
    /// Why the server stopped serving the witness, if it did.
    pub lost: Option<String>,
    /// The witness's last traffic when it lost the server.
    pub evidence: Vec<String>,
}

struct Speaker {
    sess: EioSession,
    layer: Layer,
    sio: Option<SioRevision>,
    answer: Duration,
}

impl Speaker {
    fn message(&self, n: u32) -> (String, String) {
        match self.layer {
            Layer::EngineIo => (format!("witness-{n}"), format!("witness-{n}")),
            Layer::SocketIo => (format!("2[\"message\",\"witness-{n}\"]"), format!("2[\"message-back\",\"witness-{n}\"]")),
        }
    }

    /// Receives until a message with exactly `want` arrives, answering heartbeats.
    async fn until(&mut self, want: &(dyn Fn(&str) -> bool + Sync), what: &str) -> Result<(), String> {
        let deadline = Instant::now() + self.answer;
        loop {
            match self.sess.recv(deadline).await {
                Ok(Received::Packet(p)) => match p.kind {
                    PacketType::Ping if self.sess.rev() == EioRevision::V4 => {
                        let pong = Packet { kind: PacketType::Pong, data: p.data.clone() };
                        self.sess.send(&[pong], false, self.answer).await.map_err(|e| format!("could not answer a ping: {e}"))?;
                    }
                    PacketType::Message => {
                        if let crate::protocol::eio::Data::Text(t) = &p.data {
                            if want(t) {
                                return Ok(());
                            }
                        }
                    }
                    PacketType::Close => return Err("the server closed the witness session (close packet)".into()),
                    _ => {}
                },
                Ok(Received::Ended { status, code, detail }) => {
                    let how = match (status, code) {
                        (Some(s), _) => format!("HTTP {s}"),
                        (_, Some(c)) => format!("close code {c}"),
                        _ => detail,
                    };
                    return Err(format!("the witness session was cut ({how}) while waiting for {what}"));
                }
                Err(e) => {
                    return Err(match e {
                        crate::wire::WireError::Timeout { .. } => {
                            format!("the witness got no {what} within {} ms", self.answer.as_millis())
                        }
                        other => format!("the witness session failed while waiting for {what}: {other}"),
                    })
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        self.sess.handshake_ws(&[], self.answer).await.map_err(|e| format!("the witness could not connect: {e}"))?;
        match self.sio {
            None => Ok(()),
            // Socket.IO v5: the client connects to the main namespace; v4 connects it implicitly.
            Some(rev) => {
                if rev == SioRevision::V5 {
                    self.send_text("0").await?;
                }
                self.until(&|t| t.starts_with('0'), "CONNECT answer").await
            }
        }
    }

    async fn send_text(&mut self, t: &str) -> Result<(), String> {
        let mut packets = vec![Packet::message(t.to_string())];
        // Engine.IO v3: the client keeps the session alive with pings of its own.
        if self.sess.rev() == EioRevision::V3 {
            packets.push(Packet::new(PacketType::Ping, ""));
        }
        self.sess.send(&packets, false, self.answer).await.map(|_| ()).map_err(|e| format!("the witness could not send: {e}"))
    }

    async fn exchange(&mut self, n: u32) -> Result<u64, String> {
        let started = Instant::now();
        let (out, back) = self.message(n);
        self.send_text(&out).await?;
        self.until(&|t| t == back, &format!("answer to message #{n}")).await?;
        Ok(started.elapsed().as_millis() as u64)
    }
}

impl Witness {
    /// Connects the witness over websocket and starts its exchanges; an error means the server
    /// was not serving a well-behaved client before the case started.
    pub async fn start(
        base: &str,
        path: &str,
        eio: EioRevision,
        sio: Option<SioRevision>,
        layer: Layer,
        scale: f64,
    ) -> Result<Witness, String> {
        let transcript = Transcript::new();
        let http = HttpClient::new(base, transcript.clone()).map_err(|e| e.to_string())?;
        let answer = timing::scaled(scale, ANSWER_MS);
        let mut sp = Speaker { sess: EioSession::new(eio, http, path, ""), layer, sio, answer };
        sp.connect().await?;
        sp.exchange(0).await?;
        let (stop, mut stopped) = watch::channel(false);
        let every = Duration::from_millis(EVERY_MS);
        let task = tokio::spawn(async move {
            let mut report = Report::default();
            let mut n = 1;
            loop {
                let last = *stopped.borrow();
                match sp.exchange(n).await {
                    Ok(ms) => {
                        report.exchanges += 1;
                        report.slowest_ms = report.slowest_ms.max(ms);
                    }
                    Err(e) => {
                        report.lost = Some(format!("after {} answered exchange(s): {e}", report.exchanges));
                        break;
                    }
                }
                // The exchange after the stop signal is the final one: the server still answers.
                if last {
                    break;
                }
                n += 1;
                let _ = tokio::time::timeout(every, stopped.changed()).await;
            }
            sp.sess.close().await;
            report
        });
        Ok(Witness { stop, task, transcript })
    }

    /// Ends the witness after one last exchange and says what it saw.
    pub async fn finish(self) -> Report {
        let _ = self.stop.send(true);
        let mut report = match self.task.await {
            Ok(r) => r,
            Err(e) => Report { lost: Some(format!("the witness task failed: {e}")), ..Default::default() },
        };
        if report.lost.is_some() {
            let e = self.transcript.entries();
            report.evidence = e.iter().skip(e.len().saturating_sub(8)).map(|e| format!("witness {}", e.line)).collect();
        }
        report
    }
}
