//! A recording, fault-injecting proxy between a real client and a real server.
//!
//! Polling requests are forwarded as they are; a websocket upgrade is answered
//! here and relayed message by message to a websocket opened upstream, so every
//! frame can be decoded for the transcript and faults can act per packet. The
//! faults are what real deployments do to Socket.IO: a reverse proxy that drops
//! the Upgrade headers, one that cuts idle connections (nginx proxy_read_timeout),
//! latency, lost packets.
//!
//! Both directions of every session also go through an Engine.IO session observer
//! (`protocol::eio::session::observer`): the transcript says when a session upgraded or
//! closed, and which rule a peer broke.
use crate::protocol::eio::session::{Leg, Observer, Seen, Transport};
use crate::protocol::eio::{self, EioRevision, Frame, Packet};
use crate::wire::http::{show_bytes, show_text};
use crate::wire::{Transcript, MAX_READ};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What the proxy does wrong, on purpose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Forward websocket requests without Connection/Upgrade headers (a misconfigured reverse proxy).
    pub strip_upgrade: bool,
    /// Cut a connection that carried nothing for this long (a proxy read timeout).
    pub idle_cut_ms: Option<u64>,
    /// Added before forwarding each request and each websocket message.
    pub delay_ms: u64,
    /// Engine.IO pings from the server are not forwarded (packet loss).
    pub drop_pings: bool,
}

struct State {
    upstream: String,
    faults: Mutex<Faults>,
    transcript: Transcript,
    client: reqwest::Client,
    /// Bumped to cut every open connection at once.
    cut: watch::Sender<u64>,
    /// New connections are dropped until then (a proxy restarting).
    blackout_until: Mutex<Option<tokio::time::Instant>>,
    /// Engine.IO session ids and Socket.IO socket ids that crossed this proxy: they tell
    /// which of a shared server's reports belong to the client behind it.
    ids: Mutex<BTreeSet<String>>,
    /// Observers of the polling sessions, by sid (a websocket-only session's observer lives
    /// with its one connection). Bounded like `ids`.
    sessions: Mutex<HashMap<String, Observer>>,
}

/// Longest id worth keeping (sids are ~20 characters; anything longer is not an id).
const MAX_ID: usize = 128;
/// A proxy carries a handful of sessions; a hostile peer cannot grow the set beyond this.
const MAX_IDS: usize = 256;

fn note_id(st: &State, id: &str) {
    if id.is_empty() || id.len() > MAX_ID {
        return;
    }
    if let Ok(mut ids) = st.ids.lock() {
        if ids.len() < MAX_IDS {
            ids.insert(id.to_string());
        }
    }
}

/// The `sid` query parameter of a client request.
fn query_sid(query: &str) -> Option<&str> {
    // Engine.IO ids are URL-safe (base64url, UUIDs), so they arrive unescaped.
    query.split('&').find_map(|kv| kv.strip_prefix("sid="))
}

fn note_query_sid(st: &State, query: &str) {
    if let Some(v) = query_sid(query) {
        note_id(st, v);
    }
}

/// What an observer saw: a new sid joins `ids`, the rest goes to the transcript.
fn report(st: &State, seen: Vec<Seen>) {
    for s in seen {
        match s {
            Seen::Opened { sid } => note_id(st, &sid),
            Seen::Upgraded => st.transcript.log("proxy: observed the upgrade to websocket"),
            Seen::Closed { reason } => st.transcript.log(format!("proxy: observed the session close ({reason})")),
            Seen::Violation(v) => st.transcript.log(format!("proxy: observed a protocol violation: {v}")),
        }
    }
}

/// The observer of a session: the shared one of a polling session, or a connection's own.
enum Watch {
    Shared(String),
    Own(Box<Observer>),
}

impl Watch {
    fn see(&mut self, st: &State, f: impl FnOnce(&mut Observer) -> Vec<Seen>) {
        let seen = match self {
            Watch::Own(o) => f(o),
            Watch::Shared(sid) => {
                let Ok(mut m) = st.sessions.lock() else { return };
                let Some(o) = m.get_mut(sid.as_str()) else { return };
                let seen = f(o);
                if o.closed() {
                    m.remove(sid.as_str());
                }
                seen
            }
        };
        report(st, seen);
    }
}

