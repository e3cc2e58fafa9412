//! Plays one interop scenario: a client driver, through a proxy, against a live server.
use super::scenario::{Scenario, Step};
use crate::proxy::Proxy;
use crate::run::matchers::{json_match, json_match_partial};
use crate::run::timing;
use crate::run::vars::Vars;
use crate::targets::driver::Driver;
use crate::wire::Transcript;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// What one shared server's driver reports (connections, what its application received),
/// fanned out to every scenario played against that server.
pub type ServerFeed = broadcast::Sender<Value>;

/// Server reports a scenario keeps while it waits for its own (reports of other clients of
/// the same server pass through too).
const MAX_SERVER_SEEN: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// The client lacks what the scenario needs (its driver said so).
    Unsupported,
    /// The connect step failed: the pair never connected.
    NoConnect,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    /// `default` (the client's default transports) or `websocket` (websocket only).
    pub transports: String,
    pub outcome: Outcome,
    pub message: String,
    /// The first refusal the proxy saw, e.g. `400 {"code":5,"message":"Unsupported protocol version"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    pub duration_ms: u64,
    pub transcript: Vec<String>,
}

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

pub struct Play<'a> {
    pub driver: &'a Driver,
    pub upstream: &'a str,
    /// The server's reports; None when its target reports nothing.
    pub server: Option<&'a ServerFeed>,
    pub ping_cycle_ms: u64,
    pub scale: f64,
}

struct Ctx {
    key: String,
    rx: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    log: Transcript,
    vars: Vars,
    last_ack: Option<String>,
    socket_id: Option<String>,
    server_rx: Option<broadcast::Receiver<Value>>,
    server_seen: VecDeque<Value>,
}

type R = Result<(), (Outcome, String)>;

impl crate::run::engine::StepStop for (Outcome, String) {
    fn at_step(self, number: usize, kind: &str) -> Self {
        (self.0, format!("step {number} ({kind}): {}", self.1))
    }
}

/// One scenario being played: the engine's role for interop scenarios.
struct Playing<'p, 'a> {
    play: &'p Play<'a>,
    cx: Ctx,
    proxy: &'p Proxy,
    sc: &'p Scenario,
    ws_only: bool,
}

impl crate::run::engine::Role for Playing<'_, '_> {
    type Step = Step;
    type Stop = (Outcome, String);

    fn kind(step: &Step) -> &'static str {
        step_name(step)
    }
    fn transcript(&self) -> &Transcript {
        &self.cx.log
    }
    async fn run_step(&mut self, step: &Step) -> R {
        self.play.step(&mut self.cx, self.proxy, self.sc, step, self.ws_only).await
    }
}

fn fail<T>(m: impl Into<String>) -> Result<T, (Outcome, String)> {
    Err((Outcome::Fail, m.into()))
}

