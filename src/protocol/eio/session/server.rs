//! The server side of one Engine.IO session: heartbeat, polling outbox and the pending GET,
//! the upgrade probe, and the ways a session ends.
//!
//! A GET that finds nothing to deliver waits; the machine answers it only when its holder
//! asks again ([`Event::GetWoken`] after [`Action::WakePoll`]), not at every queued packet,
//! so packets queued in one go (a Socket.IO packet and its attachments) leave in one body.
use super::{Timer, TimerKind, Timers, Transport};
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};
use crate::protocol::ProtocolError;
use std::collections::VecDeque;
use thiserror::Error;

/// Settings a server applies to the session; the shell may change them at any time
/// ([`ServerSession::set_config`]) and the next decision uses the new ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// Ping at this period instead of pingInterval (a server breaking its own promise).
    pub ping_every_ms: Option<u64>,
    /// v4: send heartbeat pings at all.
    pub ping: bool,
    /// v3: answer the client's pings.
    pub answer_pings: bool,
    /// Answer `2probe` with `3probe`.
    pub answer_probe: bool,
    pub accept_upgrades: bool,
    /// POST bodies over this many bytes are refused; `None` accepts any size.
    pub max_payload: Option<u64>,
}

/// Something the server sends: a packet, or raw text exactly as given (for garbage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Packet(Packet),
    Raw(String),
}

/// Which websocket an action is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// The websocket carrying the session (a websocket handshake, or after the upgrade).
    Session,
    /// The websocket being probed during an upgrade.
    Probe,
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// As a server does on a ping timeout: close packet to a pending poll, close frame on websocket.
    Graceful,
    /// Close packet `1` on any transport, then the transport closes.
    ClosePacket,
    /// The connection ends without a word (the next poll is dropped unanswered).
    Cut,
    /// A transport error (an invalid websocket frame).
    Error,
    /// The client closed it: nothing to send.
    Quiet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A packet from the client on the transport carrying the session.
    Packet(Packet),
    /// A packet from the client on the probe websocket.
    ProbePacket(Packet),
    Timer(Timer),
    /// The application sends something.
    Send(Outgoing),
    Close {
        reason: String,
        how: Closing,
    },
    /// A polling GET arrived.
    GetRequest,
    /// The holder of the waiting GET looks again (after [`Action::WakePoll`]).
    GetWoken,
    /// The waiting GET went away unanswered (the client dropped it).
    GetGone,
    /// A polling POST of this many bytes arrived; its packets follow as [`Event::Packet`].
    PostRequest {
        len: u64,
    },
    /// A POST body that does not decode.
    BadPayload(ProtocolError),
    /// A websocket request for this session (an upgrade).
    UpgradeRequest,
    /// A websocket ended from the client's side.
    WsEnded {
        conn: Conn,
        reason: String,
    },
}

/// The answer to a polling GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    Packets(Vec<Packet>),
    Raw(String),
    Refused(SessionError),
    /// Drop the request without a response.
    Cut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    WsSend(Conn, Outgoing),
    /// A close frame with this code, then the end of the connection.
    WsClose(Conn, u16),
    /// The connection ends without a close frame.
    WsCut(Conn),
    /// An invalid frame, then the end of the connection.
    WsGarbage(Conn),
    /// The probe websocket carries the session from now on.
    ProbePromoted,
    /// The waiting GET may have an answer now: its holder sends [`Event::GetWoken`].
    WakePoll,
    AnswerGet(PollAnswer),
    Arm {
        timer: Timer,
        after_ms: u64,
    },
    Cancel(Timer),
    /// A message for the application above Engine.IO.
    Message(Packet),
    PingSent,
    PongReceived {
        after_ms: u64,
    },
    /// `2probe` arrived and is left unanswered, as configured.
    ProbeWithheld,
    Upgraded,
    Closed {
        reason: String,
    },
    Violation(Violation),
}

/// Requests the session refuses; each maps to the Engine.IO error code a server answers with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    #[error("the session is closed (rule: requests on a closed session are refused with error 1, Session ID unknown)")]
    Closed,
    #[error("the session was upgraded to websocket (rule: once upgraded, polling requests are refused with error 3, Bad request)")]
    Upgraded,
    #[error("a second GET while one is pending (rule: at most one polling GET per session at a time, error 3, Bad request)")]
    OverlappingGet,
    #[error("POST body of {len} bytes is over maxPayload {max} (rule: a server refuses payloads over maxPayload with 413)")]
    PayloadTooLarge { len: u64, max: u64 },
    #[error("upgrade refused: {0} (rule: a session upgrades once, from polling, while open)")]
    UpgradeRefused(&'static str),
}

