//! Executes one case's steps against a live server.
use super::matchers::{self, hex_decode, json_match, json_match_partial, match_eio, match_sio, parse_sio_pattern};
use super::outgoing::{fill_message, Outgoing};
use super::vars::Vars;
use crate::protocol::eio::{self, EioRevision, Packet, PacketType};
use crate::protocol::sio::{SioDecoder, SioPacket, SioRevision};
use crate::suite::steps::*;
use crate::suite::Case;
use crate::wire::fields;
use crate::wire::http::{show_bytes, HttpClient, Request, Response};
use crate::wire::session::{EioSession, Received};
use crate::wire::ws::{self, ConnectError};
use crate::wire::{Transcript, WireError};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Why a case stopped early.
#[derive(Debug)]
pub enum Stop {
    Fail(String),
    /// Only `should` checks failed (what the reference server does beyond the protocol text):
    /// non-strict, whatever the case's level.
    Should(String),
    Unsupported(String),
    Error(String),
}

type StepResult = Result<(), Stop>;

impl super::engine::StepStop for Stop {
    fn at_step(self, number: usize, kind: &str) -> Self {
        match self {
            Stop::Fail(m) => Stop::Fail(format!("step {number} ({kind}): {m}")),
            Stop::Error(m) => Stop::Error(format!("step {number} ({kind}): {m}")),
            // Already say what they are about (`SHOULD not met: …`, the missing capability).
            u => u,
        }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(msg.into()))
}

impl From<WireError> for Stop {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Refused(_) => Stop::Error(e.to_string()),
            other => Stop::Fail(other.to_string()),
        }
    }
}

use super::timing::{self, SERVER_STEP_MS as DEFAULT_WITHIN_MS};

mod hostile;
mod liveness;

pub struct Exec<'a> {
    pub case: &'a Case,
    steps: &'a [ServerStep],
    pub rev: EioRevision,
    pub sio: Option<SioRevision>,
    pub path: String,
    pub http: HttpClient,
    pub transcript: Transcript,
    pub vars: Vars,
    pub scale: f64,
    sessions: HashMap<String, EioSession>,
    decoders: HashMap<String, SioDecoder>,
    background: HashMap<String, JoinHandle<Result<Response, WireError>>>,
    events: Option<mpsc::Receiver<Value>>,
    seen_events: Vec<Value>,
    handshake_at: HashMap<String, Instant>,
    /// What the harness knows about each session being alive (see `exec/liveness.rs`).
    live: liveness::Live,
    /// A server-side field the driver cannot report, seen in a server_event step.
    unreported: Option<String>,
    /// `should` checks that failed (step and what), reported when nothing worse happens.
    should_failures: Vec<String>,
    /// Sessions that sent a Socket.IO CONNECT to the main namespace (what `settle` sends).
    sio_connected: std::collections::HashSet<String>,
    /// How many `should` failures there were when the current step began.
    should_mark: usize,
}

impl super::engine::Role for Exec<'_> {
    type Step = ServerStep;
    type Stop = Stop;

    fn kind(step: &ServerStep) -> &'static str {
        step.kind()
    }
    fn transcript(&self) -> &Transcript {
        &self.transcript
    }
    fn before(&mut self, number: usize, step: &ServerStep) {
        self.note_background_answered(number, step);
        self.should_mark = self.should_failures.len();
    }
    async fn run_step(&mut self, step: &ServerStep) -> StepResult {
        self.step(step).await
    }
    fn after(&mut self, number: usize, step: &ServerStep) -> StepResult {
        for f in &mut self.should_failures[self.should_mark..] {
            *f = format!("step {number} ({}): {f}", step.kind());
        }
        Ok(())
    }
}

impl<'a> Exec<'a> {
    pub fn new(
        case: &'a Case,
        steps: &'a [ServerStep],
        base: &str,
        path: &str,
        events: Option<mpsc::Receiver<Value>>,
        scale: f64,
        transcript: Transcript,
    ) -> Result<Self, WireError> {
        let rev = case.revision.eio();
        let mut vars = Vars::default();
        vars.set("eio", if rev == EioRevision::V3 { "3" } else { "4" });
        vars.set("path", path);
        vars.set("pingInterval", case.def.fixture.ping_interval_or_default().to_string());
        vars.set("pingTimeout", case.def.fixture.ping_timeout_or_default().to_string());
        // The configured limit until a handshake advertises one (EIO3 and engine.io 4 do not).
        vars.set("maxPayload", case.def.fixture.max_http_buffer_size_or_default().to_string());
        Ok(Exec {
            case,
            steps,
            rev,
            sio: case.revision.sio(),
            path: path.to_string(),
            http: HttpClient::new(base, transcript.clone())?,
            transcript,
            vars,
            scale,
            sessions: HashMap::new(),
            decoders: HashMap::new(),
            background: HashMap::new(),
            events,
            seen_events: Vec::new(),
            handshake_at: HashMap::new(),
            live: liveness::Live::default(),
            unreported: None,
            should_failures: Vec::new(),
            sio_connected: Default::default(),
            should_mark: 0,
        })
    }

    pub fn set_events(&mut self, events: Option<mpsc::Receiver<Value>>) {
        self.events = events;
    }

    fn scaled(&self, ms: u64) -> Duration {
        timing::scaled(self.scale, ms)
    }

    fn within(&self, ms: Option<u64>) -> Duration {
        self.scaled(ms.unwrap_or(DEFAULT_WITHIN_MS))
    }

    fn delay(&self, d: &Delay) -> Result<u64, Stop> {
        match d {
            Delay::Ms(n) => Ok(*n),
            Delay::Expr(e) => self.vars.eval_ms(e).map_err(Stop::Error),
        }
    }

    fn session_name(s: &Option<String>) -> String {
        s.clone().unwrap_or_else(|| "main".into())
    }

    fn session(&mut self, name: &str) -> Result<&mut EioSession, Stop> {
        self.sessions
            .get_mut(name)
            .ok_or_else(|| Stop::Error(format!("suite error: session `{name}` was not opened by a handshake or ws_connect step")))
    }

    fn headers(&self, h: &crate::suite::model::StrMap) -> Vec<(String, String)> {
        h.iter().map(|(k, v)| (k.clone(), self.vars.render(v))).collect()
    }

    pub async fn run(&mut self) -> StepResult {
        let steps = self.steps;
        super::engine::drive(self, steps).await?;
        if !self.should_failures.is_empty() {
            return Err(Stop::Should(format!(
                "SHOULD not met (beyond the protocol text, what the reference server does): {}",
                self.should_failures.join("; ")
            )));
        }
        match self.unreported.take() {
            Some(note) => Err(Stop::Unsupported(note)),
            None => Ok(()),
        }
    }

