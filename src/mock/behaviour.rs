//! The mock server's current behaviour: the standard fixture by default, changed by `mock` steps.
use crate::protocol::eio::session::ServerConfig;
use crate::protocol::eio::EioRevision;
use crate::suite::client_steps::{ConnectPolicy, MockMode, MockStep, ProbeMode, WsPolicy};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub mode: MockMode,
    /// The Engine.IO revision the mock speaks.
    pub eio: EioRevision,
    pub path: String,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: u64,
    pub ping: bool,
    pub ping_every: Option<u64>,
    pub answer_pings: bool,
    pub open_set: Map<String, Value>,
    pub open_omit: Vec<String>,
    pub open_raw: Option<String>,
    pub probe: ProbeMode,
    pub websocket: WsPolicy,
    pub handshake_error: Option<u8>,
    pub stall_handshake: bool,
    /// Whether the mock speaks Socket.IO on top of Engine.IO (v4 over EIO3, v5 over EIO4).
    pub sio: bool,
    pub connect: ConnectPolicy,
    pub connect_error: Option<Value>,
    pub fixture: bool,
    pub enforce_max_payload: bool,
    pub post_delay_ms: u64,
}

impl Behaviour {
    /// The standard fixture's defaults (`fixtures/standard.toml`): pingInterval, pingTimeout, maxPayload.
    pub fn standard(eio: EioRevision, sio: bool, path: &str) -> Self {
        let std = crate::suite::standard::standard();
        Behaviour {
            mode: MockMode::Normal,
            eio,
            path: path.to_string(),
            ping_interval: std.ping_interval(),
            ping_timeout: std.ping_timeout(),
            max_payload: std.max_http_buffer_size(),
            ping: true,
            ping_every: None,
            answer_pings: true,
            open_set: Map::new(),
            open_omit: Vec::new(),
            open_raw: None,
            probe: ProbeMode::Answer,
            websocket: WsPolicy::Accept,
            handshake_error: None,
            stall_handshake: false,
            sio,
            connect: ConnectPolicy::Accept,
            connect_error: None,
            fixture: true,
            enforce_max_payload: true,
            post_delay_ms: 0,
        }
    }

    /// Applies the fields a `mock` step sets; checks them first, so a bad step changes nothing.
    pub fn apply(&mut self, s: &MockStep) -> Result<(), String> {
        if let Some(e) = s.eio {
            if e != 3 && e != 4 {
                return Err(format!("mock: eio must be 3 or 4, got {e}"));
            }
        }
        if let Some(c) = s.handshake_error {
            if c > 5 {
                return Err(format!("mock: handshake_error must be an Engine.IO error code 0-5, got {c}"));
            }
        }
        if let Some(o) = &s.open {
            if !o.is_object() {
                return Err("mock: open must be a table of open packet keys".into());
            }
        }
        if let Some(p) = &s.path {
            if !p.starts_with('/') {
                return Err(format!("mock: path must start with /, got {p:?}"));
            }
        }
        if let Some(m) = s.mode {
            self.mode = m;
        }
        if let Some(e) = s.eio {
            self.eio = if e == 3 { EioRevision::V3 } else { EioRevision::V4 };
        }
        if let Some(p) = &s.path {
            let mut p = p.clone();
            if !p.ends_with('/') {
                p.push('/');
            }
            self.path = p;
        }
        macro_rules! set {
            ($f:ident, $g:ident) => {
                if let Some(v) = &s.$f {
                    self.$g = v.clone();
                }
            };
        }
        set!(ping_interval, ping_interval);
        set!(ping_timeout, ping_timeout);
        set!(max_payload, max_payload);
        set!(ping, ping);
        set!(answer_pings, answer_pings);
        set!(open_omit, open_omit);
        set!(probe, probe);
        set!(websocket, websocket);
        set!(stall_handshake, stall_handshake);
        set!(connect, connect);
        set!(fixture, fixture);
        set!(enforce_max_payload, enforce_max_payload);
        set!(post_delay_ms, post_delay_ms);
        if let Some(v) = s.ping_every_ms {
            self.ping_every = Some(v);
        }
        if let Some(Value::Object(o)) = &s.open {
            for (k, v) in o {
                self.open_set.insert(k.clone(), v.clone());
            }
        }
        if let Some(r) = &s.open_raw {
            self.open_raw = Some(r.clone());
        }
        if let Some(c) = s.handshake_error {
            self.handshake_error = Some(c);
        }
        if let Some(v) = &s.connect_error {
            self.connect_error = Some(v.clone());
        }
        Ok(())
    }

    /// What the Engine.IO session machine takes from the behaviour; read again at every event,
    /// so a `mock` step changes sessions already open too.
    pub fn session_config(&self) -> ServerConfig {
        ServerConfig {
            ping_interval_ms: self.ping_interval,
            ping_timeout_ms: self.ping_timeout,
            ping_every_ms: self.ping_every,
            ping: self.ping,
            answer_pings: self.answer_pings,
            answer_probe: self.probe == ProbeMode::Answer,
            accept_upgrades: self.websocket == WsPolicy::Accept,
            max_payload: self.enforce_max_payload.then_some(self.max_payload),
        }
    }

    /// The open packet's data for a new session.
    pub fn open_data(&self, sid: &str, rev: EioRevision, websocket_only: bool) -> String {
        if let Some(raw) = &self.open_raw {
            return raw.clone();
        }
        let mut o = Map::new();
        o.insert("sid".into(), Value::String(sid.into()));
        let upgrades: Vec<Value> = if websocket_only { vec![] } else { vec![Value::String("websocket".into())] };
        o.insert("upgrades".into(), Value::Array(upgrades));
        o.insert("pingInterval".into(), self.ping_interval.into());
        o.insert("pingTimeout".into(), self.ping_timeout.into());
        if rev == EioRevision::V4 {
            o.insert("maxPayload".into(), self.max_payload.into());
        }
        for (k, v) in &self.open_set {
            o.insert(k.clone(), v.clone());
        }
        for k in &self.open_omit {
            o.shift_remove(k);
        }
        Value::Object(o).to_string()
    }
}

/// Engine.IO error codes and the messages the reference servers send with them.
pub fn error_message(code: u8) -> &'static str {
    match code {
        0 => "Transport unknown",
        1 => "Session ID unknown",
        2 => "Bad handshake method",
        3 => "Bad request",
        4 => "Forbidden",
        _ => "Unsupported protocol version",
    }
}
