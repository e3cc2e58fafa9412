//! An Engine.IO session seen from the client side: polling or websocket, with the
//! upgrade sequence. Packets are received one at a time through an inbox.
//!
//! The session's state (revision, sid, transport, upgrade, close) is the client machine of
//! `protocol::eio::session`; this shell does the I/O and tells the machine what happened.
//! The harness is a test driver whose steps choose every packet, so the machine's advice
//! (answer a ping, arm a timer) is not followed, and what it would refuse is sent anyway
//! and kept in `violations`.
use super::http::{HttpClient, Request, Response};
use super::ws::{self, ConnectError, WsConn, WsEvent};
use super::WireError;
use crate::protocol::eio::session::client::{ClientEvent, ClientSession};
use crate::protocol::eio::session::Transport;
use crate::protocol::eio::{self, EioRevision, Frame, Packet, PacketType, PayloadFormat};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

pub enum Conn {
    Polling,
    Ws(WsConn),
    Gone,
}

/// What a receive gave.
#[derive(Debug)]
pub enum Received {
    Packet(Packet),
    /// The session ended: a polling request refused (status, body) or the websocket closed.
    Ended {
        status: Option<u16>,
        code: Option<u16>,
        detail: String,
    },
}

pub struct EioSession {
    machine: ClientSession,
    /// Rules the server or the harness broke, in order (the harness breaks them on purpose).
    violations: Vec<String>,
    pub path: String,
    pub http: HttpClient,
    pub conn: Conn,
    pub inbox: VecDeque<Packet>,
    /// Extra query appended to every request (`b64=1`, auth query in sio v4).
    pub extra_query: String,
    /// v3 JSONP polling with this `j` index: GET bodies are `___eio[j]("<payload>");`,
    /// POSTs are form-encoded `d=<payload>`.
    pub jsonp: Option<u32>,
    /// When the harness last sent a websocket frame on this session (keep-alive bookkeeping:
    /// a server may drop a client that is silent too long, so the harness checks its own gaps).
    pub last_sent: Option<Instant>,
}

pub struct OpenInfo {
    pub open: serde_json::Value,
    pub status: Option<u16>,
}

fn open_json(p: &Packet) -> Result<serde_json::Value, WireError> {
    match (&p.kind, &p.data) {
        (PacketType::Open, eio::Data::Text(t)) => {
            serde_json::from_str(t).map_err(|e| WireError::Http(format!("open packet data is not JSON ({e}): {t}")))
        }
        _ => Err(WireError::Http(format!("first packet is not an open packet: {}", p.to_display()))),
    }
}

impl EioSession {
    pub fn new(rev: EioRevision, http: HttpClient, path: &str, extra_query: &str) -> Self {
        EioSession {
            machine: ClientSession::new(rev, Transport::Polling),
            violations: Vec::new(),
            path: path.to_string(),
            http,
            conn: Conn::Polling,
            inbox: VecDeque::new(),
            extra_query: extra_query.to_string(),
            jsonp: None,
            last_sent: None,
        }
    }

    pub fn rev(&self) -> EioRevision {
        self.machine.rev()
    }

    pub fn sid(&self) -> Option<&str> {
        self.machine.sid()
    }

    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Tells the machine what happened. Only its state matters here: the steps decide what
    /// to send and when, so its actions (answer a ping, arm a timer) are advice not taken.
    fn feed(&mut self, ev: ClientEvent) {
        if let Err(e) = self.machine.handle(ev) {
            self.violations.push(e.to_string());
        }
    }

    /// The open packet (or what came first) of a handshake on `transport`; `sid` is what the
    /// harness reads from it even when the machine finds the packet broken.
    fn opened(&mut self, first: &Packet, sid: Option<String>, transport: Transport) {
        self.machine = ClientSession::new(self.rev(), transport);
        self.feed(ClientEvent::Packet(first.clone()));
        if let (None, Some(sid)) = (self.machine.sid(), sid) {
            self.feed(ClientEvent::Adopt { sid, transport });
        }
    }

    fn arrived(&mut self, packets: &[Packet]) {
        for p in packets {
            self.feed(ClientEvent::Packet(p.clone()));
        }
    }

    /// A websocket opened by the caller under a known sid (or none) now carries the session.
    pub fn adopt_ws(&mut self, sid: Option<String>, conn: WsConn) {
        if let Some(sid) = sid {
            self.feed(ClientEvent::Adopt { sid, transport: Transport::Websocket });
        }
        self.conn = Conn::Ws(conn);
        self.last_sent = Some(Instant::now());
    }

