//! The client side of one Engine.IO session: what the handshake told it (sid, timers,
//! upgrades), the heartbeat from the client's end, and the upgrade from polling.
use super::{Timer, TimerKind, Timers, Transport};
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A packet from the server on the transport carrying the session (the first one is the
    /// open packet).
    Packet(Packet),
    /// A packet from the server on the probe websocket.
    ProbePacket(Packet),
    Timer(Timer),
    /// The application wants to move the session to websocket.
    StartUpgrade,
    /// The probe websocket failed or closed before the upgrade completed.
    ProbeFailed,
    /// The transport ended from the server's side or the network.
    TransportClosed {
        reason: String,
    },
    /// The application closes the session.
    Close,
    /// A test driver sent this packet on the transport carrying the session. A driver sends
    /// wrong traffic on purpose, so this is a fact, not a request: it is recorded even when
    /// it breaks a rule, and the `Err` names the rule.
    Sent(Packet),
    /// A test driver opened a probe websocket and sent `2probe`, allowed or not (a second
    /// upgrade, an upgrade the server did not offer); an `Err` names the rule broken.
    ProbeOpened,
    /// A test driver carries the session `sid` on `transport` without a usable open packet:
    /// a websocket opened with a known sid, or a handshake whose open packet broke a rule.
    Adopt {
        sid: String,
        transport: Transport,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    Send(Packet),
    ProbeSend(Packet),
    Arm {
        timer: Timer,
        after_ms: u64,
    },
    Cancel(Timer),
    Message(Packet),
    /// The probe websocket carries the session from now on.
    Upgraded,
    Closed {
        reason: String,
    },
}

/// A server that breaks the protocol, or a request the session cannot do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    #[error("the first packet is {0} (rule: a server answers the handshake with an open packet)")]
    NotOpen(&'static str),
    #[error(
        "open packet data is not a JSON object: {0} (rule: the open packet carries JSON with sid, upgrades, pingInterval, pingTimeout)"
    )]
    OpenNotJson(String),
    #[error("open packet lacks {0} (rule: the open packet carries sid, upgrades, pingInterval and pingTimeout)")]
    OpenField(&'static str),
    #[error("a second open packet (rule: a session opens once)")]
    SecondOpen,
    #[error("cannot upgrade: {0} (rule: a client upgrades an open polling session to a transport the server listed in upgrades)")]
    NoUpgrade(&'static str),
    #[error("the session is closed (rule: a closed session sends nothing more)")]
    Closed,
    /// A packet the client sent where the protocol has no place for it; the text quotes the rule.
    #[error("{0}")]
    Misplaced(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    None,
    /// `2probe` sent, `3probe` awaited.
    Probing,
    Done,
}

#[derive(Debug, Clone)]
pub struct ClientSession {
    rev: EioRevision,
    transport: Transport,
    sid: Option<String>,
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    upgrades: Vec<String>,
    upgrade: Upgrade,
    closed: Option<String>,
    timers: Timers,
}

type Acts = Vec<ClientAction>;

impl ClientSession {
    /// A session whose handshake request is going out on `transport`.
    pub fn new(rev: EioRevision, transport: Transport) -> Self {
        ClientSession {
            rev,
            transport,
            sid: None,
            ping_interval_ms: 0,
            ping_timeout_ms: 0,
            upgrades: Vec::new(),
            upgrade: Upgrade::None,
            closed: None,
            timers: Timers::default(),
        }
    }

    pub fn rev(&self) -> EioRevision {
        self.rev
    }
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// The sid, once the handshake is answered.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn is_open(&self) -> bool {
        self.sid.is_some() && self.closed.is_none()
    }
    pub fn upgrading(&self) -> bool {
        self.upgrade == Upgrade::Probing
    }
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// Feeds one event. An `Err` from a server's packet closes the session (the actions are
    /// lost with it: nothing else is due); an `Err` for a request of the application changes
    /// nothing; an `Err` for a fact a driver reports (`Sent`, `ProbeOpened`) names the rule it
    /// broke, and the fact is recorded all the same.
    pub fn handle(&mut self, ev: ClientEvent) -> Result<Vec<ClientAction>, ClientError> {
        let mut acts = Vec::new();
        if let ClientEvent::Adopt { sid, transport } = ev {
            // Also after a close: the driver may go on talking to the server under that sid.
            self.sid = Some(sid);
            self.transport = transport;
            return Ok(acts);
        }
        if self.closed.is_some() {
            return match ev {
                ClientEvent::StartUpgrade | ClientEvent::Close | ClientEvent::Sent(_) | ClientEvent::ProbeOpened => {
                    Err(ClientError::Closed)
                }
                _ => Ok(acts),
            };
        }
        match ev {
            ClientEvent::Packet(p) if self.sid.is_none() => {
                if let Err(e) = self.on_open(&mut acts, p) {
                    self.close(&mut acts, e.to_string());
                    return Err(e);
                }
            }
            ClientEvent::Packet(p) => self.on_packet(&mut acts, p)?,
            ClientEvent::ProbePacket(p) => self.on_probe_packet(&mut acts, p),
            ClientEvent::Timer(t) => {
                if self.timers.fire(t) {
                    match t.kind {
                        TimerKind::Ping => {
                            acts.push(ClientAction::Send(Packet::new(PacketType::Ping, "")));
                            self.arm(&mut acts, TimerKind::PongTimeout);
                        }
                        TimerKind::PongTimeout => self.close(&mut acts, "ping timeout".into()),
                    }
                }
            }
            ClientEvent::StartUpgrade => {
                if let Some(why) = self.upgrade_refused() {
                    return Err(ClientError::NoUpgrade(why));
                }
                self.upgrade = Upgrade::Probing;
                acts.push(ClientAction::ProbeSend(Packet::new(PacketType::Ping, "probe")));
            }
            ClientEvent::ProbeOpened => {
                let refused = self.upgrade_refused();
                self.upgrade = Upgrade::Probing;
                if let Some(why) = refused {
                    return Err(ClientError::NoUpgrade(why));
                }
            }
            ClientEvent::Sent(p) => return self.on_sent(acts, p),
            ClientEvent::Adopt { .. } => {}
            ClientEvent::ProbeFailed => {
                if self.upgrade == Upgrade::Probing {
                    self.upgrade = Upgrade::None;
                }
            }
            ClientEvent::TransportClosed { reason } => self.close(&mut acts, reason),
            ClientEvent::Close => {
                if self.sid.is_some() {
                    acts.push(ClientAction::Send(Packet::new(PacketType::Close, "")));
                }
                self.close(&mut acts, "forced close".into());
            }
        }
        Ok(acts)
    }

    fn upgrade_refused(&self) -> Option<&'static str> {
        if self.sid.is_none() {
            Some("the handshake is not answered yet")
        } else if self.transport != Transport::Polling || self.upgrade != Upgrade::None {
            Some("the session is not on polling, or already upgrading")
        } else if !self.upgrades.iter().any(|u| u == "websocket") {
            Some("the server offers no websocket upgrade")
        } else {
            None
        }
    }

    fn on_sent(&mut self, mut acts: Acts, p: Packet) -> Result<Acts, ClientError> {
        let broken = match (p.kind, self.rev) {
            (PacketType::Open, _) => Some("client: open packet (rule: only the server opens a session)"),
            (PacketType::Ping, EioRevision::V4) => Some("client: ping in v4 (rule: in v4 only the server pings)"),
            (PacketType::Pong, EioRevision::V3) => Some("client: pong in v3 (rule: in v3 the client pings and the server answers)"),
            (PacketType::Upgrade, _) => Some("client: 5 on the session's transport (rule: 5 goes on the probe after 3probe)"),
            (PacketType::Ping, EioRevision::V3) => {
                // The driver's own heartbeat: the server's pong is due next.
                if let Some(t) = self.timers.take(TimerKind::Ping) {
                    acts.push(ClientAction::Cancel(t));
                }
                self.arm(&mut acts, TimerKind::PongTimeout);
                None
            }
            (PacketType::Close, _) => {
                self.close(&mut acts, "client close".into());
                None
            }
            _ => None,
        };
        match broken {
            Some(rule) => Err(ClientError::Misplaced(rule)),
            None => Ok(acts),
        }
    }

    fn arm(&mut self, acts: &mut Acts, kind: TimerKind) {
        let after_ms = match (self.rev, kind) {
            (EioRevision::V3, TimerKind::Ping) => self.ping_interval_ms,
            (EioRevision::V3, TimerKind::PongTimeout) => self.ping_timeout_ms,
            // v4: the server pings; its next ping is due within pingInterval + pingTimeout.
            (EioRevision::V4, _) => self.ping_interval_ms.saturating_add(self.ping_timeout_ms),
        };
        let (old, timer) = self.timers.arm(kind);
        acts.extend(old.map(ClientAction::Cancel));
        acts.push(ClientAction::Arm { timer, after_ms });
    }

    fn on_open(&mut self, acts: &mut Acts, p: Packet) -> Result<(), ClientError> {
        if p.kind != PacketType::Open {
            return Err(ClientError::NotOpen(p.kind.name()));
        }
        let Data::Text(t) = &p.data else { return Err(ClientError::OpenNotJson("binary data".into())) };
        let v: serde_json::Value = serde_json::from_str(t).map_err(|e| ClientError::OpenNotJson(e.to_string()))?;
        let sid = v.get("sid").and_then(|s| s.as_str()).ok_or(ClientError::OpenField("a string sid"))?;
        let ms = |k: &'static str| v.get(k).and_then(|n| n.as_u64()).ok_or(ClientError::OpenField(k));
        self.ping_interval_ms = ms("pingInterval")?;
        self.ping_timeout_ms = ms("pingTimeout")?;
        self.upgrades = v
            .get("upgrades")
            .and_then(|u| u.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        self.sid = Some(sid.to_string());
        match self.rev {
            EioRevision::V3 => self.arm(acts, TimerKind::Ping),
            EioRevision::V4 => self.arm(acts, TimerKind::PongTimeout),
        }
        Ok(())
    }

    fn on_packet(&mut self, acts: &mut Acts, p: Packet) -> Result<(), ClientError> {
        match (p.kind, self.rev) {
            (PacketType::Open, _) => {
                self.close(acts, ClientError::SecondOpen.to_string());
                return Err(ClientError::SecondOpen);
            }
            (PacketType::Ping, EioRevision::V4) => {
                acts.push(ClientAction::Send(Packet { kind: PacketType::Pong, data: p.data }));
                self.arm(acts, TimerKind::PongTimeout);
            }
            (PacketType::Pong, EioRevision::V3) => {
                if let Some(t) = self.timers.take(TimerKind::PongTimeout) {
                    acts.push(ClientAction::Cancel(t));
                    self.arm(acts, TimerKind::Ping);
                }
            }
            (PacketType::Message, _) => acts.push(ClientAction::Message(p)),
            (PacketType::Close, _) => self.close(acts, "transport close".into()),
            // A stray ping/pong of the other revision, a noop, an upgrade: nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn on_probe_packet(&mut self, acts: &mut Acts, p: Packet) {
        if self.upgrade != Upgrade::Probing || p.kind != PacketType::Pong || p.data != Data::Text("probe".into()) {
            return;
        }
        self.upgrade = Upgrade::Done;
        self.transport = Transport::Websocket;
        acts.push(ClientAction::ProbeSend(Packet::new(PacketType::Upgrade, "")));
        acts.push(ClientAction::Upgraded);
    }

    fn close(&mut self, acts: &mut Acts, reason: String) {
        self.closed = Some(reason.clone());
        self.upgrade = if self.upgrade == Upgrade::Done { Upgrade::Done } else { Upgrade::None };
        acts.extend(self.timers.drain().into_iter().map(ClientAction::Cancel));
        acts.push(ClientAction::Closed { reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open_packet(upgrades: &str) -> Packet {
        Packet::new(PacketType::Open, format!(r#"{{"sid":"abc","upgrades":[{upgrades}],"pingInterval":300,"pingTimeout":200}}"#))
    }

    #[test]
    fn v4_handshake_then_ping_is_answered_and_upgrade_completes() {
        let mut c = ClientSession::new(EioRevision::V4, Transport::Polling);
        c.handle(ClientEvent::Packet(open_packet(r#""websocket""#))).unwrap();
        assert_eq!(c.sid(), Some("abc"));
        let acts = c.handle(ClientEvent::Packet(Packet::new(PacketType::Ping, ""))).unwrap();
        assert_eq!(acts[0], ClientAction::Send(Packet::new(PacketType::Pong, "")));
        c.handle(ClientEvent::StartUpgrade).unwrap();
        let acts = c.handle(ClientEvent::ProbePacket(Packet::new(PacketType::Pong, "probe"))).unwrap();
        assert_eq!(acts, vec![ClientAction::ProbeSend(Packet::new(PacketType::Upgrade, "")), ClientAction::Upgraded]);
        assert_eq!(c.transport(), Transport::Websocket);
    }

    #[test]
    fn bad_open_packets_are_errors_that_quote_the_rule() {
        let mut c = ClientSession::new(EioRevision::V4, Transport::Polling);
        let e = c.handle(ClientEvent::Packet(Packet::new(PacketType::Open, "{}"))).unwrap_err();
        assert!(e.to_string().contains("rule:"), "{e}");
        assert!(c.closed().is_some());
        let mut c = ClientSession::new(EioRevision::V4, Transport::Polling);
        c.handle(ClientEvent::Packet(open_packet(""))).unwrap();
        assert!(matches!(c.handle(ClientEvent::StartUpgrade), Err(ClientError::NoUpgrade(_))));
    }

    #[test]
    fn a_driver_breaking_rules_is_told_the_rule_and_recorded_anyway() {
        let mut c = ClientSession::new(EioRevision::V4, Transport::Polling);
        c.handle(ClientEvent::Packet(open_packet(r#""websocket""#))).unwrap();
        let e = c.handle(ClientEvent::Sent(Packet::new(PacketType::Ping, ""))).unwrap_err();
        assert!(e.to_string().contains("rule:"), "{e}");
        assert!(c.is_open());
        c.handle(ClientEvent::ProbeOpened).unwrap();
        c.handle(ClientEvent::ProbePacket(Packet::new(PacketType::Pong, "probe"))).unwrap();
        assert_eq!(c.transport(), Transport::Websocket);
        // A second upgrade is refused by the rules but still happens on the wire.
        assert!(matches!(c.handle(ClientEvent::ProbeOpened), Err(ClientError::NoUpgrade(_))));
        assert!(c.upgrading());
        let acts = c.handle(ClientEvent::Sent(Packet::new(PacketType::Close, ""))).unwrap();
        assert!(matches!(acts.last(), Some(ClientAction::Closed { reason }) if reason == "client close"));
        assert_eq!(c.handle(ClientEvent::Sent(Packet::message("late"))), Err(ClientError::Closed));
    }

    #[test]
    fn a_driver_adopts_a_sid_the_open_packet_could_not_give() {
        let mut c = ClientSession::new(EioRevision::V3, Transport::Polling);
        assert!(c.handle(ClientEvent::Packet(Packet::new(PacketType::Open, r#"{"sid":"x"}"#))).is_err());
        assert_eq!(c.sid(), None);
        c.handle(ClientEvent::Adopt { sid: "x".into(), transport: Transport::Websocket }).unwrap();
        assert_eq!((c.sid(), c.transport()), (Some("x"), Transport::Websocket));
    }

    fn packet() -> impl Strategy<Value = Packet> {
        let kinds = prop::sample::select(PacketType::ALL.to_vec());
        let data = prop::sample::select(vec!["", "probe", "x", "{}", r#"{"sid":"s","pingInterval":1,"pingTimeout":1}"#]);
        (kinds, data).prop_map(|(k, d)| Packet::new(k, d))
    }

    fn event() -> impl Strategy<Value = ClientEvent> {
        prop_oneof![
            packet().prop_map(ClientEvent::Packet),
            Just(ClientEvent::Packet(open_packet(r#""websocket""#))),
            packet().prop_map(ClientEvent::ProbePacket),
            Just(ClientEvent::ProbePacket(Packet::new(PacketType::Pong, "probe"))),
            (prop::sample::select(vec![TimerKind::Ping, TimerKind::PongTimeout]), 0u64..6)
                .prop_map(|(kind, seq)| ClientEvent::Timer(Timer { kind, seq })),
            Just(ClientEvent::StartUpgrade),
            Just(ClientEvent::ProbeFailed),
            Just(ClientEvent::TransportClosed { reason: "transport close".into() }),
            Just(ClientEvent::Close),
            packet().prop_map(ClientEvent::Sent),
            Just(ClientEvent::ProbeOpened),
            prop::sample::select(vec![Transport::Polling, Transport::Websocket])
                .prop_map(|transport| ClientEvent::Adopt { sid: "s".into(), transport }),
        ]
    }

    proptest! {
        /// Any order of events: no panic, nothing after close, timers all cancelled by then.
        #[test]
        fn arbitrary_event_orders(rev in prop::sample::select(vec![EioRevision::V3, EioRevision::V4]), evs in prop::collection::vec(event(), 0..40)) {
            let mut c = ClientSession::new(rev, Transport::Polling);
            let mut armed: Vec<Timer> = Vec::new();
            let mut closed = false;
            for ev in evs {
                if let ClientEvent::Timer(t) = &ev {
                    armed.retain(|x| x != t);
                }
                let acts = c.handle(ev).unwrap_or_default();
                if closed {
                    prop_assert!(acts.is_empty(), "actions after close: {acts:?}");
                }
                for a in acts {
                    match a {
                        ClientAction::Arm { timer, .. } => { prop_assert!(!closed); armed.push(timer) }
                        ClientAction::Cancel(t) => armed.retain(|x| *x != t),
                        ClientAction::Closed { .. } => { prop_assert!(!closed); closed = true; prop_assert!(armed.is_empty(), "armed after close: {armed:?}") }
                        _ => prop_assert!(!closed),
                    }
                }
            }
        }
    }
}
