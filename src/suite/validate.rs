//! Checks of a parsed case that serde cannot make: every authoring mistake the executors
//! would otherwise only meet at run time (and blame on the target) is refused here, when the
//! suite loads, with the step it is in. What is checked:
//!
//! - a step that acts on a session names one a `handshake` or `ws_connect` step opened
//!   before it (a `ws_connect` with `refused_status` opens none);
//! - a background `http` step has a `name`, and every `await` names an earlier one (once);
//! - packets to send: the text form is an Engine.IO packet, a table has exactly one of
//!   `binary`, `sio`, `raw`, `fill` (and `attachments` only with `sio`), hex is hex;
//! - packets to match: the text form is an Engine.IO packet, a table has a `type` that
//!   exists, `sio` patterns parse and are not mixed with Engine.IO fields, `unordered` only
//!   lists `sio` patterns; Socket.IO packets only in suites of the `socket.io` layer;
//! - JSON patterns use known matchers only (`$absent` only where client suites allow it), and
//!   `$var:`/`$ne:` name a value the harness sets or the case captures;
//! - duration expressions are sums of numbers and `{variables}`;
//! - client suites: `client_connect` options are a table; `fixture` and `auto_pong` do not
//!   apply (the mock is configured by `mock` steps);
//! - `should` checks (reference-server behaviour beyond the protocol text) are well-formed.
use super::client_steps::ClientStep;
use super::model::{CaseDef, FixtureSpec, Layer, Role, SuiteHeader};
use super::steps::*;
use super::vocabulary::Steps;
use serde_json::Value;
use std::collections::HashSet;

/// A mistake in a case: which step (0-based) and which field, when known, and what is wrong.
#[derive(Debug)]
pub struct Problem {
    pub step: Option<usize>,
    pub field: Option<&'static str>,
    pub message: String,
}

type Check = Result<(), Problem>;

fn bad(step: Option<usize>, field: &'static str, message: impl Into<String>) -> Problem {
    Problem { step, field: Some(field), message: message.into() }
}

/// Matchers every JSON pattern knows (src/run/matchers.rs).
const MATCHERS: &[&str] = &["$any", "$string", "$nonempty", "$number", "$integer", "$bool", "$array", "$object", "$null"];

/// Variables the executors set themselves (besides `sid_<session>`, `sidN`, `socket_idN`).
const HARNESS_VARS: &[&str] =
    &["eio", "path", "pingInterval", "pingTimeout", "maxPayload", "upgrades", "sid", "ack_id", "url", "socket_id"];

struct Cx<'a> {
    header: &'a SuiteHeader,
    /// `$set:` captures anywhere in the case (order is not checked: a capture may sit in a
    /// branch the executor reaches first at run time).
    captures: HashSet<String>,
}

pub fn check_case(def: &CaseDef, header: &SuiteHeader) -> Check {
    let mut captures = HashSet::new();
    collect_captures(def, &mut captures);
    let cx = Cx { header, captures };
    if header.role == Role::Client {
        if def.fixture != FixtureSpec::default() {
            return Err(bad(None, "fixture", "`fixture` does not apply to a client suite: the mock server is configured by `mock` steps"));
        }
        if !def.auto_pong {
            return Err(bad(None, "auto_pong", "`auto_pong` does not apply to a client suite: the mock answers as its `mock` steps say"));
        }
    }
    match &def.steps {
        Steps::Server(steps) => {
            let mut sessions: HashSet<String> = HashSet::new();
            let mut background: HashSet<String> = HashSet::new();
            for (i, step) in steps.iter().enumerate() {
                cx.server_step(i, step, &mut sessions, &mut background)?;
            }
        }
        Steps::Client(steps) => {
            for (i, step) in steps.iter().enumerate() {
                cx.client_step(i, step)?;
            }
        }
    }
    Ok(())
}

fn session_of(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "main".into())
}