impl Play<'_> {
    fn wait(&self) -> Duration {
        timing::scaled(self.scale, timing::SCENARIO_STEP_MS)
    }

    pub async fn run(&self, sc: &Scenario, websocket_only: bool) -> ScenarioResult {
        let started = Instant::now();
        let log = Transcript::new();
        let key = format!("k{}", NEXT_CLIENT.fetch_add(1, Ordering::Relaxed));
        let rx = self.driver.subscribe(&key);
        // Subscribed before the client exists, so none of its server reports can be missed.
        let server_rx = self.server.map(|f| f.subscribe());
        let proxy = match Proxy::start(self.upstream, log.clone()).await {
            Ok(p) => p,
            Err(e) => {
                return ScenarioResult {
                    scenario: sc.id.clone(),
                    transports: label(websocket_only),
                    outcome: Outcome::Fail,
                    message: format!("the proxy could not start: {e}"),
                    evidence: None,
                    duration_ms: 0,
                    transcript: vec![],
                }
            }
        };
        let cx = Ctx {
            key: key.clone(),
            rx,
            seen: vec![],
            log: log.clone(),
            vars: Vars::default(),
            last_ack: None,
            socket_id: None,
            server_rx,
            server_seen: VecDeque::new(),
        };
        let mut playing = Playing { play: self, cx, proxy: &proxy, sc, ws_only: websocket_only };
        let outcome = match crate::run::engine::drive(&mut playing, &sc.steps).await {
            Ok(()) => (Outcome::Pass, String::new()),
            Err(stopped) => stopped,
        };
        self.driver.send(&json!({"cmd": "close", "client": key}));
        self.driver.unsubscribe(&key);
        drop(proxy);
        let transcript: Vec<String> = log.entries().iter().map(|e| format!("+{:>5}ms {}", e.at_ms, e.line)).collect();
        let evidence = if outcome.0 == Outcome::Pass { None } else { evidence(&log) };
        ScenarioResult {
            scenario: sc.id.clone(),
            transports: sc.transports.as_ref().map(|t| t.join("+")).unwrap_or_else(|| label(websocket_only)),
            outcome: outcome.0,
            message: outcome.1,
            evidence,
            duration_ms: started.elapsed().as_millis() as u64,
            transcript,
        }
    }

    async fn next(&self, cx: &mut Ctx, what: &str, accept: &dyn Fn(&Value) -> bool, within: Duration) -> Result<Value, (Outcome, String)> {
        if let Some(i) = cx.seen.iter().position(|v| accept(v)) {
            return Ok(cx.seen.remove(i));
        }
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, cx.rx.recv()).await {
                Ok(Some(v)) => {
                    cx.log.log(format!("client reports {v}"));
                    if accept(&v) {
                        return Ok(v);
                    }
                    // The driver refused an earlier command: the client cannot do what the scenario needs.
                    if v.get("event").and_then(|e| e.as_str()) == Some("unsupported") {
                        let why = v.get("reason").and_then(|r| r.as_str()).map(String::from).unwrap_or_else(|| v.to_string());
                        return Err((Outcome::Unsupported, format!("the client cannot do this: {why}")));
                    }
                    cx.seen.push(v);
                }
                Ok(None) => return fail("the client driver is gone"),
                Err(_) => {
                    let seen: Vec<String> = cx.seen.iter().map(|v| v.to_string()).collect();
                    return fail(format!(
                        "no {what} within {} ms; the client reported: {}",
                        within.as_millis(),
                        if seen.is_empty() { "nothing".into() } else { seen.join(", ") }
                    ));
                }
            }
        }
    }

    /// The next report of the server application about this scenario's client (its
    /// sessions are the ids that crossed this scenario's proxy) that `accept` takes.
    async fn next_server(
        &self,
        cx: &mut Ctx,
        proxy: &Proxy,
        what: &str,
        accept: &dyn Fn(&Value) -> bool,
        within: Duration,
    ) -> Result<Value, (Outcome, String)> {
        if cx.server_rx.is_none() {
            return Err((Outcome::Unsupported, "the server target does not report what its application receives".into()));
        }
        let deadline = Instant::now() + within;
        loop {
            let ids = proxy.session_ids();
            if let Some(i) = cx.server_seen.iter().position(|v| belongs(v, &ids) && accept(v)) {
                let v = cx.server_seen.remove(i).unwrap_or(Value::Null);
                cx.log.log(format!("⊙ server app: {v}"));
                return Ok(v);
            }
            let rx = cx.server_rx.as_mut().expect("checked above");
            // The client's reports are read meanwhile: one saying it could not do an earlier
            // command (an emit it cannot send) explains why the server never got it.
            let got = tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.recv()) => r,
                Some(c) = cx.rx.recv() => {
                    cx.log.log(format!("client reports {c}"));
                    if c.get("event").and_then(|e| e.as_str()) == Some("unsupported") {
                        let why = c.get("reason").and_then(|r| r.as_str()).map(String::from).unwrap_or_else(|| c.to_string());
                        return Err((Outcome::Unsupported, format!("the client cannot do this: {why}")));
                    }
                    cx.seen.push(c);
                    continue;
                }
            };
            match got {
                Ok(Ok(v)) => {
                    if cx.server_seen.len() == MAX_SERVER_SEEN {
                        cx.server_seen.pop_front();
                    }
                    cx.server_seen.push_back(v);
                }
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    cx.log.log(format!("harness: {n} server reports were dropped before this scenario read them"));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return fail("the server driver is gone"),
                Err(_) => {
                    let ours: Vec<String> = cx.server_seen.iter().filter(|v| belongs(v, &ids)).map(|v| v.to_string()).collect();
                    return fail(format!(
                        "no {what} within {} ms; the server application reported for this client: {}",
                        within.as_millis(),
                        if ours.is_empty() { "nothing".into() } else { ours.join(", ") }
                    ));
                }
            }
        }
    }

    fn command(&self, cx: &Ctx, cmd: Value) -> R {
        cx.log.log(format!("harness → client {cmd}"));
        if self.driver.send(&cmd) {
            Ok(())
        } else {
            Err((Outcome::Fail, "the client driver is gone".into()))
        }
    }

    async fn step(&self, cx: &mut Ctx, proxy: &Proxy, sc: &Scenario, step: &Step, ws_only: bool) -> R {
        let is = |name: &'static str| move |v: &Value| v.get("event").and_then(|e| e.as_str()) == Some(name);
        match step {
            Step::Connect { namespace, auth } => {
                let mut cmd = json!({
                    "cmd": "connect", "client": cx.key, "url": proxy.url(), "path": "/socket.io/",
                    "namespace": namespace.as_deref().unwrap_or("/"),
                    "reconnection": sc.reconnection,
                    "reconnectionDelay": 100, "reconnectionDelayMax": 300, "randomizationFactor": 0,
                    "timeout": timing::scaled(self.scale, timing::SCENARIO_CONNECT_TIMEOUT_MS).as_millis() as u64,
                });
                if let Some(t) = &sc.transports {
                    cmd["transports"] = json!(t);
                } else if ws_only {
                    cmd["transports"] = json!(["websocket"]);
                }
                if let Some(a) = auth {
                    cmd["auth"] = a.clone();
                }
                let accept =
                    |v: &Value| matches!(v.get("event").and_then(|e| e.as_str()), Some("connect" | "connect_error" | "unsupported"));
                // Options the harness adds for speed, not ones the scenario asks for: a client that
                // lacks one connects without it (its own default applies, the harness's deadline holds).
                const CONVENIENCE: [&str; 4] = ["timeout", "randomizationFactor", "reconnectionDelay", "reconnectionDelayMax"];
                let v = loop {
                    self.command(cx, cmd.clone())?;
                    let v =
                        self.next(cx, "connect or connect_error", &accept, self.wait()).await.map_err(|(_, m)| (Outcome::NoConnect, m))?;
                    let option = v.get("option").and_then(|o| o.as_str()).unwrap_or("");
                    let droppable = v.get("event").and_then(|e| e.as_str()) == Some("unsupported")
                        && CONVENIENCE.contains(&option)
                        && cmd.get(option).is_some();
                    if !droppable {
                        break v;
                    }
                    cx.log.log(format!("harness: the client has no `{option}` option; connecting without it"));
                    if let Some(o) = cmd.as_object_mut() {
                        o.remove(option);
                    }
                };
                match v.get("event").and_then(|e| e.as_str()) {
                    Some("connect") => {
                        cx.socket_id = v.get("id").and_then(|i| i.as_str()).map(String::from);
                        Ok(())
                    }
                    Some("unsupported") => Err((
                        Outcome::Unsupported,
                        format!("the client cannot do this: {}", v.get("reason").and_then(|r| r.as_str()).unwrap_or(&v.to_string())),
                    )),
                    _ => Err((
                        Outcome::NoConnect,
                        format!(
                            "connect_error: {}{}",
                            v.get("message").and_then(|m| m.as_str()).unwrap_or("?"),
                            v.get("description").filter(|d| !d.is_null()).map(|d| format!(" ({d})")).unwrap_or_default()
                        ),
                    )),
                }
            }
            Step::Emit { event, args, ack } => {
                let mut cmd = json!({"cmd": "emit", "client": cx.key, "event": event, "args": args});
                if *ack {
                    let id = format!("a{}", NEXT_CLIENT.fetch_add(1, Ordering::Relaxed));
                    cmd["ack_id"] = json!(id);
                    cx.last_ack = Some(id);
                }
                self.command(cx, cmd)
            }
            Step::ExpectEvent { name, args, partial } => {
                let n = name.clone();
                let accept = move |v: &Value| is("event")(v) && v.get("name").and_then(|x| x.as_str()) == Some(n.as_str());
                let v = self.next(cx, &format!("event `{name}`"), &accept, self.wait()).await?;
                let got = v.get("args").cloned().unwrap_or(Value::Null);
                match_args(args, &got, *partial, &mut cx.vars).or_else(|m| fail(format!("event `{name}`: {m}")))
            }
            Step::ExpectAck { args } => {
                let Some(id) = cx.last_ack.clone() else { return fail("suite error: expect_ack without an emit with ack") };
                let accept = move |v: &Value| is("ack")(v) && v.get("ack_id").and_then(|x| x.as_str()) == Some(id.as_str());
                let v = self.next(cx, "ack", &accept, self.wait()).await?;
                let got = v.get("args").cloned().unwrap_or(Value::Null);
                match_args(args, &got, false, &mut cx.vars).or_else(|m| fail(format!("ack: {m}")))
            }
            Step::AnswerAck { name, args, reply } => {
                let n = name.clone();
                let accept = move |v: &Value| is("event")(v) && v.get("name").and_then(|x| x.as_str()) == Some(n.as_str());
                let v = self.next(cx, &format!("event `{name}` with an ack"), &accept, self.wait()).await?;
                let got = v.get("args").cloned().unwrap_or(Value::Null);
                match_args(args, &got, false, &mut cx.vars).or_else(|m| fail(format!("event `{name}`: {m}")))?;
                let Some(ack_id) = v.get("ack_id").filter(|a| !a.is_null()).cloned() else {
                    // A client library with no way to acknowledge a server event is a limit of the
                    // client, not of the pair (like an emit it cannot send): its driver says so
                    // when asked to ack. Any other client got the event without the ack request.
                    self.command(cx, json!({"cmd": "ack", "client": cx.key, "ack_id": Value::Null, "args": reply}))?;
                    let refused = is("error");
                    let answer = timing::scaled(self.scale, timing::DRIVER_REPLY_MS);
                    if let Err((Outcome::Unsupported, why)) = self.next(cx, "the driver's answer to an ack", &refused, answer).await {
                        return Err((Outcome::Unsupported, why));
                    }
                    return fail(format!("event `{name}` arrived without the server's ack request"));
                };
                self.command(cx, json!({"cmd": "ack", "client": cx.key, "ack_id": ack_id, "args": reply}))
            }
            Step::StayConnected { cycles } => {
                let ms = (*cycles as u64) * self.ping_cycle_ms + timing::STAY_CONNECTED_GRACE_MS;
                let accept = is("disconnect");
                match self.next(cx, "disconnect", &accept, Duration::from_millis(ms)).await {
                    Ok(v) => fail(format!(
                        "disconnected after connecting, before {cycles} heartbeat cycles: {}",
                        v.get("reason").and_then(|r| r.as_str()).unwrap_or("?")
                    )),
                    Err(_) => Ok(()),
                }
            }
            Step::ExpectDisconnect { reason } => {
                // With any reason, what counts is that the client application learnt of the loss:
                // a client library with no disconnect callback (rust_socketio) shows it by its
                // first reconnect attempt; a disconnect report comes first from every other.
                let any = reason == "$any";
                let accept = move |v: &Value| is("disconnect")(v) || (any && is("reconnect_attempt")(v));
                let v = self.next(cx, "disconnect", &accept, self.wait()).await?;
                if is("reconnect_attempt")(&v) {
                    cx.log.log("# the client reports no disconnect; its reconnect attempt shows it saw the connection end".to_string());
                    cx.seen.insert(0, v);
                    return Ok(());
                }
                let got = v.get("reason").cloned().unwrap_or(Value::Null);
                json_match(&Value::String(reason.clone()), &got, &mut cx.vars, "reason").or_else(|m| fail(format!("disconnect {m}")))
            }
            Step::Cut { down_ms } => {
                proxy.restart(Duration::from_millis(*down_ms));
                Ok(())
            }
            Step::ExpectReconnect {} => {
                let v = self.next(cx, "a new connect", &is("connect"), self.wait()).await?;
                let id = v.get("id").and_then(|i| i.as_str()).map(String::from);
                if id.is_some() && id == cx.socket_id {
                    return fail(format!("reconnected with the same socket id {id:?}; a new id is expected"));
                }
                cx.socket_id = id;
                Ok(())
            }
            Step::ExpectServerConnection { namespace, auth, partial } => {
                let nsp = namespace.clone().unwrap_or_else(|| "/".into());
                let n = nsp.clone();
                let accept = move |v: &Value| is("connection")(v) && layer_nsp(v) == Some(n.as_str());
                let v = self.next_server(cx, proxy, &format!("connection to `{nsp}`"), &accept, self.wait()).await?;
                let Some(want) = auth else { return Ok(()) };
                let got = v.get("auth").cloned().unwrap_or(Value::Null);
                let m = if *partial {
                    json_match_partial(want, &got, &mut cx.vars, "auth")
                } else {
                    json_match(want, &got, &mut cx.vars, "auth")
                };
                m.or_else(|m| fail(format!("the server application got the connection to `{nsp}` with auth {got}: {m}")))
            }
            Step::ExpectServerReceived { name, args, namespace, ack } => {
                let nsp = namespace.clone().unwrap_or_else(|| "/".into());
                let (n, ns) = (name.clone(), nsp.clone());
                let accept = move |v: &Value| {
                    is("received")(v) && layer_nsp(v) == Some(ns.as_str()) && v.get("name").and_then(|x| x.as_str()) == Some(n.as_str())
                };
                let v = self.next_server(cx, proxy, &format!("event `{name}` received on `{nsp}`"), &accept, self.wait()).await?;
                let got = server_args(&v)?;
                match_args(args, &got, false, &mut cx.vars)
                    .or_else(|m| fail(format!("the server application received `{name}` with {got}: {m}")))?;
                if let Some(want) = ack {
                    let asked = v.get("ack").and_then(|a| a.as_bool());
                    if asked != Some(*want) {
                        return fail(format!(
                            "the server application received `{name}` {} an ack request",
                            if *want { "without" } else { "with" }
                        ));
                    }
                }
                Ok(())
            }
            Step::ExpectServerAck { name, args } => {
                let n = name.clone();
                let accept = move |v: &Value| is("ack_received")(v) && v.get("name").and_then(|x| x.as_str()) == Some(n.as_str());
                let v = self.next_server(cx, proxy, &format!("the client's ack of `{name}`"), &accept, self.wait()).await?;
                let got = server_args(&v)?;
                match_args(args, &got, false, &mut cx.vars)
                    .or_else(|m| fail(format!("the server application received the ack of `{name}` with {got}: {m}")))
            }
        }
    }
}

