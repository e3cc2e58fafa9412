//! Executes one client-suite case: the mock server plays the server, the target's driver
//! commands a client, and the steps judge what the mock saw and what the driver reported.
use super::exec::Stop;
use super::matchers::{self, json_match, json_match_partial, match_eio, match_sio, parse_sio_pattern};
use super::outgoing::Outgoing;
use super::vars::Vars;
use super::verdict::Verdict;
use super::{Planned, RunOptions};
use crate::mock::{Behaviour, Dir, Ev, Mock, Out, RequestRec};
use crate::protocol::eio::{Data, EioRevision, PacketType};
use crate::suite::client_steps::*;
use crate::suite::steps::{Delay, PacketMatch, PacketSpec};
use crate::suite::Layer;
use crate::targets::client::ClientSession;
use crate::targets::Target;
use crate::wire::transcript::Redactor;
use crate::wire::Transcript;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

type StepResult = Result<(), Stop>;
/// Record indices of the matched packets, and the variables their patterns captured.
type Found = (Vec<usize>, Vars);

fn fail<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(msg.into()))
}

use super::timing::{self, CASE_DEADLINE_MS as DEFAULT_CASE_DEADLINE_MS, CLIENT_STEP_MS as DEFAULT_WITHIN_MS};

pub async fn run_client_case(
    target: &Target,
    p: &Planned,
    steps: &[ClientStep],
    key: &str,
    opts: &RunOptions,
    transcript: &Transcript,
    redactor: &mut Redactor,
) -> (Verdict, String) {
    let case = &p.case;
    let clients = match target.client_session(key) {
        Ok(c) => c,
        Err(e) => return (Verdict::Error, e),
    };
    // A Socket.IO client needs the mock's Socket.IO layer even in an Engine.IO-level suite
    // (it only reports `connect` once a namespace is joined); a raw Engine.IO client does not.
    let ready = target.ready_line().cloned().unwrap_or(Value::Null);
    let sio_client = ready.get("protocol").is_some() || (ready.get("engine.io").is_none() && case.layer == Layer::SocketIo);
    let path = if sio_client { "/socket.io/" } else { "/engine.io/" };
    let behaviour = Behaviour::standard(case.revision.eio(), sio_client, path);
    let mock = match Mock::start(behaviour, transcript.clone()).await {
        Ok(m) => m,
        Err(e) => return (Verdict::Error, format!("the mock server cannot listen: {e}")),
    };
    redactor.add(&mock.port().to_string(), "port");
    let scale = opts.time_scale;
    let mut exec = ClientExec::new(steps, mock, clients, transcript.clone(), scale);
    let deadline = timing::scaled(scale, case.def.deadline_ms.unwrap_or(DEFAULT_CASE_DEADLINE_MS));
    let outcome = tokio::time::timeout(deadline, exec.run()).await;
    for (value, name) in exec.volatile() {
        redactor.add(&value, &name);
    }
    let alive = exec.clients.driver_alive();
    let tail = if alive { String::new() } else { exec.clients.driver_tail() };
    drop(exec);
    let (verdict, message) = super::verdict_of(outcome, case.def.level, deadline);
    if !alive && verdict != Verdict::Pass {
        return (Verdict::Error, format!("the client driver died: {message}\n{tail}"));
    }
    (verdict, message)
}

struct Report {
    client: String,
    value: Value,
    at: Instant,
}

struct ClientExec<'a> {
    steps: &'a [ClientStep],
    mock: Mock,
    clients: ClientSession,
    transcript: Transcript,
    vars: Vars,
    scale: f64,
    /// Reports not yet matched by an `expect_report`.
    reports: Vec<Report>,
    /// Everything reported so far, for failure messages.
    all_reports: Vec<String>,
    /// Record indices of requests and packets already matched by an expectation.
    consumed: HashSet<usize>,
}

impl super::engine::Role for ClientExec<'_> {
    type Step = ClientStep;
    type Stop = Stop;

    fn kind(step: &ClientStep) -> &'static str {
        step.kind()
    }
    fn transcript(&self) -> &Transcript {
        &self.transcript
    }
    fn before(&mut self, _number: usize, _step: &ClientStep) {
        self.refresh_vars();
    }
    async fn run_step(&mut self, step: &ClientStep) -> StepResult {
        self.step(step).await
    }
    /// What the mock and the client reported during the step is read before the next one.
    fn after(&mut self, _number: usize, _step: &ClientStep) -> StepResult {
        self.pump()
    }
}

