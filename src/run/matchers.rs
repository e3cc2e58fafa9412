//! Matchers: JSON patterns and packet patterns as written in suites.
//!
//! In a JSON pattern a string starting with `$` is a matcher: `$string`, `$number`,
//! `$integer`, `$bool`, `$array`, `$object`, `$null`, `$any`, `$nonempty`, `$set:NAME`
//! (capture), `$var:NAME` (equal to a captured value), `$ne:NAME` (different from it);
//! `$$x` is the literal string `$x`. Objects must have exactly the pattern's keys unless
//! matched with [`json_match_partial`].
use super::vars::Vars;
use crate::protocol::eio::{Data, Packet, PacketType};
use crate::protocol::sio::{SioPacket, SioType};
use crate::suite::steps::{MatchTable, PacketMatch};
use serde_json::Value;

pub fn json_match(pat: &Value, actual: &Value, vars: &mut Vars, at: &str) -> Result<(), String> {
    match pat {
        Value::String(s) if s.starts_with('$') && !s.starts_with("$$") => matcher(s, actual, vars, at),
        Value::String(s) if s.starts_with("$$") => {
            if actual.as_str() == Some(&s[1..]) {
                Ok(())
            } else {
                Err(format!("{at}: expected {:?}, got {actual}", &s[1..]))
            }
        }
        Value::Object(po) => {
            let ao = actual.as_object().ok_or_else(|| format!("{at}: expected an object, got {actual}"))?;
            for k in ao.keys() {
                if !po.contains_key(k) {
                    return Err(format!("{at}: unexpected key `{k}` in {actual}"));
                }
            }
            for (k, pv) in po {
                let av = ao.get(k).ok_or_else(|| format!("{at}: missing key `{k}` in {actual}"))?;
                json_match(pv, av, vars, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(pa) => {
            let aa = actual.as_array().ok_or_else(|| format!("{at}: expected an array, got {actual}"))?;
            if aa.len() != pa.len() {
                return Err(format!("{at}: expected {} elements, got {} in {actual}", pa.len(), aa.len()));
            }
            for (i, (p, a)) in pa.iter().zip(aa).enumerate() {
                json_match(p, a, vars, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Value::Number(pn) => match actual.as_f64() {
            Some(a) if pn.as_f64() == Some(a) => Ok(()),
            _ => Err(format!("{at}: expected {pn}, got {actual}")),
        },
        _ if pat == actual => Ok(()),
        _ => Err(format!("{at}: expected {pat}, got {actual}")),
    }
}

/// Only the pattern's keys are checked; the actual object may have more.
pub fn json_match_partial(pat: &Value, actual: &Value, vars: &mut Vars, at: &str) -> Result<(), String> {
    match (pat, actual) {
        (Value::Object(po), Value::Object(ao)) => {
            for (k, pv) in po {
                let av = ao.get(k).ok_or_else(|| format!("{at}: missing key `{k}` in {actual}"))?;
                json_match(pv, av, vars, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        _ => json_match(pat, actual, vars, at),
    }
}

/// A header pattern (client suites' `expect_request` headers; `actual` is the field's value,
/// lines joined): `$absent`, a `$` matcher on the value (`$nonempty`, `$set:NAME`, ...), or
/// a value compared as HTTP defines it ([`crate::wire::fields::value_matches`]: media types
/// by type/subtype, token lists by membership, case-insensitively).
pub fn header_matches(name: &str, pat: &Value, actual: Option<&str>, vars: &mut Vars) -> bool {
    match (pat, actual) {
        (Value::String(p), None) => p == "$absent",
        (Value::String(p), Some(_)) if p == "$absent" => false,
        (_, None) => false,
        (Value::String(p), Some(a)) if !p.starts_with('$') || p.starts_with("$$") => {
            let literal = p.strip_prefix("$$").map(|r| format!("${r}")).unwrap_or_else(|| p.clone());
            crate::wire::fields::value_matches(name, &literal, a).is_ok()
        }
        (Value::Number(_) | Value::Bool(_), Some(a)) => a.trim() == pat.to_string(),
        (p, Some(a)) => json_match(p, &Value::String(a.trim().to_string()), vars, "").is_ok(),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matcher(m: &str, actual: &Value, vars: &mut Vars, at: &str) -> Result<(), String> {
    let ok = match m {
        "$any" => true,
        "$string" => actual.is_string(),
        "$nonempty" => actual.as_str().is_some_and(|s| !s.is_empty()),
        "$number" => actual.is_number(),
        "$integer" => actual.is_i64() || actual.is_u64(),
        "$bool" => actual.is_boolean(),
        "$array" => actual.is_array(),
        "$object" => actual.is_object(),
        "$null" => actual.is_null(),
        _ => {
            if let Some(name) = m.strip_prefix("$set:") {
                vars.set(name, as_text(actual));
                return Ok(());
            }
            if let Some(name) = m.strip_prefix("$var:") {
                let want = vars.get(name).ok_or_else(|| format!("{at}: `$var:{name}` names no captured value"))?;
                if as_text(actual) == want {
                    return Ok(());
                }
                return Err(format!("{at}: expected the value of {name} ({want}), got {actual}"));
            }
            if let Some(name) = m.strip_prefix("$ne:") {
                let other = vars.get(name).ok_or_else(|| format!("{at}: `$ne:{name}` names no captured value"))?;
                if as_text(actual) != other {
                    return Ok(());
                }
                return Err(format!("{at}: expected a value different from {name}, got the same ({actual})"));
            }
            return Err(format!("{at}: unknown matcher `{m}`"));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: expected {}, got {actual}", &m[1..]))
    }
}

pub fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() % 2 != 0 {
        return Err(format!("hex `{s}` has an odd number of digits"));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("`{s}` is not hex"))).collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn packet_type_by_name(n: &str) -> Option<PacketType> {
    if let Some(c) = n.chars().next().filter(|_| n.len() == 1) {
        return PacketType::from_char(c);
    }
    PacketType::ALL.into_iter().find(|t| t.name() == n)
}

/// A short human form of a matcher, for failure messages.
pub fn describe(m: &PacketMatch) -> String {
    match m {
        PacketMatch::Text(t) => crate::wire::http::show_text(t),
        PacketMatch::Table(t) => {
            if let Some(s) = &t.sio {
                return format!("sio {s}");
            }
            let mut s = t.kind.clone().unwrap_or_else(|| "message".into());
            if let Some(x) = &t.text {
                s.push_str(&format!(" {x:?}"));
            }
            if let Some(j) = &t.json {
                s.push_str(&format!(" {j}"));
            }
            if let Some(b) = &t.binary {
                s.push_str(&format!(" <binary {b}>"));
            }
            s
        }
    }
}

pub fn is_sio(m: &PacketMatch) -> bool {
    matches!(m, PacketMatch::Table(MatchTable { sio: Some(_), .. }))
}

/// Whether the matcher is about this packet type (so pings are not skipped when asked for).
pub fn wants_type(m: &PacketMatch, t: PacketType) -> bool {
    match m {
        PacketMatch::Text(s) => s.chars().next().and_then(PacketType::from_char) == Some(t),
        PacketMatch::Table(mt) => mt.kind.as_deref().and_then(packet_type_by_name) == Some(t),
    }
}

/// Matches an Engine.IO packet. Returns Err with the reason on mismatch.
pub fn match_eio(m: &PacketMatch, p: &Packet, vars: &mut Vars) -> Result<(), String> {
    match m {
        PacketMatch::Text(s) => {
            if &p.to_display() == s {
                Ok(())
            } else {
                Err(format!("expected {}, got {}", crate::wire::http::show_text(s), show_packet(p)))
            }
        }
        PacketMatch::Table(t) => {
            let kind = match &t.kind {
                Some(k) => packet_type_by_name(k).ok_or_else(|| format!("unknown packet type `{k}` in suite"))?,
                None => PacketType::Message,
            };
            if p.kind != kind {
                return Err(format!("expected a {} packet, got {}", kind.name(), show_packet(p)));
            }
            match (&p.data, &t.binary) {
                (Data::Binary(b), Some(hx)) => {
                    let want = hex_decode(hx)?;
                    if *b != want {
                        return Err(format!("expected binary {hx}, got {}", hex(b)));
                    }
                }
                (Data::Text(_), Some(hx)) => return Err(format!("expected binary {hx}, got {}", show_packet(p))),
                (Data::Binary(_), None) if t.text.is_some() || t.json.is_some() => {
                    return Err(format!("expected text, got {}", show_packet(p)))
                }
                _ => {}
            }
            if let Some(n) = t.length {
                let got = match &p.data {
                    Data::Text(s) => s.len(),
                    Data::Binary(b) => b.len(),
                };
                if got != n {
                    return Err(format!("expected {n} bytes of data, got {got}"));
                }
            }
            if let Data::Text(txt) = &p.data {
                if let Some(want) = &t.text {
                    if txt != want {
                        return Err(format!("expected {want:?}, got {}", show_packet(p)));
                    }
                }
                if let Some(pat) = &t.json {
                    let v: Value = serde_json::from_str(txt).map_err(|e| format!("packet data is not JSON ({e}): {txt}"))?;
                    json_match(pat, &v, vars, "data")?;
                }
            }
            Ok(())
        }
    }
}

/// Packets in messages are cut short: a 1 MB payload must not flood a report.
pub fn show_packet(p: &Packet) -> String {
    let full = crate::wire::http::show_text(&p.to_display());
    match full.char_indices().nth(100) {
        Some((cut, _)) => format!("{}… ({} bytes)", &full[..cut], full.len()),
        None => full,
    }
}

/// A Socket.IO pattern in wire form, parsed leniently: the JSON may hold `$` matchers
/// that would not pass the strict decoder (e.g. `2$array`).
pub struct SioPattern {
    pub kind: SioType,
    pub attachments: Option<usize>,
    pub nsp: String,
    pub id: Option<String>,
    pub data: Option<Value>,
}

pub fn parse_sio_pattern(s: &str) -> Result<SioPattern, String> {
    let mut chars = s.char_indices().peekable();
    let (_, c) = chars.next().ok_or("empty sio pattern")?;
    let kind = SioType::from_char(c).ok_or_else(|| format!("sio pattern `{s}`: unknown type `{c}`"))?;
    let mut rest = &s[c.len_utf8()..];
    let mut attachments = None;
    if let Some(dash) = rest.find('-') {
        if rest[..dash].chars().all(|c| c.is_ascii_digit()) && dash > 0 {
            attachments = rest[..dash].parse().ok();
            rest = &rest[dash + 1..];
        }
    }
    let mut nsp = "/".to_string();
    if rest.starts_with('/') {
        match rest.find(',') {
            Some(i) => {
                nsp = rest[..i].to_string();
                rest = &rest[i + 1..];
            }
            None => {
                nsp = rest.to_string();
                rest = "";
            }
        }
    }
    let id_len = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    let mut id = None;
    if id_len > 0 {
        id = Some(rest[..id_len].to_string());
        rest = &rest[id_len..];
    } else if let Some(r) = rest.strip_prefix("$id") {
        // `$id` in the id position: any ack id, captured as {ack_id}.
        id = Some("$id".into());
        rest = r;
    }
    let data = if rest.is_empty() {
        None
    } else if rest.starts_with('$') {
        Some(Value::String(rest.to_string()))
    } else {
        Some(serde_json::from_str(rest).map_err(|e| format!("sio pattern `{s}`: JSON part does not parse: {e}"))?)
    };
    Ok(SioPattern { kind, attachments, nsp, id, data })
}

pub fn match_sio(pat: &SioPattern, expected_attachments: Option<&Vec<String>>, p: &SioPacket, vars: &mut Vars) -> Result<(), String> {
    let shown = || {
        format!(
            "{}{}",
            p.encode(),
            if p.attachments.is_empty() { String::new() } else { format!(" +{} attachment(s)", p.attachments.len()) }
        )
    };
    if p.kind != pat.kind {
        return Err(format!("expected a {} packet, got {}", pat.kind.name(), shown()));
    }
    if p.nsp != pat.nsp {
        return Err(format!("expected namespace {}, got {}", pat.nsp, shown()));
    }
    match (&pat.id, p.id) {
        (None, None) => {}
        (Some(want), Some(got)) if want == "$id" => vars.set("ack_id", got.to_string()),
        (Some(want), Some(got)) if *want == got.to_string() => {}
        (want, got) => return Err(format!("expected ack id {want:?}, got {got:?} in {}", shown())),
    }
    if let Some(n) = pat.attachments {
        if n != p.attachments.len() {
            return Err(format!("expected {n} attachment(s), got {} in {}", p.attachments.len(), shown()));
        }
    }
    // With the attachments given, placeholders are compared by the bytes they stand for: the
    // protocol numbers them (`num`) but does not order them, so `{"num":1}` before `{"num":0}`
    // with the attachments swapped is the same packet.
    if let (Some(want), Some(pd), Some(ad)) = (expected_attachments, &pat.data, &p.data) {
        if p.attachments.len() == want.len() && has_placeholder(pd) {
            let want: Vec<Vec<u8>> = want.iter().map(|h| hex_decode(h)).collect::<Result<_, _>>()?;
            let pd = resolve_placeholders(pd, &want).map_err(|e| format!("pattern: {e}"))?;
            let ad = resolve_placeholders(ad, &p.attachments).map_err(|e| format!("{e} in {}", shown()))?;
            return json_match(&pd, &ad, vars, "data");
        }
    }
    match (&pat.data, &p.data) {
        (None, None) => {}
        (Some(pd), Some(ad)) => json_match(pd, ad, vars, "data")?,
        (Some(_), None) => return Err(format!("expected a payload, got none in {}", shown())),
        (None, Some(_)) => return Err(format!("expected no payload, got {}", shown())),
    }
    if let Some(want) = expected_attachments {
        let want: Vec<Vec<u8>> = want.iter().map(|h| hex_decode(h)).collect::<Result<_, _>>()?;
        if want != p.attachments {
            let got: Vec<String> = p.attachments.iter().map(|b| hex(b)).collect();
            return Err(format!("expected attachments {:?}, got {got:?}", want.iter().map(|b| hex(b)).collect::<Vec<_>>()));
        }
    }
    Ok(())
}

fn placeholder_num(v: &Value) -> Option<&Value> {
    let o = v.as_object()?;
    (o.len() == 2 && o.get("_placeholder") == Some(&Value::Bool(true))).then(|| o.get("num")).flatten()
}

fn has_placeholder(v: &Value) -> bool {
    placeholder_num(v).is_some()
        || match v {
            Value::Array(a) => a.iter().any(has_placeholder),
            Value::Object(o) => o.values().any(has_placeholder),
            _ => false,
        }
}

/// Each `{"_placeholder":true,"num":N}` replaced by `{"$binary":"<hex of attachment N>"}`.
fn resolve_placeholders(v: &Value, attachments: &[Vec<u8>]) -> Result<Value, String> {
    if let Some(num) = placeholder_num(v) {
        let n = num.as_u64().ok_or_else(|| format!("placeholder num {num} is not an index"))? as usize;
        let b = attachments.get(n).ok_or_else(|| format!("placeholder num {n} but {} attachment(s)", attachments.len()))?;
        return Ok(serde_json::json!({ "$binary": hex(b) }));
    }
    Ok(match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_placeholders(x, attachments)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| Ok((k.clone(), resolve_placeholders(x, attachments)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;
    use crate::protocol::sio::{SioPacket, SioRevision};

    fn packet(text: &str, attachments: &[&[u8]]) -> SioPacket {
        let mut p = SioPacket::decode(SioRevision::V5, text).unwrap();
        p.attachments = attachments.iter().map(|a| a.to_vec()).collect();
        p
    }

    #[test]
    fn placeholders_match_by_the_bytes_they_stand_for_not_by_their_numbering() {
        let pat = parse_sio_pattern(r#"52-["m",{"a":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]"#).unwrap();
        let want = vec!["cafe".to_string(), "babe".to_string()];
        let swapped =
            packet(r#"52-["m",{"a":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]"#, &[b"\xba\xbe", b"\xca\xfe"]);
        assert_eq!(match_sio(&pat, Some(&want), &swapped, &mut Vars::default()), Ok(()));
        let wrong = packet(r#"52-["m",{"a":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]"#, &[b"\xba\xbe", b"\xca\xfe"]);
        assert!(match_sio(&pat, Some(&want), &wrong, &mut Vars::default()).is_err(), "bytes in the wrong places");
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;
    use serde_json::json;

    /// Client suites' `expect_request` headers: values compared as HTTP defines them.
    #[test]
    fn request_header_patterns_compare_media_types_and_token_lists() {
        let mut v = Vars::default();
        assert!(header_matches("content-type", &json!("text/plain; charset=UTF-8"), Some("text/plain;charset=utf-8"), &mut v));
        assert!(header_matches("Content-Type", &json!("application/octet-stream"), Some("application/octet-stream"), &mut v));
        assert!(!header_matches("content-type", &json!("application/octet-stream"), Some("text/plain;charset=UTF-8"), &mut v));
        assert!(header_matches("connection", &json!("upgrade"), Some("keep-alive, Upgrade"), &mut v));
        assert!(header_matches("upgrade", &json!("websocket"), Some("WebSocket"), &mut v));
        assert!(!header_matches("connection", &json!("upgrade"), Some("keep-alive"), &mut v));
        assert!(header_matches("origin", &json!("http://example.com"), Some("http://example.com"), &mut v));
        assert!(header_matches("x-any", &json!("$nonempty"), Some("x"), &mut v));
        assert!(header_matches("x-gone", &json!("$absent"), None, &mut v));
        assert!(!header_matches("x-here", &json!("$absent"), Some("1"), &mut v));
        assert!(header_matches("x-cap", &json!("$set:cap"), Some(" v1 "), &mut v));
        assert_eq!(v.get("cap"), Some("v1"));
        assert!(header_matches("x-lit", &json!("$$dollar"), Some("$dollar"), &mut v));
    }
}