/// The namespace of a socket.io-layer server report.
fn layer_nsp(v: &Value) -> Option<&str> {
    (v.get("layer").and_then(|l| l.as_str()) == Some("socket.io")).then(|| v.get("nsp").and_then(|n| n.as_str())).flatten()
}

fn server_args(v: &Value) -> Result<Value, (Outcome, String)> {
    if let Some(n) = v.get("args_truncated") {
        return fail(format!("the server driver reported {n} bytes of arguments, too many to show"));
    }
    Ok(v.get("args").cloned().unwrap_or(Value::Null))
}

/// Whether a server report is about a session that crossed this scenario's proxy: by its
/// Engine.IO sid, or its socket id (`/custom#<sid>` on Socket.IO v4 servers).
fn belongs(v: &Value, ids: &BTreeSet<String>) -> bool {
    let has = |k: &str| {
        v.get(k).and_then(|x| x.as_str()).is_some_and(|id| ids.contains(id) || id.rsplit_once('#').is_some_and(|(_, s)| ids.contains(s)))
    };
    has("sid") || has("socket_id")
}

fn match_args(want: &[Value], got: &Value, partial: bool, vars: &mut Vars) -> Result<(), String> {
    let pat = Value::Array(want.to_vec());
    if !partial {
        return json_match(&pat, got, vars, "args");
    }
    let arr = got.as_array().ok_or_else(|| format!("args: expected an array, got {got}"))?;
    if arr.len() != want.len() {
        return Err(format!("args: expected {} arguments, got {got}", want.len()));
    }
    for (i, (w, g)) in want.iter().zip(arr).enumerate() {
        json_match_partial(w, g, vars, &format!("args[{i}]"))?;
    }
    Ok(())
}

