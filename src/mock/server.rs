//! The mock's I/O: one hyper HTTP/1.1 server whose requests are polling (GET/POST) or websocket
//! upgrades (tokio-tungstenite on the upgraded connection), all on one path of one port.
use super::engine::{Out, WsCmd};
use super::record::{Dir, Ev, RequestRec};
use super::{behaviour::error_message, Shared, MAX_BODY};
use crate::protocol::eio::session::{Conn, Event, PollAnswer, SessionError};
use crate::protocol::eio::{self, EioRevision, Frame, Packet, PayloadFormat};
use crate::suite::client_steps::{MockMode, WsPolicy};
use crate::suite::Transport;
use crate::wire::http::{show_bytes, show_bytes_hex, show_text};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, Message};
use tokio_tungstenite::WebSocketStream;

type Resp = Response<Full<Bytes>>;

/// Returned by the service to drop a connection without answering (a cut poll).
#[derive(Debug)]
struct Cut;
impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by the mock")
    }
}
impl std::error::Error for Cut {}

/// Accepts connections until `stop` fires (or the task is aborted); returning drops the listener.
pub(crate) async fn accept_loop(sh: Arc<Shared>, listener: TcpListener, mut stop: tokio::sync::oneshot::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let sh2 = sh.clone();
                let h = tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(sh2.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).with_upgrades().await;
                });
                sh.track(h.abort_handle());
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

fn respond(sh: &Shared, status: u16, ctype: &str, body: impl Into<Bytes>) -> Resp {
    let body: Bytes = body.into();
    sh.transcript.log(format!("→ {status} {ctype} | {}", show_bytes(&body)));
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .header("access-control-allow-origin", "*")
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An Engine.IO error as the reference servers send it: JSON over polling (403 for code 4),
/// a bare `400` with the message over a websocket handshake.
fn eio_error(sh: &Shared, code: u8, websocket: bool) -> Resp {
    if websocket {
        return respond(sh, 400, "text/html", error_message(code).to_string());
    }
    let status = if code == 4 { 403 } else { 400 };
    respond(sh, status, "application/json", serde_json::json!({"code": code, "message": error_message(code)}).to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The request target for the transcript, with the cache buster `t` made stable.
fn shown_target(path: &str, raw_query: &str) -> String {
    if raw_query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = raw_query.split('&').map(|p| if p.starts_with("t=") { "t=<t>".to_string() } else { p.to_string() }).collect();
    format!("{path}?{}", q.join("&"))
}

async fn read_body(body: &mut Incoming) -> (Vec<u8>, usize, bool) {
    let mut out = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return (out, total, false) };
        if let Ok(d) = frame.into_data() {
            total += d.len();
            if total > MAX_BODY {
                return (out, total, true);
            }
            out.extend_from_slice(&d);
        }
    }
    (out, total, false)
}

async fn handle(sh: Arc<Shared>, mut req: Request<Incoming>) -> Result<Resp, Cut> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query = parse_query(&raw_query);
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).to_string())).collect();
    // `Upgrade` is a token list (RFC 9110 section 7.8): `websocket` among its protocols.
    let websocket = crate::wire::fields::get(&headers, "upgrade").is_some_and(|v| crate::wire::fields::has_token(&v, "websocket"));
    let (body, body_len, too_large) =
        if method == "GET" || method == "HEAD" { (Vec::new(), 0, false) } else { read_body(req.body_mut()).await };
    let mut line = format!("← {method} {}", shown_target(&path, &raw_query));
    if websocket {
        line.push_str(" (websocket upgrade)");
    }
    if body_len > 0 {
        line.push_str(&format!(" | {}", show_bytes(&body)));
    }
    sh.transcript.log(line);
    let rec = RequestRec { method: method.clone(), path: path.clone(), query: query.clone(), headers, body_len, websocket };
    sh.record.push(Ev::Request(rec));

    let b = sh.lock().b.clone();
    match b.mode {
        MockMode::Unreachable => return Err(Cut),
        MockMode::WsEcho => {
            if websocket {
                return Ok(accept_ws(&sh, &mut req, WsRole::Echo, EioRevision::V4));
            }
            return Ok(respond(&sh, 426, "text/plain", "Upgrade Required"));
        }
        MockMode::Normal => {}
    }
    if !path.starts_with(&b.path) {
        return Ok(respond(&sh, 404, "text/plain", "not found"));
    }
    if too_large {
        sh.record.push(Ev::Note { session: None, what: format!("request body over {MAX_BODY} bytes") });
        return Ok(respond(&sh, 413, "text/plain", ""));
    }
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let transport = match param("transport").as_deref() {
        Some("polling") => Transport::Polling,
        Some("websocket") => Transport::Websocket,
        _ => return Ok(eio_error(&sh, 0, websocket)),
    };
    if (transport == Transport::Websocket) != websocket {
        return Ok(eio_error(&sh, 3, websocket));
    }
    let Some(sid) = param("sid") else {
        return handshake(&sh, &mut req, &method, transport, query).await;
    };
    let Some(idx) = sh.lock().find(&sid) else {
        return Ok(eio_error(&sh, 1, websocket));
    };
    if websocket {
        let upgrade = {
            let mut st = sh.lock();
            sh.feed(&mut st, idx, Event::UpgradeRequest).map(|_| st.sessions[idx].m.rev())
        };
        return Ok(match upgrade {
            Ok(rev) => accept_ws(&sh, &mut req, WsRole::Probe(idx), rev),
            Err(_) => respond(&sh, 400, "text/html", "Bad Request"),
        });
    }
    match method.as_str() {
        "GET" => poll_get(&sh, idx).await,
        "POST" => {
            let ctype = req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(String::from);
            let resp = poll_post(&sh, idx, &body, ctype.as_deref());
            if b.post_delay_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(b.post_delay_ms)).await;
            }
            Ok(resp)
        }
        _ => Ok(eio_error(&sh, 2, false)),
    }
}

