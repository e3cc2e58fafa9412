//! Websocket connections to a target over tokio-tungstenite, logged and bounded.
use super::http::show_text;
use super::{Transcript, WireError, MAX_READ};
use crate::protocol::eio::Frame;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct WsConn {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    transcript: Transcript,
    closed: bool,
}

#[derive(Debug)]
pub enum WsEvent {
    Frame(Frame),
    /// The connection ended: close frame code (if any) and how.
    Closed {
        code: Option<u16>,
        how: String,
    },
}

/// Why a websocket handshake did not give a connection.
#[derive(Debug)]
pub enum ConnectError {
    /// The server answered the upgrade request with a non-101 response.
    Refused {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    Wire(WireError),
}

pub struct Connected {
    pub conn: WsConn,
    pub headers: Vec<(String, String)>,
}

pub async fn connect(
    base: &str,
    target: &str,
    headers: &[(String, String)],
    timeout: Duration,
    transcript: &Transcript,
) -> Result<Connected, ConnectError> {
    let host = base.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    let url = format!("ws://{host}{target}");
    transcript.log(format!("→ ws {target}"));
    let mut req = url.as_str().into_client_request().map_err(|e| ConnectError::Wire(WireError::Ws(e.to_string())))?;
    for (k, v) in headers {
        let name = http::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ConnectError::Wire(WireError::Ws(format!("invalid header name `{k}`"))))?;
        let value =
            http::header::HeaderValue::from_str(v).map_err(|_| ConnectError::Wire(WireError::Ws(format!("invalid header value `{v}`"))))?;
        req.headers_mut().insert(name, value);
    }
    let mut cfg = WebSocketConfig::default();
    cfg.max_message_size = Some(MAX_READ);
    cfg.max_frame_size = Some(MAX_READ);
    let fut = tokio_tungstenite::connect_async_with_config(req, Some(cfg), false);
    let ms = timeout.as_millis() as u64;
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => {
            transcript.log(format!("← no websocket answer within {ms} ms"));
            Err(ConnectError::Wire(WireError::Timeout { what: format!("websocket {target}"), ms }))
        }
        Ok(Ok((stream, resp))) => {
            let headers = header_vec(resp.headers());
            transcript.log(format!("← {} (websocket open)", resp.status().as_u16()));
            Ok(Connected { conn: WsConn { stream, transcript: transcript.clone(), closed: false }, headers })
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let headers = header_vec(resp.headers());
            // The library hands over the bytes after the headers as they came: decode the
            // transfer coding, so evidence shows `{"code":3,…}`, not `22\r\n{…}\r\n0`.
            let raw = resp.body().as_deref().unwrap_or_default();
            let body = String::from_utf8_lossy(&super::http::decode_body(&headers, raw)).to_string();
            transcript.log(format!("← {status} (websocket refused) | {}", show_text(&body)));
            Err(ConnectError::Refused { status, headers, body })
        }
        Ok(Err(tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            transcript.log("← connection refused");
            Err(ConnectError::Wire(WireError::Refused(base.to_string())))
        }
        Ok(Err(e)) => {
            transcript.log(format!("← websocket error: {e}"));
            Err(ConnectError::Wire(WireError::Ws(e.to_string())))
        }
    }
}

fn header_vec(h: &http::HeaderMap) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string())).collect()
}