impl<'a> ClientExec<'a> {
    fn new(steps: &'a [ClientStep], mock: Mock, clients: ClientSession, transcript: Transcript, scale: f64) -> Self {
        let mut x = ClientExec {
            steps,
            mock,
            clients,
            transcript,
            vars: Vars::default(),
            scale,
            reports: Vec::new(),
            all_reports: Vec::new(),
            consumed: HashSet::new(),
        };
        x.refresh_vars();
        x
    }

    fn scaled(&self, ms: u64) -> Duration {
        timing::scaled(self.scale, ms)
    }

    fn delay(&self, d: &Delay) -> Result<u64, Stop> {
        match d {
            Delay::Ms(n) => Ok(*n),
            Delay::Expr(e) => self.vars.eval_ms(e).map_err(Stop::Error),
        }
    }

    fn window(&self, d: &Option<Delay>) -> Result<Duration, Stop> {
        Ok(self.scaled(match d {
            Some(d) => self.delay(d)?,
            None => DEFAULT_WITHIN_MS,
        }))
    }

    /// Variables for templates: the mock's settings and the ids it handed out.
    fn refresh_vars(&mut self) {
        let b = self.mock.behaviour();
        self.vars.set("eio", if b.eio == EioRevision::V3 { "3" } else { "4" });
        self.vars.set("path", b.path.clone());
        self.vars.set("url", self.mock.url());
        self.vars.set("pingInterval", b.ping_interval.to_string());
        self.vars.set("pingTimeout", b.ping_timeout.to_string());
        self.vars.set("maxPayload", b.max_payload.to_string());
        for (_, ev) in self.mock.record().since(0) {
            match &ev.ev {
                Ev::Handshake { session, sid, .. } => {
                    self.vars.set("sid", sid.clone());
                    self.vars.set(&format!("sid{session}"), sid.clone());
                }
                Ev::SioConnected { session, nsp, socket_id } if nsp == "/" => {
                    self.vars.set("socket_id", socket_id.clone());
                    self.vars.set(&format!("socket_id{session}"), socket_id.clone());
                }
                _ => {}
            }
        }
    }

    fn volatile(&self) -> Vec<(String, String)> {
        let mut v = self.mock.volatile();
        for (k, val) in self.vars.iter() {
            if !matches!(k.as_str(), "eio" | "path" | "url" | "pingInterval" | "pingTimeout" | "maxPayload")
                && !k.starts_with("sid")
                && !k.starts_with("socket_id")
            {
                v.push((val.clone(), k.clone()));
            }
        }
        v
    }

    async fn run(&mut self) -> StepResult {
        let steps = self.steps;
        super::engine::drive(self, steps).await
    }

    async fn step(&mut self, step: &ClientStep) -> StepResult {
        match step {
            ClientStep::Sleep(s) => {
                let ms = self.delay(&s.ms)?;
                tokio::time::sleep(self.scaled(ms)).await;
                Ok(())
            }
            ClientStep::Mock(s) => {
                self.mock.apply(s).await.map_err(Stop::Error)?;
                self.refresh_vars();
                Ok(())
            }
            ClientStep::MockSend(s) => {
                let items = self.outgoing(&s.packets, s.session)?;
                self.mock.send(s.session, items).map_err(Stop::Error)
            }
            ClientStep::MockClose(s) => self.mock.close_session(s.session, s.how).map_err(Stop::Error),
            ClientStep::ClientConnect(s) => self.client_connect(s),
            ClientStep::ClientEmit(s) => {
                let mut f = Map::new();
                f.insert("event".into(), json!(s.event));
                f.insert("args".into(), self.render_value(&Value::Array(s.args.clone())));
                if let Some(a) = &s.ack_id {
                    f.insert("ack_id".into(), json!(self.vars.render(a)));
                }
                self.command(&s.client, "emit", f)
            }
            ClientStep::ClientAck(s) => {
                let mut f = Map::new();
                f.insert("ack_id".into(), json!(self.vars.render(&s.ack_id)));
                f.insert("args".into(), self.render_value(&Value::Array(s.args.clone())));
                self.command(&s.client, "ack", f)
            }
            ClientStep::ClientSend(s) => {
                let data = match &s.data {
                    Value::Object(o) if o.len() == 1 && o.get("fill").and_then(|v| v.as_u64()).is_some() => {
                        let n = o["fill"].as_u64().unwrap_or(0) as usize;
                        json!("a".repeat(n))
                    }
                    other => self.render_value(other),
                };
                let mut f = Map::new();
                f.insert("data".into(), data);
                self.command(&s.client, "send", f)
            }
            ClientStep::ClientDisconnect(s) => self.command(&s.client, "disconnect", Map::new()),
            ClientStep::ClientClose(s) => self.command(&s.client, "close", Map::new()),
            ClientStep::ExpectRequest(s) => self.expect_request(s).await,
            ClientStep::ExpectClientPacket(s) => self.expect_client_packet(s).await,
            ClientStep::ExpectReport(s) => self.expect_report(s).await,
            ClientStep::ExpectHeartbeat(s) => self.expect_heartbeat(s).await,
        }
    }