async fn handshake(
    sh: &Arc<Shared>,
    req: &mut Request<Incoming>,
    method: &str,
    transport: Transport,
    query: Vec<(String, String)>,
) -> Result<Resp, Cut> {
    let websocket = transport == Transport::Websocket;
    let b = sh.lock().b.clone();
    if method != "GET" {
        return Ok(eio_error(sh, 2, websocket));
    }
    let asked = query.iter().find(|(k, _)| k == "EIO").map(|(_, v)| v.as_str());
    let rev = match b.eio {
        // engine.io ≥ 5: anything but EIO=4 is v3, refused without allowEIO3.
        EioRevision::V4 if asked != Some("4") => return Ok(eio_error(sh, 5, websocket)),
        EioRevision::V4 => EioRevision::V4,
        // engine.io 3.x ignores EIO: every session is v3.
        EioRevision::V3 => EioRevision::V3,
    };
    if let Some(code) = b.handshake_error {
        return Ok(eio_error(sh, code, websocket));
    }
    if b.stall_handshake {
        sh.transcript.log("# mock: leaves the handshake unanswered");
        std::future::pending::<()>().await;
    }
    if websocket {
        if b.websocket == WsPolicy::Refuse {
            return Ok(respond(sh, 400, "text/html", "Bad Request"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let idx = {
            let mut st = sh.lock();
            sh.new_session(&mut st, rev, Transport::Websocket, query, Some(tx)).0
        };
        return Ok(accept_ws_with(sh, req, WsRole::Session(idx), rev, rx));
    }
    let (idx, first) = {
        let mut st = sh.lock();
        sh.new_session(&mut st, rev, Transport::Polling, query, None)
    };
    Ok(poll_response(sh, idx, rev, first))
}

/// Encodes packets as a polling response body (v4 `\x1e`; v3 length-prefixed text, or XHR2
/// binary framing when there is binary and the client did not ask for base64).
fn poll_response(sh: &Shared, idx: usize, rev: EioRevision, packets: Vec<Packet>) -> Resp {
    let (n, b64) = {
        let st = sh.lock();
        (st.sessions[idx].n, st.sessions[idx].b64)
    };
    for p in &packets {
        sh.record.push(Ev::Packet { session: n, transport: Transport::Polling, dir: Dir::ToClient, packet: p.clone() });
    }
    let fmt = match rev {
        EioRevision::V4 => PayloadFormat::V4,
        EioRevision::V3 if !b64 && packets.iter().any(|p| p.is_binary()) => PayloadFormat::V3Binary,
        EioRevision::V3 => PayloadFormat::V3Text,
    };
    let body = eio::encode_payload(fmt, &packets);
    respond(sh, 200, fmt.content_type(), body)
}

/// Tells the session when the GET it left waiting goes away unanswered (the client dropped it).
struct WaitingGet<'a> {
    sh: &'a Arc<Shared>,
    idx: usize,
    answered: bool,
}
impl Drop for WaitingGet<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let mut st = self.sh.lock();
            let _ = self.sh.feed(&mut st, self.idx, Event::GetGone);
        }
    }
}