    /// The server refused the session's websocket: nothing carries it.
    pub fn refused(&mut self) {
        self.conn = Conn::Gone;
        self.feed(ClientEvent::TransportClosed { reason: "websocket refused".into() });
    }

    fn eio(&self) -> &'static str {
        match self.rev() {
            EioRevision::V3 => "3",
            EioRevision::V4 => "4",
        }
    }

    pub fn query(&self, transport: &str) -> String {
        let mut q = format!("EIO={}&transport={transport}", self.eio());
        if let Some(sid) = self.sid() {
            q.push_str(&format!("&sid={sid}"));
        }
        if !self.extra_query.is_empty() {
            q.push('&');
            q.push_str(&self.extra_query);
        }
        if let Some(j) = self.jsonp {
            q.push_str(&format!("&j={j}"));
        }
        q
    }

    fn target(&self, transport: &str) -> String {
        format!("{}?{}", self.path, self.query(transport))
    }

    pub async fn handshake_polling(&mut self, headers: &[(String, String)], timeout: Duration) -> Result<OpenInfo, WireError> {
        let resp = self
            .http
            .send(Request { method: "GET".into(), target: self.target("polling"), headers: headers.to_vec(), body: None, timeout })
            .await?;
        if resp.status != 200 {
            return Err(WireError::Http(format!("handshake refused: {} {}", resp.status, super::http::show_bytes(&resp.body))));
        }
        let body = self.poll_body(&resp)?;
        let mut packets = eio::decode_payload(self.rev(), &body, resp.content_type())?.into_iter();
        let first = packets.next().ok_or_else(|| WireError::Http("empty handshake payload".into()))?;
        let open = open_json(&first)?;
        self.opened(&first, sid_of(&open), Transport::Polling);
        let rest: Vec<Packet> = packets.collect();
        self.arrived(&rest);
        self.inbox.extend(rest);
        self.conn = Conn::Polling;
        Ok(OpenInfo { open, status: Some(resp.status) })
    }

    pub async fn handshake_ws(&mut self, headers: &[(String, String)], timeout: Duration) -> Result<OpenInfo, WireError> {
        let target = self.target("websocket");
        let mut c = ws::connect(&self.http.base, &target, headers, timeout, self.http.transcript())
            .await
            .map_err(|e| match e {
                ConnectError::Refused { status, body, .. } => WireError::Http(format!("websocket handshake refused: {status} {body}")),
                ConnectError::Wire(w) => w,
            })?
            .conn;
        let first = match c.recv(timeout).await? {
            WsEvent::Frame(f) => eio::decode_frame(self.rev(), &f)?,
            WsEvent::Closed { how, .. } => return Err(WireError::Ws(format!("closed before the open packet ({how})"))),
        };
        let open = open_json(&first)?;
        self.opened(&first, sid_of(&open), Transport::Websocket);
        self.conn = Conn::Ws(c);
        self.last_sent = Some(Instant::now());
        Ok(OpenInfo { open, status: None })
    }

    /// Sends packets: one POST over polling (the response is returned), one frame each over websocket.
    pub async fn send(&mut self, packets: &[Packet], xhr2: bool, timeout: Duration) -> Result<Option<Response>, WireError> {
        if !matches!(self.conn, Conn::Gone) {
            for p in packets {
                self.feed(ClientEvent::Sent(p.clone()));
            }
        }
        let rev = self.rev();
        match &mut self.conn {
            Conn::Ws(c) => {
                for p in packets {
                    c.send(eio::encode_frame(rev, p)).await?;
                    self.last_sent = Some(Instant::now());
                }
                Ok(None)
            }
            Conn::Polling => {
                let fmt = match (rev, xhr2) {
                    (EioRevision::V4, _) => PayloadFormat::V4,
                    (EioRevision::V3, false) => PayloadFormat::V3Text,
                    (EioRevision::V3, true) => PayloadFormat::V3Binary,
                };
                if self.jsonp.is_some() {
                    let payload = eio::encode_payload(PayloadFormat::V3Text, packets);
                    let body = jsonp_form(&payload);
                    return self.post_raw(body, "application/x-www-form-urlencoded", timeout).await.map(Some);
                }
                let body = eio::encode_payload(fmt, packets);
                let ct = if fmt == PayloadFormat::V3Binary { "application/octet-stream" } else { "text/plain;charset=UTF-8" };
                self.post_raw(body, ct, timeout).await.map(Some)
            }
            Conn::Gone => Err(WireError::Http("the session's transport was dropped".into())),
        }
    }

    pub async fn post_raw(&self, body: Vec<u8>, content_type: &str, timeout: Duration) -> Result<Response, WireError> {
        self.http
            .send(Request {
                method: "POST".into(),
                target: self.target("polling"),
                headers: vec![("content-type".into(), content_type.into())],
                body: Some(body),
                timeout,
            })
            .await
    }

    /// Sends text exactly as given: a POST body over polling, a text frame over websocket.
    pub async fn send_raw(&mut self, text: &str, timeout: Duration) -> Result<Option<Response>, WireError> {
        match &mut self.conn {
            Conn::Ws(c) => {
                c.send(Frame::Text(text.to_string())).await?;
                self.last_sent = Some(Instant::now());
                Ok(None)
            }
            Conn::Polling => self.post_raw(text.as_bytes().to_vec(), "text/plain;charset=UTF-8", timeout).await.map(Some),
            Conn::Gone => Err(WireError::Http("the session's transport was dropped".into())),
        }
    }

    /// Sends bytes exactly as given: a POST body over polling, a *text* frame over websocket
    /// even when they are not UTF-8.
    pub async fn send_text_bytes(&mut self, bytes: &[u8], timeout: Duration) -> Result<Option<Response>, WireError> {
        match &mut self.conn {
            Conn::Ws(c) => {
                c.send_text_bytes(bytes).await?;
                self.last_sent = Some(Instant::now());
                Ok(None)
            }
            Conn::Polling => self.post_raw(bytes.to_vec(), "text/plain;charset=UTF-8", timeout).await.map(Some),
            Conn::Gone => Err(WireError::Http("the session's transport was dropped".into())),
        }
    }

    pub fn get_request(&self, timeout: Duration) -> Request {
        Request { method: "GET".into(), target: self.target("polling"), headers: vec![], body: None, timeout }
    }

    /// Next packet, or the end of the session, before `deadline`.
    pub async fn recv(&mut self, deadline: Instant) -> Result<Received, WireError> {
        if let Some(p) = self.inbox.pop_front() {
            return Ok(Received::Packet(p));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WireError::Timeout { what: "packet".into(), ms: 0 });
        }
        let rev = self.rev();
        match &mut self.conn {
            Conn::Ws(c) => match c.recv(left).await? {
                WsEvent::Frame(f) => {
                    let p = eio::decode_frame(rev, &f)?;
                    self.arrived(std::slice::from_ref(&p));
                    Ok(Received::Packet(p))
                }
                WsEvent::Closed { code, how } => {
                    self.feed(ClientEvent::TransportClosed { reason: how.clone() });
                    Ok(Received::Ended { status: None, code, detail: how })
                }
            },
            Conn::Polling => {
                let resp = self.http.send(self.get_request(left)).await?;
                self.absorb_poll(resp)
            }
            Conn::Gone => Ok(Received::Ended { status: None, code: None, detail: "transport dropped".into() }),
        }
    }

    /// The payload of a polling GET response: the body, or over JSONP the string inside
    /// `___eio[j]("…");`, which must be exactly that shape.
    fn poll_body<'r>(&self, resp: &'r Response) -> Result<std::borrow::Cow<'r, [u8]>, WireError> {
        let Some(j) = self.jsonp else { return Ok(std::borrow::Cow::Borrowed(&resp.body)) };
        let shown = || super::http::show_bytes(&resp.body);
        let text = std::str::from_utf8(&resp.body).map_err(|_| WireError::Http(format!("JSONP response is not UTF-8: {}", shown())))?;
        let inner = text
            .strip_prefix(&format!("___eio[{j}]("))
            .and_then(|r| r.strip_suffix(");"))
            .ok_or_else(|| WireError::Http(format!("JSONP response is not ___eio[{j}](\"…\"); : {}", shown())))?;
        let payload: String =
            serde_json::from_str(inner).map_err(|e| WireError::Http(format!("JSONP argument is not a JSON string ({e}): {}", shown())))?;
        Ok(std::borrow::Cow::Owned(payload.into_bytes()))
    }

    /// Takes a GET response into the inbox, or reports the end of the session.
    pub fn absorb_poll(&mut self, resp: Response) -> Result<Received, WireError> {
        if resp.status != 200 {
            let detail = super::http::show_bytes(&resp.body);
            self.feed(ClientEvent::TransportClosed { reason: format!("polling refused: {} {detail}", resp.status) });
            return Ok(Received::Ended { status: Some(resp.status), code: None, detail });
        }
        let body = self.poll_body(&resp)?;
        let packets = eio::decode_payload(self.rev(), &body, resp.content_type())?;
        self.arrived(&packets);
        self.inbox.extend(packets);
        match self.inbox.pop_front() {
            Some(p) => Ok(Received::Packet(p)),
            None => Err(WireError::Http("empty polling payload".into())),
        }
    }

    /// Upgrade: websocket with the sid, `2probe` → `3probe`, then `5` when `finish`.
    /// Returns the response of the GET left pending during the probe, when asked for one.
    pub async fn upgrade(
        &mut self,
        pending_poll: bool,
        finish: bool,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Option<Result<Response, WireError>>, WireError> {
        let pending = if pending_poll {
            let http = self.http.clone();
            let req = self.get_request(timeout + Duration::from_secs(1));
            Some(tokio::spawn(async move { http.send(req).await }))
        } else {
            None
        };
        if pending.is_some() {
            // Give the GET time to reach the server before the probe, so it is really pending.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let target = self.target("websocket");
        let mut c = ws::connect(&self.http.base, &target, headers, timeout, self.http.transcript())
            .await
            .map_err(|e| match e {
                ConnectError::Refused { status, body, .. } => WireError::Http(format!("upgrade refused: {status} {body}")),
                ConnectError::Wire(w) => w,
            })?
            .conn;
        self.feed(ClientEvent::ProbeOpened);
        c.send(eio::encode_frame(self.rev(), &Packet::new(PacketType::Ping, "probe"))).await?;
        let deadline = Instant::now() + timeout;
        loop {
            match c.recv(deadline.saturating_duration_since(Instant::now())).await? {
                WsEvent::Frame(f) => {
                    let p = eio::decode_frame(self.rev(), &f)?;
                    self.feed(ClientEvent::ProbePacket(p.clone()));
                    if p.kind == PacketType::Pong && p.data == eio::Data::Text("probe".into()) {
                        break;
                    }
                    if p.kind == PacketType::Ping || p.kind == PacketType::Noop {
                        continue;
                    }
                    self.feed(ClientEvent::ProbeFailed);
                    return Err(WireError::Http(format!("expected 3probe, got {}", p.to_display())));
                }
                WsEvent::Closed { how, .. } => {
                    self.feed(ClientEvent::ProbeFailed);
                    return Err(WireError::Ws(format!("closed during the probe ({how})")));
                }
            }
        }
        let pending_result = match pending {
            Some(h) => Some(match tokio::time::timeout(timeout, h).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(WireError::Http(format!("pending poll task failed: {e}"))),
                Err(_) => Err(WireError::Timeout { what: "pending poll".into(), ms: timeout.as_millis() as u64 }),
            }),
            None => None,
        };
        if finish {
            c.send(eio::encode_frame(self.rev(), &Packet::new(PacketType::Upgrade, ""))).await?;
        }
        self.conn = Conn::Ws(c);
        self.last_sent = Some(Instant::now());
        Ok(pending_result)
    }

    pub fn drop_transport(&mut self) {
        if let Conn::Ws(c) = std::mem::replace(&mut self.conn, Conn::Gone) {
            c.drop_abruptly();
        }
        self.feed(ClientEvent::TransportClosed { reason: "dropped by the harness".into() });
    }

    pub fn is_ws(&self) -> bool {
        matches!(self.conn, Conn::Ws(_))
    }

    pub async fn close(&mut self) {
        if let Conn::Ws(c) = &mut self.conn {
            c.close().await;
        }
    }
}

fn sid_of(open: &serde_json::Value) -> Option<String> {
    open.get("sid").and_then(|s| s.as_str()).map(String::from)
}

/// A JSONP POST body: `d=<payload>` form-encoded, newlines escaped as `\n` first
/// (engine.io-protocol v3, JSONP, Posting data).
fn jsonp_form(payload: &[u8]) -> Vec<u8> {
    let mut out = b"d=".to_vec();
    for &b in String::from_utf8_lossy(payload).replace('\n', "\\n").as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}