    /// `{name}` templates in every string of a JSON value; `"$fill:N"` is a string of N `a`s.
    fn render_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => match s.strip_prefix("$fill:").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Value::String("a".repeat(n)),
                None => Value::String(self.vars.render(s)),
            },
            Value::Array(a) => Value::Array(a.iter().map(|x| self.render_value(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), self.render_value(x))).collect()),
            other => other.clone(),
        }
    }

    fn command(&mut self, client: &str, cmd: &str, fields: Map<String, Value>) -> StepResult {
        let line = self.clients.command(client, cmd, fields).map_err(Stop::Error)?;
        let shown = redact_url(&line.to_string(), &self.mock.url());
        self.transcript.log(format!("▷ {shown}"));
        Ok(())
    }

    fn client_connect(&mut self, s: &ClientConnectStep) -> StepResult {
        let mut f = match s.options.as_ref().map(|o| self.render_value(o)) {
            None => Map::new(),
            Some(Value::Object(o)) => o,
            Some(_) => return Err(Stop::Error("suite error: client_connect options must be a table".into())),
        };
        f.insert("url".into(), json!(self.mock.url()));
        self.command(&s.client, "connect", f)
    }

    /// Takes every report already waiting; stops the case on an `unsupported` answer or a
    /// command the driver refused.
    fn pump(&mut self) -> StepResult {
        loop {
            let now = Instant::now();
            match futures_util::FutureExt::now_or_never(self.clients.next_report(now)) {
                Some(Some((client, v))) => self.take_report(client, v)?,
                _ => return Ok(()),
            }
        }
    }

    fn take_report(&mut self, client: String, v: Value) -> StepResult {
        let shown = redact_url(&v.to_string(), &self.mock.url());
        self.transcript.log(format!("⊙ client: {shown}"));
        let event = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
        match event {
            "unsupported" => {
                let what = v.get("reason").or(v.get("option")).or(v.get("cmd")).and_then(|r| r.as_str()).unwrap_or("unsupported");
                return Err(Stop::Unsupported(format!("the client cannot do this: {what}")));
            }
            "error" if v.get("cmd").is_some() => {
                let cmd = v.get("cmd").and_then(|c| c.as_str()).unwrap_or("?");
                let msg = v.get("message").and_then(|c| c.as_str()).unwrap_or("");
                return Err(Stop::Error(format!("the driver refused `{cmd}`: {msg}")));
            }
            "closed" => return Ok(()),
            _ => {}
        }
        self.all_reports.push(shown);
        self.reports.push(Report { client, value: v, at: Instant::now() });
        Ok(())
    }

    async fn next_report(&mut self, deadline: Instant) -> Result<bool, Stop> {
        match self.clients.next_report(deadline).await {
            Some((client, v)) => {
                self.take_report(client, v)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Waits for a new mock event or a new client report (taken into the buffer, so an
    /// `unsupported` answer stops the case at once). False when the deadline passed.
    async fn wait_any(&mut self, seen: usize, deadline: Instant) -> Result<bool, Stop> {
        let got = tokio::select! {
            got = self.mock.record().wait_beyond(seen, deadline) => Ok(got),
            r = self.clients.next_report(deadline) => Err(r),
        };
        match got {
            Ok(g) => Ok(g),
            Err(Some((client, v))) => {
                self.take_report(client, v)?;
                Ok(true)
            }
            Err(None) => Ok(false),
        }
    }

    /// What the mock noted as wrong (refused payloads, bad packets…), for failure messages.
    fn notes(&self) -> String {
        let notes: Vec<String> = self
            .mock
            .record()
            .since(0)
            .iter()
            .filter_map(|(_, e)| if let Ev::Note { what, .. } = &e.ev { Some(what.clone()) } else { None })
            .collect();
        if notes.is_empty() {
            String::new()
        } else {
            format!("; the mock noted: {}", notes.join("; "))
        }
    }

    fn latest_handshake(&self) -> Option<Instant> {
        self.mock.record().since(0).iter().rev().find(|(_, e)| matches!(e.ev, Ev::Handshake { .. })).map(|(_, e)| e.at)
    }

    async fn expect_report(&mut self, s: &ExpectReportStep) -> StepResult {
        self.pump()?;
        let window = self.window(&s.within_ms)?;
        let deadline = Instant::now() + window;
        let not_before = match &s.not_before_ms {
            Some(d) => Some(self.scaled(self.delay(d)?)),
            None => None,
        };
        let step_start = Instant::now();
        loop {
            self.refresh_vars();
            let pattern = s.fields.as_ref().map(|f| self.render_value(f));
            let mut found = None;
            for (i, r) in self.reports.iter().enumerate() {
                if r.client != s.client || r.value.get("event").and_then(|e| e.as_str()) != Some(s.event.as_str()) {
                    continue;
                }
                let mut vars = self.vars.clone();
                let ok = match &pattern {
                    None => true,
                    Some(p) => json_match_partial(p, &r.value, &mut vars, "report").is_ok(),
                };
                if ok {
                    found = Some((i, vars));
                    break;
                }
            }
            if let Some((i, vars)) = found {
                let r = self.reports.remove(i);
                if s.absent {
                    return fail(format!(
                        "the client reported {} (expected no such report)",
                        redact_url(&r.value.to_string(), &self.mock.url())
                    ));
                }
                let (origin, what) = match s.since.unwrap_or(Since::Handshake) {
                    Since::Handshake => (self.latest_handshake(), "the handshake"),
                    Since::Step => (Some(step_start), "the step began"),
                };
                if let (Some(nb), Some(h)) = (not_before, origin) {
                    let after = r.at.saturating_duration_since(h);
                    if after < nb {
                        return fail(format!(
                            "the client reported {} {} ms after {what}, earlier than {} ms",
                            r.value,
                            after.as_millis(),
                            nb.as_millis()
                        ));
                    }
                    self.transcript.log(format!("# reported {} ms after {what}", after.as_millis()));
                }
                self.vars = vars;
                return Ok(());
            }
            if !self.next_report(deadline).await? {
                if s.absent {
                    return Ok(());
                }
                let want = match &pattern {
                    Some(p) => format!("`{}` matching {p}", s.event),
                    None => format!("`{}`", s.event),
                };
                let seen = if self.all_reports.is_empty() { "nothing".to_string() } else { self.all_reports.join(", ") };
                return fail(format!("the client {} reported no {want} within {} ms; it reported: {seen}", s.client, window.as_millis()));
            }
        }
    }

    fn request_matches(&self, s: &ExpectRequestStep, r: &RequestRec, vars: &mut Vars) -> Result<bool, Stop> {
        if let Some(m) = &s.method {
            if !m.eq_ignore_ascii_case(&r.method) {
                return Ok(false);
            }
        }
        if let Some(p) = &s.path {
            if self.vars.render(p) != r.path {
                return Ok(false);
            }
        }
        if let Some(w) = s.websocket {
            if w != r.websocket {
                return Ok(false);
            }
        }
        if let Some(d) = &s.body_longer_than {
            if r.body_len as u64 <= self.delay(d)? {
                return Ok(false);
            }
        }
        let check = |pat: &Value, actual: Option<&str>, vars: &mut Vars| -> bool {
            match (pat, actual) {
                (Value::String(p), None) => p == "$absent",
                (Value::String(p), Some(_)) if p == "$absent" => false,
                (_, None) => false,
                (Value::Number(_) | Value::Bool(_), Some(a)) => serde_json::from_str::<Value>(a).ok().as_ref() == Some(pat),
                (p, Some(a)) => {
                    let p = self.render_value(p);
                    json_match(&p, &Value::String(a.to_string()), vars, "").is_ok()
                }
            }
        };
        for (k, pat) in &s.query {
            if !check(pat, r.param(k), vars) {
                return Ok(false);
            }
        }
        // Header values are compared as HTTP defines them (media types, token lists); a
        // field sent on several lines is one list.
        for (k, pat) in &s.headers {
            if !matchers::header_matches(k, &self.render_value(pat), crate::wire::fields::get(&r.headers, k).as_deref(), vars) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn expect_request(&mut self, s: &ExpectRequestStep) -> StepResult {
        let window = self.window(&s.within_ms)?;
        let deadline = Instant::now() + window;
        // `absent` looks at what arrives during the window, unless `ever`.
        let from = if s.absent && !s.ever { self.mock.record().len() } else { 0 };
        loop {
            self.refresh_vars();
            let events = self.mock.record().since(0);
            let seen = self.mock.record().len();
            let requests: Vec<(usize, &RequestRec)> =
                events.iter().filter_map(|(i, e)| if let Ev::Request(r) = &e.ev { Some((*i, r)) } else { None }).collect();
            let candidates: Vec<(usize, &RequestRec)> = if s.first {
                requests.iter().take(1).cloned().collect()
            } else {
                requests.iter().filter(|(i, _)| *i >= from && !self.consumed.contains(i)).cloned().collect()
            };
            let mut hit = None;
            for (i, r) in &candidates {
                let mut vars = self.vars.clone();
                if self.request_matches(s, r, &mut vars)? {
                    hit = Some((*i, (*r).clone(), vars));
                    break;
                }
            }
            if s.first && !candidates.is_empty() && hit.is_none() {
                let r = candidates[0].1;
                return fail(format!("the first request was {}, which does not match {}", show_request(r), describe_request(s)));
            }
            if let Some((i, r, vars)) = hit {
                if s.absent {
                    return fail(format!("the mock saw {} (expected no request matching {})", show_request(&r), describe_request(s)));
                }
                self.consumed.insert(i);
                self.vars = vars;
                return Ok(());
            }
            if !self.wait_any(seen, deadline).await? {
                if s.absent {
                    return Ok(());
                }
                let shown: Vec<String> = requests.iter().rev().take(12).rev().map(|(_, r)| show_request(r)).collect();
                return fail(format!(
                    "no request matching {} within {} ms; the mock saw: {}{}",
                    describe_request(s),
                    window.as_millis(),
                    if shown.is_empty() { "no request at all".into() } else { shown.join(", ") },
                    self.notes()
                ));
            }
        }
    }

    fn outgoing(&self, specs: &[PacketSpec], session: Option<usize>) -> Result<Vec<Out>, Stop> {
        let rev = self.mock.session_rev(session).unwrap_or(self.mock.behaviour().eio);
        let packets = super::outgoing::packets(specs, rev, &|t| self.vars.render(t), &|d| self.delay(d))?;
        packets
            .into_iter()
            .map(|o| match o {
                Outgoing::Packet(p) => Ok(Out::Packet(p)),
                Outgoing::Raw(r) => Ok(Out::Raw(r)),
                Outgoing::TextBytes(_) => Err(Stop::Error("suite error: `text_hex` is for server suites".into())),
            })
            .collect()
    }

    /// Finds, from the record, the packets the client sent matching `pats` in order, skipping
    /// packets already matched by earlier steps.
    fn find_packets(&self, s: &ExpectClientPacketStep, start: usize) -> Result<(usize, Option<Found>), Stop> {
        let events = self.mock.record().since(0);
        let mut vars = self.vars.clone();
        let mut hits = Vec::new();
        let mut from = start;
        for (k, m) in s.packets.iter().enumerate() {
            let mut found = None;
            for (i, e) in events.iter().skip(from) {
                if self.consumed.contains(i) {
                    continue;
                }
                let mut v = vars.clone();
                let ok = match (&e.ev, m) {
                    (Ev::Sio { session, packet }, PacketMatch::Table(t)) if t.sio.is_some() => {
                        if s.session.is_some_and(|n| n != *session) {
                            false
                        } else {
                            let mut pat =
                                parse_sio_pattern(&self.vars.render(t.sio.as_deref().unwrap_or_default())).map_err(Stop::Error)?;
                            // `$any` in the payload position also accepts no payload at all.
                            if packet.data.is_none() && pat.data == Some(Value::String("$any".into())) {
                                pat.data = None;
                            }
                            match_sio(&pat, t.attachments.as_ref(), packet, &mut v).is_ok()
                        }
                    }
                    (Ev::Packet { session, transport, dir: Dir::FromClient, packet }, m) if !matchers::is_sio(m) => {
                        if s.session.is_some_and(|n| n != *session) || s.transport.is_some_and(|t| t != *transport) {
                            false
                        } else {
                            let m = render_match(m, &self.vars);
                            match_eio(&m, packet, &mut v).is_ok()
                        }
                    }
                    _ => false,
                };
                if ok {
                    found = Some(*i);
                    vars = v;
                    break;
                }
            }
            match found {
                Some(i) => {
                    hits.push(i);
                    from = i + 1;
                }
                None if s.absent => continue,
                None => return Ok((k, None)),
            }
        }
        Ok((s.packets.len(), Some((hits, vars))))
    }

    async fn expect_client_packet(&mut self, s: &ExpectClientPacketStep) -> StepResult {
        let window = self.window(&s.within_ms)?;
        let deadline = Instant::now() + window;
        let start = if s.absent && !s.ever { self.mock.record().len() } else { 0 };
        loop {
            self.refresh_vars();
            let seen = self.mock.record().len();
            let (matched, hit) = self.find_packets(s, start)?;
            if s.absent {
                if let Some((hits, _)) = &hit {
                    if let Some(i) = hits.first() {
                        let shown = self.mock.record().since(*i).first().map(|(_, e)| show_event(&e.ev)).unwrap_or_default();
                        return fail(format!("the client sent {shown} (expected no such packet)"));
                    }
                }
            } else if let Some((hits, vars)) = hit {
                self.consumed.extend(hits);
                self.vars = vars;
                return Ok(());
            }
            if !self.wait_any(seen, deadline).await? {
                if s.absent {
                    return Ok(());
                }
                let m = &s.packets[matched.min(s.packets.len() - 1)];
                let all: Vec<String> = self
                    .mock
                    .record()
                    .since(0)
                    .iter()
                    .filter(|(_, e)| matches!(e.ev, Ev::Packet { dir: Dir::FromClient, .. } | Ev::Sio { .. }))
                    .map(|(_, e)| show_event(&e.ev))
                    .collect();
                let got = all[all.len().saturating_sub(16)..].to_vec();
                return fail(format!(
                    "the client sent no {} within {} ms{}; it sent: {}{}",
                    matchers::describe(m),
                    window.as_millis(),
                    if matched > 0 { format!(" (after {} matched packet(s))", matched) } else { String::new() },
                    if got.is_empty() { "nothing".into() } else { got.join(", ") },
                    self.notes()
                ));
            }
        }
    }

    async fn expect_heartbeat(&mut self, s: &ExpectHeartbeatStep) -> StepResult {
        let rev =
            self.mock.session_rev(s.session).ok_or_else(|| Stop::Fail("no session: the client never completed a handshake".into()))?;
        let session = s.session.unwrap_or_else(|| self.mock.sessions());
        let b = self.mock.behaviour();
        let (interval, timeout) = (b.ping_every.unwrap_or(b.ping_interval), b.ping_timeout);
        let start = self.mock.record().len();
        let rounds = s.rounds.max(1) as usize;
        let budget = self.scaled(rounds as u64 * (interval + timeout) + 1000);
        let deadline = Instant::now() + budget;
        loop {
            let seen = self.mock.record().len();
            let events = self.mock.record().since(0);
            for (_, e) in events.iter().skip(start) {
                if let Ev::SessionClosed { session: n, reason } = &e.ev {
                    if *n == session {
                        return fail(match (rev, reason.as_str()) {
                            (EioRevision::V4, "ping timeout") => {
                                format!("the client did not answer a ping within pingTimeout ({timeout} ms): the mock closed the session")
                            }
                            _ => format!("the session ended during the heartbeat ({reason})"),
                        });
                    }
                }
            }
            match rev {
                EioRevision::V4 => {
                    let pongs: Vec<u64> = events
                        .iter()
                        .skip(start)
                        .filter_map(|(_, e)| match &e.ev {
                            Ev::Pong { session: n, after_ms } if *n == session => Some(*after_ms),
                            _ => None,
                        })
                        .collect();
                    if pongs.len() >= rounds {
                        for (k, ms) in pongs.iter().take(rounds).enumerate() {
                            self.transcript.log(format!("# pong {} after {ms} ms (pingTimeout {timeout})", k + 1));
                            if *ms > timeout {
                                return fail(format!("pong {} came {ms} ms after its ping, over pingTimeout ({timeout} ms)", k + 1));
                            }
                        }
                        return Ok(());
                    }
                }
                EioRevision::V3 => {
                    // Each client ping is due pingInterval after the handshake or the last pong.
                    let tol = self.scaled(s.tolerance_ms.unwrap_or(timing::CLIENT_HEARTBEAT_LATE_MS)).as_millis() as u64;
                    let early = timing::HEARTBEAT_EARLY_MS;
                    let mut since: Option<Instant> = None;
                    let mut pings = 0usize;
                    for (_, e) in &events {
                        match &e.ev {
                            Ev::Handshake { session: n, .. } if *n == session => since = Some(e.at),
                            Ev::Packet { session: n, dir: Dir::ToClient, packet, .. }
                                if *n == session && packet.kind == PacketType::Pong =>
                            {
                                since = Some(e.at)
                            }
                            Ev::Packet { session: n, dir: Dir::FromClient, packet, .. }
                                if *n == session && packet.kind == PacketType::Ping && packet.data != Data::Text("probe".into()) =>
                            {
                                pings += 1;
                                if let Some(t) = since {
                                    let gap = e.at.saturating_duration_since(t).as_millis() as u64;
                                    self.transcript.log(format!("# client ping {pings} after {gap} ms (pingInterval {interval})"));
                                    if gap > interval + tol || gap + early < interval {
                                        return fail(format!(
                                            "client ping {pings} came {gap} ms after the handshake or the previous pong; pingInterval is {interval} ms (tolerance -{early}/+{tol} ms)"
                                        ));
                                    }
                                }
                                since = None;
                                if pings >= rounds {
                                    return Ok(());
                                }
                            }
                            _ => {}
                        }
                    }
                    if let Some(t) = since {
                        if t.elapsed() > self.scaled(interval) + Duration::from_millis(tol) {
                            return fail(format!(
                                "the client sent no ping within pingInterval ({interval} ms) + {tol} ms (after {pings} ping(s))"
                            ));
                        }
                    }
                }
            }
            if !self.wait_any(seen, deadline.min(Instant::now() + Duration::from_millis(50))).await? && Instant::now() >= deadline {
                return fail(format!("fewer than {rounds} heartbeat rounds within {} ms", budget.as_millis()));
            }
        }
    }
}

fn render_match(m: &PacketMatch, vars: &Vars) -> PacketMatch {
    match m {
        PacketMatch::Text(t) => PacketMatch::Text(vars.render(t)),
        other => other.clone(),
    }
}

fn show_request(r: &RequestRec) -> String {
    let q: Vec<String> = r.query.iter().map(|(k, v)| if k == "t" { "t=<t>".to_string() } else { format!("{k}={v}") }).collect();
    let mut s = format!("{} {}", r.method, r.path);
    if !q.is_empty() {
        s.push('?');
        s.push_str(&q.join("&"));
    }
    if r.websocket {
        s.push_str(" (websocket)");
    }
    if r.body_len > 0 {
        s.push_str(&format!(" ({} bytes)", r.body_len));
    }
    s
}

fn describe_request(s: &ExpectRequestStep) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &s.method {
        parts.push(m.clone());
    }
    if let Some(p) = &s.path {
        parts.push(p.clone());
    }
    for (k, v) in &s.query {
        parts.push(format!("{k}={}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string())));
    }
    if let Some(w) = s.websocket {
        parts.push(if w { "websocket".into() } else { "not websocket".into() });
    }
    if let Some(d) = &s.body_longer_than {
        parts.push(format!(
            "body > {}",
            match d {
                Delay::Ms(n) => n.to_string(),
                Delay::Expr(e) => e.clone(),
            }
        ));
    }
    format!("[{}]", parts.join(" "))
}

fn show_event(e: &Ev) -> String {
    match e {
        Ev::Packet { transport, packet, .. } => format!("{} ({})", matchers::show_packet(packet), transport.as_str()),
        Ev::Sio { packet, .. } => {
            let enc = packet.encode();
            let short: String = enc.chars().take(100).collect();
            if short.len() < enc.len() {
                format!("sio {short}… ({} bytes)", enc.len())
            } else {
                format!("sio {short}")
            }
        }
        other => format!("{other:?}"),
    }
}

/// The mock's URL carries its ephemeral port; show it as `<mock>` so lines are stable.
fn redact_url(s: &str, url: &str) -> String {
    s.replace(url, "<mock>")
}
