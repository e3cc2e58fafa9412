//! Before running cases against a hand-started server (`run --url`): does it answer at all,
//! and is it the kind of endpoint the chosen suites drive? An Engine.IO suite pointed at a
//! Socket.IO endpoint (or the converse) would only produce a screen of failures; this says so
//! instead, with what to change, and the run stops with exit 2.
//!
//! The probe opens one polling session of its own at the suite's Engine.IO revision:
//! - v4: it sends the message `0`. The standard Engine.IO fixture echoes it back unchanged; a
//!   Socket.IO v5 server reads it as a CONNECT to `/` and answers `0{"sid":…}` (or refuses the
//!   namespace with `4{…}`).
//! - v3: a Socket.IO v4 server connects `/` on its own, so the open packet is followed by the
//!   message `0` (in the handshake payload or the next poll, which the probe's ping makes
//!   prompt). If none came, a message sent is echoed back by the Engine.IO fixture.
//!
//! Anything else (no answer, an error, a refused handshake) is left to the cases to report.
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};
use crate::suite::Revision;
use crate::wire::http::HttpClient;
use crate::wire::session::{EioSession, Received};
use crate::wire::Transcript;
use std::time::Duration;
use tokio::time::Instant;

/// What the probe concluded about the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Socket.IO server: the evidence.
    SocketIo(String),
    /// A raw Engine.IO endpoint (the echo fixture): the evidence.
    EngineIo(String),
    /// Could not tell (no echo, a refusal, a timeout): the cases will show what is wrong.
    Unknown,
}

const TIMEOUT: Duration = Duration::from_secs(5);
/// How long the probe waits for an answer to what it sent.
const ANSWER_WITHIN: Duration = Duration::from_millis(1500);
/// What the v3 probe sends when no Socket.IO CONNECT came: the echo fixture sends it back.
const ECHO_PROBE: &str = "siospec: endpoint probe";

/// Checks a `--url` endpoint before any case runs. Err is the message to print (exit 2).
pub async fn check_url(base: &str, path: &str, revision: Revision) -> Result<(), String> {
    let eio = if revision.eio() == EioRevision::V3 { 3 } else { 4 };
    let url = format!("{base}{path}?EIO={eio}&transport=polling");
    let client = reqwest::Client::builder().no_proxy().timeout(TIMEOUT).build().map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Err(e) if e.is_connect() => {
            return Err(format!("cannot reach {url}: connection refused. Is the server running, and listening on that host and port?"))
        }
        Err(e) if e.is_timeout() => return Err(format!("{url} did not answer within 5 s: is something between you and the server?")),
        Err(e) => return Err(format!("cannot reach {url}: {e}")),
        Ok(r) if r.status().as_u16() == 404 => {
            return Err(format!(
                "{url} answered 404: is the path right? The server must be mounted on {path} (Socket.IO's default is /socket.io/, Engine.IO's /engine.io/)"
            ))
        }
        Ok(_) => {}
    }
    let endpoint = classify(base, path, revision.eio()).await;
    let at = format!("{base}{path}");
    match (revision.sio(), endpoint) {
        (None, Endpoint::SocketIo(evidence)) => {
            let sio = if eio == 3 { "sio4" } else { "sio5" };
            Err(format!(
                "{at} looks like a Socket.IO endpoint, not the raw Engine.IO one the {revision} suites drive: {evidence}. \
                 To test it, use --protocol {sio}; for the {revision} suites, point --url at the server's Engine.IO echo \
                 endpoint (the standard fixture serves it on /engine.io/)."
            ))
        }
        (Some(_), Endpoint::EngineIo(evidence)) => {
            let raw = if eio == 3 { "eio3" } else { "eio4" };
            Err(format!(
                "{at} looks like a raw Engine.IO endpoint, not the Socket.IO one the {revision} suites drive: {evidence}. \
                 To test it, use --protocol {raw}; for the {revision} suites, point --url at the server's Socket.IO endpoint \
                 (the standard fixture serves it on /socket.io/)."
            ))
        }
        _ => Ok(()),
    }
}

