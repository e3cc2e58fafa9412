//! Every way a peer's bytes can break the protocol.
//!
//! Each message names the rule that was broken, because these strings end up
//! verbatim in conformance reports and a reader should not need the spec open
//! to see why a packet was refused.

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    // ---- Engine.IO packets -------------------------------------------------
    #[error("engine.io packet is empty (rule: a packet starts with its type digit 0-6)")]
    EmptyPacket,

    #[error("engine.io packet type {0:?} is unknown (rule: the type is one digit 0-6: open, close, ping, pong, message, upgrade, noop)")]
    UnknownPacketType(char),

    #[error("engine.io v3 binary packet: type byte {0:#04x} is unknown (rule: a v3 binary packet starts with its type as a byte 0-6)")]
    UnknownBinaryPacketType(u8),

    #[error(
        "engine.io v3 base64 packet lacks its type digit (rule: v3 writes binary in text form as 'b', the type digit 0-6, then base64)"
    )]
    MissingBinaryType,

    #[error("engine.io base64 packet: {0} (rule: binary data in text form is 'b' followed by standard padded base64)")]
    InvalidBase64(String),

    #[error("{0} is not valid UTF-8 (rule: text packets, text frames and text payloads are UTF-8)")]
    InvalidUtf8(&'static str),

    // ---- Engine.IO payloads ------------------------------------------------
    #[error("engine.io payload is empty (rule: a polling payload carries at least one packet)")]
    EmptyPayload,

    #[error("engine.io v3 payload: length prefix {0:?} is not a decimal number (rule: each packet is prefixed by its length in UTF-16 units and ':')")]
    V3LengthNotNumber(String),

    #[error("engine.io v3 payload: {0:?} has no length prefix (rule: each packet is prefixed by its length in UTF-16 units and ':')")]
    V3LengthMissing(String),

    #[error("engine.io v3 payload: length {declared} exceeds the {available} UTF-16 units left (rule: each packet is prefixed by its length in UTF-16 units and ':')")]
    V3LengthOverrun { declared: u64, available: u64 },

    #[error("engine.io v3 payload: length {0} ends inside a surrogate pair (rule: lengths count UTF-16 units, a character outside the BMP counts 2)")]
    V3LengthSplitsSurrogate(u64),

    #[error("engine.io v3 binary payload: packet flag {0:#04x} is neither 0 (string) nor 1 (binary) (rule: XHR2 framing is <0|1><length digits as bytes 0-9>0xFF<packet>)")]
    Xhr2BadFlag(u8),

    #[error("engine.io v3 binary payload: length byte {0:#04x} is not a digit 0-9 (rule: XHR2 framing writes each decimal digit of the length as a byte 0-9)")]
    Xhr2BadLengthDigit(u8),

    #[error(
        "engine.io v3 binary payload: no length digits before 0xFF (rule: XHR2 framing is <0|1><length digits as bytes 0-9>0xFF<packet>)"
    )]
    Xhr2MissingLength,

    #[error("engine.io v3 binary payload: length is not terminated by 0xFF (rule: XHR2 framing is <0|1><length digits as bytes 0-9>0xFF<packet>)")]
    Xhr2Unterminated,

    #[error("engine.io v3 binary payload: length {declared} exceeds the {available} bytes left (rule: XHR2 framing lengths count the packet's bytes)")]
    Xhr2LengthOverrun { declared: u64, available: u64 },

    // ---- Socket.IO packets -------------------------------------------------
    #[error("socket.io packet is empty (rule: a packet starts with its type digit 0-6)")]
    SioEmpty,

    #[error("socket.io packet type {0:?} is unknown (rule: types are 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK)")]
    SioUnknownType(char),

    #[error("socket.io {0} packet lacks its attachment count (rule: a binary packet writes the number of attachments and '-' right after its type)")]
    SioMissingAttachments(&'static str),

    #[error("socket.io attachment count {0:?} is not a decimal number (rule: a binary packet writes the number of attachments and '-' right after its type)")]
    SioAttachmentsNotNumber(String),

    #[error("socket.io packet announces {count} attachments, more than the {max} allowed (rule: the decoder caps attachments per packet)")]
    SioTooManyAttachments { count: usize, max: usize },

    #[error("socket.io packet announces {declared} attachments but its payload holds {placeholders} placeholders (rule: each attachment is referenced by one {{\"_placeholder\":true,\"num\":N}})")]
    SioAttachmentMismatch { declared: usize, placeholders: usize },

    #[error("socket.io namespace {0:?} does not start with '/' (rule: a namespace is written as '/name' followed by ',')")]
    SioNamespaceNotAbsolute(String),

    #[error("socket.io ack id {0:?} is invalid (rule: the ack id is decimal digits fitting 64 bits, right after the namespace)")]
    SioInvalidAckId(String),

    #[error("socket.io payload is not valid JSON: {0} (rule: the rest of the packet is one JSON value)")]
    SioInvalidJson(String),

    #[error("socket.io {kind} payload is {found} (rule: EVENT and BINARY_EVENT carry a non-empty JSON array whose first element is the event name string)")]
    SioEventPayload { kind: &'static str, found: String },

    #[error("socket.io {kind} payload is {found} (rule: ACK and BINARY_ACK carry a JSON array of arguments)")]
    SioAckPayload { kind: &'static str, found: String },

    #[error("socket.io v5 CONNECT payload is {0} (rule: a v5 CONNECT payload, if present, is a JSON object)")]
    SioConnectPayload(String),

    #[error("socket.io v5 CONNECT_ERROR payload is {0} (rule: a v5 CONNECT_ERROR payload is a JSON object {{message, data?}})")]
    SioConnectErrorPayload(String),

    #[error("socket.io DISCONNECT payload is {0} (rule: DISCONNECT carries no payload)")]
    SioDisconnectPayload(String),

    // ---- Socket.IO binary reassembly ---------------------------------------
    #[error("socket.io binary frame arrived while no binary packet awaits attachments (rule: binary frames only follow a BINARY_EVENT or BINARY_ACK announcing them)")]
    SioUnexpectedBinary,

    #[error("socket.io text packet arrived while {0} attachments are still due (rule: the announced binary frames immediately follow their packet)")]
    SioUnexpectedText(usize),

    #[error("socket.io placeholder num {num} does not index the {len} attachments (rule: a placeholder's num is an integer index into the packet's attachments)")]
    SioPlaceholderOutOfRange { num: String, len: usize },
}
