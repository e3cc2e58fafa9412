//! Sessions: the Engine.IO server logic and the Socket.IO fixture of the mock. Everything here
//! runs under the mock's lock and never awaits; the I/O side lives in `server.rs`.
use super::behaviour::Behaviour;
use super::record::{Dir, Ev};
use super::Shared;
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};
use crate::protocol::sio::{SioDecoder, SioPacket, SioRevision, SioType};
use crate::suite::client_steps::{CloseHow, ConnectPolicy};
use crate::suite::Transport;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// Something the mock sends to a client: a packet, or raw text (a polling body or a websocket
/// text frame exactly as given, for garbage).
#[derive(Debug, Clone)]
pub enum Out {
    Packet(Packet),
    Raw(String),
}

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
    pub rev: EioRevision,
    /// v3: the client asked for base64 binary (`b64=1`).
    pub b64: bool,
    pub query: Vec<(String, String)>,
    pub transport: Transport,
    /// Polling: what the next GET delivers.
    pub outbox: VecDeque<Out>,
    pub wake: Arc<Notify>,
    pub get_busy: bool,
    /// The websocket carrying the session (a websocket handshake, or after an upgrade).
    pub ws: Option<mpsc::UnboundedSender<WsCmd>>,
    /// The websocket being probed during an upgrade.
    pub probe: Option<mpsc::UnboundedSender<WsCmd>>,
    /// `3probe` sent: polling requests are answered with a noop at once.
    pub upgrading: bool,
    pub upgraded: bool,
    pub closed: Option<String>,
    /// The next polling request is dropped without a response.
    pub cut: bool,
    pub awaiting_pong: Option<Instant>,
    pub pong_wake: Arc<Notify>,
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

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// As a server does on a ping timeout: close packet to a pending poll, close frame on websocket.
    Graceful,
    /// Close packet `1` on any transport, then the transport closes.
    ClosePacket,
    Cut,
    Error,
    /// The client closed it: nothing to send.
    Quiet,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Queues or sends a packet on the session's current transport.
