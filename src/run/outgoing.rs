//! What a step's `packets = [...]` turn into before they are sent, the same for the harness as
//! a client (server cases) and as the mock server (client cases).
use super::exec::Stop;
use super::matchers::hex_decode;
use crate::protocol::eio::{self, EioRevision, Packet};
use crate::suite::steps::{Delay, PacketSpec};

#[derive(Debug, Clone)]
pub enum Outgoing {
    Packet(Packet),
    /// Bytes as they are (a polling body or a websocket text frame), for malformed input.
    Raw(String),
    /// A text frame (polling: body) of bytes that need not be UTF-8.
    TextBytes(Vec<u8>),
}

/// A message of exactly `n` bytes in text form (`4aaa…`).
pub fn fill_message(n: usize) -> String {
    let mut s = String::with_capacity(n.max(1));
    s.push('4');
    s.extend(std::iter::repeat('a').take(n.saturating_sub(1)));
    s
}

/// The packets `specs` describe, in the session's revision; `render` fills `{templates}`
/// and `delay` evaluates sums such as `{maxPayload}+1`.
pub fn packets(
    specs: &[PacketSpec],
    rev: EioRevision,
    render: &dyn Fn(&str) -> String,
    delay: &dyn Fn(&Delay) -> Result<u64, Stop>,
) -> Result<Vec<Outgoing>, Stop> {
    let mut out = Vec::new();
    for spec in specs {
        match spec {
            PacketSpec::Text(t) => {
                let t = render(t);
                let p = eio::decode_packet_text(rev, &t)
                    .map_err(|e| Stop::Error(format!("suite error: `{t}` is not an Engine.IO packet: {e}")))?;
                out.push(Outgoing::Packet(p));
            }
            PacketSpec::Table(t) => {
                if let Some(h) = &t.binary {
                    out.push(Outgoing::Packet(Packet::binary(hex_decode(h).map_err(Stop::Error)?)));
                } else if let Some(s) = &t.sio {
                    out.push(Outgoing::Packet(Packet::message(render(s))));
                    for a in &t.attachments {
                        out.push(Outgoing::Packet(Packet::binary(hex_decode(a).map_err(Stop::Error)?)));
                    }
                } else if let Some(r) = &t.raw {
                    out.push(Outgoing::Raw(render(r)));
                } else if let Some(h) = &t.text_hex {
                    out.push(Outgoing::TextBytes(hex_decode(h).map_err(Stop::Error)?));
                } else if let Some(n) = &t.fill {
                    out.push(Outgoing::Packet(Packet::message(&fill_message(delay(n)? as usize)[1..])));
                } else {
                    return Err(Stop::Error("suite error: a packet table needs binary, sio, raw, text_hex or fill".into()));
                }
            }
        }
    }
    Ok(out)
}