impl SessionError {
    /// The Engine.IO error code, or `None` where the answer is an HTTP status alone.
    pub fn eio_code(&self) -> Option<u8> {
        match self {
            SessionError::Closed => Some(1),
            SessionError::Upgraded | SessionError::OverlappingGet => Some(3),
            SessionError::PayloadTooLarge { .. } | SessionError::UpgradeRefused(_) => None,
        }
    }
}

/// Something the client did that breaks the protocol; the session goes on (or closes) as a
/// lenient server would, and the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    #[error("a v4 client sent a ping (in v4 only the server pings)")]
    V4ClientPing,
    #[error("a v3 client sent a pong (in v3 the client pings)")]
    V3ClientPong,
    #[error("pong without a ping")]
    PongWithoutPing,
    #[error("upgrade packet outside an upgrade")]
    StrayUpgrade,
    #[error("the client sent an open packet")]
    ClientOpen,
    #[error("two GET requests at once on one session")]
    OverlappingGet,
    #[error("invalid polling payload from the client: {0}")]
    BadPayload(ProtocolError),
    #[error("the upgrade websocket closed before the upgrade completed")]
    ProbeClosedEarly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    None,
    /// `3probe` sent: polling requests are answered with a noop at once.
    Probing,
    Done,
}

#[derive(Debug, Clone)]
pub struct ServerSession {
    rev: EioRevision,
    cfg: ServerConfig,
    transport: Transport,
    /// The session's websocket is attached (shell side: a sender exists).
    ws: bool,
    probe: bool,
    outbox: VecDeque<Outgoing>,
    get_waiting: bool,
    /// The next poll is dropped without a response.
    cut_next_get: bool,
    upgrade: Upgrade,
    closed: Option<String>,
    /// When the unanswered ping went out.
    ping_sent_at: Option<u64>,
    timers: Timers,
}

type Acts = Vec<Action>;

impl ServerSession {
    /// A session whose open packet the shell is sending on `transport`.
    pub fn open(rev: EioRevision, transport: Transport, cfg: ServerConfig) -> (Self, Vec<Action>) {
        let mut s = ServerSession {
            rev,
            cfg,
            transport,
            ws: transport == Transport::Websocket,
            probe: false,
            outbox: VecDeque::new(),
            get_waiting: false,
            cut_next_get: false,
            upgrade: Upgrade::None,
            closed: None,
            ping_sent_at: None,
            timers: Timers::default(),
        };
        let mut acts = Vec::new();
        if rev == EioRevision::V4 {
            s.arm(&mut acts, TimerKind::Ping);
        }
        (s, acts)
    }

    pub fn set_config(&mut self, cfg: ServerConfig) {
        self.cfg = cfg;
    }