fn label(ws_only: bool) -> String {
    if ws_only { "websocket" } else { "default" }.into()
}

/// The transport variants a scenario runs over: default and websocket-only, or its pinned set.
pub fn variants(sc: &Scenario) -> Vec<bool> {
    if sc.transports.is_some() {
        vec![false]
    } else {
        vec![false, true]
    }
}

fn step_name(s: &Step) -> &'static str {
    match s {
        Step::Connect { .. } => "connect",
        Step::Emit { .. } => "emit",
        Step::ExpectEvent { .. } => "expect_event",
        Step::ExpectAck { .. } => "expect_ack",
        Step::AnswerAck { .. } => "answer_ack",
        Step::StayConnected { .. } => "stay_connected",
        Step::ExpectDisconnect { .. } => "expect_disconnect",
        Step::Cut { .. } => "cut",
        Step::ExpectReconnect {} => "expect_reconnect",
        Step::ExpectServerConnection { .. } => "expect_server_connection",
        Step::ExpectServerReceived { .. } => "expect_server_received",
        Step::ExpectServerAck { .. } => "expect_server_ack",
    }
}

/// The first refusal or failure the proxy saw: the wire evidence behind a NO.
/// Otherwise the last thing the proxy saw cross the wire.
fn evidence(log: &Transcript) -> Option<String> {
    let lines: Vec<String> = log.entries().into_iter().map(|e| e.line).collect();
    let refusal = lines.iter().find_map(|l| {
        let rest = l.strip_prefix("server → ")?;
        let status: u16 = rest.split_whitespace().next()?.parse().ok()?;
        (status >= 400).then(|| rest.replace(" | ", " "))
    });
    refusal.or_else(|| {
        lines
            .iter()
            .rev()
            .find(|l| l.starts_with("server ") || l.starts_with("client ⇢") || l.starts_with("client →") || l.starts_with("proxy:"))
            .map(|l| format!("last on the wire: {l}"))
    })
}
