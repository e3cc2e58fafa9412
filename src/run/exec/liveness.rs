//! What the harness knows about a session being alive on the server, so that a verdict never
//! rests on the server having done something it had not done yet, or on a session that had
//! already timed out:
//!
//! - after an upgrade (`5`), the `upgrade` step waits for a sign on the websocket that the
//!   server moved the session there, before any later step uses another connection (a poll
//!   with the sid, a second websocket) — [`Exec::confirm_upgrade`];
//! - the `alive` step proves, right before what a case checks, that the session is alive and
//!   restarts its heartbeat — [`Exec::alive`]; from then on a raw request on that session must
//!   be answered before the session could have timed out (pingInterval + pingTimeout after the
//!   harness last restarted the server's heartbeat clock), or the answer proves nothing —
//!   [`Exec::live_deadline`];
//! - while a step waits on a v3 polling session the harness keeps pinging, like a real client
//!   (v4 sessions get their pongs from `auto_pong`) — [`Exec::v3_polling_keepalive`].
use super::{fail, Exec, StepResult, Stop};
use crate::run::timing;
use crate::protocol::eio::{self, Data, EioRevision, Packet, PacketType};
use crate::suite::steps::{AliveStep, ServerStep};
use crate::wire::http::Request;
use crate::wire::http::Response;
use crate::wire::session::Conn;
use crate::wire::WireError;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The message the harness sends after an upgrade on an Engine.IO v4 echo endpoint: its echo,
/// on the websocket, shows the server has switched the session to it.
pub const UPGRADE_CHECK: &str = "siospec: upgrade check";

#[derive(Default)]
pub struct Live {
    /// Per session: when the harness last knew the server's heartbeat clock restarted (the
    /// handshake, a pong the harness sent (v4) or received (v3)).
    at: HashMap<String, Instant>,
    /// Sessions an `alive` step vouched for: raw requests on them must be answered in time.
    armed: HashMap<String, ()>,
    /// Background requests already answered when a later step was about to act: name → step,
    /// and how late the harness itself was to act when that lateness could explain it.
    early: HashMap<String, (String, Option<u64>)>,
    /// When each background request was sent.
    pub(super) background_at: HashMap<String, Instant>,
}

impl Live {
    pub fn restarted(&mut self, name: &str) {
        self.at.insert(name.to_string(), Instant::now());
    }
    /// When the heartbeat clock last restarted (v4 heartbeat rounds measure from there).
    pub fn since(&self, name: &str) -> Option<Instant> {
        self.at.get(name).copied()
    }
}

