//! v3 XHR2 binary payload framing: for each packet
//! `<0 string | 1 binary><length, one byte 0-9 per decimal digit>0xFF<packet>`.
//!
//! Length units: for string packets the reference (engine.io-parser 2.x)
//! UTF-8-encodes the packet into a byte string *before* taking its length, so
//! the length counts UTF-8 bytes, unlike the text framing where it counts
//! UTF-16 units. A binary packet is its type byte then its data, and its length
//! includes the type byte.

use super::{decode_packet_text, decode_typed_binary, encode_packet_text, Data, EioRevision, Packet};
use crate::protocol::ProtocolError;

const STRING_FLAG: u8 = 0;
const BINARY_FLAG: u8 = 1;
const LENGTH_END: u8 = 0xFF;

pub(super) fn encode(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        match &p.data {
            Data::Text(_) => {
                let text = encode_packet_text(EioRevision::V3, p);
                write_header(&mut out, STRING_FLAG, text.len());
                out.extend_from_slice(text.as_bytes());
            }
            Data::Binary(b) => {
                write_header(&mut out, BINARY_FLAG, b.len() + 1);
                out.push(p.kind as u8);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn write_header(out: &mut Vec<u8>, flag: u8, len: usize) {
    out.push(flag);
    out.extend(len.to_string().bytes().map(|digit| digit - b'0'));
    out.push(LENGTH_END);
}

pub(super) fn decode(body: &[u8]) -> Result<Vec<Packet>, ProtocolError> {
    let mut packets = Vec::new();
    let mut rest = body;
    while let Some((&flag, after_flag)) = rest.split_first() {
        if flag != STRING_FLAG && flag != BINARY_FLAG {
            return Err(ProtocolError::Xhr2BadFlag(flag));
        }
        let end = after_flag.iter().position(|&b| b == LENGTH_END).ok_or_else(|| match after_flag.iter().find(|&&b| b > 9) {
            Some(&bad) => ProtocolError::Xhr2BadLengthDigit(bad),
            None => ProtocolError::Xhr2Unterminated,
        })?;
        let (digits, after_digits) = after_flag.split_at(end);
        let declared = parse_digits(digits)?;
        let body = after_digits.get(1..).unwrap_or_default();
        let available = body.len() as u64;
        let len = usize::try_from(declared)
            .ok()
            .filter(|&len| len <= body.len())
            .ok_or(ProtocolError::Xhr2LengthOverrun { declared, available })?;
        let (packet, tail) = body.split_at(len);
        packets.push(if flag == STRING_FLAG {
            let text = std::str::from_utf8(packet).map_err(|_| ProtocolError::InvalidUtf8("engine.io v3 XHR2 string packet"))?;
            decode_packet_text(EioRevision::V3, text)?
        } else {
            decode_typed_binary(packet)?
        });
        rest = tail;
    }
    Ok(packets)
}

/// Saturates instead of overflowing: any length that large overruns the body.
fn parse_digits(digits: &[u8]) -> Result<u64, ProtocolError> {
    if digits.is_empty() {
        return Err(ProtocolError::Xhr2MissingLength);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d > 9 {
            Err(ProtocolError::Xhr2BadLengthDigit(d))
        } else {
            Ok(n.saturating_mul(10).saturating_add(u64::from(d)))
        }
    })
}