/// A polling handshake's answer: a new observer, kept under the sid the server gave.
fn observe_handshake(st: &State, rev: EioRevision, packets: Vec<Packet>) {
    let mut o = Observer::new(rev, Transport::Polling);
    let seen: Vec<Seen> = packets.into_iter().flat_map(|p| o.from_server(Leg::Main, p)).collect();
    if let (Some(sid), false) = (o.sid().map(String::from), o.closed()) {
        if let Ok(mut m) = st.sessions.lock() {
            if m.len() < MAX_IDS {
                m.insert(sid, o);
            }
        }
    }
    report(st, seen);
}

/// Every `"sid":"…"` in a server's message: the open packet's session id and the socket
/// ids of Socket.IO v5 CONNECT answers.
fn note_body_ids(st: &State, body: &[u8]) {
    const KEY: &[u8] = b"\"sid\":\"";
    let mut rest = body;
    while let Some(i) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[i + KEY.len()..];
        let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
        if let Ok(id) = std::str::from_utf8(&rest[..end]) {
            note_id(st, id);
        }
        rest = &rest[end..];
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.cut.send_modify(|n| *n += 1);
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (ephemeral port) and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, transcript: Transcript) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client =
            reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(5)).build().map_err(std::io::Error::other)?;
        let (cut, _) = watch::channel(0u64);
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            faults: Mutex::new(Faults::default()),
            transcript,
            client,
            cut,
            blackout_until: Mutex::new(None),
            ids: Mutex::new(BTreeSet::new()),
            sessions: Mutex::new(HashMap::new()),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let dark = st.blackout_until.lock().ok().and_then(|b| *b).is_some_and(|t| tokio::time::Instant::now() < t);
                if dark {
                    drop(tcp);
                    continue;
                }
                let st = st.clone();
                let mut cut_rx = st.cut.subscribe();
                tokio::spawn(async move {
                    let svc_state = st.clone();
                    let service = hyper::service::service_fn(move |req| handle(svc_state.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades();
                    tokio::select! {
                        _ = conn => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Ok(Proxy { addr, state, accept })
    }

    /// The session and socket ids seen so far (see `State::ids`).
    pub fn session_ids(&self) -> BTreeSet<String> {
        self.state.ids.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_faults(&self, f: Faults) {
        self.state.transcript.log(format!("proxy: faults now {f:?}"));
        if let Ok(mut g) = self.state.faults.lock() {
            *g = f;
        }
    }

    /// Drops every open connection, like a proxy restart.
    pub fn cut_all(&self) {
        self.state.transcript.log("proxy: cutting every connection");
        self.state.cut.send_modify(|n| *n += 1);
    }

    /// Cuts every connection and refuses new ones for a while: whatever the client's
    /// transport (a poll between two requests survives a mere cut), the session is lost.
    pub fn restart(&self, down: Duration) {
        if let Ok(mut b) = self.state.blackout_until.lock() {
            *b = Some(tokio::time::Instant::now() + down);
        }
        self.state.transcript.log(format!("proxy: restarting, down for {} ms", down.as_millis()));
        self.state.cut.send_modify(|n| *n += 1);
    }
}

fn faults(st: &State) -> Faults {
    st.faults.lock().map(|f| f.clone()).unwrap_or_default()
}

fn rev_of(query: &str) -> EioRevision {
    if query.split('&').any(|kv| kv == "EIO=3") {
        EioRevision::V3
    } else {
        EioRevision::V4
    }
}

/// Packets of a polling body, for the transcript; the raw body when it does not decode.
fn decode_for_log(rev: EioRevision, body: &[u8], content_type: Option<&str>) -> String {
    match eio::decode_payload(rev, body, content_type) {
        Ok(ps) => ps.iter().map(|p| show_text(&p.to_display())).collect::<Vec<_>>().join(" · "),
        Err(_) => show_bytes(body),
    }
}

/// Websocket messages and frames through the proxy are bounded like every other read.
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let mut cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    cfg.max_message_size = Some(MAX_READ);
    cfg.max_frame_size = Some(MAX_READ);
    cfg
}

fn plain(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let f = faults(&st);
    if f.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
    }
    // `Upgrade` is a token list (RFC 9110 section 7.8): `websocket` among its protocols.
    let is_ws =
        req.headers().get_all("upgrade").iter().filter_map(|v| v.to_str().ok()).any(|v| crate::wire::fields::has_token(v, "websocket"));
    if is_ws && !f.strip_upgrade {
        return Ok(upgrade(st, req).await);
    }
    forward(st, req, f, is_ws).await
}

async fn forward(st: Arc<State>, req: Request<Incoming>, f: Faults, strip: bool) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let target = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let query = parts.uri.query().unwrap_or("").to_string();
    note_query_sid(&st, &query);
    let rev = rev_of(&query);
    let body = match Limited::new(body, MAX_READ).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "proxy: body too large")),
    };
    let ct = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).map(String::from);
    let sid = query_sid(&query).map(String::from);
    if let (Some(sid), false) = (&sid, body.is_empty()) {
        if let Ok(packets) = eio::decode_payload(rev, &body, ct.as_deref()) {
            Watch::Shared(sid.clone()).see(&st, |o| packets.into_iter().flat_map(|p| o.from_client(Leg::Main, p)).collect());
        }
    }
    let is_get = parts.method == hyper::Method::GET;
    let mut line = format!("client → {} {target}", parts.method);
    if strip {
        line.push_str(" (Upgrade headers stripped by the proxy)");
    }
    if !body.is_empty() {
        line.push_str(&format!(" | {}", decode_for_log(rev, &body, ct.as_deref())));
    }
    st.transcript.log(line);
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut rb = st.client.request(method, format!("{}{target}", st.upstream));
    for (k, v) in parts.headers.iter() {
        let name = k.as_str();
        let hop = matches!(name, "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive");
        let upgrade = strip && (name == "upgrade" || name.starts_with("sec-websocket"));
        if !hop && !upgrade {
            rb = rb.header(name, v.as_bytes());
        }
    }
    if !body.is_empty() {
        rb = rb.body(body);
    }
    let send = async {
        let mut resp = rb.send().await.map_err(std::io::Error::other)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        // A broken or hostile server cannot make the proxy hold more than MAX_READ.
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(std::io::Error::other)? {
            if bytes.len() + chunk.len() > MAX_READ {
                return Err(std::io::Error::other(format!("upstream body over {MAX_READ} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok::<_, std::io::Error>((status, headers, Bytes::from(bytes)))
    };
    let outcome = match f.idle_cut_ms {
        Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), send).await {
            Ok(r) => r,
            Err(_) => {
                st.transcript.log(format!("proxy: {target} idle for {ms} ms, connection cut"));
                return Err(std::io::Error::other("idle timeout"));
            }
        },
        None => send.await,
    };
    let (status, headers, bytes) = match outcome {
        Ok(x) => x,
        Err(e) => {
            st.transcript.log(format!("proxy: upstream failed: {e}"));
            return Ok(plain(StatusCode::BAD_GATEWAY, "proxy: upstream unreachable"));
        }
    };
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).map(String::from);
    note_body_ids(&st, &bytes);
    if let (true, 200, Ok(packets)) = (is_get, status, eio::decode_payload(rev, &bytes, ct.as_deref())) {
        match &sid {
            Some(sid) => Watch::Shared(sid.clone()).see(&st, |o| packets.into_iter().flat_map(|p| o.from_server(Leg::Main, p)).collect()),
            None => observe_handshake(&st, rev, packets),
        }
    }
    st.transcript.log(format!("server → {status} | {}", decode_for_log(rev, &bytes, ct.as_deref())));
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in headers.iter() {
        if !matches!(k.as_str(), "content-length" | "transfer-encoding" | "connection" | "keep-alive") {
            resp.headers_mut().append(k.clone(), v.clone());
        }
    }
    Ok(resp)
}

async fn upgrade(st: Arc<State>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let target = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let rev = rev_of(req.uri().query().unwrap_or(""));
    note_query_sid(&st, req.uri().query().unwrap_or(""));
    // With a sid the websocket probes an upgrade of a polling session; without, it is the session.
    let (watch, leg) = match query_sid(req.uri().query().unwrap_or("")) {
        Some(sid) => (Watch::Shared(sid.to_string()), Leg::Probe),
        None => (Watch::Own(Box::new(Observer::new(rev, Transport::Websocket))), Leg::Main),
    };
    st.transcript.log(format!("client → ws {target}"));
    let Some(key) = req.headers().get("sec-websocket-key").map(|k| k.as_bytes().to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "proxy: websocket request without Sec-WebSocket-Key");
    };
    let host = st.upstream.trim_start_matches("http://");
    let mut up_req = match tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{host}{target}")) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("proxy: {e}")),
    };
    for name in ["origin", "cookie", "authorization", "user-agent"] {
        if let Some(v) = req.headers().get(name) {
            up_req.headers_mut().insert(name, v.clone());
        }
    }
    let connected =
        tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async_with_config(up_req, Some(ws_config()), false)).await;
    let upstream = match connected {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            let status = resp.status();
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
            st.transcript.log(format!("server → {} (websocket refused) | {}", status.as_u16(), show_text(&body)));
            return plain(status, &body);
        }
        Ok(Err(e)) => {
            st.transcript.log(format!("proxy: upstream websocket failed: {e}"));
            return plain(StatusCode::BAD_GATEWAY, "proxy: upstream websocket failed");
        }
        Err(_) => return plain(StatusCode::GATEWAY_TIMEOUT, "proxy: upstream websocket timed out"),
    };
    st.transcript.log("server → 101 (websocket open)");
    let on_upgrade = hyper::upgrade::on(&mut req);
    let st2 = st.clone();
    tokio::spawn(async move {
        let Ok(io) = on_upgrade.await else { return };
        let client = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(ws_config())).await;
        relay(st2, client, upstream, rev, watch, leg).await;
    });
    let mut resp = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let h = resp.headers_mut();
    h.insert("connection", "Upgrade".parse().expect("static header"));
    h.insert("upgrade", "websocket".parse().expect("static header"));
    if let Ok(v) = derive_accept_key(&key).parse() {
        h.insert("sec-websocket-accept", v);
    }
    resp
}

