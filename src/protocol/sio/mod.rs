//! Socket.IO packets: protocol v4 (over Engine.IO v3) and v5 (over Engine.IO v4).
//!
//! Wire form: `<type>[<attachments>-][<nsp>,][<ack id>][JSON]`, carried as the
//! text of an Engine.IO message.

mod decoder;
mod parse;

pub use decoder::{fill_placeholders, SioDecoder};

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SioRevision {
    V4,
    V5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SioType {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl SioType {
    pub const ALL: [SioType; 7] = [
        SioType::Connect,
        SioType::Disconnect,
        SioType::Event,
        SioType::Ack,
        SioType::ConnectError,
        SioType::BinaryEvent,
        SioType::BinaryAck,
    ];

    pub fn from_char(c: char) -> Option<Self> {
        let digit = usize::try_from(c.to_digit(10)?).ok()?;
        Self::ALL.get(digit).copied()
    }

    pub fn as_char(self) -> char {
        char::from(b'0' + self as u8)
    }

    pub fn name(self) -> &'static str {
        match self {
            SioType::Connect => "CONNECT",
            SioType::Disconnect => "DISCONNECT",
            SioType::Event => "EVENT",
            SioType::Ack => "ACK",
            SioType::ConnectError => "CONNECT_ERROR",
            SioType::BinaryEvent => "BINARY_EVENT",
            SioType::BinaryAck => "BINARY_ACK",
        }
    }

    /// The name the given revision's spec uses: type 4 is ERROR in v4.
    pub fn name_in(self, rev: SioRevision) -> &'static str {
        match (self, rev) {
            (SioType::ConnectError, SioRevision::V4) => "ERROR",
            _ => self.name(),
        }
    }

    pub fn is_binary(self) -> bool {
        matches!(self, SioType::BinaryEvent | SioType::BinaryAck)
    }
}

/// Event names a server must refuse from a client (it closes the connection).
pub const RESERVED_EVENTS: &[&str] = &["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

#[derive(Clone, Debug, PartialEq)]
pub struct SioPacket {
    pub kind: SioType,
    /// "/" when omitted on the wire; may contain "?query" in v4 CONNECT
    /// ("/admin?token=1").
    pub nsp: String,
    /// Ack id.
    pub id: Option<u64>,
    /// Wire JSON; binary placeholders `{"_placeholder":true,"num":N}` are kept as-is.
    pub data: Option<Value>,
    /// Binary attachments, index = placeholder num.
    pub attachments: Vec<Vec<u8>>,
}

impl SioPacket {
    pub fn new(kind: SioType, nsp: impl Into<String>, data: Option<Value>) -> Self {
        SioPacket { kind, nsp: nsp.into(), id: None, data, attachments: Vec::new() }
    }

    /// Wire string (the Engine.IO message text, WITHOUT the leading engine.io
    /// "4"): "21[\"foo\"]" etc. For binary types writes "<n>-" with
    /// n = attachments.len(). A namespace other than "/" is always followed by
    /// ',', which both revisions' reference encoders do and decoders accept.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        s.push(self.kind.as_char());
        if self.kind.is_binary() {
            s.push_str(&self.attachments.len().to_string());
            s.push('-');
        }
        if !self.nsp.is_empty() && self.nsp != "/" {
            s.push_str(&self.nsp);
            s.push(',');
        }
        if let Some(id) = self.id {
            s.push_str(&id.to_string());
        }
        if let Some(data) = &self.data {
            s.push_str(&data.to_string());
        }
        s
    }

    /// Whole sequence: the text and the binary attachments to send after it.
    pub fn encode_all(&self) -> (String, Vec<Vec<u8>>) {
        (self.encode(), self.attachments.clone())
    }

    /// Parses the text part; `attachments` is left empty;
    /// `expected_attachments()` tells how many binary frames follow.
    pub fn decode(rev: SioRevision, s: &str) -> Result<SioPacket, crate::protocol::ProtocolError> {
        parse::parse(rev, s, None)
    }

    /// How many binary frames follow this packet's text. The decoder has
    /// already checked that the announced count equals the number of
    /// placeholders, so counting them recovers the wire count.
    pub fn expected_attachments(&self) -> usize {
        match (&self.data, self.kind.is_binary()) {
            (Some(data), true) => decoder::count_placeholders(data),
            _ => 0,
        }
    }

    /// nsp without "?query".
    pub fn nsp_path(&self) -> &str {
        self.nsp.split_once('?').map_or(self.nsp.as_str(), |(path, _)| path)
    }

    pub fn nsp_query(&self) -> Option<&str> {
        self.nsp.split_once('?').map(|(_, query)| query)
    }

    /// The event name of an EVENT / BINARY_EVENT.
    pub fn event_name(&self) -> Option<&str> {
        match self.kind {
            SioType::Event | SioType::BinaryEvent => self.data.as_ref()?.get(0)?.as_str(),
            _ => None,
        }
    }
}
