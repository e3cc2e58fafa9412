//! The mock server on its own, driven by the harness's wire client (no Node needed): what it
//! answers, how it misbehaves on request, and what it records.
use siospec::mock::{Behaviour, Ev, Mock, Out};
use siospec::protocol::eio::{self, EioRevision, Packet, PacketType};
use siospec::suite::client_steps::{CloseHow, MockMode, MockStep, ProbeMode, WsPolicy};
use siospec::wire::http::{HttpClient, Request, Response};
use siospec::wire::session::{EioSession, Received};
use siospec::wire::ws;
use siospec::wire::Transcript;
use std::time::Duration;
use tokio::time::Instant;

const T: Duration = Duration::from_secs(2);

async fn start(rev: EioRevision, sio: bool, path: &str) -> (Mock, HttpClient) {
    let mock = Mock::start(Behaviour::standard(rev, sio, path), Transcript::new()).await.expect("mock listens");
    let http = HttpClient::new(&mock.url(), Transcript::new()).expect("http client");
    (mock, http)
}

async fn get(http: &HttpClient, target: &str) -> Response {
    http.send(Request { method: "GET".into(), target: target.into(), headers: vec![], body: None, timeout: T }).await.expect("answer")
}

fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

#[tokio::test]
async fn v4_polling_handshake_and_record() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    let r = get(&http, "/engine.io/?EIO=4&transport=polling&t=x1").await;
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert!(b.starts_with("0{\"sid\":\""), "{b}");
    let open: serde_json::Value = serde_json::from_str(&b[1..]).unwrap();
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
    let events = mock.record().since(0);
    assert!(matches!(&events[0].1.ev, Ev::Request(r) if r.param("EIO") == Some("4") && r.param("sid").is_none()));
    assert!(events.iter().any(|(_, e)| matches!(&e.ev, Ev::Handshake { session: 1, .. })));
    // Other paths are not the mock's.
    assert_eq!(get(&http, "/socket.io/?EIO=4&transport=polling").await.status, 404);
}

#[tokio::test]
async fn v3_socketio_handshake_carries_the_implicit_connect() {
    let (_mock, http) = start(EioRevision::V3, true, "/socket.io/").await;
    let r = get(&http, "/socket.io/?EIO=3&transport=polling&b64=1").await;
    let packets = eio::decode_payload(EioRevision::V3, &r.body, r.content_type()).unwrap();
    assert_eq!(packets.len(), 2, "{}", body(&r));
    assert_eq!(packets[0].kind, PacketType::Open);
    assert_eq!(packets[1], Packet::message("0"));
    assert!(body(&r).ends_with("2:40"), "{}", body(&r));
}

#[tokio::test]
async fn handshake_errors_as_the_reference_servers_send_them() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    // EIO=3 against a v4-only server: code 5.
    let r = get(&http, "/engine.io/?EIO=3&transport=polling").await;
    assert_eq!((r.status, body(&r).as_str()), (400, r#"{"code":5,"message":"Unsupported protocol version"}"#));
    for code in 0u8..=5 {
        mock.apply(&MockStep { handshake_error: Some(code), ..Default::default() }).await.unwrap();
        let r = get(&http, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, if code == 4 { 403 } else { 400 });
        assert_eq!(r.content_type(), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], code);
    }
}

#[tokio::test]
async fn probe_answered_or_withheld() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    let mut s = EioSession::new(EioRevision::V4, http.clone(), "/engine.io/", "");
    s.handshake_polling(&[], T).await.unwrap();
    s.upgrade(false, true, &[], T).await.expect("3probe");
    let deadline = Instant::now() + T;
    while !mock.record().since(0).iter().any(|(_, e)| matches!(e.ev, Ev::Upgraded { session: 1 })) {
        assert!(mock.record().wait_beyond(mock.record().len(), deadline).await, "no upgrade recorded");
    }
    mock.apply(&MockStep { probe: Some(ProbeMode::Withhold), ..Default::default() }).await.unwrap();
    let mut s2 = EioSession::new(EioRevision::V4, http, "/engine.io/", "");
    s2.handshake_polling(&[], T).await.unwrap();
    assert!(s2.upgrade(false, true, &[], Duration::from_millis(400)).await.is_err(), "a withheld probe must not complete");
}

