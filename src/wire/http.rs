//! HTTP requests to a target over reqwest, logged to the transcript, with bounded reads.
use super::{Transcript, WireError, MAX_READ};
use std::time::Duration;

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    pub base: String,
    transcript: Transcript,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/engine.io/?EIO=4&transport=polling`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// Shows a body the way a person reads it: text with control characters escaped; bytes
/// that are not UTF-8 (XHR2 payloads) as printable ASCII with `\xNN` for the rest, so the
/// text inside them stays readable (and sids inside them can be redacted).
pub fn show_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => show_text(s),
        Err(_) => {
            let mut out = format!("<{} bytes: ", b.len());
            for &x in b.iter().take(200) {
                if (0x20..0x7f).contains(&x) {
                    out.push(x as char);
                } else {
                    out.push_str(&format!("\\x{x:02x}"));
                }
            }
            out.push_str(if b.len() > 200 { "…>" } else { ">" });
            out
        }
    }
}

/// The body of a response read as raw bytes (a refused websocket handshake: the websocket
/// library hands over what followed the headers, undecoded): chunked transfer coding removed
/// (RFC 9112 section 7.1; a body cut short keeps the chunks that arrived whole), or cut at
/// Content-Length. reqwest decodes its own responses; this is for the others.
pub fn decode_body(headers: &[(String, String)], raw: &[u8]) -> Vec<u8> {
    if super::fields::get(headers, "transfer-encoding").is_some_and(|te| super::fields::has_token(&te, "chunked")) {
        return decode_chunked(raw);
    }
    match super::fields::get(headers, "content-length").and_then(|n| n.trim().parse::<usize>().ok()) {
        Some(n) if n < raw.len() => raw[..n].to_vec(),
        _ => raw.to_vec(),
    }
}

/// Chunked transfer coding: `<hex size>[;ext]\r\n<data>\r\n` … `0\r\n\r\n`.
pub fn decode_chunked(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { break };
        let line = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16) else { break };
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            if size > 0 {
                out.extend_from_slice(rest);
            }
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

pub fn show_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl HttpClient {
    pub fn new(base: &str, transcript: Transcript) -> Result<Self, WireError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            // A fresh connection per request: servers that announce keep-alive and then
            // close (netty-socketio) would otherwise fail a request on a dead pooled socket.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| WireError::Http(e.to_string()))?;
        Ok(HttpClient { client, base: base.trim_end_matches('/').to_string(), transcript })
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    pub async fn send(&self, req: Request) -> Result<Response, WireError> {
        let url = format!("{}{}", self.base, req.target);
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| WireError::Http(format!("invalid HTTP method `{}`", req.method)))?;
        let mut line = format!("→ {} {}", req.method, req.target);
        for (k, v) in &req.headers {
            line.push_str(&format!(" [{k}: {v}]"));
        }
        if let Some(b) = &req.body {
            line.push_str(&format!(" | {}", show_bytes(b)));
        }
        self.transcript.log(line);
        let mut rb = self.client.request(method, &url);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = req.body {
            rb = rb.body(b);
        }
        let ms = req.timeout.as_millis() as u64;
        let what = format!("{} {}", req.method, req.target);
        let fut = async {
            let mut resp = rb.send().await.map_err(|e| classify(&e, &self.base))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
                .collect::<Vec<_>>();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e, &self.base))? {
                if body.len() + chunk.len() > MAX_READ {
                    return Err(WireError::TooLarge(MAX_READ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response { status, headers, body })
        };
        match tokio::time::timeout(req.timeout, fut).await {
            Ok(Ok(r)) => {
                let ct = r.content_type().unwrap_or("-").to_string();
                self.transcript.log(format!("← {} {} | {}", r.status, ct, show_bytes(&r.body)));
                Ok(r)
            }
            Ok(Err(e)) => {
                self.transcript.log(format!("← error: {e}"));
                Err(e)
            }
            Err(_) => {
                self.transcript.log(format!("← no answer within {ms} ms (request cancelled)"));
                Err(WireError::Timeout { what, ms })
            }
        }
    }
}

fn classify(e: &reqwest::Error, base: &str) -> WireError {
    if e.is_connect() {
        WireError::Refused(base.to_string())
    } else if e.is_timeout() {
        WireError::Timeout { what: base.to_string(), ms: 0 }
    } else {
        let mut msg = e.to_string();
        let mut cut = false;
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            cut |= is_cut(s);
            src = s.source();
        }
        if cut {
            WireError::Cut(msg)
        } else {
            WireError::Http(msg)
        }
    }
}

/// The peer closed or reset the connection before the response was whole.
fn is_cut(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        return h.is_incomplete_message() || h.is_closed() || h.is_canceled();
    }
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof))
}

/// Binary frames are always shown as hex, even when the bytes happen to be UTF-8.
pub fn show_bytes_hex(b: &[u8]) -> String {
    let hex: String = b.iter().take(64).map(|x| format!("{x:02x}")).collect();
    if b.len() > 64 {
        format!("<binary {} bytes: {hex}…>", b.len())
    } else {
        format!("<binary {hex}>",)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn chunked_bodies_are_decoded_for_evidence() {
        let raw = b"22\r\n{\"code\":3,\"message\":\"Bad request\"}\r\n0\r\n\r\n";
        let te = h(&[("Transfer-Encoding", "chunked")]);
        assert_eq!(decode_body(&te, raw), br#"{"code":3,"message":"Bad request"}"#);
        // Several chunks, an extension, and a body cut short keep what arrived.
        assert_eq!(decode_chunked(b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(decode_chunked(b"3\r\nabc\r\n5\r\nde"), b"abcde");
        assert_eq!(decode_chunked(b""), b"");
        // Not chunked: as it is, cut at Content-Length.
        assert_eq!(decode_body(&h(&[("content-length", "2")]), b"okGARBAGE"), b"ok");
        assert_eq!(decode_body(&[], b"plain"), b"plain");
    }
}
