//! The suite file model: what a person writes in `suites/**/*.toml`.
use super::vocabulary::Steps;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A suite file whose steps are read as `S`: the vocabulary of the role its header names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile<S> {
    pub suite: SuiteHeader,
    #[serde(default, rename = "case")]
    pub cases: Vec<CaseDef<S>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteHeader {
    /// Must equal the directory the file sits in (`suites/eio4/*.toml` → `eio4`).
    pub name: String,
    /// Protocol revision the suite speaks: eio3, eio4, sio4, sio5.
    pub revision: Revision,
    /// Which endpoint of a server target the suite drives (client suites: which layer the client speaks).
    pub layer: Layer,
    /// `server` (default): the harness is the client of a server target. `client`: the harness
    /// plays the server (its mock) and commands a client target through its driver.
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub description: String,
    /// Every case runs with a witness session (`src/run/witness.rs`): a well-behaved client
    /// connected before the first step, whose loss fails the case whatever its level. Such
    /// cases run one at a time on a driver of their own, whose memory is measured.
    #[serde(default)]
    pub witness: bool,
    /// With `witness`: the growth of the server's resident memory over its idle figure that
    /// fails a case, in MB (default 256).
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// An Engine.IO file whose cases also run through the Socket.IO endpoint of targets that
    /// speak this revision (`sio5` for `eio4`, `sio4` for `eio3`): each case is loaded a second
    /// time with that revision, the `socket.io` layer and its id's revision segment replaced.
    #[serde(default)]
    pub also_through: Option<Revision>,
    /// A case whose `transports` lists both is loaded once per transport, with `/polling` or
    /// `/websocket` appended to its id and that transport given to its `handshake` steps.
    #[serde(default)]
    pub each_transport: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Revision {
    Eio3,
    Eio4,
    Sio4,
    Sio5,
}

impl Revision {
    pub fn as_str(self) -> &'static str {
        match self {
            Revision::Eio3 => "eio3",
            Revision::Eio4 => "eio4",
            Revision::Sio4 => "sio4",
            Revision::Sio5 => "sio5",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "eio3" => Some(Revision::Eio3),
            "eio4" => Some(Revision::Eio4),
            "sio4" => Some(Revision::Sio4),
            "sio5" => Some(Revision::Sio5),
            _ => None,
        }
    }
    /// The Engine.IO revision carrying this revision.
    pub fn eio(self) -> crate::protocol::eio::EioRevision {
        use crate::protocol::eio::EioRevision;
        match self {
            Revision::Eio3 | Revision::Sio4 => EioRevision::V3,
            Revision::Eio4 | Revision::Sio5 => EioRevision::V4,
        }
    }
    pub fn sio(self) -> Option<crate::protocol::sio::SioRevision> {
        use crate::protocol::sio::SioRevision;
        match self {
            Revision::Sio4 => Some(SioRevision::V4),
            Revision::Sio5 => Some(SioRevision::V5),
            _ => None,
        }
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of implementation a target is, and which kind a suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Server,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
    pub fn other(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    #[serde(rename = "engine.io")]
    EngineIo,
    #[serde(rename = "socket.io")]
    SocketIo,
}

impl Layer {
    pub fn default_path(self) -> &'static str {
        match self {
            Layer::EngineIo => "/engine.io/",
            Layer::SocketIo => "/socket.io/",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::EngineIo => "engine.io",
            Layer::SocketIo => "socket.io",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Polling,
    Websocket,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::Websocket => "websocket",
        }
    }
}

/// A case as written; `S` is how its steps are held: one role's `Vec` while the file is read,
/// [`Steps`] once loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseDef<S = Steps> {
    pub id: String,
    pub title: String,
    pub requirement: String,
    pub source: String,
    pub level: Level,
    pub transports: Vec<Transport>,
    /// Defaults to the suite's revision.
    #[serde(default)]
    pub revisions: Vec<Revision>,
    /// Fixture options the server must be started with (beyond the standard defaults).
    #[serde(default)]
    pub fixture: FixtureSpec,
    /// Capabilities the target must declare (e.g. `server-events`).
    #[serde(default)]
    pub needs: Vec<String>,
    /// Server handlers the case relies on beyond the standard fixture (`close-me`, …; the
    /// names are those of `fixtures/standard.toml`). A server started by hand lacks them.
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Overall budget of the case in ms (scaled); default 5000.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Answer server pings automatically while waiting for other packets.
    #[serde(default = "yes")]
    pub auto_pong: bool,
    #[serde(rename = "step")]
    pub steps: S,
}

impl<S> CaseDef<S> {
    /// The same case with its steps held as `f` makes them.
    pub fn map_steps<T>(self, f: impl FnOnce(S) -> T) -> CaseDef<T> {
        CaseDef {
            id: self.id,
            title: self.title,
            requirement: self.requirement,
            source: self.source,
            level: self.level,
            transports: self.transports,
            revisions: self.revisions,
            fixture: self.fixture,
            needs: self.needs,
            handlers: self.handlers,
            deadline_ms: self.deadline_ms,
            auto_pong: self.auto_pong,
            steps: f(self.steps),
        }
    }
}

fn yes() -> bool {
    true
}

/// Fixture options as written in a suite. Absent = the standard fixture default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FixtureSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_http_buffer_size: Option<u64>,
    #[serde(rename = "allowEIO3", skip_serializing_if = "Option::is_none")]
    pub allow_eio3: Option<bool>,
    /// An origin, or "none" for no CORS configuration at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<Transport>>,
    /// "deny" installs an allowRequest that refuses everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_state_recovery: Option<bool>,
}

impl FixtureSpec {
    /// The standard fixture's defaults (`fixtures/standard.toml`), used to resolve
    /// `{pingInterval}` before a handshake.
    pub fn ping_interval_or_default(&self) -> u64 {
        self.ping_interval.unwrap_or_else(|| super::standard::standard().ping_interval())
    }
    pub fn ping_timeout_or_default(&self) -> u64 {
        self.ping_timeout.unwrap_or_else(|| super::standard::standard().ping_timeout())
    }
}

/// Free-form key/value table used by matchers (headers and the like).
pub type StrMap = BTreeMap<String, String>;