/// Stops a background task when dropped (the v3 polling keep-alive of a waiting step).
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Exec<'_> {
    fn timer(&self, key: &str, default: u64) -> u64 {
        self.vars.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// A packet arrived on a session: a v3 pong means the server restarted its clock at our ping.
    pub(super) fn saw(&mut self, name: &str, p: &Packet) {
        if self.rev == EioRevision::V3 && p.kind == PacketType::Pong {
            self.live.restarted(name);
        }
    }

    /// The harness answered a v4 ping: the server's next ping is due pingInterval from now.
    pub(super) fn ponged(&mut self, name: &str) {
        if self.rev == EioRevision::V4 {
            self.live.restarted(name);
        }
    }

    /// After the upgrade packet (`5`): wait for a sign on the websocket that the server has
    /// moved the session there. v3 servers answer a ping on the session's current transport, so
    /// a pong on the websocket is that sign; a v4 Engine.IO echo endpoint echoes a message there;
    /// a v4 Socket.IO endpoint sends its next ping there (every pingInterval). Packets that
    /// arrive meanwhile are kept for the steps after.
    pub(super) async fn confirm_upgrade(&mut self, name: &str) -> StepResult {
        let within = self.within(None);
        let interval = self.timer("pingInterval", 300);
        let timeout = self.timer("pingTimeout", 200);
        let what = match (self.rev, self.sio.is_some()) {
            (EioRevision::V3, _) => "the pong (3) to a ping sent after it",
            (EioRevision::V4, false) => "the echo of a message sent after it",
            (EioRevision::V4, true) => "the server's next ping on the websocket",
        };
        self.transcript.log(format!("# waiting for a sign that the server moved the session to the websocket: {what}"));
        let deadline = match (self.rev, self.sio.is_some()) {
            (EioRevision::V3, _) => {
                self.session(name)?.send(&[Packet::new(PacketType::Ping, "")], false, within).await?;
                Instant::now() + within
            }
            (EioRevision::V4, false) => {
                self.session(name)?.send(&[Packet::message(UPGRADE_CHECK)], false, within).await?;
                Instant::now() + within
            }
            (EioRevision::V4, true) => Instant::now() + self.scaled(interval + timeout) + Duration::from_millis(500),
        };
        let mut kept = Vec::new();
        loop {
            let p = match self.next_packet(name, deadline, what).await {
                Ok(p) => p,
                Err(Stop::Fail(m)) => {
                    return fail(format!(
                        "after the upgrade packet (5) the server gave no sign that the session moved to the websocket: {m}"
                    ))
                }
                Err(e) => return Err(e),
            };
            let sign = match (self.rev, self.sio.is_some()) {
                (EioRevision::V3, _) => p.kind == PacketType::Pong && p.data == Data::Text(String::new()),
                (EioRevision::V4, false) => p.kind == PacketType::Message && p.data == Data::Text(UPGRADE_CHECK.into()),
                (EioRevision::V4, true) => p.kind == PacketType::Ping,
            };
            if sign {
                if p.kind == PacketType::Ping {
                    if self.case.def.auto_pong {
                        self.auto_pong(name, &p).await?;
                    } else {
                        kept.push(p);
                    }
                }
                break;
            }
            match p.kind {
                PacketType::Noop => {}
                PacketType::Ping if self.case.def.auto_pong => self.auto_pong(name, &p).await?,
                _ => kept.push(p),
            }
        }
        let sess = self.session(name)?;
        for p in kept.into_iter().rev() {
            sess.inbox.push_front(p);
        }
        Ok(())
    }

    /// A background request is there to be pending while the steps after it act (a duplicate
    /// GET, a close packet, a ping): one already answered before such a step acts was not
    /// pending when the case needed it (the session ended or moved on by itself), so what it
    /// got proves nothing. Noted here, judged at its `await`.
    pub(super) fn note_background_answered(&mut self, n: usize, step: &ServerStep) {
        if matches!(step, ServerStep::Await(_) | ServerStep::Sleep(_) | ServerStep::ServerEvent(_)) {
            return;
        }
        let allowed = timing::BACKGROUND_REACH_MS + timing::HARNESS_LAG_SLACK_MS;
        for (name, h) in &self.background {
            if h.is_finished() && !self.live.early.contains_key(name) {
                let waited = self.live.background_at.get(name).map(|at| at.elapsed().as_millis() as u64);
                let late = waited.filter(|&ms| ms > allowed);
                self.live.early.insert(name.clone(), (format!("step {n} ({})", step.kind()), late));
            }
        }
    }

    pub(super) fn answered_too_early(&mut self, name: &str, result: &Result<Response, WireError>) -> StepResult {
        let Some((step, late)) = self.live.early.remove(name) else { return Ok(()) };
        let got = match result {
            Ok(r) => format!("{} {}", r.status, crate::wire::http::show_bytes(&r.body)),
            Err(e) => e.to_string(),
        };
        if let Some(ms) = late {
            // The harness meant to act BACKGROUND_REACH_MS after sending the request and was
            // not scheduled in time: the server may rightly have ended the wait meanwhile.
            return Err(Stop::Error(format!(
                "background request `{name}` was answered ({got}) before {step} acted, but the harness itself acted {ms} ms                  after sending it instead of {} ms (a loaded machine): what the server did meanwhile says nothing about it",
                timing::BACKGROUND_REACH_MS
            )));
        }
        fail(format!(
            "background request `{name}` was answered ({got}) before {step} acted, so it was not pending when the case needed it: \
             the session did not stay alive and waiting until then, and what followed proves nothing"
        ))
    }

    /// The `alive` step: the session is alive right now, shown by a heartbeat exchange, which
    /// also restarts the server's heartbeat clock (v3: the harness pings and gets the pong; v4:
    /// the harness waits for the server's ping and answers it). Other packets are kept.
    pub(super) async fn alive(&mut self, s: &AliveStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let within = self.within(None);
        let interval = self.timer("pingInterval", 300);
        let timeout = self.timer("pingTimeout", 200);
        let not_alive = |m: String| Stop::Fail(format!("the session must be alive before what this case checks, and it is not: {m}"));
        let (what, deadline) = match self.rev {
            EioRevision::V3 => {
                let r = self.session(&name)?.send(&[Packet::new(PacketType::Ping, "")], false, within).await?;
                if let Some(r) = r.filter(|r| r.status != 200) {
                    return Err(not_alive(format!("its ping was answered {} {}", r.status, crate::wire::http::show_bytes(&r.body))));
                }
                ("the pong (3) to the harness's ping", Instant::now() + within)
            }
            EioRevision::V4 => (
                "the server's ping (a v4 server pings every pingInterval)",
                Instant::now() + self.scaled(interval + timeout) + Duration::from_millis(500),
            ),
        };
        let mut kept = Vec::new();
        loop {
            let p = match self.next_packet(&name, deadline, what).await {
                Ok(p) => p,
                Err(Stop::Fail(m)) => return Err(not_alive(m)),
                Err(e) => return Err(e),
            };
            match (self.rev, p.kind) {
                (EioRevision::V3, PacketType::Pong) => break,
                (EioRevision::V4, PacketType::Ping) => {
                    let pong = Packet::new(PacketType::Pong, if let Data::Text(t) = &p.data { t.clone() } else { String::new() });
                    self.session(&name)?
                        .send(&[pong], false, within)
                        .await
                        .map_err(|e| not_alive(format!("its pong could not be sent: {e}")))?;
                    self.ponged(&name);
                    break;
                }
                (_, PacketType::Noop) => {}
                (_, PacketType::Close) => return Err(not_alive("the server sent a close packet".into())),
                _ => kept.push(p),
            }
        }
        let sess = self.session(&name)?;
        for p in kept.into_iter().rev() {
            sess.inbox.push_front(p);
        }
        self.live.armed.insert(name.clone(), ());
        self.transcript.log(format!(
            "# alive: raw requests on `{name}` must now be answered within pingInterval + pingTimeout ({} ms) of its last heartbeat",
            interval + timeout
        ));
        Ok(())
    }

    /// For a raw request whose query carries the sid of a session an `alive` step vouched for:
    /// the latest the answer may come and still say something about a live session
    /// (pingInterval + pingTimeout after the harness last restarted the heartbeat clock; a
    /// refusal after that is what a timed-out session gets too). Protocol time, not scaled.
    pub(super) fn live_deadline(&self, target: &str) -> Option<(String, Instant)> {
        let span = Duration::from_millis(self.timer("pingInterval", 300) + self.timer("pingTimeout", 200));
        self.live
            .armed
            .keys()
            .filter_map(|name| {
                let sid = self.sessions.get(name)?.sid()?;
                let carries = target.split(['?', '&']).any(|kv| kv == format!("sid={sid}"));
                carries.then(|| (name.clone(), self.live.at.get(name).copied().unwrap_or_else(Instant::now) + span))
            })
            .min_by_key(|(_, at)| *at)
    }

    /// v3 over polling: a real client pings by POST while its GET is pending, every so often;
    /// while a step waits on such a session the harness does the same in the background, so a
    /// session that ends has not merely timed out for want of pings. None for v4 (pongs are
    /// answered by the waiting step), websockets (the step pings itself), JSONP, or auto_pong off.
    pub(super) fn v3_polling_keepalive(&self, name: &str) -> Option<AbortOnDrop> {
        if self.rev != EioRevision::V3 || !self.case.def.auto_pong {
            return None;
        }
        let sess = self.sessions.get(name)?;
        if !matches!(sess.conn, Conn::Polling) || sess.jsonp.is_some() {
            return None;
        }
        let http = sess.http.clone();
        let target = format!("{}?{}", sess.path, sess.query("polling"));
        let period = self.v3_keepalive_period();
        let body = eio::encode_payload(eio::PayloadFormat::V3Text, &[Packet::new(PacketType::Ping, "")]);
        Some(AbortOnDrop(tokio::spawn(async move {
            loop {
                let req = Request {
                    method: "POST".into(),
                    target: target.clone(),
                    headers: vec![("content-type".into(), "text/plain;charset=UTF-8".into())],
                    body: Some(body.clone()),
                    timeout: Duration::from_secs(1),
                };
                match http.send(req).await {
                    Ok(r) if r.status == 200 => tokio::time::sleep(period).await,
                    // The session is over (or the server gone): the waiting step sees it too.
                    _ => break,
                }
            }
        })))
    }
}
