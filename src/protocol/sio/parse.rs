//! Text-part parser for Socket.IO packets.

use serde_json::Value;

use super::{decoder::count_placeholders, SioPacket, SioRevision, SioType};
use crate::protocol::{snippet, ProtocolError};

/// `max_attachments` is checked as soon as the count is read, before any JSON
/// is parsed, so a hostile count is refused cheaply.
pub(super) fn parse(rev: SioRevision, s: &str, max_attachments: Option<usize>) -> Result<SioPacket, ProtocolError> {
    let mut chars = s.chars();
    let first = chars.next().ok_or(ProtocolError::SioEmpty)?;
    let kind = SioType::from_char(first).ok_or(ProtocolError::SioUnknownType(first))?;
    let mut rest = chars.as_str();

    let declared = if kind.is_binary() {
        let (count, after) = split_attachments(kind, rest)?;
        if let Some(max) = max_attachments.filter(|&max| count > max) {
            return Err(ProtocolError::SioTooManyAttachments { count, max });
        }
        rest = after;
        Some(count)
    } else {
        None
    };

    let nsp_present = rest.starts_with('/');
    let nsp = if nsp_present {
        let (nsp, after) = rest.split_once(',').unwrap_or((rest, ""));
        rest = after;
        nsp
    } else {
        "/"
    };

    let digit_count = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, payload) = rest.split_at(digit_count);
    if payload.chars().next().is_some_and(|c| !can_start_json(c)) {
        return Err(misplaced_text(nsp_present, rest));
    }
    let id = match digits {
        "" => None,
        d => Some(d.parse::<u64>().map_err(|_| ProtocolError::SioInvalidAckId(snippet(d)))?),
    };
    let data = match payload {
        "" => None,
        p => Some(serde_json::from_str::<Value>(p).map_err(|e| ProtocolError::SioInvalidJson(e.to_string()))?),
    };
    check_payload(rev, kind, data.as_ref())?;

    if let Some(declared) = declared {
        let placeholders = data.as_ref().map_or(0, count_placeholders);
        if placeholders != declared {
            return Err(ProtocolError::SioAttachmentMismatch { declared, placeholders });
        }
    }

    Ok(SioPacket { kind, nsp: nsp.to_owned(), id, data, attachments: Vec::new() })
}

/// The count must be digits directly followed by '-' (the reference's
/// `Number()` would also take an empty count as 0; we do not).
fn split_attachments(kind: SioType, rest: &str) -> Result<(usize, &str), ProtocolError> {
    let digit_count = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, after) = rest.split_at(digit_count);
    let after = after.strip_prefix('-').ok_or(ProtocolError::SioMissingAttachments(kind.name()))?;
    let count = digits.parse::<usize>().map_err(|_| ProtocolError::SioAttachmentsNotNumber(snippet(digits)))?;
    Ok((count, after))
}

/// Ack ids are consumed as leading digits, so a JSON payload can only start
/// with one of these. Anything else means text where the namespace or the ack
/// id should have been, e.g. the official suite's `2abc["message-with-ack"]`.
fn can_start_json(c: char) -> bool {
    matches!(c, '[' | '{' | '"' | '-' | 't' | 'f' | 'n' | ' ' | '\t' | '\n' | '\r')
}

/// Blames the namespace when the stray text ends in ',' (a namespace written
/// without its '/'), the ack id otherwise.
fn misplaced_text(nsp_present: bool, rest: &str) -> ProtocolError {
    let stray = rest.find(['[', '{', '"']).map_or(rest, |at| rest.split_at(at).0);
    match stray.split_once(',') {
        Some((nsp, _)) if !nsp_present => ProtocolError::SioNamespaceNotAbsolute(snippet(nsp)),
        _ => ProtocolError::SioInvalidAckId(snippet(stray)),
    }
}

fn check_payload(rev: SioRevision, kind: SioType, data: Option<&Value>) -> Result<(), ProtocolError> {
    let found = || describe(data);
    match kind {
        SioType::Connect => match (rev, data) {
            (SioRevision::V5, Some(v)) if !v.is_object() => Err(ProtocolError::SioConnectPayload(found())),
            _ => Ok(()),
        },
        SioType::Disconnect => match data {
            Some(_) => Err(ProtocolError::SioDisconnectPayload(found())),
            None => Ok(()),
        },
        SioType::Event | SioType::BinaryEvent => match data {
            Some(Value::Array(args)) if args.first().is_some_and(Value::is_string) => Ok(()),
            _ => Err(ProtocolError::SioEventPayload { kind: kind.name(), found: found() }),
        },
        SioType::Ack | SioType::BinaryAck => match data {
            Some(Value::Array(_)) => Ok(()),
            _ => Err(ProtocolError::SioAckPayload { kind: kind.name(), found: found() }),
        },
        // v4 ERROR carries any JSON, usually a string, or nothing at all.
        SioType::ConnectError => match (rev, data) {
            (SioRevision::V5, Some(Value::Object(_))) | (SioRevision::V4, _) => Ok(()),
            (SioRevision::V5, _) => Err(ProtocolError::SioConnectErrorPayload(found())),
        },
    }
}

fn describe(data: Option<&Value>) -> String {
    match data {
        None => "missing".to_owned(),
        Some(Value::Array(items)) => match items.first() {
            None => "an empty array".to_owned(),
            Some(first) => format!("an array starting with {}", json_kind(first)),
        },
        Some(v) => json_kind(v).to_owned(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
