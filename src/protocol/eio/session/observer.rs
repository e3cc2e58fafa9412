//! One Engine.IO session watched from between its peers (a proxy). What the server sends
//! drives the client-side machine, which knows what the handshake promised; what the client
//! sends is checked against the same state. Timers the machine asks for are not kept: the
//! observer's clock is not the peers', so it judges order, never timing.
use super::client::{ClientAction, ClientEvent, ClientSession};
use super::Transport;
use crate::protocol::eio::{Data, EioRevision, Packet, PacketType};

/// Which connection of the session a packet crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// The transport carrying the session (polling, or the websocket of a websocket handshake).
    Main,
    /// The websocket probing an upgrade; after `5` it carries the session.
    Probe,
}

/// What the observer saw happen to the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Opened {
        sid: String,
    },
    Upgraded,
    Closed {
        reason: String,
    },
    /// A peer broke a rule; the text quotes it.
    Violation(String),
}

#[derive(Debug, Clone)]
pub struct Observer {
    client: ClientSession,
    /// The server answered `2probe` with `3probe`: the client's `5` is due.
    probe_answered: bool,
    upgraded: bool,
}

impl Observer {
    pub fn new(rev: EioRevision, transport: Transport) -> Self {
        Observer { client: ClientSession::new(rev, transport), probe_answered: false, upgraded: false }
    }

    pub fn sid(&self) -> Option<&str> {
        self.client.sid()
    }

    pub fn closed(&self) -> bool {
        self.client.closed().is_some()
    }

    fn leg(&self, leg: Leg) -> Leg {
        if self.upgraded {
            Leg::Main
        } else {
            leg
        }
    }

    fn feed(&mut self, ev: ClientEvent) -> Vec<Seen> {
        let had_sid = self.client.sid().is_some();
        let mut seen = Vec::new();
        match self.client.handle(ev) {
            Ok(acts) => {
                for a in acts {
                    if let ClientAction::Closed { reason } = a {
                        seen.push(Seen::Closed { reason });
                    }
                }
            }
            Err(e) => {
                seen.push(Seen::Violation(format!("server: {e}")));
                seen.push(Seen::Closed { reason: e.to_string() });
            }
        }
        if let (false, Some(sid)) = (had_sid, self.client.sid()) {
            seen.insert(0, Seen::Opened { sid: sid.to_string() });
        }
        seen
    }

    /// A packet from the server.
    pub fn from_server(&mut self, leg: Leg, p: Packet) -> Vec<Seen> {
        if self.closed() {
            return Vec::new();
        }
        match self.leg(leg) {
            Leg::Main => self.feed(ClientEvent::Packet(p)),
            Leg::Probe => {
                if p.kind == PacketType::Pong && p.data == Data::Text("probe".into()) {
                    if !self.client.upgrading() {
                        return vec![Seen::Violation("server: 3probe without 2probe (rule: the server answers the client's probe)".into())];
                    }
                    self.probe_answered = true;
                    return Vec::new();
                }
                // Anything else on a probe before `5` is the session's own traffic in the
                // wrong place.
                vec![Seen::Violation(format!(
                    "server: {} on the probe websocket before the upgrade (rule: only 3probe answers a probe)",
                    p.kind.name()
                ))]
            }
        }
    }

    /// A packet from the client.
    pub fn from_client(&mut self, leg: Leg, p: Packet) -> Vec<Seen> {
        if self.closed() {
            return Vec::new();
        }
        let rev = self.client.rev();
        match (self.leg(leg), p.kind) {
            (Leg::Probe, PacketType::Ping) if p.data == Data::Text("probe".into()) => match self.client.handle(ClientEvent::StartUpgrade) {
                Ok(_) => Vec::new(),
                Err(e) => vec![Seen::Violation(format!("client: {e}"))],
            },
            (Leg::Probe, PacketType::Upgrade) => {
                if !std::mem::take(&mut self.probe_answered) {
                    return vec![Seen::Violation(
                        "client: 5 before the server answered the probe (rule: the client upgrades after 3probe)".into(),
                    )];
                }
                let _ = self.client.handle(ClientEvent::ProbePacket(Packet::new(PacketType::Pong, "probe")));
                self.upgraded = true;
                vec![Seen::Upgraded]
            }
            (Leg::Probe, kind) => vec![Seen::Violation(format!(
                "client: {} on the probe websocket before the upgrade (rule: a probe carries 2probe and 5 only)",
                kind.name()
            ))],
            (Leg::Main, PacketType::Ping) if rev == EioRevision::V4 => {
                vec![Seen::Violation("client: ping in v4 (rule: in v4 only the server pings)".into())]
            }
            (Leg::Main, PacketType::Pong) if rev == EioRevision::V3 => {
                vec![Seen::Violation("client: pong in v3 (rule: in v3 the client pings and the server answers)".into())]
            }
            (Leg::Main, PacketType::Open) => vec![Seen::Violation("client: open packet (rule: only the server opens a session)".into())],
            (Leg::Main, PacketType::Close) => self.feed(ClientEvent::TransportClosed { reason: "client close".into() }),
            _ => Vec::new(),
        }
    }