async fn poll_get(sh: &Arc<Shared>, idx: usize) -> Result<Resp, Cut> {
    let (first, wake) = {
        let mut st = sh.lock();
        let first = sh.feed(&mut st, idx, Event::GetRequest).ok().flatten();
        (first, st.sessions[idx].wake.clone())
    };
    if let Some(a) = first {
        return poll_answer(sh, idx, a);
    }
    let mut waiting = WaitingGet { sh, idx, answered: false };
    loop {
        wake.notified().await;
        let answer = {
            let mut st = sh.lock();
            sh.feed(&mut st, idx, Event::GetWoken).ok().flatten()
        };
        if let Some(a) = answer {
            waiting.answered = true;
            return poll_answer(sh, idx, a);
        }
    }
}

fn poll_answer(sh: &Arc<Shared>, idx: usize, a: PollAnswer) -> Result<Resp, Cut> {
    match a {
        PollAnswer::Packets(packets) => {
            let rev = sh.lock().sessions[idx].m.rev();
            Ok(poll_response(sh, idx, rev, packets))
        }
        PollAnswer::Raw(r) => {
            sh.record.push(Ev::Note { session: Some(idx + 1), what: format!("raw polling body sent: {}", show_text(&r)) });
            Ok(respond(sh, 200, "text/plain; charset=UTF-8", r))
        }
        PollAnswer::Refused(e) => Ok(eio_error(sh, e.eio_code().unwrap_or(3), false)),
        PollAnswer::Cut => {
            sh.transcript.log("→ (poll dropped without a response)");
            Err(Cut)
        }
    }
}

fn poll_post(sh: &Arc<Shared>, idx: usize, body: &[u8], ctype: Option<&str>) -> Resp {
    let mut st = sh.lock();
    let (n, rev) = (st.sessions[idx].n, st.sessions[idx].m.rev());
    match sh.feed(&mut st, idx, Event::PostRequest { len: body.len() as u64 }) {
        Ok(_) => {}
        Err(SessionError::PayloadTooLarge { len, max }) => {
            sh.record.push(Ev::Note { session: Some(n), what: format!("POST body of {len} bytes over maxPayload {max}") });
            drop(st);
            return respond(sh, 413, "text/plain", "");
        }
        Err(e) => {
            drop(st);
            return eio_error(sh, e.eio_code().unwrap_or(3), false);
        }
    }
    match eio::decode_payload(rev, body, ctype) {
        Ok(packets) => {
            for p in packets {
                sh.on_packet(&mut st, idx, Transport::Polling, p);
            }
        }
        Err(e) => {
            let _ = sh.feed(&mut st, idx, Event::BadPayload(e));
        }
    }
    drop(st);
    respond(sh, 200, "text/html", "ok")
}

#[derive(Clone, Copy)]
enum WsRole {
    /// A websocket handshake: the connection carries session `idx`.
    Session(usize),
    /// An upgrade of session `idx` being probed.
    Probe(usize),
    /// A plain websocket echo server.
    Echo,
}

fn accept_ws(sh: &Arc<Shared>, req: &mut Request<Incoming>, role: WsRole, rev: EioRevision) -> Resp {
    let (tx, rx) = mpsc::unbounded_channel();
    if let WsRole::Probe(idx) = role {
        sh.lock().sessions[idx].probe = Some(tx);
    }
    accept_ws_with(sh, req, role, rev, rx)
}

fn accept_ws_with(
    sh: &Arc<Shared>,
    req: &mut Request<Incoming>,
    role: WsRole,
    rev: EioRevision,
    rx: mpsc::UnboundedReceiver<WsCmd>,
) -> Resp {
    let Some(key) = req.headers().get("sec-websocket-key").map(|k| derive_accept_key(k.as_bytes())) else {
        return respond(sh, 400, "text/html", "Bad Request");
    };
    let on_upgrade = hyper::upgrade::on(req);
    let sh2 = sh.clone();
    let h = tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            #[allow(clippy::field_reassign_with_default)] // the config is non-exhaustive
            let cfg = {
                let mut cfg = WebSocketConfig::default();
                cfg.max_message_size = Some(MAX_BODY);
                cfg.max_frame_size = Some(MAX_BODY);
                cfg
            };
            let ws = WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, Some(cfg)).await;
            ws_loop(sh2, ws, role, rev, rx).await;
        }
    });
    sh.track(h.abort_handle());
    sh.transcript.log("→ 101 (websocket open)");
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", key)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

fn show_frame(m: &Message) -> String {
    match m {
        Message::Text(t) => show_text(t),
        Message::Binary(b) => show_bytes_hex(b),
        other => format!("{other:?}"),
    }
}

