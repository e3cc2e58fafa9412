//! Reassembly of binary packets and placeholder handling.

use serde_json::{Map, Value};

use super::{parse, SioPacket, SioRevision};
use crate::protocol::ProtocolError;

const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Reassembles binary packets: feed the text packet, then binary frames.
///
/// After any error the decoder drops the packet it was assembling and starts
/// afresh; a peer that produced the error is normally disconnected anyway.
#[derive(Clone, Debug)]
pub struct SioDecoder {
    rev: SioRevision,
    max_attachments: usize,
    pending: Option<Pending>,
}

#[derive(Clone, Debug)]
struct Pending {
    packet: SioPacket,
    expected: usize,
}

impl SioDecoder {
    pub fn new(rev: SioRevision) -> Self {
        Self::with_max_attachments(rev, DEFAULT_MAX_ATTACHMENTS)
    }

    /// More attachments than `max` in one packet is an error.
    pub fn with_max_attachments(rev: SioRevision, max: usize) -> Self {
        SioDecoder { rev, max_attachments: max, pending: None }
    }

    /// Some when complete (a packet without attachments completes at once).
    pub fn push_text(&mut self, s: &str) -> Result<Option<SioPacket>, ProtocolError> {
        if self.pending.is_some() {
            let awaiting = self.awaiting();
            self.pending = None;
            return Err(ProtocolError::SioUnexpectedText(awaiting));
        }
        let packet = parse::parse(self.rev, s, Some(self.max_attachments))?;
        let expected = packet.expected_attachments();
        if expected == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(Pending { packet, expected });
        Ok(None)
    }

    /// Error if no binary packet is awaiting attachments.
    pub fn push_binary(&mut self, b: Vec<u8>) -> Result<Option<SioPacket>, ProtocolError> {
        let pending = self.pending.as_mut().ok_or(ProtocolError::SioUnexpectedBinary)?;
        pending.packet.attachments.push(b);
        if pending.packet.attachments.len() < pending.expected {
            return Ok(None);
        }
        Ok(self.pending.take().map(|p| p.packet))
    }

    /// Binary frames still due for the packet being assembled.
    pub fn awaiting(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.expected.saturating_sub(p.packet.attachments.len()))
    }
}

/// Any object with `"_placeholder": true` is a placeholder, whatever else it
/// holds, matching how the reference reconstructs packets.
fn is_placeholder(map: &Map<String, Value>) -> bool {
    map.get("_placeholder") == Some(&Value::Bool(true))
}

pub(super) fn count_placeholders(v: &Value) -> usize {
    match v {
        Value::Object(map) if is_placeholder(map) => 1,
        Value::Object(map) => map.values().map(count_placeholders).sum(),
        Value::Array(items) => items.iter().map(count_placeholders).sum(),
        _ => 0,
    }
}

/// Replace every placeholder {"_placeholder":true,"num":N} by a value from
/// `f(attachment N)`; error if num is not an index into `attachments`.
pub fn fill_placeholders(v: &Value, attachments: &[Vec<u8>], f: &dyn Fn(&[u8]) -> Value) -> Result<Value, ProtocolError> {
    Ok(match v {
        Value::Object(map) if is_placeholder(map) => {
            let num = map.get("num");
            let attachment =
                num.and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok()).and_then(|n| attachments.get(n)).ok_or_else(|| {
                    ProtocolError::SioPlaceholderOutOfRange {
                        num: num.map_or_else(|| "missing".to_owned(), Value::to_string),
                        len: attachments.len(),
                    }
                })?;
            f(attachment)
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), fill_placeholders(v, attachments, f)?))).collect::<Result<_, ProtocolError>>()?,
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| fill_placeholders(item, attachments, f)).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}