    pub fn rev(&self) -> EioRevision {
        self.rev
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Why the session closed, once it has.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    pub fn upgraded(&self) -> bool {
        self.upgrade == Upgrade::Done
    }

    /// Feeds one event at `now_ms`. An `Err` is a refused request and changes nothing.
    pub fn handle(&mut self, now_ms: u64, ev: Event) -> Result<Vec<Action>, SessionError> {
        let mut acts = Vec::new();
        match ev {
            Event::Packet(p) => self.on_packet(&mut acts, now_ms, p),
            Event::ProbePacket(p) => self.on_probe_packet(&mut acts, now_ms, p),
            Event::Timer(t) => self.on_timer(&mut acts, now_ms, t),
            Event::Send(o) => {
                if self.closed.is_some() {
                    return Err(SessionError::Closed);
                }
                self.deliver(&mut acts, o);
            }
            Event::Close { reason, how } => self.close(&mut acts, reason, how),
            Event::GetRequest => self.on_get(&mut acts),
            Event::GetWoken => {
                if self.get_waiting {
                    if let Some(a) = self.poll_answer() {
                        self.get_waiting = false;
                        acts.push(Action::AnswerGet(a));
                    }
                }
            }
            Event::GetGone => self.get_waiting = false,
            Event::PostRequest { len } => self.check_post(len)?,
            Event::BadPayload(e) => {
                if self.closed.is_none() {
                    acts.push(Action::Violation(Violation::BadPayload(e)));
                    self.close(&mut acts, "parse error".into(), Closing::Quiet);
                }
            }
            Event::UpgradeRequest => self.check_upgrade()?,
            Event::WsEnded { conn: Conn::Session, reason } => {
                self.ws = false;
                self.close(&mut acts, reason, Closing::Quiet);
            }
            Event::WsEnded { conn: Conn::Probe, .. } => {
                if std::mem::take(&mut self.probe) {
                    if self.upgrade == Upgrade::Probing {
                        self.upgrade = Upgrade::None;
                    }
                    acts.push(Action::Violation(Violation::ProbeClosedEarly));
                }
            }
        }
        Ok(acts)
    }

    fn every_ms(&self) -> u64 {
        self.cfg.ping_every_ms.unwrap_or(self.cfg.ping_interval_ms)
    }

    fn arm(&mut self, acts: &mut Acts, kind: TimerKind) {
        let after_ms = match kind {
            TimerKind::Ping => self.every_ms(),
            TimerKind::PongTimeout => self.cfg.ping_timeout_ms,
        };
        let (old, timer) = self.timers.arm(kind);
        acts.extend(old.map(Action::Cancel));
        acts.push(Action::Arm { timer, after_ms });
    }

    /// Queues or sends on the transport carrying the session.
    fn deliver(&mut self, acts: &mut Acts, o: Outgoing) {
        if self.ws {
            acts.push(Action::WsSend(Conn::Session, o));
        } else {
            self.outbox.push_back(o);
            acts.push(Action::WakePoll);
        }
    }

    fn on_packet(&mut self, acts: &mut Acts, now_ms: u64, p: Packet) {
        if self.closed.is_some() {
            return;
        }
        match p.kind {
            PacketType::Ping => match self.rev {
                EioRevision::V3 => {
                    if self.cfg.answer_pings {
                        self.deliver(acts, Outgoing::Packet(Packet { kind: PacketType::Pong, data: p.data }));
                    }
                }
                EioRevision::V4 => acts.push(Action::Violation(Violation::V4ClientPing)),
            },
            PacketType::Pong => match (self.rev, self.ping_sent_at.take()) {
                (EioRevision::V3, _) => acts.push(Action::Violation(Violation::V3ClientPong)),
                (EioRevision::V4, Some(at)) => {
                    acts.push(Action::PongReceived { after_ms: now_ms.saturating_sub(at) });
                    acts.extend(self.timers.take(TimerKind::PongTimeout).map(Action::Cancel));
                    self.arm(acts, TimerKind::Ping);
                }
                (EioRevision::V4, None) => acts.push(Action::Violation(Violation::PongWithoutPing)),
            },
            PacketType::Message => acts.push(Action::Message(p)),
            PacketType::Close => self.close(acts, "client close".into(), Closing::Quiet),
            PacketType::Upgrade => acts.push(Action::Violation(Violation::StrayUpgrade)),
            PacketType::Noop => {}
            PacketType::Open => acts.push(Action::Violation(Violation::ClientOpen)),
        }
    }

    fn on_probe_packet(&mut self, acts: &mut Acts, now_ms: u64, p: Packet) {
        let is_probe = p.kind == PacketType::Ping && p.data == Data::Text("probe".into());
        if !is_probe && p.kind != PacketType::Upgrade {
            return self.on_packet(acts, now_ms, p);
        }
        if self.closed.is_some() || !self.probe {
            return;
        }
        if is_probe {
            if !self.cfg.answer_probe {
                acts.push(Action::ProbeWithheld);
                return;
            }
            acts.push(Action::WsSend(Conn::Probe, Outgoing::Packet(Packet::new(PacketType::Pong, "probe"))));
            // As the reference server does: release a pending poll so the client can pause polling.
            self.upgrade = Upgrade::Probing;
            if self.get_waiting {
                self.outbox.push_back(Outgoing::Packet(Packet::new(PacketType::Noop, "")));
                acts.push(Action::WakePoll);
            }
            return;
        }
        self.probe = false;
        self.ws = true;
        self.upgrade = Upgrade::Done;
        self.transport = Transport::Websocket;
        let pending: Vec<Outgoing> =
            self.outbox.drain(..).filter(|o| !matches!(o, Outgoing::Packet(p) if p.kind == PacketType::Noop)).collect();
        acts.extend(pending.into_iter().map(|o| Action::WsSend(Conn::Probe, o)));
        acts.push(Action::ProbePromoted);
        if self.get_waiting {
            self.outbox.push_back(Outgoing::Packet(Packet::new(PacketType::Noop, "")));
            acts.push(Action::WakePoll);
        }
        acts.push(Action::Upgraded);
    }

    fn on_timer(&mut self, acts: &mut Acts, now_ms: u64, t: Timer) {
        if !self.timers.fire(t) || self.closed.is_some() {
            return;
        }
        match t.kind {
            TimerKind::Ping if !self.cfg.ping => self.arm(acts, TimerKind::Ping),
            TimerKind::Ping => {
                self.ping_sent_at = Some(now_ms);
                self.deliver(acts, Outgoing::Packet(Packet::new(PacketType::Ping, "")));
                acts.push(Action::PingSent);
                self.arm(acts, TimerKind::PongTimeout);
            }
            TimerKind::PongTimeout => {
                if self.ping_sent_at.is_some() {
                    self.close(acts, "ping timeout".into(), Closing::Graceful);
                }
            }
        }
    }

    fn close(&mut self, acts: &mut Acts, reason: String, how: Closing) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        if self.upgrade == Upgrade::Probing {
            self.upgrade = Upgrade::None;
        }
        acts.push(Action::Closed { reason });
        if std::mem::take(&mut self.probe) {
            acts.push(Action::WsCut(Conn::Probe));
        }
        let close = || Outgoing::Packet(Packet::new(PacketType::Close, ""));
        match (self.ws, how) {
            (true, Closing::Graceful) => acts.push(Action::WsClose(Conn::Session, 1000)),
            (true, Closing::ClosePacket) => {
                acts.push(Action::WsSend(Conn::Session, close()));
                acts.push(Action::WsClose(Conn::Session, 1000));
            }
            (true, Closing::Cut) => acts.push(Action::WsCut(Conn::Session)),
            (true, Closing::Error) => acts.push(Action::WsGarbage(Conn::Session)),
            (true, Closing::Quiet) => {}
            (false, Closing::Graceful | Closing::ClosePacket) => {
                self.outbox.push_back(close());
                acts.push(Action::WakePoll);
            }
            (false, Closing::Cut) => {
                self.cut_next_get = true;
                acts.push(Action::WakePoll);
            }
            (false, Closing::Error | Closing::Quiet) => acts.push(Action::WakePoll),
        }
        acts.extend(self.timers.drain().into_iter().map(Action::Cancel));
    }