async fn ws_loop(sh: Arc<Shared>, mut ws: Ws, mut role: WsRole, rev: EioRevision, mut rx: mpsc::UnboundedReceiver<WsCmd>) {
    // Nothing commands an echo connection: it only answers what it reads.
    let mut commanded = !matches!(role, WsRole::Echo);
    loop {
        tokio::select! {
            msg = ws.next() => {
                let frame = match msg {
                    Some(Ok(Message::Text(t))) => { sh.transcript.log(format!("⇠ {}", show_text(&t))); Frame::Text(t) }
                    Some(Ok(Message::Binary(b))) => { sh.transcript.log(format!("⇠ {}", show_bytes_hex(&b))); Frame::Binary(b) }
                    Some(Ok(Message::Close(cf))) => {
                        let code = cf.as_ref().map(|c| u16::from(c.code).to_string()).unwrap_or_else(|| "-".into());
                        sh.transcript.log(format!("⇠ close {code}"));
                        ws_ended(&sh, role, "transport close");
                        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), ws.close(None)).await;
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        sh.transcript.log(format!("⇠ (websocket error: {e})"));
                        ws_ended(&sh, role, "transport error");
                        return;
                    }
                    None => {
                        sh.transcript.log("⇠ (connection ended)");
                        ws_ended(&sh, role, "transport close");
                        return;
                    }
                };
                if let WsRole::Echo = role {
                    let m = match frame { Frame::Text(t) => Message::Text(t), Frame::Binary(b) => Message::Binary(b) };
                    sh.transcript.log(format!("⇢ {}", show_frame(&m)));
                    if ws.send(m).await.is_err() { return; }
                    continue;
                }
                let packet = match eio::decode_frame(rev, &frame) {
                    Ok(p) => p,
                    Err(e) => {
                        sh.record.push(Ev::Note { session: None, what: format!("invalid websocket frame from the client: {e}") });
                        continue;
                    }
                };
                let mut st = sh.lock();
                match role {
                    WsRole::Probe(idx) => {
                        sh.on_probe_packet(&mut st, idx, packet);
                        // The upgrade handed this connection to the session.
                        if st.sessions[idx].probe.is_none() && st.sessions[idx].m.upgraded() && st.sessions[idx].ws.is_some() { role = WsRole::Session(idx); }
                    }
                    WsRole::Session(idx) => sh.on_packet(&mut st, idx, Transport::Websocket, packet),
                    WsRole::Echo => {}
                }
            }
            cmd = rx.recv(), if commanded => {
                let Some(cmd) = cmd else {
                    // Every sender is gone: the session forgot this connection.
                    if matches!(role, WsRole::Echo) {
                        commanded = false;
                        continue;
                    }
                    return;
                };
                match cmd {
                    WsCmd::Out(o) => {
                        let msg = match &o {
                            Out::Raw(r) => Message::Text(r.clone()),
                            Out::Packet(p) => {
                                if let WsRole::Session(idx) | WsRole::Probe(idx) = role {
                                    let n = idx + 1;
                                    sh.record.push(Ev::Packet { session: n, transport: Transport::Websocket, dir: Dir::ToClient, packet: p.clone() });
                                }
                                match eio::encode_frame(rev, p) { Frame::Text(t) => Message::Text(t), Frame::Binary(b) => Message::Binary(b) }
                            }
                        };
                        sh.transcript.log(format!("⇢ {}", show_frame(&msg)));
                        if ws.send(msg).await.is_err() {
                            ws_ended(&sh, role, "transport error");
                            return;
                        }
                    }
                    WsCmd::Close(code) => {
                        sh.transcript.log(format!("⇢ close {code}"));
                        let cf = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), ws.close(Some(cf))).await;
                        return;
                    }
                    WsCmd::Cut => {
                        sh.transcript.log("⇢ (connection cut, no close frame)");
                        return;
                    }
                    WsCmd::Garbage => {
                        sh.transcript.log("⇢ (invalid websocket frame: reserved opcode 0x3)");
                        let _ = ws.flush().await;
                        let io = ws.get_mut();
                        let _ = io.write_all(&[0x83, 0x00]).await;
                        let _ = io.flush().await;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        return;
                    }
                }
            }
        }
    }
}

/// The client side of a websocket ended.
fn ws_ended(sh: &Arc<Shared>, role: WsRole, reason: &str) {
    let mut st = sh.lock();
    let (idx, conn) = match role {
        WsRole::Session(idx) => (idx, Conn::Session),
        WsRole::Probe(idx) => (idx, Conn::Probe),
        WsRole::Echo => return,
    };
    let s = &mut st.sessions[idx];
    match conn {
        Conn::Session => s.ws = None,
        Conn::Probe => s.probe = None,
    }
    let _ = sh.feed(&mut st, idx, Event::WsEnded { conn, reason: reason.to_string() });
}
