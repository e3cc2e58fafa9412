//! The client-suite step vocabulary (`[suite] role = "client"`): configure and drive the mock
//! server, command the client target through its driver, and check what the mock saw and what
//! the driver reported. Documented for suite authors in `suites/README.md` ("Client suites").
use super::model::Transport;
use super::steps::{Delay, PacketMatch, PacketSpec, SleepStep};
use super::vocabulary::vocabulary;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

vocabulary! {
    /// The steps of client suites: the harness is the mock server and commands the client.
    pub enum ClientStep {
        "sleep" => Sleep(SleepStep),
        "mock" => Mock(MockStep),
        "mock_send" => MockSend(MockSendStep),
        "mock_close" => MockClose(MockCloseStep),
        "client_connect" => ClientConnect(ClientConnectStep),
        "client_emit" => ClientEmit(ClientEmitStep),
        "client_ack" => ClientAck(ClientAckStep),
        "client_send" => ClientSend(ClientSendStep),
        "client_disconnect" => ClientDisconnect(ClientOnlyStep),
        "client_close" => ClientClose(ClientOnlyStep),
        "expect_request" => ExpectRequest(ExpectRequestStep),
        "expect_client_packet" => ExpectClientPacket(ExpectClientPacketStep),
        "expect_report" => ExpectReport(ExpectReportStep),
        "expect_heartbeat" => ExpectHeartbeat(ExpectHeartbeatStep),
    }
}

/// `do = "mock"`: how the mock server behaves from now on. Only the fields given change;
/// the rest keeps its current value (initially the standard fixture's behaviour).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MockStep {
    /// `normal` (an Engine.IO/Socket.IO server), `ws-echo` (a plain websocket echo server,
    /// not Socket.IO), `unreachable` (nothing listens on the port).
    #[serde(default)]
    pub mode: Option<MockMode>,
    /// The Engine.IO revision the mock speaks: 4 refuses other `EIO` values with code 5
    /// (like engine.io ≥ 5 without allowEIO3); 3 answers every handshake as v3 (like engine.io 3).
    #[serde(default)]
    pub eio: Option<u8>,
    /// Request path the mock serves (default: the client's default path).
    #[serde(default)]
    pub path: Option<String>,
    /// Advertised in the open packet (ms); the mock also pings at this interval unless `ping_every_ms`.
    #[serde(default, rename = "pingInterval")]
    pub ping_interval: Option<u64>,
    #[serde(default, rename = "pingTimeout")]
    pub ping_timeout: Option<u64>,
    #[serde(default, rename = "maxPayload")]
    pub max_payload: Option<u64>,
    /// v4: whether the mock sends pings at all.
    #[serde(default)]
    pub ping: Option<bool>,
    /// v4: the real interval between pings, when it should differ from the advertised one.
    #[serde(default)]
    pub ping_every_ms: Option<u64>,
    /// v3: whether the mock answers the client's pings with pongs.
    #[serde(default)]
    pub answer_pings: Option<bool>,
    /// Keys set (or replaced) in the open packet, e.g. `{ pingInterval = "abc" }`.
    #[serde(default)]
    pub open: Option<Value>,
    /// Keys removed from the open packet.
    #[serde(default)]
    pub open_omit: Option<Vec<String>>,
    /// The open packet's data replaced by this text (`0` + it), e.g. not JSON at all.
    #[serde(default)]
    pub open_raw: Option<String>,
    /// Answer the upgrade probe `2probe` with `3probe` (`answer`) or never (`withhold`).
    #[serde(default)]
    pub probe: Option<ProbeMode>,
    /// `accept` websocket requests, or `refuse` them with a raw HTTP 400.
    #[serde(default)]
    pub websocket: Option<WsPolicy>,
    /// Answer every handshake with this Engine.IO error code (0–5), as the reference servers do.
    #[serde(default)]
    pub handshake_error: Option<u8>,
    /// Never answer a handshake (the request stays open).
    #[serde(default)]
    pub stall_handshake: Option<bool>,
    /// Socket.IO CONNECT: `accept` (with a socket id), `refuse` (CONNECT_ERROR), `ignore`.
    #[serde(default)]
    pub connect: Option<ConnectPolicy>,
    /// CONNECT_ERROR payload for `connect = "refuse"`: v5 `{ message, data }`, v4 a string.
    #[serde(default)]
    pub connect_error: Option<Value>,
    /// Standard fixture handlers (auth emit, message-back, acks, echo); off = only what steps send.
    #[serde(default)]
    pub fixture: Option<bool>,
    /// Answer a polling POST over maxPayload with 413 (engine.io ≥ 5 behaviour).
    #[serde(default)]
    pub enforce_max_payload: Option<bool>,
    /// Hold every polling POST's response this long (a slow link): what the client emits
    /// meanwhile is buffered and goes out together in the next POST.
    #[serde(default)]
    pub post_delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MockMode {
    Normal,
    WsEcho,
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeMode {
    Answer,
    Withhold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WsPolicy {
    Accept,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectPolicy {
    Accept,
    Refuse,
    Ignore,
}

/// `do = "mock_send"`: the mock sends packets to the client on a session's current transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockSendStep {
    pub packets: Vec<PacketSpec>,
    /// Session number (1 = the first handshake); default the latest.
    #[serde(default)]
    pub session: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseHow {
    /// Engine.IO close packet `1`, then the session is gone.
    ClosePacket,
    /// The connection is cut: websocket closed without a close packet, pending poll dropped.
    Transport,
    /// A transport error: polling requests answered `400 {"code":1,…}`, websocket sent an
    /// invalid frame.
    Error,
}

/// `do = "mock_close"`: the mock ends a session mid-way.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockCloseStep {
    pub how: CloseHow,
    #[serde(default)]
    pub session: Option<usize>,
}

fn main_client() -> String {
    "main".into()
}

/// `do = "client_connect"`: the driver creates a client and connects it to the mock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConnectStep {
    #[serde(default = "main_client")]
    pub client: String,
    /// Fields of the driver's `connect` command (transports, upgrade, auth, query, namespace,
    /// path, reconnection, reconnectionDelay, timeout, …), passed as they are; `url` is the mock's.
    #[serde(default)]
    pub options: Option<Value>,
}

/// `do = "client_emit"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEmitStep {
    #[serde(default = "main_client")]
    pub client: String,
    pub event: String,
    #[serde(default)]
    pub args: Vec<Value>,
    /// Ask for an acknowledgement; its call is reported as `ack` with this id.
    #[serde(default)]
    pub ack_id: Option<String>,
}