pub(crate) fn deliver(s: &mut Session, out: Out) {
    if let Some(ws) = &s.ws {
        let _ = ws.send(WsCmd::Out(out));
    } else {
        s.outbox.push_back(out);
        s.wake.notify_one();
    }
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
        st.sessions.push(Session {
            n,
            sid: sid.clone(),
            rev,
            b64,
            query,
            transport,
            outbox: VecDeque::new(),
            wake: Arc::new(Notify::new()),
            get_busy: false,
            ws,
            probe: None,
            upgrading: false,
            upgraded: false,
            closed: None,
            cut: false,
            awaiting_pong: None,
            pong_wake: Arc::new(Notify::new()),
            sio,
            socket_ids: Vec::new(),
        });
        let idx = n - 1;
        st.by_sid.insert(sid.clone(), idx);
        self.record.push(Ev::Handshake { session: n, sid: sid.clone(), transport });

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
        let s = &mut st.sessions[idx];
        if is_ws {
            for p in first.drain(..) {
                deliver(s, Out::Packet(p));
            }
        }
        for sp in later {
            send_sio(s, &sp);
        }
        if rev == EioRevision::V4 {
            let h = tokio::spawn(heartbeat(self.clone(), idx));
            self.track(h.abort_handle());
        }
        (idx, first)
    }

    /// A packet the client sent on a session.
    pub(crate) fn on_packet(&self, st: &mut State, idx: usize, transport: Transport, p: Packet) {
        let n = st.sessions[idx].n;
        self.record.push(Ev::Packet { session: n, transport, dir: Dir::FromClient, packet: p.clone() });
        let answer_pings = st.b.answer_pings;
        let fixture = st.b.fixture;
        let s = &mut st.sessions[idx];
        match p.kind {
            PacketType::Ping => match s.rev {
                EioRevision::V3 => {
                    if answer_pings {
                        deliver(s, Out::Packet(Packet { kind: PacketType::Pong, data: p.data.clone() }));
                    }
                }
                EioRevision::V4 => note(self, Some(n), "a v4 client sent a ping (in v4 only the server pings)".into()),
            },
            PacketType::Pong => {
                if s.rev == EioRevision::V3 {
                    note(self, Some(n), "a v3 client sent a pong (in v3 the client pings)".into());
                } else if let Some(t) = s.awaiting_pong.take() {
                    let after_ms = t.elapsed().as_millis() as u64;
                    s.pong_wake.notify_one();
                    self.record.push(Ev::Pong { session: n, after_ms });
                } else {
                    note(self, Some(n), "pong without a ping".into());
                }
            }
            PacketType::Message => {
                if let Some(ss) = s.sio.as_mut() {
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
                } else if fixture {
                    deliver(s, Out::Packet(p));
                }
            }
            PacketType::Close => self.close_session(st, idx, "client close", Closing::Quiet),
            PacketType::Upgrade => note(self, Some(n), "upgrade packet outside an upgrade".into()),
            PacketType::Noop => {}
            PacketType::Open => note(self, Some(n), "the client sent an open packet".into()),
        }
    }

    /// The Socket.IO fixture: answers CONNECTs, and with `fixture` on, the standard handlers.
    fn sio_in(&self, st: &mut State, idx: usize, sp: SioPacket) {
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
            send_sio(s, p);
        }
        if close_after {
            self.close_session(st, idx, "server closed the connection (close-me)", Closing::Graceful);
        }
    }

    pub(crate) fn close_session(&self, st: &mut State, idx: usize, reason: &str, how: Closing) {
        let s = &mut st.sessions[idx];
        if s.closed.is_some() {
            return;
        }
        s.closed = Some(reason.to_string());
        s.upgrading = false;
        self.record.push(Ev::SessionClosed { session: s.n, reason: reason.to_string() });
        self.transcript.log(format!("# mock: session {} closed ({reason})", s.n));
        let close = || Out::Packet(Packet::new(PacketType::Close, ""));
        if let Some(p) = s.probe.take() {
            let _ = p.send(WsCmd::Cut);
        }
        match (&s.ws, how) {
            (Some(ws), Closing::Graceful) => {
                let _ = ws.send(WsCmd::Close(1000));
            }
            (Some(ws), Closing::ClosePacket) => {
                let _ = ws.send(WsCmd::Out(close()));
                let _ = ws.send(WsCmd::Close(1000));
            }
            (Some(ws), Closing::Cut) => {
                let _ = ws.send(WsCmd::Cut);
            }
            (Some(ws), Closing::Error) => {
                let _ = ws.send(WsCmd::Garbage);
            }
            (Some(_), Closing::Quiet) => {}
            (None, Closing::Graceful | Closing::ClosePacket) => {
                s.outbox.push_back(close());
                s.wake.notify_one();
            }
            (None, Closing::Cut) => {
                s.cut = true;
                s.wake.notify_one();
            }
            (None, Closing::Error | Closing::Quiet) => s.wake.notify_one(),
        }
        s.pong_wake.notify_one();
    }

    /// Every session ends at once (the mock stops listening or goes away).
    pub(crate) fn close_all(&self, reason: &str) {
        let mut st = self.lock();
        for idx in 0..st.sessions.len() {
            if st.sessions[idx].closed.is_none() {
                self.close_session(&mut st, idx, reason, Closing::Cut);
            }
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

    pub(crate) fn send(&self, session: Option<usize>, items: Vec<Out>) -> Result<(), String> {
        let mut st = self.lock();
        let idx = self.pick(&st, session)?;
        let s = &mut st.sessions[idx];
        if let Some(r) = &s.closed {
            return Err(format!("session {} is closed ({r})", s.n));
        }
        for o in items {
            deliver(s, o);
        }
        Ok(())
    }

    pub(crate) fn close_by_step(&self, session: Option<usize>, how: CloseHow) -> Result<(), String> {
        let mut st = self.lock();
        let idx = self.pick(&st, session)?;
        let (reason, closing) = match how {
            CloseHow::ClosePacket => ("closed by the case: close packet", Closing::ClosePacket),
            CloseHow::Transport => ("closed by the case: transport cut", Closing::Cut),
            CloseHow::Error => ("closed by the case: transport error", Closing::Error),
        };
        if let Some(r) = &st.sessions[idx].closed {
            return Err(format!("session {} is already closed ({r})", idx + 1));
        }
        self.close_session(&mut st, idx, reason, closing);
        Ok(())
    }

    /// `2probe` arrived on the upgrade websocket.
    pub(crate) fn probe_ping(&self, st: &mut State, idx: usize, p: Packet) {
        let n = st.sessions[idx].n;
        self.record.push(Ev::Packet { session: n, transport: Transport::Websocket, dir: Dir::FromClient, packet: p.clone() });
        if st.b.probe == crate::suite::client_steps::ProbeMode::Withhold {
            self.transcript.log("# mock: withholds 3probe");
            return;
        }
        let s = &mut st.sessions[idx];
        if let Some(tx) = &s.probe {
            let _ = tx.send(WsCmd::Out(Out::Packet(Packet { kind: PacketType::Pong, data: p.data })));
        }
        // As the reference server does: release a pending poll with a noop so the client can pause polling.
        s.upgrading = true;
        if s.get_busy {
            s.outbox.push_back(Out::Packet(Packet::new(PacketType::Noop, "")));
            s.wake.notify_one();
        }
    }

    /// `5` arrived on the upgrade websocket: it now carries the session.
    pub(crate) fn probe_upgrade(&self, st: &mut State, idx: usize, p: Packet) {
        let n = st.sessions[idx].n;
        self.record.push(Ev::Packet { session: n, transport: Transport::Websocket, dir: Dir::FromClient, packet: p });
        let s = &mut st.sessions[idx];
        let Some(tx) = s.probe.take() else { return };
        s.upgraded = true;
        s.upgrading = false;
        s.transport = Transport::Websocket;
        let pending: Vec<Out> = s.outbox.drain(..).filter(|o| !matches!(o, Out::Packet(p) if p.kind == PacketType::Noop)).collect();
        for o in pending {
            let _ = tx.send(WsCmd::Out(o));
        }
        s.ws = Some(tx);
        if s.get_busy {
            s.outbox.push_back(Out::Packet(Packet::new(PacketType::Noop, "")));
            s.wake.notify_one();
        }
        self.record.push(Ev::Upgraded { session: n });
        self.transcript.log(format!("# mock: session {n} upgraded to websocket"));
    }
}

/// Sends a Socket.IO packet: its text, then its binary attachments.
fn send_sio(s: &mut Session, sp: &SioPacket) {
    let (text, atts) = sp.encode_all();
    deliver(s, Out::Packet(Packet::message(text)));
    for a in atts {
        deliver(s, Out::Packet(Packet::binary(a)));
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

/// v4: the mock pings every pingInterval (or `ping_every_ms`) and closes the session when no
/// pong comes within pingTimeout, as engine.io ≥ 4 does.
async fn heartbeat(sh: Arc<Shared>, idx: usize) {
    loop {
        let (every, wake) = {
            let st = sh.lock();
            let s = &st.sessions[idx];
            if s.closed.is_some() {
                return;
            }
            (st.b.ping_every.unwrap_or(st.b.ping_interval), s.pong_wake.clone())
        };
        tokio::time::sleep(ms(every)).await;
        let timeout = {
            let mut st = sh.lock();
            let (ping, pt) = (st.b.ping, st.b.ping_timeout);
            let s = &mut st.sessions[idx];
            if s.closed.is_some() {
                return;
            }
            if !ping {
                continue;
            }
            s.awaiting_pong = Some(Instant::now());
            deliver(s, Out::Packet(Packet::new(PacketType::Ping, "")));
            sh.record.push(Ev::PingSent { session: s.n });
            pt
        };
        let deadline = Instant::now() + ms(timeout);
        loop {
            if tokio::time::timeout_at(deadline, wake.notified()).await.is_err() {
                break;
            }
            let st = sh.lock();
            let s = &st.sessions[idx];
            if s.awaiting_pong.is_none() || s.closed.is_some() {
                break;
            }
        }
        let mut st = sh.lock();
        let s = &st.sessions[idx];
        if s.closed.is_some() {
            return;
        }
        if s.awaiting_pong.is_some() {
            sh.close_session(&mut st, idx, "ping timeout", Closing::Graceful);
            return;
        }
    }
}
