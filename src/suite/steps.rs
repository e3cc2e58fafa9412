//! The server-suite step vocabulary, and what both roles' steps share (packets to send and to
//! match, durations, `sleep`). Each step is a TOML table `[[case.step]]` with `do = "<kind>"`.
use super::model::{StrMap, Transport};
use super::vocabulary::vocabulary;
use serde::Deserialize;
use serde_json::Value;

vocabulary! {
    /// The steps of server suites: the harness is a client of the server target.
    pub enum ServerStep {
        /// Open an Engine.IO session (polling or websocket handshake) and capture its open packet.
        "handshake" => Handshake(HandshakeStep),
        /// One raw HTTP request, for deliberately wrong traffic or precise checks.
        "http" => Http(HttpStep),
        /// Wait for a background `http` step and check its response.
        "await" => Await(AwaitStep),
        /// Send packets on a session (POST over polling, frames over websocket).
        "send" => Send(SendStep),
        /// Receive packets on a session until the listed ones arrived, in order.
        "expect" => Expect(ExpectStep),
        /// The session must end: close packet, HTTP 400, or the websocket closing.
        "expect_closed" => ExpectClosed(ExpectClosedStep),
        /// No packet other than ping/noop may arrive for a while (websocket sessions).
        "expect_silence" => ExpectSilence(SilenceStep),
        /// Upgrade a polling session to websocket: probe, `3probe`, `5`.
        "upgrade" => Upgrade(UpgradeStep),
        /// Open a raw websocket (no handshake read), to check refusals.
        "ws_connect" => WsConnect(WsConnectStep),
        /// Heartbeat rounds: v4 waits for server pings (and measures them), v3 sends pings.
        "heartbeat" => Heartbeat(HeartbeatStep),
        "sleep" => Sleep(SleepStep),
        /// A server-side event reported by the target's driver.
        "server_event" => ServerEvent(ServerEventStep),
        /// Drop a session's transport abruptly (no close packet).
        "drop" => Drop(DropStep),
        /// Prove the session is alive right now (a heartbeat exchange), before a check that
        /// expects it refused or closed; raw requests on it must then be answered in time.
        "alive" => Alive(AliveStep),
        /// Raw bytes on fresh TCP connections (half-open requests, slowloris, lying headers).
        "tcp" => Tcp(TcpStep),
        /// Collect many handshake sids and judge how guessable they are.
        "sid_quality" => SidQuality(SidQualityStep),
        /// Wait until the server has dealt with what a session sent: it ended the session, or it
        /// answered a follow-up sent after it on the same session. A wait, not a check.
        "settle" => Settle(SettleStep),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeStep {
    #[serde(default)]
    pub session: Option<String>,
    pub transport: Transport,
    /// Extra query parameters appended to the handshake (`b64=1`, `token=1`).
    #[serde(default)]
    pub query: Option<String>,
    /// v3 polling over JSONP with this index: `j=<index>` on every request of the session,
    /// GET bodies must be `___eio[<index>]("<payload>");`, POSTs are form-encoded `d=<payload>`.
    #[serde(default)]
    pub jsonp: Option<u32>,
    #[serde(default)]
    pub headers: StrMap,
    /// The open packet must carry exactly these keys.
    #[serde(default)]
    pub open_keys: Option<Vec<String>>,
    /// JSON pattern the listed open packet fields must match (only the keys given are checked).
    #[serde(default)]
    pub open: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    #[serde(default = "get")]
    pub method: String,
    /// Request path; defaults to the endpoint path (`{path}`).
    #[serde(default)]
    pub path: Option<String>,
    /// Query string, templated (`EIO={eio}&transport=polling&sid={sid}`).
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub headers: StrMap,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub body_hex: Option<String>,
    /// A message packet of exactly this many bytes (`4aaaa…`), for payload limits; framed as a
    /// one-packet payload of the case's revision (v3 prefixes `<length>:`). A number or a sum
    /// over variables (`"{maxPayload}+1"`: one byte over the advertised limit).
    #[serde(default)]
    pub body_fill: Option<Delay>,
    /// Name to `await` later; with `background = true` the step does not wait.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub background: bool,
    /// Cancel the request (drop the connection) after this many ms.
    #[serde(default)]
    pub abort_after_ms: Option<u64>,
    #[serde(default)]
    pub within_ms: Option<u64>,
    #[serde(default)]
    pub expect: Option<HttpExpect>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<String>,
    /// JSON pattern for the whole body.
    #[serde(default)]
    pub json: Option<Value>,
    /// The body decoded as a polling payload must be exactly these packets.
    #[serde(default)]
    pub packets: Option<Vec<PacketMatch>>,
    /// Headers that must be present; value `*` means any value.
    #[serde(default)]
    pub headers: StrMap,
    #[serde(default)]
    pub absent_headers: Vec<String>,
    /// The request must have been cancelled/failed without an HTTP response.
    #[serde(default)]
    pub no_response: bool,
    /// A connection cut without a response is accepted too (the other checks then do not apply).
    #[serde(default)]
    pub allow_no_response: bool,
    /// Checks of what the protocol text does not require but the reference server does (an
    /// error body's code and message, …): when one fails the case goes on and ends non-strict
    /// at worst, even in a MUST case (`expect = { status = 400, should = { json = … } }`).
    #[serde(default)]
    pub should: Option<Box<HttpExpect>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwaitStep {
    pub name: String,
    #[serde(default)]
    pub within_ms: Option<u64>,
    #[serde(default)]
    pub expect: Option<HttpExpect>,
}

/// A packet to send.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PacketSpec {
    /// Engine.IO text form: `4hello`, `2probe`, `1`.
    Text(String),
    Table(PacketTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketTable {
    /// A binary message, as hex.
    #[serde(default)]
    pub binary: Option<String>,
    /// A Socket.IO packet in wire form (without the Engine.IO `4`); sent as a message.
    #[serde(default)]
    pub sio: Option<String>,
    /// Binary attachments (hex) following a Socket.IO binary packet.
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Bytes sent as they are (polling body or websocket text frame), for malformed input.
    #[serde(default)]
    pub raw: Option<String>,
    /// A message of exactly this many bytes (`4aaaa…`): a number or a sum such as
    /// `"{maxPayload}+1"`.
    #[serde(default)]
    pub fill: Option<Delay>,
    /// Bytes (hex) sent as a websocket *text* frame even when they are not UTF-8 (over
    /// polling: as the POST body), for invalid input no string can hold.
    #[serde(default)]
    pub text_hex: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    #[serde(default)]
    pub session: Option<String>,
    pub packets: Vec<PacketSpec>,
    /// v3 polling: encode the payload with XHR2 binary framing.
    #[serde(default)]
    pub xhr2: bool,
    /// Expected HTTP status of the POST (polling only); default 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// JSON pattern of the POST response body (polling only).
    #[serde(default)]
    pub json: Option<Value>,
    /// Send the packets this many times (at most 100 000); `{i}` in them is the repetition's
    /// number. Over polling all go in one POST, unless `per_second` paces them one POST each.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Pace the repetitions: at most this many per second.
    #[serde(default)]
    pub per_second: Option<u32>,
    /// Over polling, a POST the server does not answer (or answers with an error) ends the
    /// step without failing it: for hostile input, what the server answers is not the point.
    #[serde(default)]
    pub any_answer: bool,
}

/// A packet to match.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PacketMatch {
    /// Exact Engine.IO text form (`4hello`, `3probe`, `6`).
    Text(String),
    Table(MatchTable),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchTable {
    /// Packet type by name (`open`, `message`, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Exact text data.
    #[serde(default)]
    pub text: Option<String>,
    /// JSON pattern for the text data.
    #[serde(default)]
    pub json: Option<Value>,
    /// Exact binary data, as hex.
    #[serde(default)]
    pub binary: Option<String>,
    /// Length of the data in bytes.
    #[serde(default)]
    pub length: Option<usize>,
    /// Socket.IO packet pattern in wire form; JSON strings like `$string` are matchers.
    #[serde(default)]
    pub sio: Option<String>,
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    #[serde(default)]
    pub session: Option<String>,
    pub packets: Vec<PacketMatch>,
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Socket.IO patterns only: the next `packets.len()` packets must match the patterns in
    /// any order (each pattern used once), for what a spec leaves unordered.
    #[serde(default)]
    pub unordered: bool,
    /// Stricter patterns for the same packets, one per entry of `packets` (Socket.IO patterns),
    /// for what only the reference server does (an error message's text): a mismatch makes the
    /// case non-strict at worst and the case goes on.
    #[serde(default)]
    pub should: Option<Vec<PacketMatch>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClosedStep {
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub within_ms: Option<Delay>,
    /// Websocket close code the server must send.
    #[serde(default)]
    pub code: Option<u16>,
    /// Send a follow-up on the session first (what `settle` sends): its answer shows the
    /// server processed what came before and kept the session, which ends the wait (the
    /// step fails) without waiting out `within_ms`.
    #[serde(default)]
    pub kept_if_answered: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceStep {
    #[serde(default)]
    pub session: Option<String>,
    pub ms: Delay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeStep {
    #[serde(default)]
    pub session: Option<String>,
    /// Leave a GET pending before probing; it must end with a noop.
    #[serde(default)]
    pub pending_poll: bool,
    /// Send the final `5` (default true).
    #[serde(default = "yes")]
    pub finish: bool,
    #[serde(default)]
    pub headers: StrMap,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConnectStep {
    /// Session name the websocket becomes.
    pub session: String,
    /// Query, templated; default `EIO={eio}&transport=websocket`.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub headers: StrMap,
    /// The websocket handshake must be refused with this HTTP status.
    #[serde(default)]
    pub refused_status: Option<u16>,
    /// An HTTP refusal (any 4xx) is accepted too: the session then counts as closed.
    #[serde(default)]
    pub may_refuse: bool,
    /// Headers the 101 (or refusal) must carry; `*` = any value.
    #[serde(default)]
    pub response_headers: StrMap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatStep {
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default = "three")]
    pub rounds: u32,
    /// v4: judge the interval between pings against the advertised pingInterval, within this tolerance.
    #[serde(default)]
    pub tolerance_ms: Option<u64>,
}

fn three() -> u32 {
    3
}

/// A duration: milliseconds, or a sum of terms like `"{pingInterval}+{pingTimeout}+100"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Delay {
    Ms(u64),
    Expr(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepStep {
    pub ms: Delay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEventStep {
    /// Event name reported by the driver (`connection_error`, `connection`, `close`, `disconnect`).
    pub event: String,
    /// JSON pattern on the listed fields only.
    #[serde(default)]
    pub fields: Option<Value>,
    #[serde(default)]
    pub within_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropStep {
    #[serde(default)]
    pub session: Option<String>,
}

/// `do = "alive"`: the session is alive right now, shown by a heartbeat exchange that also
/// restarts the server's heartbeat clock (v3: the harness pings, the server must answer the
/// pong; v4: the server's next ping, answered). Put right before what a case expects to be
/// refused or closed on a live session, so a session that had already timed out cannot make it
/// pass; a raw `http` request carrying that session's sid must afterwards be answered within
/// pingInterval + pingTimeout of the session's last heartbeat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliveStep {
    #[serde(default)]
    pub session: Option<String>,
}

/// `do = "tcp"`: raw bytes to the server on `connections` fresh TCP connections at once, for
/// what an HTTP client never sends (half-open requests, one byte a second, a `Content-Length`
/// that lies). Every connection is closed after `hold_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpStep {
    /// Bytes sent at once, templated (`{path}`, `{eio}`, `{sid}`, `{host}`); `\r\n` is CRLF.
    #[serde(default)]
    pub send: String,
    /// Bytes sent after `send`, one every `byte_interval_ms` (slowloris), until sent or
    /// `hold_ms` is over.
    #[serde(default)]
    pub trickle: Option<String>,
    /// Default 1000.
    #[serde(default)]
    pub byte_interval_ms: Option<u64>,
    /// Connections opened at once, each sending the same bytes (default 1, at most 500).
    #[serde(default)]
    pub connections: Option<u32>,
    /// How long the connections stay open (default 1000 ms, at most 10 000).
    #[serde(default)]
    pub hold_ms: Option<u64>,
    /// The HTTP status every connection must have been answered with before `hold_ms`.
    #[serde(default)]
    pub expect_status: Option<u16>,
}

/// `do = "settle"`: the hostile input sent before it has been processed by the time the case
/// ends (and the witness's last exchange says whether the server survived it). Packets of one
/// session are handled in order, so the answer to a follow-up sent after the input (the
/// standard fixture's echo, `message` → `message-back`, or the CONNECT answer of a session
/// that had not connected) is that sign; so is the server ending the session. Nothing is
/// judged: without either sign by `within_ms` (default 1000, scaled) the case goes on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleStep {
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `do = "sid_quality"`: `count` polling handshakes (default 200); their sids must not repeat,
/// follow each other or carry less than `min_bits` of estimated entropy (default 64).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidQualityStep {
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub min_bits: Option<u32>,
}
