//! Sessions: the mock's shell over the Engine.IO session machine (`protocol::eio::session`),
//! and the Socket.IO fixture above it. Everything here runs under the mock's lock and never
//! awaits; the I/O side lives in `server.rs`.
use super::behaviour::Behaviour;
use super::record::{Dir, Ev};
use super::Shared;
use crate::protocol::eio::session::{self as machine, Action, Conn, Event, PollAnswer, ServerSession, SessionError, Timer, Violation};
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};
use crate::protocol::sio::{SioDecoder, SioPacket, SioRevision, SioType};
use crate::suite::client_steps::{CloseHow, ConnectPolicy};
use crate::suite::Transport;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

pub use machine::{Closing, Outgoing as Out};

/// Commands to a websocket connection's task.
pub(crate) enum WsCmd {
    Out(Out),
    /// A close frame with this code, then the end of the connection.
    Close(u16),
    /// The TCP connection ends without a close frame.
    Cut,
    /// An invalid websocket frame, then the end of the connection (a transport error).
    Garbage,
}

pub(crate) struct SioState {
    pub rev: SioRevision,
    decoder: SioDecoder,
    /// Connected namespaces and their socket ids.
    sockets: HashMap<String, String>,
    /// Acks the mock asked for (`emit-with-ack`): ack id → namespace.
    pending_acks: HashMap<u64, String>,
    next_ack: u64,
}

pub(crate) struct Session {
    pub n: usize,
    pub sid: String,
    /// v3: the client asked for base64 binary (`b64=1`).
    pub b64: bool,
    pub query: Vec<(String, String)>,
    /// The Engine.IO session itself; the fields below are its I/O.
    pub m: ServerSession,
    /// Wakes the GET the machine left waiting.
    pub wake: Arc<Notify>,
    /// The websocket carrying the session (a websocket handshake, or after an upgrade).
    pub ws: Option<mpsc::UnboundedSender<WsCmd>>,
    /// The websocket being probed during an upgrade.
    pub probe: Option<mpsc::UnboundedSender<WsCmd>>,
    timers: HashMap<Timer, AbortHandle>,
    pub sio: Option<SioState>,
    pub socket_ids: Vec<String>,
}

pub(crate) struct State {
    pub b: Behaviour,
    pub sessions: Vec<Session>,
    by_sid: HashMap<String, usize>,
}