    /// Records a failed `should` check: noted in the transcript, the case goes on.
    fn should_failed(&mut self, what: String) {
        self.transcript.log(format!("# SHOULD not met: {what}"));
        self.should_failures.push(what);
    }

    pub async fn finish(&mut self) {
        for (_, h) in self.background.drain() {
            h.abort();
        }
        for (_, s) in self.sessions.iter_mut() {
            s.close().await;
        }
    }

    /// Values worth redacting: captured variables and sids.
    pub fn volatile(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "eio" | "path" | "pingInterval" | "pingTimeout" | "maxPayload" | "upgrades" | "i" | "host")
            })
            .map(|(k, v)| (v.clone(), k.clone()))
            .collect();
        for (name, s) in &self.sessions {
            if let Some(sid) = s.sid() {
                v.push((sid.to_string(), if name == "main" { "sid".into() } else { format!("sid:{name}") }));
            }
        }
        v
    }

    async fn step(&mut self, step: &ServerStep) -> StepResult {
        match step {
            ServerStep::Handshake(s) => self.handshake(s).await,
            ServerStep::Http(s) => self.http_step(s).await,
            ServerStep::Await(s) => self.await_step(s).await,
            ServerStep::Send(s) => self.send(s).await,
            ServerStep::Expect(s) => self.expect(s).await,
            ServerStep::ExpectClosed(s) => self.expect_closed(s).await,
            ServerStep::ExpectSilence(s) => self.expect_silence(s).await,
            ServerStep::Upgrade(s) => self.upgrade(s).await,
            ServerStep::WsConnect(s) => self.ws_connect(s).await,
            ServerStep::Heartbeat(s) => self.heartbeat(s).await,
            ServerStep::Sleep(s) => {
                let ms = self.delay(&s.ms)?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            ServerStep::ServerEvent(s) => self.server_event(s).await,
            ServerStep::Drop(s) => {
                let name = Self::session_name(&s.session);
                self.session(&name)?.drop_transport();
                Ok(())
            }
            ServerStep::Alive(s) => self.alive(s).await,
            ServerStep::Tcp(s) => self.tcp(s).await,
            ServerStep::SidQuality(s) => self.sid_quality(s).await,
            ServerStep::Settle(s) => self.settle(s).await,
        }
    }

    async fn handshake(&mut self, s: &HandshakeStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let extra = s.query.as_deref().map(|q| self.vars.render(q)).unwrap_or_default();
        let mut sess = EioSession::new(self.rev, self.http.clone(), &self.path, &extra);
        sess.jsonp = s.jsonp;
        let headers = self.headers(&s.headers);
        let within = self.within(None);
        let info = match s.transport {
            crate::suite::Transport::Polling => sess.handshake_polling(&headers, within).await?,
            crate::suite::Transport::Websocket => sess.handshake_ws(&headers, within).await?,
        };
        self.handshake_at.insert(name.clone(), Instant::now());
        self.live.restarted(&name);
        let open = info.open;
        if let Some(keys) = &s.open_keys {
            let mut got: Vec<String> = open.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            let mut want = keys.clone();
            got.sort();
            want.sort();
            if got != want {
                return fail(format!("open packet keys are {got:?}, expected exactly {want:?}: {open}"));
            }
        }
        for key in ["pingInterval", "pingTimeout", "maxPayload"] {
            if let Some(n) = open.get(key).and_then(|v| v.as_u64()) {
                self.vars.set(key, n.to_string());
            }
        }
        if let Some(sid) = open.get("sid").and_then(|v| v.as_str()) {
            let var = if name == "main" { "sid".to_string() } else { format!("sid_{name}") };
            self.vars.set(&var, sid);
        }
        if let Some(pat) = &s.open {
            json_match_partial(pat, &open, &mut self.vars, "open").or_else(fail)?;
        }
        if let Some(sio) = self.sio {
            self.decoders.insert(name.clone(), SioDecoder::new(sio));
        }
        self.sessions.insert(name, sess);
        Ok(())
    }

    fn build_request(&self, s: &HttpStep) -> Result<Request, Stop> {
        let path = s.path.as_deref().map(|p| self.vars.render(p)).unwrap_or_else(|| self.path.clone());
        let query = self.vars.render(&s.query);
        let target = if query.is_empty() { path } else { format!("{path}?{query}") };
        let body = if let Some(n) = &s.body_fill {
            let n = self.delay(n)? as usize;
            // One message of n bytes, framed as a one-packet payload of the case's revision
            // (v4: the packet itself; v3: `<length>:` before it).
            Some(eio::encode_payload(payload_format(self.rev), &[Packet::message(&fill_message(n)[1..])]))
        } else if let Some(h) = &s.body_hex {
            Some(hex_decode(h).map_err(Stop::Error)?)
        } else {
            s.body.as_ref().map(|b| self.vars.render(b).into_bytes())
        };
        let timeout = match s.abort_after_ms {
            Some(ms) => Duration::from_millis(ms),
            None => self.within(s.within_ms),
        };
        let headers = client_like_headers(self.headers(&s.headers), &s.method, body.is_some(), s.body_hex.is_some());
        Ok(Request { method: s.method.clone(), target, headers, body, timeout })
    }

    async fn http_step(&mut self, s: &HttpStep) -> StepResult {
        let mut req = self.build_request(s)?;
        if s.background {
            let name = s.name.clone().ok_or_else(|| Stop::Error("suite error: a background http step needs a name".into()))?;
            let http = self.http.clone();
            self.live.background_at.insert(name.clone(), Instant::now());
            self.background.insert(name, tokio::spawn(async move { http.send(req).await }));
            // Let the request reach the server before the next step.
            tokio::time::sleep(Duration::from_millis(timing::BACKGROUND_REACH_MS)).await;
            return Ok(());
        }
        // On a session an `alive` step vouched for, the answer must come while the session
        // cannot have timed out yet: a refusal after that is what a dead session gets too.
        let no_response = s.expect.as_ref().is_some_and(|e| e.no_response);
        let live = if s.abort_after_ms.is_none() && !no_response { self.live_deadline(&req.target) } else { None };
        if let Some((name, at)) = &live {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::Error(format!(
                    "session `{name}` went longer than pingInterval + pingTimeout without a heartbeat after its `alive` step, so \
                     the answer to this request could not tell a live session from a timed-out one (an `alive` step right before \
                     it, or a less loaded machine)"
                )));
            }
            req.timeout = req.timeout.min(left);
        }
        let result = self.http.send(req).await;
        if let (Some((name, at)), Err(WireError::Timeout { .. })) = (&live, &result) {
            if Instant::now() >= *at {
                return fail(format!(
                    "no answer while session `{name}` was known to be alive: pingInterval + pingTimeout after its last heartbeat \
                     it may have timed out, and what a timed-out session gets says nothing about this request"
                ));
            }
        }
        if let (Some(ms), None, Ok(r)) = (s.abort_after_ms, &s.expect, &result) {
            // To be cancelled while pending: answered first, it was not pending (the session
            // ended or moved on by itself), and the cancellation the case is about never happened.
            return fail(format!(
                "the request was to be cancelled after {ms} ms while pending, but it was answered first ({} {}): it was not \
                 pending, so the session did not stay alive and waiting, and what follows proves nothing",
                r.status,
                show_bytes(&r.body)
            ));
        }
        self.check_http(s.expect.as_ref(), result, s.abort_after_ms.is_some())
    }

    async fn await_step(&mut self, s: &AwaitStep) -> StepResult {
        let h = self
            .background
            .remove(&s.name)
            .ok_or_else(|| Stop::Error(format!("suite error: no background http step named `{}`", s.name)))?;
        let within = self.within(s.within_ms);
        let result = match tokio::time::timeout(within, h).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(Stop::Error(format!("background request task failed: {e}"))),
            Err(_) => return fail(format!("background request `{}` got no answer within {} ms", s.name, within.as_millis())),
        };
        self.answered_too_early(&s.name, &result)?;
        self.check_http(s.expect.as_ref(), result, false)
    }

    fn check_http(&mut self, exp: Option<&HttpExpect>, result: Result<Response, WireError>, aborted: bool) -> StepResult {
        let default = HttpExpect::default();
        let exp = exp.unwrap_or(&default);
        if let (Some(should), Ok(resp)) = (exp.should.as_deref(), &result) {
            match self.check_http(Some(should), Ok(resp.clone()), aborted) {
                Err(Stop::Fail(m)) | Err(Stop::Should(m)) => self.should_failed(m),
                other => other?,
            }
        }
        let resp = match result {
            Ok(r) => {
                if exp.no_response {
                    return fail(format!("expected no response, got {} {}", r.status, show_bytes(&r.body)));
                }
                r
            }
            Err(e) if exp.no_response || exp.allow_no_response || aborted => {
                if matches!(e, WireError::Refused(_)) {
                    return Err(e.into());
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(st) = exp.status {
            if resp.status != st {
                return fail(format!("expected HTTP {st}, got {} {}", resp.status, show_bytes(&resp.body)));
            }
        }
        if let Some(b) = &exp.body {
            let want = self.vars.render(b);
            if resp.body != want.as_bytes() {
                return fail(format!("expected body {:?}, got {}", want, show_bytes(&resp.body)));
            }
        }
        if let Some(pat) = &exp.json {
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| Stop::Fail(format!("body is not JSON ({e}): {}", show_bytes(&resp.body))))?;
            json_match(pat, &v, &mut self.vars, "body").or_else(fail)?;
        }
        if let Some(pkts) = &exp.packets {
            let got = eio::decode_payload(self.rev, &resp.body, resp.content_type())
                .map_err(|e| Stop::Fail(format!("body is not a valid payload: {e}")))?;
            if got.len() != pkts.len() {
                let shown: Vec<String> = got.iter().map(matchers::show_packet).collect();
                return fail(format!("expected {} packet(s), got {}: {shown:?}", pkts.len(), got.len()));
            }
            for (m, p) in pkts.iter().zip(&got) {
                match_eio(m, p, &mut self.vars).or_else(fail)?;
            }
        }
        // Compared as HTTP defines them (media types, token lists, names in any case).
        for (k, v) in &exp.headers {
            match fields::get(&resp.headers, k) {
                None => return fail(format!("expected header `{k}`, response has {:?}", header_names(&resp))),
                Some(got) if v != "*" => {
                    fields::value_matches(k, &self.vars.render(v), &got).map_err(|e| Stop::Fail(format!("header `{k}`: {e}")))?
                }
                _ => {}
            }
        }
        for k in &exp.absent_headers {
            if let Some(got) = resp.header(k) {
                return fail(format!("expected no `{k}` header, got `{k}: {got}`"));
            }
        }
        Ok(())
    }

    fn packets_to_send(&self, specs: &[PacketSpec]) -> Result<Vec<Outgoing>, Stop> {
        super::outgoing::packets(specs, self.rev, &|t| self.vars.render(t), &|d| self.delay(d))
    }

    async fn send(&mut self, s: &SendStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let times = s.repeat.unwrap_or(1).max(1);
        let mut outgoing = Vec::new();
        for i in 0..times {
            if s.repeat.is_some() {
                self.vars.set("i", i.to_string());
            }
            outgoing.push(self.packets_to_send(&s.packets)?);
        }
        if self.sio.is_some() && outgoing.iter().flatten().any(is_main_connect) {
            self.sio_connected.insert(name.clone());
        }
        let within = self.within(None);
        let pace = s.per_second.filter(|n| *n > 0).map(|n| Duration::from_secs_f64(1.0 / n as f64));
        // A flood is summarised: its first repetition is shown, the rest counted.
        let quiet = times > 3;
        let transcript = self.transcript.clone();
        let self_scaled_bound = self.scaled(3000);
        let started = Instant::now();
        let mut responses = Vec::new();
        let mut ended: Option<WireError> = None;
        {
            let sess = self.session(&name)?;
            let mut batch = Vec::new();
            // A flood is bounded in time as well as in count: its pacing plus 3 s.
            let bound = started + pace.map(|p| p * times).unwrap_or_default() + self_scaled_bound;
            for (i, rep) in outgoing.into_iter().enumerate() {
                if quiet && i == 1 {
                    transcript.mute(true);
                }
                if i > 0 && Instant::now() > bound {
                    transcript.mute(false);
                    transcript.log(format!("# flood stopped by its time bound after {i} of {times} repetitions"));
                    break;
                }
                if let Some(p) = pace {
                    tokio::time::sleep_until(started + p * i as u32).await;
                }
                for o in rep {
                    let r = match o {
                        Outgoing::Packet(p) => {
                            batch.push(p);
                            continue;
                        }
                        Outgoing::Raw(r) => match Self::flush(sess, &mut batch, s.xhr2, within, &mut responses).await {
                            Ok(()) => sess.send_raw(&r, within).await.map(|resp| responses.push(resp)),
                            Err(e) => Err(e),
                        },
                        Outgoing::TextBytes(b) => match Self::flush(sess, &mut batch, s.xhr2, within, &mut responses).await {
                            Ok(()) => sess.send_text_bytes(&b, within).await.map(|resp| responses.push(resp)),
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(e) = r {
                        ended = Some(e);
                        break;
                    }
                }
                // Paced over polling: one POST per repetition.
                if pace.is_some() || ended.is_some() {
                    if ended.is_none() {
                        if let Err(e) = Self::flush(sess, &mut batch, s.xhr2, within, &mut responses).await {
                            ended = Some(e);
                        }
                    }
                    if ended.is_some() {
                        break;
                    }
                }
            }
            if ended.is_none() {
                if let Err(e) = Self::flush(sess, &mut batch, s.xhr2, within, &mut responses).await {
                    ended = Some(e);
                }
            }
        }
        if quiet {
            transcript.mute(false);
            transcript.log(format!("⇢ (… {} repetitions in all, {} ms)", times, started.elapsed().as_millis()));
        }
        if s.any_answer {
            if let Some(e) = ended {
                self.transcript.log(format!("# the server stopped taking the input: {e}"));
            }
            return Ok(());
        }

        if let Some(e) = ended {
            return Err(e.into());
        }
        let want = s.status.unwrap_or(200);
        for r in responses.into_iter().flatten() {
            if r.status != want {
                return fail(format!("POST answered {} {}, expected {want}", r.status, show_bytes(&r.body)));
            }
            if want == 200 && s.json.is_none() && r.body != b"ok" {
                let m = format!("POST answered 200 with {}, expected `ok`", show_bytes(&r.body));
                // Engine.IO v4 requires the `ok` (Sending data: "with the string `ok` in the
                // response body"); v3 only shows it in its sample session: a SHOULD there.
                if self.rev == EioRevision::V3 {
                    self.should_failed(m);
                } else {
                    return fail(m);
                }
            }
            if let Some(pat) = &s.json {
                let v: Value = serde_json::from_slice(&r.body)
                    .map_err(|e| Stop::Fail(format!("POST body is not JSON ({e}): {}", show_bytes(&r.body))))?;
                json_match(pat, &v, &mut self.vars, "body").or_else(fail)?;
            }
        }
        Ok(())
    }

    /// Sends the packets gathered so far (one POST over polling, frames over websocket).
    async fn flush(
        sess: &mut EioSession,
        batch: &mut Vec<Packet>,
        xhr2: bool,
        within: Duration,
        responses: &mut Vec<Option<Response>>,
    ) -> Result<(), WireError> {
        if !batch.is_empty() {
            responses.push(sess.send(&std::mem::take(batch), xhr2, within).await?);
        }
        Ok(())
    }

    /// Engine.IO v3: when to send the next keep-alive ping while a step waits on a websocket
    /// session (None: v4, polling, or auto_pong off). See [`Self::v3_keepalive_period`].
    fn v3_keepalive_start(&self, name: &str) -> Option<Instant> {
        let ws = self.sessions.get(name).is_some_and(|s| s.is_ws());
        if self.rev != EioRevision::V3 || !self.case.def.auto_pong || !ws {
            return None;
        }
        Some(Instant::now() + self.v3_keepalive_period())
    }

    /// How often the harness pings a v3 server while it waits: half the shorter of the
    /// advertised pingInterval and pingTimeout. A server must wait pingInterval + pingTimeout
    /// for data, but some drop a client that is silent for pingTimeout (python-engineio 3.x
    /// reads each frame with a pingTimeout deadline), and the harness must not be the reason
    /// a session ends: half the shortest timer a server could apply leaves it that much margin.
    fn v3_keepalive_period(&self) -> Duration {
        let interval: u64 = self.vars.get("pingInterval").and_then(|v| v.parse().ok()).unwrap_or(300);
        let timeout: u64 = self.vars.get("pingTimeout").and_then(|v| v.parse().ok()).unwrap_or(200);
        Duration::from_millis((interval.min(timeout) / 2).max(50))
    }

    /// v3 keep-alive: Some(gap) when the harness itself has left the websocket silent for
    /// longer than pingTimeout (the machine is too loaded to keep its own schedule). A server
    /// that drops silent clients after pingTimeout may then end the session for that, so an end
    /// seen now says nothing about the packet under test: the case is a harness error (and a
    /// retry runs it again), never the target's verdict.
    fn v3_harness_late(&self, name: &str) -> Option<u64> {
        if self.rev != EioRevision::V3 || !self.case.def.auto_pong {
            return None;
        }
        let last = self.sessions.get(name)?.last_sent?;
        let timeout: u64 = self.vars.get("pingTimeout").and_then(|v| v.parse().ok()).unwrap_or(200);
        let gap = last.elapsed().as_millis() as u64;
        (gap > timeout).then_some(gap)
    }

    /// When a waiting step should wake up: at `until`, or sooner on a websocket kept alive by
    /// the harness, so it can measure its own scheduling lag (see [`Punctuality`]). Polling
    /// sessions are left alone: waking would cancel the pending GET.
    fn wake_at(&self, name: &str, until: Instant) -> Instant {
        let ws = self.sessions.get(name).is_some_and(|s| s.is_ws());
        if ws && self.case.def.auto_pong {
            until.min(Instant::now() + LAG_TICK)
        } else {
            until
        }
    }

    /// Some(error) when the harness cannot vouch that it kept the session alive until it
    /// ended: its v3 pings left a gap over pingTimeout, or it was not scheduled for over half
    /// the pingTimeout (a ping then waited that long for its pong). A server may end a session
    /// for either (some drop a client silent for pingTimeout), so the end says nothing about
    /// the packet under test: a harness error, retried, never the target's verdict.
    fn stalled(&self, name: &str, p: &Punctuality, what: &str) -> Option<Stop> {
        let timeout: u64 = self.vars.get("pingTimeout").and_then(|v| v.parse().ok()).unwrap_or(200);
        let hint = "the machine was too loaded for the harness to keep the session alive on time, so the end cannot be judged \
                    (try --time-scale or fewer --jobs)";
        if let Some(gap) = p.v3_gap.or_else(|| self.v3_harness_late(name)) {
            return Some(Stop::Error(format!(
                "{what}, but the harness had sent nothing on the websocket for {gap} ms, longer than the pingTimeout ({timeout} ms) \
                 some servers allow a silent client: {hint}"
            )));
        }
        let lag = p.max_lag_ms;
        (self.case.def.auto_pong && lag > timeout / 2).then(|| {
            Stop::Error(format!(
                "{what}, but the harness itself was not scheduled for {lag} ms while it waited, over half the pingTimeout \
                 ({timeout} ms) within which the server wants its pongs: {hint}"
            ))
        })
    }

    /// Sends the v3 keep-alive ping (a failure means the session is ending, which the caller
    /// sees next) and returns when the next one is due.
    async fn v3_keepalive_ping(&mut self, name: &str) -> Option<Instant> {
        let within = self.within(None);
        if let Ok(sess) = self.session(name) {
            let _ = sess.send(&[Packet::new(PacketType::Ping, "")], false, within).await;
        }
        self.v3_keepalive_start(name)
    }

    /// Answers a server ping (v4) so a long case keeps its session.
    async fn auto_pong(&mut self, name: &str, p: &Packet) -> StepResult {
        if self.case.def.auto_pong && self.rev == EioRevision::V4 && p.kind == PacketType::Ping {
            let within = self.within(None);
            let pong = Packet::new(
                PacketType::Pong,
                match &p.data {
                    eio::Data::Text(t) => t.clone(),
                    _ => String::new(),
                },
            );
            self.session(name)?.send(&[pong], false, within).await?;
            self.ponged(name);
        }
        Ok(())
    }

    async fn expect(&mut self, s: &ExpectStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let deadline = Instant::now() + self.within(s.within_ms);
        if s.unordered {
            return self.expect_unordered(&name, s, deadline).await;
        }
        for (idx, m) in s.packets.iter().enumerate() {
            let what = matchers::describe(m);
            if matchers::is_sio(m) {
                let sio = self.next_sio(&name, deadline, &what).await?;
                let (pat, att) = match m {
                    PacketMatch::Table(t) => (t.sio.as_deref().unwrap_or_default(), t.attachments.as_ref()),
                    _ => unreachable!("is_sio checked the table form"),
                };
                let pat = parse_sio_pattern(&self.vars.render(pat)).map_err(Stop::Error)?;
                match_sio(&pat, att, &sio, &mut self.vars).or_else(fail)?;
                if let Some(PacketMatch::Table(t)) = s.should.as_ref().and_then(|v| v.get(idx)) {
                    let strict = parse_sio_pattern(&self.vars.render(t.sio.as_deref().unwrap_or_default())).map_err(Stop::Error)?;
                    let mut vars = self.vars.clone();
                    match match_sio(&strict, t.attachments.as_ref(), &sio, &mut vars) {
                        Ok(()) => self.vars = vars,
                        Err(e) => self.should_failed(e),
                    }
                }
                continue;
            }
            loop {
                let p = self.next_packet(&name, deadline, &what).await?;
                if matchers::wants_type(m, p.kind) || !matches!(p.kind, PacketType::Ping | PacketType::Noop) {
                    match_eio(m, &p, &mut self.vars).or_else(fail)?;
                    break;
                }
                self.auto_pong(&name, &p).await?;
            }
        }
        Ok(())
    }

    /// `expect` with `unordered = true`: as many Socket.IO packets as patterns, in any order.
    async fn expect_unordered(&mut self, name: &str, s: &ExpectStep, deadline: Instant) -> StepResult {
        let mut pats = Vec::new();
        for m in &s.packets {
            match m {
                PacketMatch::Table(t) if t.sio.is_some() => {
                    let pat = parse_sio_pattern(&self.vars.render(t.sio.as_deref().unwrap_or_default())).map_err(Stop::Error)?;
                    pats.push((pat, t.attachments.clone(), matchers::describe(m)));
                }
                _ => return Err(Stop::Error("suite error: `unordered` expects only `sio` patterns".into())),
            }
        }
        let mut left: Vec<usize> = (0..pats.len()).collect();
        while !left.is_empty() {
            let wanted: Vec<String> = left.iter().map(|&i| pats[i].2.clone()).collect();
            let what = format!("one of [{}]", wanted.join(", "));
            let sio = self.next_sio(name, deadline, &what).await?;
            let mut why = Vec::new();
            let mut hit = None;
            for (k, &i) in left.iter().enumerate() {
                // Try on a copy, so a pattern that fails half-way captures nothing.
                let mut vars = self.vars.clone();
                match match_sio(&pats[i].0, pats[i].1.as_ref(), &sio, &mut vars) {
                    Ok(()) => {
                        self.vars = vars;
                        hit = Some(k);
                        break;
                    }
                    Err(e) => why.push(format!("{}: {e}", pats[i].2)),
                }
            }
            match hit {
                Some(k) => {
                    left.remove(k);
                }
                None => return fail(format!("a packet matched none of the patterns still expected: {}", why.join("; "))),
            }
        }
        Ok(())
    }

    async fn next_packet(&mut self, name: &str, deadline: Instant, what: &str) -> Result<Packet, Stop> {
        let left = deadline.saturating_duration_since(Instant::now()).as_millis();
        match self.session(name)?.recv(deadline).await {
            Ok(Received::Packet(p)) => {
                self.saw(name, &p);
                Ok(p)
            }
            Ok(Received::Ended { status, code, detail }) => fail(format!(
                "session ended while waiting for {what}: {}{}{detail}",
                status.map(|s| format!("HTTP {s} ")).unwrap_or_default(),
                code.map(|c| format!("close code {c} ")).unwrap_or_default()
            )),
            Err(WireError::Timeout { .. }) => fail(format!("expected {what} within {left} ms, got nothing")),
            Err(e) => Err(e.into()),
        }
    }

    /// Next complete Socket.IO packet, reassembling binary attachments; pings are answered.
    async fn next_sio(&mut self, name: &str, deadline: Instant, what: &str) -> Result<SioPacket, Stop> {
        loop {
            let p = self.next_packet(name, deadline, what).await?;
            if matches!(p.kind, PacketType::Ping | PacketType::Noop | PacketType::Pong) {
                self.auto_pong(name, &p).await?;
                continue;
            }
            if p.kind != PacketType::Message {
                return fail(format!("expected {what}, got Engine.IO {}", matchers::show_packet(&p)));
            }
            let dec =
                self.decoders.get_mut(name).ok_or_else(|| Stop::Error("suite error: Socket.IO packets on a non-Socket.IO suite".into()))?;
            let r = match p.data {
                eio::Data::Text(t) => dec.push_text(&t),
                eio::Data::Binary(b) => dec.push_binary(b),
            };
            match r {
                Ok(Some(sp)) => return Ok(sp),
                Ok(None) => continue,
                Err(e) => return fail(format!("server sent an invalid Socket.IO packet: {e}")),
            }
        }
    }

    async fn expect_closed(&mut self, s: &ExpectClosedStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let ms = match &s.within_ms {
            Some(d) => self.delay(d)?,
            None => DEFAULT_WITHIN_MS,
        };
        let started = Instant::now();
        let deadline = started + self.scaled(ms);
        let mut kept: Option<hostile::FollowUp> = None;
        if s.kept_if_answered {
            let (text, answer) = self.follow_up(&name);
            let within = self.within(None);
            // One that cannot be sent, or is refused, means the session is ending: read on.
            let _ = self.session(&name)?.send(&[Packet::message(text)], false, within).await;
            kept = Some((text, answer));
        }
        let _keepalive = self.v3_polling_keepalive(&name);
        let mut next_ping = self.v3_keepalive_start(&name);
        let mut punct = Punctuality::default();
        loop {
            let until = next_ping.filter(|t| *t < deadline).unwrap_or(deadline);
            let wake = self.wake_at(&name, until);
            let r = self.session(&name)?.recv(wake).await;
            punct.woke(&r, wake);
            let ended = !matches!(r, Err(WireError::Timeout { .. }) | Ok(Received::Packet(_)))
                || matches!(&r, Ok(Received::Packet(p)) if p.kind == PacketType::Close);
            if ended {
                if let Some(stop) = self.stalled(&name, &punct, "the session ended") {
                    return Err(stop);
                }
            }
            match r {
                Err(WireError::Timeout { .. }) if wake < deadline => {
                    if wake == until {
                        punct.v3_gap = punct.v3_gap.or_else(|| self.v3_harness_late(&name));
                        next_ping = self.v3_keepalive_ping(&name).await;
                    }
                    continue;
                }
                Ok(Received::Packet(p)) if p.kind == PacketType::Close => {
                    if s.code.is_some() {
                        continue;
                    }
                    return Ok(());
                }
                Ok(Received::Packet(p)) if matches!(p.kind, PacketType::Ping | PacketType::Noop | PacketType::Pong) => {
                    // Keep the heartbeat going (unless the case turned auto_pong off), so the
                    // close that is awaited is not a mere ping timeout; a pong that cannot be
                    // sent because the session is ending is fine.
                    let _ = self.auto_pong(&name, &p).await;
                    continue;
                }
                Ok(Received::Packet(p))
                    if kept
                        .is_some_and(|(_, answer)| matches!(&p.data, eio::Data::Text(t) if p.kind == PacketType::Message && answer(t))) =>
                {
                    return fail(format!(
                        "the server kept the session: it answered `{}`, sent on it after what should have ended it, {} ms later",
                        kept.map(|(text, _)| text).unwrap_or_default(),
                        started.elapsed().as_millis()
                    ));
                }
                Ok(Received::Packet(p)) if p.kind == PacketType::Message && self.sio.is_some() => continue,
                Ok(Received::Packet(p)) => return fail(format!("expected the session to close, got {}", matchers::show_packet(&p))),
                Ok(Received::Ended { code, status, detail }) => {
                    if let Some(want) = s.code {
                        if code != Some(want) {
                            return fail(format!(
                                "expected close code {want}, the connection ended with {} ({detail})",
                                code.map(|c| c.to_string()).unwrap_or_else(|| "no close frame".into())
                            ));
                        }
                    }
                    if let Some(st) = status {
                        if st != 400 {
                            return fail(format!("expected HTTP 400 for a closed session, got {st} {detail}"));
                        }
                    }
                    return Ok(());
                }
                Err(WireError::Timeout { .. }) => return fail(format!("the session was still open after {ms} ms")),
                // A poll cut without a response also ends the session; any other error is not
                // a sign of the end.
                Err(WireError::Cut(_)) if !self.session(&name)?.is_ws() => return Ok(()),
                Err(WireError::Http(m) | WireError::Cut(m)) => return fail(m),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn expect_silence(&mut self, s: &SilenceStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let ms = self.delay(&s.ms)?;
        let deadline = Instant::now() + Duration::from_millis(ms);
        let _keepalive = self.v3_polling_keepalive(&name);
        let mut next_ping = self.v3_keepalive_start(&name);
        let mut punct = Punctuality::default();
        loop {
            let until = next_ping.filter(|t| *t < deadline).unwrap_or(deadline);
            let wake = self.wake_at(&name, until);
            let r = self.session(&name)?.recv(wake).await;
            punct.woke(&r, wake);
            if matches!(r, Ok(Received::Ended { .. })) {
                if let Some(stop) = self.stalled(&name, &punct, "the session ended") {
                    return Err(stop);
                }
            }
            match r {
                Err(WireError::Timeout { .. }) if wake < deadline => {
                    if wake == until {
                        punct.v3_gap = punct.v3_gap.or_else(|| self.v3_harness_late(&name));
                        next_ping = self.v3_keepalive_ping(&name).await;
                    }
                }
                Err(WireError::Timeout { .. }) => return Ok(()),
                Ok(Received::Packet(p)) if matches!(p.kind, PacketType::Ping | PacketType::Noop) => {
                    self.auto_pong(&name, &p).await?;
                }
                // The answer to a keep-alive ping of ours (v3).
                Ok(Received::Packet(p)) if p.kind == PacketType::Pong && next_ping.is_some() => {}
                Ok(Received::Packet(p)) => return fail(format!("expected nothing for {ms} ms, got {}", matchers::show_packet(&p))),
                Ok(Received::Ended { detail, .. }) => {
                    return fail(format!("expected the session to stay open for {ms} ms; it ended: {detail}"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn upgrade(&mut self, s: &UpgradeStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let within = self.within(None);
        let headers = self.headers(&s.headers);
        let pending = self.session(&name)?.upgrade(s.pending_poll, s.finish, &headers, within).await?;
        self.check_pending_poll(pending)?;
        if s.finish {
            // Later steps may use another connection (a poll with the sid, a second websocket):
            // they must not race the server's processing of the `5`.
            self.confirm_upgrade(&name).await?;
        }
        Ok(())
    }

    fn check_pending_poll(&mut self, pending: Option<Result<Response, WireError>>) -> StepResult {
        if let Some(r) = pending {
            let resp = r.map_err(|e| Stop::Fail(format!("the poll pending during the upgrade failed: {e}")))?;
            if resp.status != 200 {
                return fail(format!("the poll pending during the upgrade got {} {}", resp.status, show_bytes(&resp.body)));
            }
            let got = eio::decode_payload(self.rev, &resp.body, resp.content_type())
                .map_err(|e| Stop::Fail(format!("pending poll payload: {e}")))?;
            if !got.iter().any(|p| p.kind == PacketType::Noop) {
                let shown: Vec<String> = got.iter().map(matchers::show_packet).collect();
                return fail(format!("the poll pending during the upgrade must end with a noop (6), got {shown:?}"));
            }
        }
        Ok(())
    }

    async fn ws_connect(&mut self, s: &WsConnectStep) -> StepResult {
        let path = s.path.as_deref().map(|p| self.vars.render(p)).unwrap_or_else(|| self.path.clone());
        let query = s
            .query
            .as_deref()
            .map(|q| self.vars.render(q))
            .unwrap_or_else(|| format!("EIO={}&transport=websocket", self.vars.get("eio").unwrap_or("4")));
        let target = format!("{path}?{query}");
        let headers = self.headers(&s.headers);
        let within = self.within(None);
        let check_headers = |got: &[(String, String)], vars: &Vars| -> StepResult {
            for (k, v) in &s.response_headers {
                match fields::get(got, k) {
                    None => return fail(format!("expected response header `{k}`")),
                    Some(g) if v != "*" => {
                        fields::value_matches(k, &vars.render(v), &g).map_err(|e| Stop::Fail(format!("response header `{k}`: {e}")))?
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        match ws::connect(&self.http.base, &target, &headers, within, &self.transcript).await {
            Ok(c) => {
                if let Some(st) = s.refused_status {
                    return fail(format!("expected the websocket to be refused with HTTP {st}; it was accepted"));
                }
                check_headers(&c.headers, &self.vars)?;
                let mut sess = EioSession::new(self.rev, self.http.clone(), &self.path, "");
                sess.adopt_ws(self.vars.get("sid").map(String::from), c.conn);
                if let Some(sio) = self.sio {
                    self.decoders.insert(s.session.clone(), SioDecoder::new(sio));
                }
                self.sessions.insert(s.session.clone(), sess);
                Ok(())
            }
            Err(ConnectError::Refused { status, headers, body }) => match s.refused_status {
                Some(st) if st == status => check_headers(&headers, &self.vars),
                Some(st) => fail(format!("expected the websocket to be refused with {st}, got {status} {body}")),
                None if s.may_refuse && (400..500).contains(&status) => {
                    let mut sess = EioSession::new(self.rev, self.http.clone(), &self.path, "");
                    sess.refused();
                    self.sessions.insert(s.session.clone(), sess);
                    Ok(())
                }
                None => fail(format!("websocket refused: {status} {body}")),
            },
            Err(ConnectError::Wire(e)) => {
                if s.refused_status.is_some() && !matches!(e, WireError::Refused(_)) {
                    // The server cut the connection instead of answering: a refusal without status.
                    return fail(format!("expected an HTTP refusal, the connection failed: {e}"));
                }
                Err(e.into())
            }
        }
    }

    async fn heartbeat(&mut self, s: &HeartbeatStep) -> StepResult {
        let name = Self::session_name(&s.session);
        let interval: u64 = self.vars.get("pingInterval").and_then(|v| v.parse().ok()).unwrap_or(300);
        let timeout: u64 = self.vars.get("pingTimeout").and_then(|v| v.parse().ok()).unwrap_or(200);
        let within = self.within(None);
        match self.rev {
            EioRevision::V4 => {
                // From the last heartbeat exchange: the handshake, or a pong the harness sent.
                let mut since = self.live.since(&name).or_else(|| self.handshake_at.get(&name).copied()).unwrap_or_else(Instant::now);
                for round in 1..=s.rounds {
                    let deadline = Instant::now() + self.scaled(interval + timeout) + Duration::from_millis(timing::HEARTBEAT_GRACE_MS);
                    let p = loop {
                        let p = self.next_packet(&name, deadline, "a ping").await?;
                        if p.kind != PacketType::Noop {
                            break p;
                        }
                    };
                    if p.kind != PacketType::Ping {
                        return fail(format!("round {round}: expected a ping (2), got {}", matchers::show_packet(&p)));
                    }
                    let gap = since.elapsed().as_millis() as u64;
                    if let Some(tol) = s.tolerance_ms {
                        let tol = self.scaled(tol).as_millis() as u64;
                        let early = timing::HEARTBEAT_EARLY_MS;
                        if gap + early < interval || gap > interval + tol {
                            return fail(format!(
                                "round {round}: ping came {gap} ms after the previous exchange; the advertised pingInterval is {interval} ms (tolerance -{early}/+{tol} ms)"
                            ));
                        }
                    }
                    self.transcript.log(format!("# ping {round} after {gap} ms (pingInterval {interval})"));
                    since = Instant::now();
                    self.session(&name)?.send(&[Packet::new(PacketType::Pong, "")], false, within).await?;
                    self.ponged(&name);
                }
            }
            EioRevision::V3 => {
                let mut punct = Punctuality::default();
                // At least one whole heartbeat period (pingInterval + pingTimeout, the time a
                // server takes to judge a client), however few the rounds: what a server does
                // on its own timers within that period (a ping of its own, a timeout) is seen
                // in every run, not only when the rounds happen to last long enough.
                let started = self.handshake_at.get(&name).copied().unwrap_or_else(Instant::now);
                let period = Duration::from_millis(interval + timeout);
                let mut round = 0;
                while round < s.rounds || started.elapsed() < period {
                    round += 1;
                    punct.v3_gap = punct.v3_gap.or_else(|| self.v3_harness_late(&name));
                    self.session(&name)?.send(&[Packet::new(PacketType::Ping, "")], false, within).await?;
                    let deadline = Instant::now() + self.scaled(timeout.max(200)) + Duration::from_millis(300);
                    let p = loop {
                        let p = match self.next_packet(&name, deadline, "a pong").await {
                            Ok(p) => p,
                            Err(Stop::Fail(m)) => match self.stalled(&name, &punct, &format!("round {round}: {m}")) {
                                Some(stop) => return Err(stop),
                                None => return Err(Stop::Fail(m)),
                            },
                            Err(e) => return Err(e),
                        };
                        if p.kind != PacketType::Noop {
                            break p;
                        }
                    };
                    if p.kind != PacketType::Pong {
                        return fail(format!("round {round}: expected a pong (3), got {}", matchers::show_packet(&p)));
                    }
                    if round < s.rounds || started.elapsed() < period {
                        // A client pinging with room to spare (see v3_keepalive_period).
                        tokio::time::sleep(self.v3_keepalive_period()).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn server_event(&mut self, s: &ServerEventStep) -> StepResult {
        if self.events.is_none() {
            // A server started by hand reports nothing: this check cannot be judged, but the
            // wire steps after it still can, so the case goes on (and cannot end as a pass).
            let note = format!("the server side is not observable (a server started by hand reports no `{}` events)", s.event);
            self.transcript.log(format!("# unsupported: {note}"));
            self.unreported.get_or_insert(note);
            return Ok(());
        }
        let matches = |v: &Value, vars: &mut Vars| -> bool {
            if v.get("event").and_then(|e| e.as_str()) != Some(s.event.as_str()) {
                return false;
            }
            match &s.fields {
                None => true,
                Some(pat) => json_match_partial(pat, v, vars, "event").is_ok(),
            }
        };
        for i in 0..self.seen_events.len() {
            let v = self.seen_events[i].clone();
            if matches(&v, &mut self.vars) {
                self.seen_events.remove(i);
                self.transcript.log(format!("⊙ server: {v}"));
                return Ok(());
            }
            if let Some(missing) = self.unreported_fields(s, &v) {
                self.seen_events.remove(i);
                self.transcript.log(format!("⊙ server: {v}"));
                self.note_unreported(s, &missing);
                return Ok(());
            }
        }
        let deadline = Instant::now() + self.within(s.within_ms);
        loop {
            let rx = self.events.as_mut().expect("checked above");
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(v)) => {
                    if matches(&v, &mut self.vars) {
                        self.transcript.log(format!("⊙ server: {v}"));
                        return Ok(());
                    }
                    if let Some(missing) = self.unreported_fields(s, &v) {
                        self.transcript.log(format!("⊙ server: {v}"));
                        self.note_unreported(s, &missing);
                        return Ok(());
                    }
                    self.seen_events.push(v);
                }
                Ok(None) => return Err(Stop::Error("the driver stopped reporting events".into())),
                Err(_) => {
                    let seen: Vec<String> = self.seen_events.iter().map(|v| v.to_string()).collect();
                    return fail(format!(
                        "the server reported no `{}` event matching {} within the deadline; it reported: {}",
                        s.event,
                        s.fields.as_ref().map(|f| f.to_string()).unwrap_or_default(),
                        if seen.is_empty() { "nothing".into() } else { seen.join(", ") }
                    ));
                }
            }
        }
    }
}

/// A Socket.IO CONNECT to the main namespace (`0`, `0{…}`).
fn is_main_connect(o: &Outgoing) -> bool {
    matches!(o, Outgoing::Packet(p) if p.kind == PacketType::Message
        && matches!(&p.data, eio::Data::Text(t) if t == "0" || t.starts_with("0{")))
}

/// How often a step waiting on a websocket wakes up to measure the harness's own lag.
const LAG_TICK: Duration = Duration::from_millis(50);

/// What a waiting step knows about the harness's own punctuality (see `Exec::stalled`).
#[derive(Default)]
struct Punctuality {
    /// v3: a gap between the harness's frames over pingTimeout, seen before a keep-alive ping.
    v3_gap: Option<u64>,
    /// The longest a wake-up came after it was due: the harness was not running meanwhile.
    max_lag_ms: u64,
}

impl Punctuality {
    fn woke<T>(&mut self, r: &Result<T, WireError>, due: Instant) {
        if matches!(r, Err(WireError::Timeout { .. })) {
            self.max_lag_ms = self.max_lag_ms.max(Instant::now().saturating_duration_since(due).as_millis() as u64);
        }
    }
}

fn payload_format(rev: EioRevision) -> eio::PayloadFormat {
    match rev {
        EioRevision::V3 => eio::PayloadFormat::V3Text,
        EioRevision::V4 => eio::PayloadFormat::V4,
    }
}

/// A message packet of exactly `n` bytes on the wire: `4` then `n-1` times `a`.

/// The headers of a raw request, made to look like a real client's unless the case says
/// otherwise: a request with a body (or a method that carries one) gets the `Content-Type`
/// engine.io-client sends — `text/plain;charset=UTF-8` for text payloads,
/// `application/octet-stream` for binary (XHR2) ones — when the step sets none, so a server
/// that refuses untyped requests is judged on what the case is about. A header whose value is
/// `$absent` is not sent at all (a case about that very header).
pub(crate) fn client_like_headers(mut headers: Vec<(String, String)>, method: &str, has_body: bool, binary: bool) -> Vec<(String, String)> {
    let carries_body = has_body || ["POST", "PUT", "PATCH"].iter().any(|m| m.eq_ignore_ascii_case(method));
    if carries_body && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        let ct = if binary { "application/octet-stream" } else { "text/plain;charset=UTF-8" };
        headers.push(("content-type".into(), ct.into()));
    }
    headers.retain(|(_, v)| v != "$absent");
    headers
}

fn header_names(r: &Response) -> Vec<String> {
    r.headers.iter().map(|(k, _)| k.clone()).collect()
}

impl Exec<'_> {
    /// When an event matched on every field its driver reports, the rest are fields the
    /// implementation does not expose (a library without disconnect reasons): not a failure.
    fn unreported_fields(&self, s: &ServerEventStep, v: &Value) -> Option<Vec<String>> {
        let pat = s.fields.as_ref()?.as_object()?;
        if v.get("event").and_then(|e| e.as_str()) != Some(s.event.as_str()) {
            return None;
        }
        let obj = v.as_object()?;
        let missing: Vec<String> = pat.keys().filter(|k| !obj.contains_key(*k)).cloned().collect();
        if missing.is_empty() {
            return None;
        }
        let reported: serde_json::Map<String, Value> =
            pat.iter().filter(|(k, _)| obj.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut scratch = self.vars.clone();
        json_match_partial(&Value::Object(reported), v, &mut scratch, "event").is_ok().then_some(missing)
    }

    /// Notes an unreportable field; the wire steps after this one still count.
    fn note_unreported(&mut self, s: &ServerEventStep, missing: &[String]) {
        let note = format!("the target's driver reports `{}` without {}: its API does not expose it", s.event, missing.join(", "));
        self.transcript.log(format!("# unsupported: {note}"));
        self.unreported.get_or_insert(note);
    }
}

#[cfg(test)]
mod request_tests {
    use super::client_like_headers;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Raw requests carry the Content-Type a real client sends, unless the case sets it.
    #[test]
    fn raw_requests_with_a_body_are_typed_like_a_real_client() {
        let ct = |hs: &[(String, String)]| crate::wire::fields::get(hs, "content-type");
        assert_eq!(ct(&client_like_headers(vec![], "POST", true, false)).as_deref(), Some("text/plain;charset=UTF-8"));
        assert_eq!(ct(&client_like_headers(vec![], "post", false, false)).as_deref(), Some("text/plain;charset=UTF-8"));
        assert_eq!(ct(&client_like_headers(vec![], "PUT", false, false)).as_deref(), Some("text/plain;charset=UTF-8"));
        assert_eq!(ct(&client_like_headers(vec![], "POST", true, true)).as_deref(), Some("application/octet-stream"));
        assert_eq!(ct(&client_like_headers(vec![], "GET", false, false)), None, "a GET has no body and no type");
        let own = client_like_headers(h(&[("Content-Type", "application/x-www-form-urlencoded")]), "POST", true, false);
        assert_eq!(own, h(&[("Content-Type", "application/x-www-form-urlencoded")]), "the case's own type is kept");
        let none = client_like_headers(h(&[("content-type", "$absent"), ("origin", "http://example.com")]), "POST", true, false);
        assert_eq!(none, h(&[("origin", "http://example.com")]), "`$absent` sends no Content-Type at all");
    }
}