impl Cx<'_> {
    fn server_step(&self, i: usize, step: &ServerStep, sessions: &mut HashSet<String>, background: &mut HashSet<String>) -> Check {
        let at = Some(i);
        let uses = |s: &Option<String>, sessions: &HashSet<String>| -> Check {
            let name = session_of(s);
            if sessions.contains(&name) {
                Ok(())
            } else {
                Err(bad(at, "session", format!("session `{name}` is not opened by an earlier handshake or ws_connect step")))
            }
        };
        match step {
            ServerStep::Handshake(s) => {
                if let Some(p) = &s.open {
                    self.pattern(at, "open", p, false)?;
                }
                sessions.insert(session_of(&s.session));
            }
            ServerStep::Http(s) => {
                if s.background && s.name.is_none() {
                    return Err(bad(at, "background", "a background http step needs a `name` to `await` it by"));
                }
                if s.name.is_some() && !s.background {
                    return Err(bad(
                        at,
                        "name",
                        "`name` is for background http steps (`background = true`), which an `await` step collects",
                    ));
                }
                let bodies = [s.body.is_some(), s.body_hex.is_some(), s.body_fill.is_some()].iter().filter(|b| **b).count();
                if bodies > 1 {
                    return Err(bad(at, "body", "give one of `body`, `body_hex`, `body_fill`"));
                }
                if let Some(h) = &s.body_hex {
                    self.hex(at, "body_hex", h)?;
                }
                if let Some(e) = &s.expect {
                    self.http_expect(at, e)?;
                }
                if let Some(n) = &s.name {
                    background.insert(n.clone());
                }
            }
            ServerStep::Await(s) => {
                if !background.remove(&s.name) {
                    return Err(bad(at, "name", format!("no earlier background http step named `{}` is left to await", s.name)));
                }
                if let Some(e) = &s.expect {
                    self.http_expect(at, e)?;
                }
            }
            ServerStep::Send(s) if s.repeat.is_some_and(|n| n == 0 || n > 100_000) => {
                return Err(bad(at, "repeat", "`repeat` is between 1 and 100000"));
            }
            ServerStep::Send(s) => {
                uses(&s.session, sessions)?;
                self.to_send(at, &s.packets)?;
                if let Some(p) = &s.json {
                    self.pattern(at, "json", p, false)?;
                }
            }
            ServerStep::Expect(s) => {
                uses(&s.session, sessions)?;
                self.to_match(at, &s.packets)?;
                if s.unordered && !s.packets.iter().all(|m| matches!(m, PacketMatch::Table(MatchTable { sio: Some(_), .. }))) {
                    return Err(bad(at, "unordered", "`unordered` takes only `sio` patterns"));
                }
                if let Some(sh) = &s.should {
                    let sio = |m: &PacketMatch| matches!(m, PacketMatch::Table(MatchTable { sio: Some(_), .. }));
                    if s.unordered || sh.len() != s.packets.len() || !sh.iter().all(sio) || !s.packets.iter().all(sio) {
                        return Err(bad(
                            at,
                            "should",
                            "`should` lists one stricter `sio` pattern per `sio` pattern of `packets`, in order (not with `unordered`)",
                        ));
                    }
                    self.to_match(at, sh)?;
                }
            }
            ServerStep::ExpectClosed(s) => {
                uses(&s.session, sessions)?;
                if let Some(d) = &s.within_ms {
                    self.delay(at, "within_ms", d)?;
                }
            }
            ServerStep::ExpectSilence(s) => {
                uses(&s.session, sessions)?;
                self.delay(at, "ms", &s.ms)?;
            }
            ServerStep::Upgrade(s) => uses(&s.session, sessions)?,
            ServerStep::WsConnect(s) => {
                if s.refused_status.is_none() {
                    sessions.insert(s.session.clone());
                }
            }
            ServerStep::Heartbeat(s) => uses(&s.session, sessions)?,
            ServerStep::Sleep(s) => self.delay(at, "ms", &s.ms)?,
            ServerStep::ServerEvent(s) => {
                if let Some(p) = &s.fields {
                    self.pattern(at, "fields", p, false)?;
                }
            }
            ServerStep::Drop(s) => uses(&s.session, sessions)?,
            ServerStep::Alive(s) => uses(&s.session, sessions)?,
            ServerStep::Settle(s) => {
                uses(&s.session, sessions)?;
                if s.within_ms.is_some_and(|n| n == 0 || n > 10_000) {
                    return Err(bad(at, "within_ms", "`within_ms` is between 1 and 10000"));
                }
            }
            ServerStep::Tcp(s) => {
                if s.connections.is_some_and(|n| n == 0 || n > 500) {
                    return Err(bad(at, "connections", "`connections` is between 1 and 500"));
                }
                if s.hold_ms.is_some_and(|n| n > 10_000) {
                    return Err(bad(at, "hold_ms", "`hold_ms` is at most 10000"));
                }
            }
            ServerStep::SidQuality(s) => {
                if s.count.is_some_and(|n| !(10..=1000).contains(&n)) {
                    return Err(bad(at, "count", "`count` is between 10 and 1000"));
                }
            }
        }
        Ok(())
    }

    fn client_step(&self, i: usize, step: &ClientStep) -> Check {
        let at = Some(i);
        match step {
            ClientStep::Sleep(s) => self.delay(at, "ms", &s.ms)?,
            ClientStep::Mock(_)
            | ClientStep::MockClose(_)
            | ClientStep::ClientAck(_)
            | ClientStep::ClientDisconnect(_)
            | ClientStep::ClientClose(_) => {}
            ClientStep::MockSend(s) => self.to_send(at, &s.packets)?,
            ClientStep::ClientConnect(s) => {
                if s.options.as_ref().is_some_and(|o| !o.is_object()) {
                    return Err(bad(at, "options", "client_connect `options` must be a table"));
                }
            }
            ClientStep::ClientEmit(_) | ClientStep::ClientSend(_) => {}
            ClientStep::ExpectRequest(s) => {
                for v in s.query.values() {
                    self.pattern(at, "query", v, true)?;
                }
                for v in s.headers.values() {
                    self.pattern(at, "headers", v, true)?;
                }
                if let Some(d) = &s.body_longer_than {
                    self.delay(at, "body_longer_than", d)?;
                }
                if let Some(d) = &s.within_ms {
                    self.delay(at, "within_ms", d)?;
                }
            }
            ClientStep::ExpectClientPacket(s) => {
                self.to_match(at, &s.packets)?;
                if let Some(d) = &s.within_ms {
                    self.delay(at, "within_ms", d)?;
                }
            }
            ClientStep::ExpectReport(s) => {
                if let Some(p) = &s.fields {
                    self.pattern(at, "fields", p, false)?;
                }
                if let Some(d) = &s.within_ms {
                    self.delay(at, "within_ms", d)?;
                }
                if let Some(d) = &s.not_before_ms {
                    self.delay(at, "not_before_ms", d)?;
                }
            }
            ClientStep::ExpectHeartbeat(_) => {}
        }
        Ok(())
    }

    fn http_expect(&self, at: Option<usize>, e: &HttpExpect) -> Check {
        if let Some(p) = &e.json {
            self.pattern(at, "json", p, false)?;
        }
        if let Some(pk) = &e.packets {
            self.to_match(at, pk)?;
        }
        if let Some(sh) = &e.should {
            if sh.should.is_some() {
                return Err(bad(at, "should", "a `should` inside a `should` means nothing more"));
            }
            self.http_expect(at, sh)?;
        }
        Ok(())
    }

    fn hex(&self, at: Option<usize>, field: &'static str, h: &str) -> Check {
        crate::run::matchers::hex_decode(h).map(|_| ()).map_err(|e| bad(at, field, e))
    }

    fn socket_io(&self, at: Option<usize>, what: &str) -> Check {
        if self.header.layer != Layer::SocketIo {
            return Err(bad(at, "sio", format!("{what}: Socket.IO packets in a suite of the `{}` layer", self.header.layer.as_str())));
        }
        Ok(())
    }

    fn to_send(&self, at: Option<usize>, packets: &[PacketSpec]) -> Check {
        for p in packets {
            match p {
                PacketSpec::Text(t) => {
                    crate::protocol::eio::decode_packet_text(self.header.revision.eio(), &placeholders(t))
                        .map_err(|e| bad(at, "packets", format!("`{t}` is not an Engine.IO packet in text form: {e}")))?;
                }
                PacketSpec::Table(t) => {
                    let n = [t.binary.is_some(), t.sio.is_some(), t.raw.is_some(), t.fill.is_some(), t.text_hex.is_some()]
                        .iter()
                        .filter(|b| **b)
                        .count();
                    if n != 1 {
                        return Err(bad(at, "packets", "a packet table needs exactly one of `binary`, `sio`, `raw`, `fill`, `text_hex`"));
                    }
                    if let Some(h) = &t.text_hex {
                        self.hex(at, "text_hex", h)?;
                    }
                    if let Some(n) = &t.fill {
                        self.delay(at, "fill", n)?;
                    }
                    if !t.attachments.is_empty() && t.sio.is_none() {
                        return Err(bad(at, "attachments", "`attachments` follow a `sio` packet"));
                    }
                    if let Some(h) = &t.binary {
                        self.hex(at, "binary", h)?;
                    }
                    for a in &t.attachments {
                        self.hex(at, "attachments", a)?;
                    }
                    if let Some(s) = &t.sio {
                        self.socket_io(at, &format!("`sio = '{s}'`"))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn to_match(&self, at: Option<usize>, packets: &[PacketMatch]) -> Check {
        for m in packets {
            match m {
                PacketMatch::Text(t) => {
                    crate::protocol::eio::decode_packet_text(crate::protocol::eio::EioRevision::V4, &placeholders(t))
                        .map_err(|e| bad(at, "packets", format!("`{t}` is not an Engine.IO packet in text form: {e}")))?;
                }
                PacketMatch::Table(t) => {
                    if let Some(s) = &t.sio {
                        self.socket_io(at, &format!("`sio = '{s}'`"))?;
                        if t.kind.is_some() || t.text.is_some() || t.json.is_some() || t.binary.is_some() || t.length.is_some() {
                            return Err(bad(
                                at,
                                "sio",
                                "a `sio` pattern takes only `attachments` besides it (not type, text, json, binary, length)",
                            ));
                        }
                        let pat = crate::run::matchers::parse_sio_pattern(&placeholders(s))
                            .map_err(|e| bad(at, "sio", format!("`{s}` is not a Socket.IO pattern: {e}")))?;
                        if let Some(d) = &pat.data {
                            self.pattern(at, "sio", d, false)?;
                        }
                        for a in t.attachments.iter().flatten() {
                            self.hex(at, "attachments", a)?;
                        }
                        continue;
                    }
                    if t.attachments.is_some() {
                        return Err(bad(at, "attachments", "`attachments` go with a `sio` pattern"));
                    }
                    if let Some(k) = &t.kind {
                        if crate::run::matchers::packet_type_by_name(k).is_none() {
                            return Err(bad(
                                at,
                                "type",
                                format!("unknown packet type `{k}` (open, close, ping, pong, message, upgrade, noop, or 0-6)"),
                            ));
                        }
                    }
                    if t.kind.is_none() && t.text.is_none() && t.json.is_none() && t.binary.is_none() && t.length.is_none() {
                        return Err(bad(
                            at,
                            "packets",
                            "an empty packet pattern matches anything: give `type`, `text`, `json`, `binary`, `length` or `sio`",
                        ));
                    }
                    if let Some(h) = &t.binary {
                        self.hex(at, "binary", h)?;
                    }
                    if let Some(j) = &t.json {
                        self.pattern(at, "json", j, false)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every `$…` string of a JSON pattern is a matcher the executors know.
    fn pattern(&self, at: Option<usize>, field: &'static str, v: &Value, client_request: bool) -> Check {
        match v {
            Value::String(s) if s.starts_with('$') && !s.starts_with("$$") => {
                if MATCHERS.contains(&s.as_str()) || s.starts_with("$set:") {
                    return Ok(());
                }
                if s == "$absent" {
                    return if client_request {
                        Ok(())
                    } else {
                        Err(bad(at, field, "`$absent` only applies to the query and headers of an `expect_request` step (client suites)"))
                    };
                }
                if let Some(name) = s.strip_prefix("$var:").or_else(|| s.strip_prefix("$ne:")) {
                    if self.known_var(name) {
                        return Ok(());
                    }
                    return Err(bad(
                        at,
                        field,
                        format!("`{s}` names `{name}`, which neither the harness sets nor the case captures (`$set:{name}`)"),
                    ));
                }
                Err(bad(
                    at,
                    field,
                    format!(
                        "unknown matcher `{s}` (known: {}, $set:NAME, $var:NAME, $ne:NAME; `$$` for a literal `$`)",
                        MATCHERS.join(", ")
                    ),
                ))
            }
            Value::Array(a) => a.iter().try_for_each(|x| self.pattern(at, field, x, client_request)),
            Value::Object(o) => o.values().try_for_each(|x| self.pattern(at, field, x, client_request)),
            _ => Ok(()),
        }
    }

    fn known_var(&self, name: &str) -> bool {
        HARNESS_VARS.contains(&name)
            || self.captures.contains(name)
            || name.strip_prefix("sid_").is_some_and(|s| !s.is_empty())
            || ["sid", "socket_id"]
                .iter()
                .any(|p| name.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
    }

    fn delay(&self, at: Option<usize>, field: &'static str, d: &Delay) -> Check {
        let Delay::Expr(e) = d else { return Ok(()) };
        for term in e.split('+') {
            let t = term.trim();
            let var = t.strip_prefix('{').and_then(|x| x.strip_suffix('}'));
            let ok =
                t.parse::<u64>().is_ok() || var.is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if !ok {
                return Err(bad(at, field, format!("duration `{e}`: term `{t}` is neither a number of ms nor a {{variable}}")));
            }
        }
        Ok(())
    }
}

/// `{name}` templates replaced by a neutral value, so a pattern can be parsed before the
/// case runs (JSON braces such as `{"sid":…}` stay).
fn placeholders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if end > 0 && after[..end].chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                out.push('0');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn collect_captures(def: &CaseDef, out: &mut HashSet<String>) {
    // Captures can sit in any pattern (JSON values, sio patterns, fields); the debug text of
    // the steps holds them all.
    let text = format!("{:?}", def.steps);
    let mut rest = text.as_str();
    while let Some(i) = rest.find("$set:") {
        rest = &rest[i + 5..];
        out.insert(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
    }
}