impl State {
    pub fn new(b: Behaviour) -> Self {
        State { b, sessions: Vec::new(), by_sid: HashMap::new() }
    }
    pub fn find(&self, sid: &str) -> Option<usize> {
        self.by_sid.get(sid).copied()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn note(sh: &Shared, session: Option<usize>, what: String) {
    sh.transcript.log(format!("# mock: {what}"));
    sh.record.push(Ev::Note { session, what });
}

impl Shared {
    /// A new session for a handshake. Returns its index and the packets that answer the
    /// handshake (open, and for Socket.IO v4 the implicit `40`); later packets (the fixture's
    /// `auth` emit) are queued. On a websocket session everything goes out on `ws`.
    pub(crate) fn new_session(
        self: &Arc<Self>,
        st: &mut State,
        rev: EioRevision,
        transport: Transport,
        query: Vec<(String, String)>,
        ws: Option<mpsc::UnboundedSender<WsCmd>>,
    ) -> (usize, Vec<Packet>) {
        let n = st.sessions.len() + 1;
        let sid = self.new_id();
        let b64 = query.iter().any(|(k, v)| k == "b64" && (v == "1" || v == "true"));
        let sio = st.b.sio.then(|| SioState {
            rev: if rev == EioRevision::V3 { SioRevision::V4 } else { SioRevision::V5 },
            decoder: SioDecoder::new(if rev == EioRevision::V3 { SioRevision::V4 } else { SioRevision::V5 }),
            sockets: HashMap::new(),
            pending_acks: HashMap::new(),
            next_ack: 0,
        });
        let is_ws = ws.is_some();
        let carrier = if is_ws { machine::Transport::Websocket } else { machine::Transport::Polling };
        let (m, opening) = ServerSession::open(rev, carrier, st.b.session_config());
        st.sessions.push(Session {
            n,
            sid: sid.clone(),
            b64,
            query,
            m,
            wake: Arc::new(Notify::new()),
            ws,
            probe: None,
            timers: HashMap::new(),
            sio,
            socket_ids: Vec::new(),
        });
        let idx = n - 1;
        st.by_sid.insert(sid.clone(), idx);
        self.record.push(Ev::Handshake { session: n, sid: sid.clone(), transport });
        self.run(st, idx, opening);

        let open = Packet::new(PacketType::Open, st.b.open_data(&sid, rev, is_ws));
        let mut first = vec![open];
        let mut later: Vec<SioPacket> = Vec::new();
        // Socket.IO v4 connects `/` implicitly: the server sends `40` (socket.io 1.x/2.x put it
        // in the handshake payload) and the fixture emits `auth` with the handshake query.
        if rev == EioRevision::V3 && st.b.sio {
            match st.b.connect {
                ConnectPolicy::Accept => {
                    first.push(Packet::message("0"));
                    let auth = v4_auth(&st.sessions[idx].query, None);
                    let s = &mut st.sessions[idx];
                    s.socket_ids.push(sid.clone());
                    if let Some(ss) = s.sio.as_mut() {
                        ss.sockets.insert("/".into(), sid.clone());
                    }
                    self.record.push(Ev::SioConnected { session: n, nsp: "/".into(), socket_id: sid.clone() });
                    if st.b.fixture {
                        later.push(SioPacket::new(SioType::Event, "/", Some(json!(["auth", auth]))));
                    }
                }
                ConnectPolicy::Refuse => {
                    let payload = connect_error_payload(SioRevision::V4, &st.b.connect_error);
                    later.push(SioPacket::new(SioType::ConnectError, "/", Some(payload)));
                }
                ConnectPolicy::Ignore => {}
            }
        }
        if is_ws {
            for p in first.drain(..) {
                let _ = self.feed(st, idx, Event::Send(Out::Packet(p)));
            }
        }
        for sp in later {
            self.send_sio(st, idx, &sp);
        }
        (idx, first)
    }

    /// Feeds session `idx`'s machine (under the behaviour in force now) and carries out its
    /// actions; returns the answer to a polling GET, if the event produced one.
    pub(crate) fn feed(self: &Arc<Self>, st: &mut State, idx: usize, ev: Event) -> Result<Option<PollAnswer>, SessionError> {
        let cfg = st.b.session_config();
        let s = &mut st.sessions[idx];
        s.m.set_config(cfg);
        let acts = s.m.handle(self.now_ms(), ev)?;
        Ok(self.run(st, idx, acts))
    }

    fn run(self: &Arc<Self>, st: &mut State, idx: usize, acts: Vec<Action>) -> Option<PollAnswer> {
        let mut answer = None;
        for a in acts {
            let s = &mut st.sessions[idx];
            let n = s.n;
            let to = |s: &Session, c: Conn, cmd: WsCmd| {
                if let Some(tx) = if c == Conn::Session { &s.ws } else { &s.probe } {
                    let _ = tx.send(cmd);
                }
            };
            match a {
                Action::WsSend(c, o) => to(s, c, WsCmd::Out(o)),
                Action::WsClose(c, code) => to(s, c, WsCmd::Close(code)),
                Action::WsCut(Conn::Probe) => {
                    if let Some(p) = s.probe.take() {
                        let _ = p.send(WsCmd::Cut);
                    }
                }
                Action::WsCut(c) => to(s, c, WsCmd::Cut),
                Action::WsGarbage(c) => to(s, c, WsCmd::Garbage),
                Action::ProbePromoted => s.ws = s.probe.take(),
                Action::WakePoll => s.wake.notify_one(),
                Action::AnswerGet(a) => answer = Some(a),
                Action::Arm { timer, after_ms } => {
                    let sh = self.clone();
                    let h = tokio::spawn(async move {
                        tokio::time::sleep(ms(after_ms)).await;
                        let mut st = sh.lock();
                        st.sessions[idx].timers.remove(&timer);
                        let _ = sh.feed(&mut st, idx, Event::Timer(timer));
                    });
                    s.timers.insert(timer, h.abort_handle());
                    self.track(h.abort_handle());
                }
                Action::Cancel(t) => {
                    if let Some(h) = s.timers.remove(&t) {
                        h.abort();
                    }
                }
                Action::Message(p) => self.on_message(st, idx, p),
                Action::PingSent => self.record.push(Ev::PingSent { session: n }),
                Action::PongReceived { after_ms } => self.record.push(Ev::Pong { session: n, after_ms }),
                Action::ProbeWithheld => self.transcript.log("# mock: withholds 3probe"),
                Action::Upgraded => {
                    self.record.push(Ev::Upgraded { session: n });
                    self.transcript.log(format!("# mock: session {n} upgraded to websocket"));
                }
                Action::Closed { reason } => {
                    self.record.push(Ev::SessionClosed { session: n, reason: reason.clone() });
                    self.transcript.log(format!("# mock: session {n} closed ({reason})"));
                }
                // These were found by the transport, not by reading a packet: no transcript line.
                Action::Violation(v @ (Violation::OverlappingGet | Violation::BadPayload(_) | Violation::ProbeClosedEarly)) => {
                    self.record.push(Ev::Note { session: Some(n), what: v.to_string() })
                }
                Action::Violation(v) => note(self, Some(n), v.to_string()),
            }
        }
        answer
    }

    /// A packet the client sent on a session.
    pub(crate) fn on_packet(self: &Arc<Self>, st: &mut State, idx: usize, transport: Transport, p: Packet) {
        let n = st.sessions[idx].n;
        self.record.push(Ev::Packet { session: n, transport, dir: Dir::FromClient, packet: p.clone() });
        let _ = self.feed(st, idx, Event::Packet(p));
    }

    /// A packet the client sent on the websocket probing an upgrade.
    pub(crate) fn on_probe_packet(self: &Arc<Self>, st: &mut State, idx: usize, p: Packet) {
        let n = st.sessions[idx].n;
        self.record.push(Ev::Packet { session: n, transport: Transport::Websocket, dir: Dir::FromClient, packet: p.clone() });
        let _ = self.feed(st, idx, Event::ProbePacket(p));
    }

    /// An Engine.IO message: the Socket.IO fixture's, or echoed by the Engine.IO fixture.
    fn on_message(self: &Arc<Self>, st: &mut State, idx: usize, p: Packet) {
        let (n, fixture) = (st.sessions[idx].n, st.b.fixture);
        let Some(ss) = st.sessions[idx].sio.as_mut() else {
            if fixture {
                let _ = self.feed(st, idx, Event::Send(Out::Packet(p)));
            }
            return;
        };
        let r = match &p.data {
            Data::Text(t) => ss.decoder.push_text(t),
            Data::Binary(b) => ss.decoder.push_binary(b.clone()),
        };
        match r {
            Ok(Some(sp)) => {
                self.record.push(Ev::Sio { session: n, packet: sp.clone() });
                self.sio_in(st, idx, sp);
            }
            Ok(None) => {}
            Err(e) => note(self, Some(n), format!("invalid Socket.IO packet from the client: {e}")),
        }
    }

    /// The Socket.IO fixture: answers CONNECTs, and with `fixture` on, the standard handlers.
    fn sio_in(self: &Arc<Self>, st: &mut State, idx: usize, sp: SioPacket) {
        let (policy, err, fixture) = (st.b.connect, st.b.connect_error.clone(), st.b.fixture);
        let n = st.sessions[idx].n;
        let nsp = sp.nsp_path().to_string();
        let socket_id = self.new_id();
        let s = &mut st.sessions[idx];
        let query = s.query.clone();
        let Some(ss) = s.sio.as_mut() else { return };
        let rev = ss.rev;
        let mut out: Vec<SioPacket> = Vec::new();
        let mut close_after = false;
        match sp.kind {
            SioType::Connect => match policy {
                ConnectPolicy::Ignore => {}
                ConnectPolicy::Refuse => {
                    out.push(SioPacket::new(SioType::ConnectError, nsp.clone(), Some(connect_error_payload(rev, &err))))
                }
                ConnectPolicy::Accept if nsp == "/" || nsp == "/custom" => {
                    ss.sockets.insert(nsp.clone(), socket_id.clone());
                    self.record.push(Ev::SioConnected { session: n, nsp: nsp.clone(), socket_id: socket_id.clone() });
                    let ack = match rev {
                        SioRevision::V5 => Some(json!({ "sid": socket_id })),
                        SioRevision::V4 => None,
                    };
                    out.push(SioPacket::new(SioType::Connect, nsp.clone(), ack));
                    if fixture {
                        let auth = match rev {
                            SioRevision::V5 => sp.data.clone().unwrap_or_else(|| json!({})),
                            SioRevision::V4 => v4_auth(&query, sp.nsp_query()),
                        };
                        out.push(SioPacket::new(SioType::Event, nsp.clone(), Some(json!(["auth", auth]))));
                    }
                }
                ConnectPolicy::Accept => {
                    let payload = match rev {
                        SioRevision::V5 => json!({ "message": "Invalid namespace" }),
                        SioRevision::V4 => json!("Invalid namespace"),
                    };
                    out.push(SioPacket::new(SioType::ConnectError, nsp.clone(), Some(payload)));
                }
            },
            SioType::Disconnect => {
                ss.sockets.remove(&nsp);
            }
            SioType::Event | SioType::BinaryEvent => {
                if !ss.sockets.contains_key(&nsp) {
                    note(self, Some(n), format!("event for namespace {nsp}, which the client is not connected to"));
                }
                let args: Vec<Value> = sp.data.as_ref().and_then(|d| d.as_array()).map(|a| a[1..].to_vec()).unwrap_or_default();
                let binary = !sp.attachments.is_empty();
                let event = |data: Value, id: Option<u64>| SioPacket {
                    kind: if binary { SioType::BinaryEvent } else { SioType::Event },
                    nsp: nsp.clone(),
                    id,
                    data: Some(data),
                    attachments: sp.attachments.clone(),
                };
                match sp.event_name().filter(|_| fixture) {
                    Some("message") => {
                        let mut d = vec![json!("message-back")];
                        d.extend(args);
                        out.push(event(Value::Array(d), None));
                    }
                    Some("message-with-ack") => {
                        if let Some(id) = sp.id {
                            out.push(SioPacket {
                                kind: if binary { SioType::BinaryAck } else { SioType::Ack },
                                nsp: nsp.clone(),
                                id: Some(id),
                                data: Some(Value::Array(args)),
                                attachments: sp.attachments.clone(),
                            });
                        }
                    }
                    Some("emit-with-ack") if !args.is_empty() => {
                        ss.next_ack += 1;
                        let id = ss.next_ack;
                        ss.pending_acks.insert(id, nsp.clone());
                        out.push(event(Value::Array(args), Some(id)));
                    }
                    Some("disconnect-me") => {
                        ss.sockets.remove(&nsp);
                        out.push(SioPacket::new(SioType::Disconnect, nsp.clone(), None));
                    }
                    Some("close-me") => {
                        ss.sockets.remove(&nsp);
                        out.push(SioPacket::new(SioType::Disconnect, nsp.clone(), None));
                        close_after = true;
                    }
                    _ => {}
                }
            }
            SioType::Ack | SioType::BinaryAck => {
                if let Some(id) = sp.id {
                    if ss.pending_acks.remove(&id).is_some() && fixture {
                        let mut d = vec![json!("emit-with-ack-result")];
                        d.extend(sp.data.as_ref().and_then(|v| v.as_array()).cloned().unwrap_or_default());
                        out.push(SioPacket {
                            kind: if sp.attachments.is_empty() { SioType::Event } else { SioType::BinaryEvent },
                            nsp: nsp.clone(),
                            id: None,
                            data: Some(Value::Array(d)),
                            attachments: sp.attachments.clone(),
                        });
                    }
                }
            }
            SioType::ConnectError => note(self, Some(n), "the client sent a CONNECT_ERROR packet".into()),
        }
        if matches!(sp.kind, SioType::Connect) && policy == ConnectPolicy::Accept && (nsp == "/" || nsp == "/custom") {
            s.socket_ids.push(socket_id);
        }
        for p in &out {
            self.send_sio(st, idx, p);
        }
        if close_after {
            self.close_session(st, idx, "server closed the connection (close-me)", Closing::Graceful);
        }
    }

    pub(crate) fn close_session(self: &Arc<Self>, st: &mut State, idx: usize, reason: &str, how: Closing) {
        let _ = self.feed(st, idx, Event::Close { reason: reason.to_string(), how });
    }

    /// Sends a Socket.IO packet: its text, then its binary attachments.
    fn send_sio(self: &Arc<Self>, st: &mut State, idx: usize, sp: &SioPacket) {
        let (text, atts) = sp.encode_all();
        let _ = self.feed(st, idx, Event::Send(Out::Packet(Packet::message(text))));
        for a in atts {
            let _ = self.feed(st, idx, Event::Send(Out::Packet(Packet::binary(a))));
        }
    }

    /// Every session ends at once (the mock stops listening or goes away).
    pub(crate) fn close_all(self: &Arc<Self>, reason: &str) {
        let mut st = self.lock();
        for idx in 0..st.sessions.len() {
            self.close_session(&mut st, idx, reason, Closing::Cut);
        }
    }

    fn pick(&self, st: &State, session: Option<usize>) -> Result<usize, String> {
        match session {
            None if st.sessions.is_empty() => Err("the mock has no session yet (no handshake answered)".into()),
            None => Ok(st.sessions.len() - 1),
            Some(n) if n >= 1 && n <= st.sessions.len() => Ok(n - 1),
            Some(n) => Err(format!("the mock has no session {n} (it answered {} handshake(s))", st.sessions.len())),
        }
    }

    pub(crate) fn send(self: &Arc<Self>, session: Option<usize>, items: Vec<Out>) -> Result<(), String> {
        let mut st = self.lock();
        let idx = self.pick(&st, session)?;
        let s = &st.sessions[idx];
        if let Some(r) = s.m.closed() {
            return Err(format!("session {} is closed ({r})", s.n));
        }
        for o in items {
            let _ = self.feed(&mut st, idx, Event::Send(o));
        }
        Ok(())
    }

    pub(crate) fn close_by_step(self: &Arc<Self>, session: Option<usize>, how: CloseHow) -> Result<(), String> {
        let mut st = self.lock();
        let idx = self.pick(&st, session)?;
        let (reason, closing) = match how {
            CloseHow::ClosePacket => ("closed by the case: close packet", Closing::ClosePacket),
            CloseHow::Transport => ("closed by the case: transport cut", Closing::Cut),
            CloseHow::Error => ("closed by the case: transport error", Closing::Error),
        };
        if let Some(r) = st.sessions[idx].m.closed() {
            return Err(format!("session {} is already closed ({r})", idx + 1));
        }
        self.close_session(&mut st, idx, reason, closing);
        Ok(())
    }
}

fn connect_error_payload(rev: SioRevision, configured: &Option<Value>) -> Value {
    match (configured, rev) {
        (Some(v), _) => v.clone(),
        (None, SioRevision::V5) => json!({ "message": "Not authorized" }),
        (None, SioRevision::V4) => json!("Not authorized"),
    }
}

/// What socket.io 1.x/2.x hand the application as the handshake query: the engine URL query
/// without Engine.IO's own parameters, merged with the namespace query.
fn v4_auth(query: &[(String, String)], nsp_query: Option<&str>) -> Value {
    let mut o = serde_json::Map::new();
    for (k, v) in query {
        if !matches!(k.as_str(), "EIO" | "transport" | "t" | "sid" | "b64" | "j") {
            o.insert(k.clone(), Value::String(v.clone()));
        }
    }
    if let Some(q) = nsp_query {
        for (k, v) in super::server::parse_query(q) {
            o.insert(k, Value::String(v));
        }
    }
    Value::Object(o)
}