/// Opens a probe session and looks at how the endpoint answers (see the module docs).
pub async fn classify(base: &str, path: &str, rev: EioRevision) -> Endpoint {
    let Ok(http) = HttpClient::new(base, Transcript::new()) else { return Endpoint::Unknown };
    let mut sess = EioSession::new(rev, http, path, "");
    if sess.handshake_polling(&[], TIMEOUT).await.is_err() {
        return Endpoint::Unknown;
    }
    let found = match rev {
        EioRevision::V4 => probe_v4(&mut sess).await,
        EioRevision::V3 => probe_v3(&mut sess).await,
    };
    // Leave nothing behind on the server.
    let _ = sess.send(&[Packet::new(PacketType::Close, "")], false, TIMEOUT).await;
    found
}

/// Shows a message packet's data, cut short (a sid inside is no secret, but need not be long).
fn shown(data: &str) -> String {
    let cut: String = data.chars().take(40).collect();
    if cut.len() < data.len() {
        format!("`4{cut}…`")
    } else {
        format!("`4{cut}`")
    }
}

async fn probe_v4(sess: &mut EioSession) -> Endpoint {
    match sess.send(&[Packet::message("0")], false, TIMEOUT).await {
        Ok(Some(r)) if r.status == 200 => {}
        _ => return Endpoint::Unknown,
    }
    let Some(data) = next_message(sess, EioRevision::V4).await else { return Endpoint::Unknown };
    if data == "0" {
        Endpoint::EngineIo("it echoed the message `0` (a Socket.IO CONNECT) back unchanged, as the Engine.IO echo fixture does".into())
    } else if data.starts_with("0{") || data.starts_with("4{") || data.starts_with("0/") || data.starts_with("4/") {
        Endpoint::SocketIo(format!(
            "the message `0` (a Socket.IO CONNECT to `/`) was answered with {}, a Socket.IO {}",
            shown(&data),
            if data.starts_with('0') { "CONNECT" } else { "CONNECT_ERROR" }
        ))
    } else {
        Endpoint::Unknown
    }
}

async fn probe_v3(sess: &mut EioSession) -> Endpoint {
    // A ping makes the next poll return at once (with the pong), carrying anything queued.
    match sess.send(&[Packet::new(PacketType::Ping, "")], false, TIMEOUT).await {
        Ok(Some(r)) if r.status == 200 => {}
        _ => return Endpoint::Unknown,
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut ponged = false;
    while !ponged || !sess.inbox.is_empty() {
        match sess.recv(deadline).await {
            Ok(Received::Packet(p)) => match (&p.kind, &p.data) {
                (PacketType::Pong, _) => ponged = true,
                (PacketType::Message, Data::Text(t)) if t.starts_with('0') => {
                    return Endpoint::SocketIo(format!(
                        "the open packet was followed by the message {} (the CONNECT a Socket.IO v4 server sends on its own)",
                        shown(t)
                    ))
                }
                _ => {}
            },
            _ => return Endpoint::Unknown,
        }
    }
    match sess.send(&[Packet::message(ECHO_PROBE)], false, TIMEOUT).await {
        Ok(Some(r)) if r.status == 200 => {}
        _ => return Endpoint::Unknown,
    }
    match next_message(sess, EioRevision::V3).await {
        Some(t) if t == ECHO_PROBE => Endpoint::EngineIo(
            "no Socket.IO CONNECT (`40`) followed the open packet, and a message sent was echoed back unchanged, as the Engine.IO echo fixture does"
                .into(),
        ),
        _ => Endpoint::Unknown,
    }
}

/// The next text message within [`ANSWER_WITHIN`]; pings are answered (v4), noops and pongs skipped.
async fn next_message(sess: &mut EioSession, rev: EioRevision) -> Option<String> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    loop {
        match sess.recv(deadline).await {
            Ok(Received::Packet(p)) => match (p.kind, p.data) {
                (PacketType::Message, Data::Text(t)) => return Some(t),
                (PacketType::Ping, d) if rev == EioRevision::V4 => {
                    let d = if let Data::Text(t) = d { t } else { String::new() };
                    let _ = sess.send(&[Packet::new(PacketType::Pong, d)], false, TIMEOUT).await;
                }
                (PacketType::Noop | PacketType::Pong | PacketType::Ping, _) => {}
                _ => return None,
            },
            _ => return None,
        }
    }
}