    /// A websocket of the session ended.
    pub fn ended(&mut self, leg: Leg, reason: &str) -> Vec<Seen> {
        if self.closed() {
            return Vec::new();
        }
        match self.leg(leg) {
            Leg::Main => self.feed(ClientEvent::TransportClosed { reason: reason.to_string() }),
            Leg::Probe => {
                self.probe_answered = false;
                let _ = self.client.handle(ClientEvent::ProbeFailed);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open() -> Packet {
        Packet::new(PacketType::Open, r#"{"sid":"s1","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200}"#)
    }

    #[test]
    fn a_polling_session_upgrades_and_closes() {
        let mut o = Observer::new(EioRevision::V4, Transport::Polling);
        assert_eq!(o.from_server(Leg::Main, open()), vec![Seen::Opened { sid: "s1".into() }]);
        assert_eq!(o.from_client(Leg::Probe, Packet::new(PacketType::Ping, "probe")), vec![]);
        assert_eq!(o.from_server(Leg::Probe, Packet::new(PacketType::Pong, "probe")), vec![]);
        assert_eq!(o.from_client(Leg::Probe, Packet::new(PacketType::Upgrade, "")), vec![Seen::Upgraded]);
        assert_eq!(o.from_server(Leg::Probe, Packet::new(PacketType::Ping, "")), vec![], "the probe carries the session now");
        assert_eq!(o.from_server(Leg::Main, Packet::new(PacketType::Close, "")), vec![Seen::Closed { reason: "transport close".into() }]);
        assert_eq!(o.from_client(Leg::Main, Packet::message("late")), vec![]);
    }

    #[test]
    fn rule_breaks_are_reported_with_the_rule() {
        let mut o = Observer::new(EioRevision::V4, Transport::Websocket);
        let seen = o.from_server(Leg::Main, Packet::new(PacketType::Open, "{}"));
        assert!(matches!(&seen[0], Seen::Violation(v) if v.contains("rule:")), "{seen:?}");
        let mut o = Observer::new(EioRevision::V4, Transport::Polling);
        o.from_server(Leg::Main, open());
        let seen = o.from_client(Leg::Probe, Packet::new(PacketType::Upgrade, ""));
        assert!(matches!(&seen[0], Seen::Violation(v) if v.contains("before the server answered")), "{seen:?}");
    }

    fn packet() -> impl Strategy<Value = Packet> {
        let kinds = prop::sample::select(PacketType::ALL.to_vec());
        let data = prop::sample::select(vec!["", "probe", r#"{"sid":"s","upgrades":["websocket"],"pingInterval":1,"pingTimeout":1}"#]);
        (kinds, data).prop_map(|(k, d)| Packet::new(k, d))
    }

    proptest! {
        /// Any traffic: no panic, one open at most, nothing seen after the close.
        #[test]
        fn arbitrary_traffic(steps in prop::collection::vec((0u8..3, any::<bool>(), packet()), 0..40)) {
            let mut o = Observer::new(EioRevision::V4, Transport::Polling);
            let (mut opened, mut closed) = (0, false);
            for (what, probe, p) in steps {
                let leg = if probe { Leg::Probe } else { Leg::Main };
                let seen = match what {
                    0 => o.from_server(leg, p),
                    1 => o.from_client(leg, p),
                    _ => o.ended(leg, "transport close"),
                };
                if closed {
                    prop_assert!(seen.is_empty(), "{seen:?} after close");
                }
                for s in seen {
                    match s {
                        Seen::Opened { .. } => opened += 1,
                        Seen::Closed { .. } => closed = true,
                        _ => {}
                    }
                }
                prop_assert!(opened <= 1);
            }
        }
    }
}