    fn on_get(&mut self, acts: &mut Acts) {
        if let Some(a) = self.poll_answer() {
            acts.push(Action::AnswerGet(a));
        } else if self.get_waiting {
            acts.push(Action::Violation(Violation::OverlappingGet));
            self.close(acts, "overlapping GET requests".into(), Closing::Quiet);
            acts.push(Action::AnswerGet(PollAnswer::Refused(SessionError::OverlappingGet)));
        } else {
            self.get_waiting = true;
        }
    }

    /// What a GET gets now, if anything: queued packets (a raw body alone), else a refusal of
    /// a closed or upgraded session, else a noop while probing.
    fn poll_answer(&mut self) -> Option<PollAnswer> {
        if std::mem::take(&mut self.cut_next_get) {
            return Some(PollAnswer::Cut);
        }
        match self.outbox.pop_front() {
            Some(Outgoing::Raw(r)) => return Some(PollAnswer::Raw(r)),
            Some(Outgoing::Packet(p)) => {
                let mut packets = vec![p];
                while let Some(Outgoing::Packet(_)) = self.outbox.front() {
                    if let Some(Outgoing::Packet(p)) = self.outbox.pop_front() {
                        packets.push(p);
                    }
                }
                return Some(PollAnswer::Packets(packets));
            }
            None => {}
        }
        if self.closed.is_some() {
            return Some(PollAnswer::Refused(SessionError::Closed));
        }
        match self.upgrade {
            Upgrade::Done => Some(PollAnswer::Refused(SessionError::Upgraded)),
            Upgrade::Probing => Some(PollAnswer::Packets(vec![Packet::new(PacketType::Noop, "")])),
            Upgrade::None => None,
        }
    }

    fn check_post(&self, len: u64) -> Result<(), SessionError> {
        if self.closed.is_some() {
            return Err(SessionError::Closed);
        }
        if self.upgrade == Upgrade::Done {
            return Err(SessionError::Upgraded);
        }
        match self.cfg.max_payload {
            Some(max) if len > max => Err(SessionError::PayloadTooLarge { len, max }),
            _ => Ok(()),
        }
    }

    fn check_upgrade(&mut self) -> Result<(), SessionError> {
        let refused = if !self.cfg.accept_upgrades {
            Some("this server accepts no websockets")
        } else if self.closed.is_some() {
            Some("the session is closed")
        } else if self.upgrade == Upgrade::Done || self.ws {
            Some("the session already runs on a websocket")
        } else if self.probe {
            Some("an upgrade is already being probed")
        } else {
            None
        };
        if let Some(why) = refused {
            return Err(SessionError::UpgradeRefused(why));
        }
        self.probe = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
