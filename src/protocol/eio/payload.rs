//! Polling payloads: several packets in one HTTP body.

use super::{decode_packet_text, encode_packet_text, xhr2, EioRevision, Packet};
use crate::protocol::{snippet, ProtocolError};

/// v4 separates packets with the record separator, a byte that cannot occur
/// in JSON text and is therefore safe for Socket.IO traffic.
const RECORD_SEPARATOR: char = '\x1e';

/// How a polling payload is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadFormat {
    /// Packets joined by '\x1e', binary as "b<base64>".
    V4,
    /// Length-prefixed, b64 binary: "10:b4AQIDBA==".
    V3Text,
    /// XHR2 framing: `<0|1><length digits as bytes>0xFF<packet>`.
    V3Binary,
}

impl PayloadFormat {
    pub fn revision(self) -> EioRevision {
        match self {
            PayloadFormat::V4 => EioRevision::V4,
            PayloadFormat::V3Text | PayloadFormat::V3Binary => EioRevision::V3,
        }
    }

    /// The Content-Type a server sends this format with; the v3 decoder picks
    /// its framing from it.
    pub fn content_type(self) -> &'static str {
        match self {
            PayloadFormat::V4 | PayloadFormat::V3Text => "text/plain; charset=UTF-8",
            PayloadFormat::V3Binary => "application/octet-stream",
        }
    }
}

/// Text in a v4 payload must not contain '\x1e', and an empty list encodes as
/// the empty body (which no decoder accepts): callers send at least one packet.
pub fn encode_payload(fmt: PayloadFormat, packets: &[Packet]) -> Vec<u8> {
    match fmt {
        PayloadFormat::V4 => {
            let parts: Vec<String> = packets.iter().map(|p| encode_packet_text(EioRevision::V4, p)).collect();
            parts.join(&RECORD_SEPARATOR.to_string()).into_bytes()
        }
        PayloadFormat::V3Text => {
            let mut out = String::new();
            for p in packets {
                let text = encode_packet_text(EioRevision::V3, p);
                out.push_str(&utf16_len(&text).to_string());
                out.push(':');
                out.push_str(&text);
            }
            out.into_bytes()
        }
        PayloadFormat::V3Binary => xhr2::encode(packets),
    }
}

/// `content_type` decides V3 framing: "application/octet-stream" => XHR2
/// binary framing, otherwise length-prefixed text. v4 has a single framing.
pub fn decode_payload(rev: EioRevision, body: &[u8], content_type: Option<&str>) -> Result<Vec<Packet>, ProtocolError> {
    if body.is_empty() {
        return Err(ProtocolError::EmptyPayload);
    }
    match rev {
        EioRevision::V4 => {
            let text = as_utf8(body)?;
            text.split(RECORD_SEPARATOR).map(|part| decode_packet_text(EioRevision::V4, part)).collect()
        }
        EioRevision::V3 if content_type.is_some_and(is_octet_stream) => xhr2::decode(body),
        EioRevision::V3 => decode_v3_text(as_utf8(body)?),
    }
}

fn as_utf8(body: &[u8]) -> Result<&str, ProtocolError> {
    std::str::from_utf8(body).map_err(|_| ProtocolError::InvalidUtf8("engine.io polling payload"))
}

fn is_octet_stream(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default();
    media_type.trim().eq_ignore_ascii_case("application/octet-stream")
}

/// The length prefix counts UTF-16 code units because it is JavaScript's
/// `string.length` in the reference implementation: "€" is 1, "😀" is 2.
/// A zero length ("0:") is refused: the reference encodes an empty packet list
/// that way and silently skips it, but it carries no packet and a conforming
/// peer has no reason to send it.
fn decode_v3_text(mut rest: &str) -> Result<Vec<Packet>, ProtocolError> {
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let (prefix, after) = rest.split_once(':').ok_or_else(|| ProtocolError::V3LengthMissing(snippet(rest)))?;
        let declared = parse_decimal(prefix).ok_or_else(|| ProtocolError::V3LengthNotNumber(snippet(prefix)))?;
        let (packet, tail) = split_utf16(after, declared)?;
        packets.push(decode_packet_text(EioRevision::V3, packet)?);
        rest = tail;
    }
    Ok(packets)
}

/// Non-empty ASCII digits only (the reference's `Number()` would also take
/// " 1", "1e1" or "0x1"); values beyond u64 saturate, since any such length
/// overruns the input anyway.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

/// Splits off the first `units` UTF-16 code units of `s`.
fn split_utf16(s: &str, units: u64) -> Result<(&str, &str), ProtocolError> {
    let mut seen: u64 = 0;
    for (at, c) in s.char_indices() {
        if seen == units {
            return Ok(s.split_at(at));
        }
        seen += c.len_utf16() as u64;
        if seen > units {
            return Err(ProtocolError::V3LengthSplitsSurrogate(units));
        }
    }
    if seen == units {
        Ok((s, ""))
    } else {
        Err(ProtocolError::V3LengthOverrun { declared: units, available: seen })
    }
}

pub(crate) fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}