#[tokio::test]
async fn refused_websocket_and_echo_server() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    mock.apply(&MockStep { websocket: Some(WsPolicy::Refuse), ..Default::default() }).await.unwrap();
    let tr = Transcript::new();
    match ws::connect(&http.base, "/engine.io/?EIO=4&transport=websocket", &[], T, &tr).await {
        Err(ws::ConnectError::Refused { status, .. }) => assert_eq!(status, 400),
        Err(_) => panic!("expected an HTTP refusal"),
        Ok(_) => panic!("expected a refusal, the websocket opened"),
    }
    mock.apply(&MockStep { mode: Some(MockMode::WsEcho), ..Default::default() }).await.unwrap();
    assert_eq!(get(&http, "/anything").await.status, 426);
    let mut c = match ws::connect(&http.base, "/anything", &[], T, &tr).await {
        Ok(c) => c.conn,
        Err(_) => panic!("the echo server accepts any websocket"),
    };
    c.send(eio::Frame::Text("hello".into())).await.unwrap();
    match c.recv(T).await.unwrap() {
        ws::WsEvent::Frame(eio::Frame::Text(t)) => assert_eq!(t, "hello"),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_then_listening_again_on_the_same_port() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    mock.apply(&MockStep { mode: Some(MockMode::Unreachable), ..Default::default() }).await.unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", mock.port())).await.is_err(), "the port must refuse");
    mock.apply(&MockStep { mode: Some(MockMode::Normal), ..Default::default() }).await.unwrap();
    assert_eq!(get(&http, "/engine.io/?EIO=4&transport=polling").await.status, 200);
}

#[tokio::test]
async fn pings_then_closes_a_silent_client() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    mock.apply(&MockStep { ping_interval: Some(100), ping_timeout: Some(100), ..Default::default() }).await.unwrap();
    let mut s = EioSession::new(EioRevision::V4, http, "/engine.io/", "");
    s.handshake_polling(&[], T).await.unwrap();
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    loop {
        match s.recv(deadline).await.expect("poll") {
            Received::Packet(p) => got.push(p.kind),
            Received::Ended { .. } => break,
        }
        if got.contains(&PacketType::Close) {
            break;
        }
    }
    assert_eq!(got.first(), Some(&PacketType::Ping));
    assert!(mock.record().since(0).iter().any(|(_, e)| matches!(&e.ev, Ev::SessionClosed { reason, .. } if reason == "ping timeout")));
}

#[tokio::test]
async fn raw_garbage_and_close_by_step() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    let mut s = EioSession::new(EioRevision::V4, http.clone(), "/engine.io/", "");
    s.handshake_polling(&[], T).await.unwrap();
    let sid = s.sid().unwrap().to_string();
    mock.send(None, vec![Out::Raw("garbage!".into())]).unwrap();
    let r = get(&http, &format!("/engine.io/?EIO=4&transport=polling&sid={sid}")).await;
    assert_eq!(body(&r), "garbage!");
    mock.close_session(None, CloseHow::Error).unwrap();
    let r = get(&http, &format!("/engine.io/?EIO=4&transport=polling&sid={sid}")).await;
    assert_eq!((r.status, body(&r).as_str()), (400, r#"{"code":1,"message":"Session ID unknown"}"#));
}

#[tokio::test]
async fn oversized_post_gets_413_and_is_recorded() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    mock.apply(&MockStep { max_payload: Some(100), ..Default::default() }).await.unwrap();
    let mut s = EioSession::new(EioRevision::V4, http.clone(), "/engine.io/", "");
    s.handshake_polling(&[], T).await.unwrap();
    let sid = s.sid().unwrap().to_string();
    let r = http
        .send(Request {
            method: "POST".into(),
            target: format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            headers: vec![],
            body: Some(vec![b'4'; 150]),
            timeout: T,
        })
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(mock.record().since(0).iter().any(|(_, e)| matches!(&e.ev, Ev::Request(r) if r.method == "POST" && r.body_len == 150)));
}

#[tokio::test]
async fn oversized_message_to_the_client() {
    let (mock, http) = start(EioRevision::V4, false, "/engine.io/").await;
    let mut s = EioSession::new(EioRevision::V4, http.clone(), "/engine.io/", "");
    s.handshake_polling(&[], T).await.unwrap();
    let sid = s.sid().unwrap().to_string();
    mock.send(None, vec![Out::Packet(Packet::message("a".repeat(2_000_000)))]).unwrap();
    let r = get(&http, &format!("/engine.io/?EIO=4&transport=polling&sid={sid}")).await;
    assert_eq!(r.body.len(), 2_000_001);
    assert!(mock
        .record()
        .since(0)
        .iter()
        .any(|(_, e)| matches!(&e.ev, Ev::Packet { packet, .. } if packet.text().map(|t| t.len()) == Some(2_000_000))));
}