/// `do = "client_ack"`: the client answers an event it received with an ack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAckStep {
    #[serde(default = "main_client")]
    pub client: String,
    /// The `ack_id` of the `event` report (templated, e.g. `{ack}` after `$set:ack`).
    pub ack_id: String,
    #[serde(default)]
    pub args: Vec<Value>,
}

/// `do = "client_send"`: raw Engine.IO clients send a message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSendStep {
    #[serde(default = "main_client")]
    pub client: String,
    /// A string, `{ "$binary" = "<hex>" }`, or `{ fill = N }` for a string of N bytes.
    pub data: Value,
}

/// `do = "client_disconnect"` / `do = "client_close"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOnlyStep {
    #[serde(default = "main_client")]
    pub client: String,
}

/// `do = "expect_request"`: the mock saw an HTTP request (polling or websocket handshake).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectRequestStep {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// Query parameters: a JSON pattern per name (`"4"`, `"$nonempty"`, `"$var:sid"`),
    /// or `"$absent"` for a parameter that must not be there. Others are not checked.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// Headers (lower-case names), same patterns as `query`.
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// Only websocket upgrade requests (true) or only plain HTTP ones (false).
    #[serde(default)]
    pub websocket: Option<bool>,
    /// Only requests whose body is longer than this many bytes.
    #[serde(default)]
    pub body_longer_than: Option<Delay>,
    /// The very first request the mock saw must match (instead of any not yet matched).
    #[serde(default)]
    pub first: bool,
    /// No matching request may arrive within the window.
    #[serde(default)]
    pub absent: bool,
    /// With `absent`: requests seen before the step count too (none ever, since the case began).
    #[serde(default)]
    pub ever: bool,
    #[serde(default)]
    pub within_ms: Option<Delay>,
}

/// `do = "expect_client_packet"`: the mock received these packets from the client, in this order
/// (other packets in between are passed over).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClientPacketStep {
    pub packets: Vec<PacketMatch>,
    #[serde(default)]
    pub session: Option<usize>,
    #[serde(default)]
    pub transport: Option<Transport>,
    /// None of the patterns may match a packet arriving within the window.
    #[serde(default)]
    pub absent: bool,
    /// With `absent`: packets sent before the step count too.
    #[serde(default)]
    pub ever: bool,
    #[serde(default)]
    pub within_ms: Option<Delay>,
}

/// `do = "expect_report"`: the client's driver reported an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectReportStep {
    #[serde(default = "main_client")]
    pub client: String,
    /// `connect`, `connect_error`, `disconnect`, `event`, `ack`, `message`, `upgrade`,
    /// `reconnect_attempt`, `reconnect`, `reconnect_failed`, `error`.
    pub event: String,
    /// JSON pattern on the report's fields (only the keys given are checked).
    #[serde(default)]
    pub fields: Option<Value>,
    /// No matching report may arrive within the window.
    #[serde(default)]
    pub absent: bool,
    #[serde(default)]
    pub within_ms: Option<Delay>,
    /// The report must not come earlier than this, counted from `since` (e.g. a ping timeout
    /// declared after pingInterval + pingTimeout, a reconnection attempt after its delay).
    #[serde(default)]
    pub not_before_ms: Option<Delay>,
    /// What `not_before_ms` counts from: `handshake` (the latest one the mock answered, the
    /// default) or `step` (the start of this step).
    #[serde(default)]
    pub since: Option<Since>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Since {
    Handshake,
    Step,
}

/// `do = "expect_heartbeat"`: v4 — the client answers `rounds` mock pings, each within
/// pingTimeout; v3 — the client sends `rounds` pings, at pingInterval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectHeartbeatStep {
    #[serde(default = "three")]
    pub rounds: u32,
    #[serde(default)]
    pub session: Option<usize>,
    /// v3: how far a ping may come after pingInterval (ms, scaled); default 200.
    #[serde(default)]
    pub tolerance_ms: Option<u64>,
}

fn three() -> u32 {
    3
}