fn frame_of(m: &Message) -> Option<Frame> {
    match m {
        Message::Text(t) => Some(Frame::Text(t.clone())),
        Message::Binary(b) => Some(Frame::Binary(b.clone())),
        _ => None,
    }
}

fn show_frame(rev: EioRevision, f: &Frame) -> String {
    match eio::decode_frame(rev, f) {
        Ok(p) => show_text(&p.to_display()),
        Err(_) => match f {
            Frame::Text(t) => show_text(t),
            Frame::Binary(b) => show_bytes(b),
        },
    }
}

async fn relay<C, U>(st: Arc<State>, client: WebSocketStream<C>, upstream: WebSocketStream<U>, rev: EioRevision, mut watch: Watch, leg: Leg)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut c_tx, mut c_rx) = client.split();
    let (mut u_tx, mut u_rx) = upstream.split();
    let mut cut_rx = st.cut.subscribe();
    let ended = loop {
        let f = faults(&st);
        let idle = Duration::from_millis(f.idle_cut_ms.unwrap_or(24 * 3600 * 1000));
        tokio::select! {
            _ = cut_rx.changed() => break "cut by the proxy",
            _ = tokio::time::sleep(idle) => {
                st.transcript.log(format!("proxy: websocket idle for {} ms, connection cut", idle.as_millis()));
                break "cut by the proxy";
            }
            m = c_rx.next() => {
                let Some(Ok(m)) = m else { st.transcript.log("client → (websocket ended)"); break "the client's websocket ended" };
                if let Some(fr) = frame_of(&m) {
                    st.transcript.log(format!("client ⇢ {}", show_frame(rev, &fr)));
                    if let Ok(p) = eio::decode_frame(rev, &fr) {
                        watch.see(&st, |o| o.from_client(leg, p));
                    }
                }
                if f.delay_ms > 0 { tokio::time::sleep(Duration::from_millis(f.delay_ms)).await; }
                let closing = m.is_close();
                if u_tx.send(m).await.is_err() { break "the server's websocket failed"; }
                if closing { break "the client closed the websocket"; }
            }
            m = u_rx.next() => {
                let Some(Ok(m)) = m else { st.transcript.log("server → (websocket ended)"); break "the server's websocket ended" };
                if let Some(fr) = frame_of(&m) {
                    match &fr {
                        Frame::Text(t) => note_body_ids(&st, t.as_bytes()),
                        Frame::Binary(b) => note_body_ids(&st, b),
                    }
                    let shown = show_frame(rev, &fr);
                    let packet = eio::decode_frame(rev, &fr).ok();
                    let is_ping = matches!(&packet, Some(p) if p.kind == eio::PacketType::Ping);
                    if f.drop_pings && is_ping {
                        st.transcript.log(format!("server ⇠ {shown} (dropped by the proxy)"));
                        continue;
                    }
                    st.transcript.log(format!("server ⇠ {shown}"));
                    // The observer follows what the client gets: a dropped ping never arrived.
                    if let Some(p) = packet {
                        watch.see(&st, |o| o.from_server(leg, p));
                    }
                }
                if f.delay_ms > 0 { tokio::time::sleep(Duration::from_millis(f.delay_ms)).await; }
                let closing = m.is_close();
                if c_tx.send(m).await.is_err() { break "the client's websocket failed"; }
                if closing { break "the server closed the websocket"; }
            }
        }
    };
    watch.see(&st, |o| o.ended(leg, ended));
    // Dropping both halves cuts the TCP connections without a close handshake.
}
