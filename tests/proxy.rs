//! The recording proxy against a real server: it passes polling and websocket
//! traffic, decodes it for the transcript, and injects the faults it is told to.
use siospec::project::Project;
use siospec::protocol::eio::{EioRevision, Packet, PacketType};
use siospec::proxy::{Faults, Proxy};
use siospec::suite::model::FixtureSpec;
use siospec::suite::Layer;
use siospec::targets::{ServerRequest, Target};
use siospec::wire::http::HttpClient;
use siospec::wire::session::{EioSession, Received};
use siospec::wire::Transcript;
use std::time::Duration;
use tokio::time::Instant;

async fn reference_server() -> (Target, siospec::targets::ServerInstance) {
    let p = Project::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).expect("project");
    let def = p.catalog.find("engine.io@6.6.12").expect("catalog").clone();
    let t = p.open_target(&def, 1.0).await.expect("engine.io 6 starts");
    let fixture = FixtureSpec::default();
    let req = ServerRequest { key: "proxy-test".into(), layer: Layer::EngineIo, fixture: &fixture, allow_eio3: false };
    let s = t.server(req, Duration::from_secs(10)).await.expect("listen");
    (t, s)
}

fn session(proxy: &Proxy, t: &Transcript) -> EioSession {
    EioSession::new(EioRevision::V4, HttpClient::new(&proxy.url(), t.clone()).unwrap(), "/engine.io/", "")
}

#[tokio::test]
async fn passes_polling_and_websocket_and_records_packets() {
    let (target, server) = reference_server().await;
    let log = Transcript::new();
    let proxy = Proxy::start(&server.base, log.clone()).await.unwrap();
    let client_log = Transcript::new();
    let mut s = session(&proxy, &client_log);
    s.handshake_polling(&[], Duration::from_secs(2)).await.unwrap();
    s.upgrade(false, true, &[], Duration::from_secs(2)).await.unwrap();
    s.send(&[Packet::message("hello")], false, Duration::from_secs(2)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let echoed = loop {
        match s.recv(deadline).await.unwrap() {
            Received::Packet(p) if p.kind == PacketType::Message => break p,
            Received::Packet(_) => continue,
            other => panic!("session ended: {other:?}"),
        }
    };
    assert_eq!(echoed, Packet::message("hello"));
    let lines: Vec<String> = log.entries().into_iter().map(|e| e.line).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("client → GET /engine.io/?EIO=4&transport=polling"), "{lines:#?}");
    assert!(has("server → 200 | 0{\"sid\""), "{lines:#?}");
    assert!(has("client ⇢ 2probe") && has("server ⇠ 3probe") && has("client ⇢ 5"), "{lines:#?}");
    assert!(has("client ⇢ 4hello") && has("server ⇠ 4hello"), "{lines:#?}");
    assert!(has("proxy: observed the upgrade to websocket"), "{lines:#?}");
    assert!(!has("protocol violation"), "{lines:#?}");
    drop(server);
    target.shutdown().await;
}

#[tokio::test]
async fn stripping_upgrade_headers_gives_code_3_and_polling_goes_on() {
    let (target, server) = reference_server().await;
    let log = Transcript::new();
    let proxy = Proxy::start(&server.base, log.clone()).await.unwrap();
    proxy.set_faults(Faults { strip_upgrade: true, ..Default::default() });
    let t = Transcript::new();
    let mut s = session(&proxy, &t);
    s.handshake_polling(&[], Duration::from_secs(2)).await.unwrap();
    let err = s.upgrade(false, true, &[], Duration::from_secs(2)).await.err().expect("the upgrade must fail");
    assert!(err.to_string().contains("400"), "{err}");
    let lines: Vec<String> = log.entries().into_iter().map(|e| e.line).collect();
    assert!(lines.iter().any(|l| l.contains("Upgrade headers stripped")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(r#"{"code":3,"message":"Bad request"}"#)), "{lines:#?}");
    // Stuck in long-polling, but alive.
    s.send(&[Packet::message("still")], false, Duration::from_secs(2)).await.unwrap();
    drop(server);
    target.shutdown().await;
}

#[tokio::test]
async fn idle_cut_ends_a_quiet_websocket() {
    let (target, server) = reference_server().await;
    let log = Transcript::new();
    let proxy = Proxy::start(&server.base, log.clone()).await.unwrap();
    // Shorter than the fixture's pingInterval (300 ms): the connection looks idle.
    proxy.set_faults(Faults { idle_cut_ms: Some(150), ..Default::default() });
    let t = Transcript::new();
    let mut s = session(&proxy, &t);
    s.handshake_ws(&[], Duration::from_secs(2)).await.unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(2);
    loop {
        match s.recv(deadline).await.unwrap() {
            Received::Ended { .. } => break,
            Received::Packet(p) => assert_ne!(p.kind, PacketType::Message, "unexpected message"),
        }
    }
    assert!(started.elapsed() < Duration::from_millis(290), "cut after {:?}, before the first ping", started.elapsed());
    assert!(log.entries().iter().any(|e| e.line.contains("idle for 150 ms")));
    drop(server);
    target.shutdown().await;
}

#[tokio::test]
async fn an_upstream_body_over_the_read_bound_is_refused_not_buffered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An upstream that answers every request with a body past siospec's read bound.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let over = siospec::wire::MAX_READ + 1024;
    let server = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {over}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0;
                while sent < over {
                    let n = chunk.len().min(over - sent);
                    if sock.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent += n;
                }
            });
        }
    });
    let log = Transcript::new();
    let proxy = Proxy::start(&format!("http://{addr}"), log.clone()).await.unwrap();
    let http = HttpClient::new(&proxy.url(), Transcript::new()).unwrap();
    let req = siospec::wire::http::Request {
        method: "GET".into(),
        target: "/engine.io/?EIO=4&transport=polling".into(),
        headers: vec![],
        body: None,
        timeout: Duration::from_secs(5),
    };
    let resp = http.send(req).await.expect("the proxy answers");
    server.abort();
    assert_eq!(resp.status, 502, "{}", String::from_utf8_lossy(&resp.body));
    let text = log.entries().iter().map(|e| e.line.clone()).collect::<Vec<_>>().join("\n");
    assert!(text.contains(&format!("upstream body over {} bytes", siospec::wire::MAX_READ)), "{text}");
}