impl WsConn {
    pub async fn send(&mut self, frame: Frame) -> Result<(), WireError> {
        let msg = match &frame {
            Frame::Text(t) => {
                self.transcript.log(format!("⇢ {}", show_text(t)));
                Message::Text(t.clone())
            }
            Frame::Binary(b) => {
                self.transcript.log(format!("⇢ {}", super::http::show_bytes_hex(b)));
                Message::Binary(b.clone())
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), self.stream.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WireError::Ws(format!("send failed: {e}"))),
            Err(_) => Err(WireError::Timeout { what: "websocket send".into(), ms: 5000 }),
        }
    }

    /// A text frame whose payload is `bytes` as they are, valid UTF-8 or not (the websocket
    /// library's messages hold only strings; a raw frame does not).
    pub async fn send_text_bytes(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        use tokio_tungstenite::tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame as WsFrame};
        self.transcript.log(format!("⇢ (text frame) {}", super::http::show_bytes_hex(bytes)));
        let frame = WsFrame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        match tokio::time::timeout(Duration::from_secs(5), self.stream.send(Message::Frame(frame))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WireError::Ws(format!("send failed: {e}"))),
            Err(_) => Err(WireError::Timeout { what: "websocket send".into(), ms: 5000 }),
        }
    }

    /// Next frame or the end of the connection, within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Result<WsEvent, WireError> {
        if self.closed {
            return Ok(WsEvent::Closed { code: None, how: "already closed".into() });
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Err(WireError::Timeout { what: "websocket frame".into(), ms: timeout.as_millis() as u64 }),
                Ok(n) => n,
            };
            match next {
                None => {
                    self.closed = true;
                    self.transcript.log("⇠ (connection ended)");
                    return Ok(WsEvent::Closed { code: None, how: "connection ended".into() });
                }
                Some(Ok(Message::Text(t))) => {
                    self.transcript.log(format!("⇠ {}", show_text(&t)));
                    return Ok(WsEvent::Frame(Frame::Text(t)));
                }
                Some(Ok(Message::Binary(b))) => {
                    self.transcript.log(format!("⇠ {}", super::http::show_bytes_hex(&b)));
                    return Ok(WsEvent::Frame(Frame::Binary(b)));
                }
                Some(Ok(Message::Close(cf))) => {
                    self.closed = true;
                    let code = cf.as_ref().map(|c| u16::from(c.code));
                    let reason = cf.as_ref().map(|c| c.reason.to_string()).unwrap_or_default();
                    self.transcript.log(format!("⇠ close {} {}", code.map(|c| c.to_string()).unwrap_or("-".into()), reason));
                    return Ok(WsEvent::Closed { code, how: "close frame".into() });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.closed = true;
                    self.transcript.log(format!("⇠ (connection failed: {e})"));
                    return Ok(WsEvent::Closed { code: None, how: e.to_string() });
                }
            }
        }
    }

    /// Ends the connection without a close handshake, like a network cut.
    pub fn drop_abruptly(self) {
        self.transcript.log("⇢ (connection dropped)");
        drop(self.stream);
    }

    pub async fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = tokio::time::timeout(Duration::from_millis(500), self.stream.close(None)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A websocket handshake refused with a chunked body (as servers outside Node send it):
    /// the refusal, its message and the transcript show the decoded body.
    #[tokio::test]
    async fn a_refusal_with_a_chunked_body_is_shown_decoded() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = r#"{"code":3,"message":"Bad request"}"#;
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            let _ = sock.shutdown().await;
        });
        let t = Transcript::new();
        let r =
            connect(&format!("http://127.0.0.1:{port}"), "/engine.io/?EIO=4&transport=websocket&sid=x", &[], Duration::from_secs(2), &t)
                .await;
        match r {
            Err(ConnectError::Refused { status, body, .. }) => {
                assert_eq!(status, 400);
                assert_eq!(body, r#"{"code":3,"message":"Bad request"}"#);
            }
            Err(ConnectError::Wire(e)) => panic!("expected a refusal, got {e}"),
            Ok(_) => panic!("expected a refusal, the websocket opened"),
        }
        let lines: Vec<String> = t.entries().into_iter().map(|e| e.line).collect();
        let refused = lines.iter().find(|l| l.contains("websocket refused")).expect("a refusal line");
        assert!(refused.ends_with(r#"| {"code":3,"message":"Bad request"}"#), "{refused}");
        assert!(!refused.contains("\\x0d") && !refused.contains("22"), "no chunk framing: {refused}");
    }
}
