//! Engine.IO packets, websocket frames and polling payloads (v3 and v4).

mod payload;
pub mod session;
mod xhr2;

pub use payload::{decode_payload, encode_payload, PayloadFormat};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::ProtocolError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EioRevision {
    V3,
    V4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    Open = 0,
    Close = 1,
    Ping = 2,
    Pong = 3,
    Message = 4,
    Upgrade = 5,
    Noop = 6,
}

impl PacketType {
    pub const ALL: [PacketType; 7] = [
        PacketType::Open,
        PacketType::Close,
        PacketType::Ping,
        PacketType::Pong,
        PacketType::Message,
        PacketType::Upgrade,
        PacketType::Noop,
    ];

    pub fn from_char(c: char) -> Option<Self> {
        let digit = c.to_digit(10)?;
        Self::from_byte(u8::try_from(digit).ok()?)
    }

    /// The type as a raw byte value 0-6, as v3 binary frames carry it.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b)).copied()
    }

    pub fn as_char(self) -> char {
        char::from(b'0' + self as u8)
    }

    pub fn name(self) -> &'static str {
        match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketType,
    pub data: Data,
}

impl Packet {
    pub fn new(kind: PacketType, text: impl Into<String>) -> Self {
        Packet { kind, data: Data::Text(text.into()) }
    }

    pub fn message(text: impl Into<String>) -> Self {
        Self::new(PacketType::Message, text)
    }

    /// A Message with binary data.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        Packet { kind: PacketType::Message, data: Data::Binary(bytes.into()) }
    }

    pub fn is_binary(&self) -> bool {
        matches!(self.data, Data::Binary(_))
    }

    /// The text data, if this is a text packet.
    pub fn text(&self) -> Option<&str> {
        match &self.data {
            Data::Text(t) => Some(t),
            Data::Binary(_) => None,
        }
    }

    /// Text form as written in the docs: "4hello", "3probe"; binary packets as
    /// v4 polling form "b<base64>".
    pub fn to_display(&self) -> String {
        encode_packet_text(EioRevision::V4, self)
    }
}

/// A websocket frame as the harness sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// v4 binary frames are the raw bytes (only messages can be binary there);
/// v3 binary frames carry the packet type as their first byte.
pub fn encode_frame(rev: EioRevision, p: &Packet) -> Frame {
    match (&p.data, rev) {
        (Data::Text(t), _) => Frame::Text(text_form(p.kind, t)),
        (Data::Binary(b), EioRevision::V4) => Frame::Binary(b.clone()),
        (Data::Binary(b), EioRevision::V3) => {
            let mut out = Vec::with_capacity(b.len() + 1);
            out.push(p.kind as u8);
            out.extend_from_slice(b);
            Frame::Binary(out)
        }
    }
}

pub fn decode_frame(rev: EioRevision, f: &Frame) -> Result<Packet, ProtocolError> {
    match (f, rev) {
        (Frame::Text(s), _) => decode_packet_text(rev, s),
        // v4 has no type byte: a binary frame is always a message, even empty.
        (Frame::Binary(b), EioRevision::V4) => Ok(Packet::binary(b.clone())),
        (Frame::Binary(b), EioRevision::V3) => decode_typed_binary(b),
    }
}

/// `<type byte><data>`, the v3 shape of a binary packet in frames and in XHR2
/// payloads.
pub(crate) fn decode_typed_binary(b: &[u8]) -> Result<Packet, ProtocolError> {
    let (&type_byte, data) = b.split_first().ok_or(ProtocolError::EmptyPacket)?;
    let kind = PacketType::from_byte(type_byte).ok_or(ProtocolError::UnknownBinaryPacketType(type_byte))?;
    Ok(Packet { kind, data: Data::Binary(data.to_vec()) })
}

/// Parse one packet in its text form ("4hello"; v4 "bAQID" = binary message;
/// v3 "b4AQID" = binary with type).
pub fn decode_packet_text(rev: EioRevision, s: &str) -> Result<Packet, ProtocolError> {
    let mut chars = s.chars();
    let first = chars.next().ok_or(ProtocolError::EmptyPacket)?;
    if first == 'b' {
        return decode_base64_packet(rev, chars.as_str());
    }
    let kind = PacketType::from_char(first).ok_or(ProtocolError::UnknownPacketType(first))?;
    Ok(Packet::new(kind, chars.as_str()))
}

fn decode_base64_packet(rev: EioRevision, rest: &str) -> Result<Packet, ProtocolError> {
    let (kind, b64) = match rev {
        EioRevision::V4 => (PacketType::Message, rest),
        EioRevision::V3 => {
            let mut chars = rest.chars();
            let c = chars.next().ok_or(ProtocolError::MissingBinaryType)?;
            let kind = PacketType::from_char(c).ok_or(ProtocolError::UnknownPacketType(c))?;
            (kind, chars.as_str())
        }
    };
    let bytes = BASE64.decode(b64).map_err(|e| ProtocolError::InvalidBase64(e.to_string()))?;
    Ok(Packet { kind, data: Data::Binary(bytes) })
}

/// Binary packets are base64-encoded with the revision's prefix: "b" in v4
/// (the type is implicitly message), "b<type>" in v3.
pub fn encode_packet_text(rev: EioRevision, p: &Packet) -> String {
    match &p.data {
        Data::Text(t) => text_form(p.kind, t),
        Data::Binary(b) => match rev {
            EioRevision::V4 => format!("b{}", BASE64.encode(b)),
            EioRevision::V3 => format!("b{}{}", p.kind.as_char(), BASE64.encode(b)),
        },
    }
}

fn text_form(kind: PacketType, text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 1);
    s.push(kind.as_char());
    s.push_str(text);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_chars_round_trip() {
        for t in PacketType::ALL {
            assert_eq!(PacketType::from_char(t.as_char()), Some(t));
        }
        assert_eq!(PacketType::from_char('7'), None);
        assert_eq!(PacketType::from_char('٣'), None, "non-ASCII digits are not types");
    }
}
