use super::*;
use proptest::prelude::*;

fn cfg() -> ServerConfig {
    ServerConfig {
        ping_interval_ms: 300,
        ping_timeout_ms: 200,
        ping_every_ms: None,
        ping: true,
        answer_pings: true,
        answer_probe: true,
        accept_upgrades: true,
        max_payload: Some(1000),
    }
}

fn armed(acts: &[Action], kind: TimerKind) -> Timer {
    acts.iter()
        .find_map(|a| match a {
            Action::Arm { timer, .. } if timer.kind == kind => Some(*timer),
            _ => None,
        })
        .expect("a timer armed")
}

fn ping() -> Packet {
    Packet::new(PacketType::Ping, "")
}

#[test]
fn v4_heartbeat_pong_then_timeout_closes_gracefully() {
    let (mut s, acts) = ServerSession::open(EioRevision::V4, Transport::Polling, cfg());
    let t = armed(&acts, TimerKind::Ping);
    let acts = s.handle(300, Event::Timer(t)).unwrap();
    assert!(acts.contains(&Action::PingSent));
    let pong_wait = armed(&acts, TimerKind::PongTimeout);
    let acts = s.handle(350, Event::Packet(Packet::new(PacketType::Pong, ""))).unwrap();
    assert_eq!(acts[0], Action::PongReceived { after_ms: 50 });
    assert!(acts.contains(&Action::Cancel(pong_wait)));
    // The cancelled timer firing late changes nothing.
    assert_eq!(s.handle(500, Event::Timer(pong_wait)).unwrap(), vec![]);
    let t = armed(&acts, TimerKind::Ping);
    let acts = s.handle(650, Event::Timer(t)).unwrap();
    let acts = s.handle(850, Event::Timer(armed(&acts, TimerKind::PongTimeout))).unwrap();
    assert_eq!(acts[0], Action::Closed { reason: "ping timeout".into() });
    assert_eq!(s.closed(), Some("ping timeout"));
    // The ping and then the close packet wait in the outbox for the next GET.
    let acts = s.handle(900, Event::GetRequest).unwrap();
    assert_eq!(acts, vec![Action::AnswerGet(PollAnswer::Packets(vec![ping(), ping(), Packet::new(PacketType::Close, "")]))]);
    let acts = s.handle(900, Event::GetRequest).unwrap();
    assert_eq!(acts, vec![Action::AnswerGet(PollAnswer::Refused(SessionError::Closed))]);
}

#[test]
fn v3_pings_are_answered_unless_configured_not_to() {
    let (mut s, acts) = ServerSession::open(EioRevision::V3, Transport::Websocket, cfg());
    assert!(acts.is_empty(), "a v3 server does not ping");
    let acts = s.handle(0, Event::Packet(Packet::new(PacketType::Ping, "x"))).unwrap();
    assert_eq!(acts, vec![Action::WsSend(Conn::Session, Outgoing::Packet(Packet::new(PacketType::Pong, "x")))]);
    s.set_config(ServerConfig { answer_pings: false, ..cfg() });
    assert_eq!(s.handle(0, Event::Packet(ping())).unwrap(), vec![]);
}

#[test]
fn waiting_get_is_answered_when_woken_with_everything_queued() {
    let (mut s, _) = ServerSession::open(EioRevision::V3, Transport::Polling, cfg());
    assert_eq!(s.handle(0, Event::GetRequest).unwrap(), vec![]);
    let a = s.handle(0, Event::Send(Outgoing::Packet(Packet::message("a")))).unwrap();
    assert_eq!(a, vec![Action::WakePoll]);
    s.handle(0, Event::Send(Outgoing::Packet(Packet::message("b")))).unwrap();
    let acts = s.handle(0, Event::GetWoken).unwrap();
    assert_eq!(acts, vec![Action::AnswerGet(PollAnswer::Packets(vec![Packet::message("a"), Packet::message("b")]))]);
    assert_eq!(s.handle(0, Event::GetWoken).unwrap(), vec![], "the GET was answered already");
}

#[test]
fn a_second_get_closes_the_session_with_error_3() {
    let (mut s, _) = ServerSession::open(EioRevision::V3, Transport::Polling, cfg());
    s.handle(0, Event::GetRequest).unwrap();
    let acts = s.handle(0, Event::GetRequest).unwrap();
    assert_eq!(acts[0], Action::Violation(Violation::OverlappingGet));
    assert_eq!(acts.last(), Some(&Action::AnswerGet(PollAnswer::Refused(SessionError::OverlappingGet))));
    assert_eq!(SessionError::OverlappingGet.eio_code(), Some(3));
    let acts = s.handle(0, Event::GetWoken).unwrap();
    assert_eq!(acts, vec![Action::AnswerGet(PollAnswer::Refused(SessionError::Closed))]);
}

#[test]
fn upgrade_releases_the_poll_and_moves_the_outbox_to_the_websocket() {
    let (mut s, _) = ServerSession::open(EioRevision::V4, Transport::Polling, cfg());
    s.handle(0, Event::GetRequest).unwrap();
    s.handle(0, Event::UpgradeRequest).unwrap();
    assert!(matches!(s.handle(0, Event::UpgradeRequest), Err(SessionError::UpgradeRefused(_))));
    let acts = s.handle(0, Event::ProbePacket(Packet::new(PacketType::Ping, "probe"))).unwrap();
    assert_eq!(acts[0], Action::WsSend(Conn::Probe, Outgoing::Packet(Packet::new(PacketType::Pong, "probe"))));
    let noop = Packet::new(PacketType::Noop, "");
    // The waiting GET has not looked yet when `5` arrives: its noop is replaced by a fresh one.
    s.handle(0, Event::Send(Outgoing::Packet(Packet::message("m")))).unwrap();
    let acts = s.handle(0, Event::ProbePacket(Packet::new(PacketType::Upgrade, ""))).unwrap();
    assert_eq!(
        acts,
        vec![
            Action::WsSend(Conn::Probe, Outgoing::Packet(Packet::message("m"))),
            Action::ProbePromoted,
            Action::WakePoll,
            Action::Upgraded
        ]
    );
    assert_eq!(s.handle(0, Event::GetWoken).unwrap(), vec![Action::AnswerGet(PollAnswer::Packets(vec![noop]))]);
    assert_eq!(s.handle(0, Event::GetRequest).unwrap(), vec![Action::AnswerGet(PollAnswer::Refused(SessionError::Upgraded))]);
    assert_eq!(s.handle(0, Event::PostRequest { len: 1 }), Err(SessionError::Upgraded));
    assert_eq!(s.transport(), Transport::Websocket);
}

#[test]
fn withheld_probe_and_refusals() {
    let (mut s, _) = ServerSession::open(EioRevision::V4, Transport::Polling, ServerConfig { answer_probe: false, ..cfg() });
    s.handle(0, Event::UpgradeRequest).unwrap();
    assert_eq!(s.handle(0, Event::ProbePacket(Packet::new(PacketType::Ping, "probe"))).unwrap(), vec![Action::ProbeWithheld]);
    assert_eq!(s.handle(0, Event::PostRequest { len: 1001 }), Err(SessionError::PayloadTooLarge { len: 1001, max: 1000 }));
    let e = s.handle(0, Event::PostRequest { len: 1001 }).unwrap_err();
    assert!(e.to_string().contains("rule:"), "{e}");
    let acts = s.handle(0, Event::BadPayload(ProtocolError::EmptyPayload)).unwrap();
    assert_eq!(acts[1], Action::Closed { reason: "parse error".into() });
    assert!(acts.contains(&Action::WsCut(Conn::Probe)), "the probe goes with the session");
    assert!(matches!(s.handle(0, Event::Send(Outgoing::Raw("x".into()))), Err(SessionError::Closed)));
}

// ---- property tests ---------------------------------------------------------------------------

/// Events as the test generates them; `Fire` picks one of the armed timers (or a stale one).
#[derive(Debug, Clone)]
enum TEv {
    E(Event),
    Fire(usize),
    Config(ServerConfig),
}

fn packet() -> impl Strategy<Value = Packet> {
    let kinds = prop::sample::select(PacketType::ALL.to_vec());
    (kinds, prop::sample::select(vec!["", "probe", "x"])).prop_map(|(k, d)| Packet::new(k, d))
}

fn closing() -> impl Strategy<Value = Closing> {
    prop::sample::select(vec![Closing::Graceful, Closing::ClosePacket, Closing::Cut, Closing::Error, Closing::Quiet])
}

fn event() -> impl Strategy<Value = TEv> {
    prop_oneof![
        3 => packet().prop_map(|p| TEv::E(Event::Packet(p))),
        2 => packet().prop_map(|p| TEv::E(Event::ProbePacket(p))),
        1 => Just(TEv::E(Event::ProbePacket(Packet::new(PacketType::Ping, "probe")))),
        4 => (0usize..4).prop_map(TEv::Fire),
        2 => prop::sample::select(vec!["a", "b"]).prop_map(|m| TEv::E(Event::Send(Outgoing::Packet(Packet::message(m))))),
        1 => Just(TEv::E(Event::Send(Outgoing::Raw("raw".into())))),
        1 => closing().prop_map(|how| TEv::E(Event::Close { reason: "by test".into(), how })),
        3 => Just(TEv::E(Event::GetRequest)),
        3 => Just(TEv::E(Event::GetWoken)),
        1 => Just(TEv::E(Event::GetGone)),
        1 => (0u64..2000).prop_map(|len| TEv::E(Event::PostRequest { len })),
        1 => Just(TEv::E(Event::BadPayload(ProtocolError::EmptyPayload))),
        2 => Just(TEv::E(Event::UpgradeRequest)),
        1 => prop::sample::select(vec![Conn::Session, Conn::Probe])
            .prop_map(|conn| TEv::E(Event::WsEnded { conn, reason: "transport close".into() })),
        1 => (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(ping, answer_pings, answer_probe, accept_upgrades)| TEv::Config(ServerConfig { ping, answer_pings, answer_probe, accept_upgrades, ..cfg() })),
    ]
}

/// What the test knows from the outside, to check the machine's promises.
#[derive(Default)]
struct Watch {
    armed: Vec<Timer>,
    closed: bool,
    /// A GET the machine left waiting (the shell would hold it).
    get_waiting: bool,
    upgraded: bool,
    ping_outstanding: bool,
    close_packets_polled: usize,
}

fn is_closing_packet(p: &Packet) -> bool {
    matches!(p.kind, PacketType::Noop | PacketType::Close)
}

fn check(w: &mut Watch, ev: &Event, acts: &[Action]) -> Result<(), TestCaseError> {
    let was_closed = w.closed;
    let mut answered = 0;
    for a in acts {
        match a {
            Action::Arm { timer, .. } => {
                prop_assert!(!w.closed, "armed a timer after close");
                prop_assert!(!w.armed.iter().any(|t| t.kind == timer.kind), "two timers of one kind: {timer:?} with {:?}", w.armed);
                w.armed.push(*timer);
            }
            Action::Cancel(t) => {
                prop_assert!(w.armed.contains(t), "cancelled an unarmed timer {t:?}");
                w.armed.retain(|x| x != t);
            }
            Action::Closed { reason } => {
                prop_assert!(!w.closed, "closed twice");
                w.closed = true;
                if reason == "ping timeout" {
                    prop_assert!(w.ping_outstanding, "ping timeout without a ping");
                }
                w.ping_outstanding = false;
            }
            Action::PingSent => {
                prop_assert!(!w.ping_outstanding, "a second ping before the first was answered or timed out");
                w.ping_outstanding = true;
            }
            Action::PongReceived { .. } => {
                prop_assert!(w.ping_outstanding, "pong received for no ping");
                w.ping_outstanding = false;
            }
            Action::AnswerGet(answer) => {
                answered += 1;
                if let PollAnswer::Packets(ps) = answer {
                    prop_assert!(!ps.is_empty());
                    if w.upgraded {
                        prop_assert!(ps.iter().all(is_closing_packet), "polling got {ps:?} after the upgrade");
                    }
                    w.close_packets_polled += ps.iter().filter(|p| p.kind == PacketType::Close).count();
                }
            }
            Action::Upgraded => {
                prop_assert!(!w.closed && !w.upgraded);
                w.upgraded = true;
            }
            // Only a close in progress (this very event) may still send.
            Action::WsSend(..) | Action::WsClose(..) | Action::WsCut(..) | Action::WsGarbage(..) | Action::WakePoll => {
                prop_assert!(!was_closed, "{a:?} after close")
            }
            Action::Message(_) | Action::ProbePromoted | Action::ProbeWithheld => {
                prop_assert!(!w.closed, "{a:?} after close")
            }
            Action::Violation(_) => {}
        }
    }
    prop_assert!(answered <= 1, "one event answered {answered} GETs");
    match ev {
        Event::GetRequest if answered == 0 => {
            prop_assert!(!w.get_waiting, "a second GET waits beside the first");
            w.get_waiting = true;
        }
        Event::GetRequest => {
            if matches!(acts.last(), Some(Action::AnswerGet(PollAnswer::Refused(SessionError::OverlappingGet)))) {
                prop_assert!(w.get_waiting);
            }
        }
        Event::GetWoken if answered == 1 => {
            prop_assert!(w.get_waiting, "a GET answered that was not waiting");
            w.get_waiting = false;
        }
        Event::GetGone => w.get_waiting = false,
        _ => {}
    }
    if w.closed {
        prop_assert!(w.armed.is_empty(), "timers left armed after close: {:?}", w.armed);
    }
    prop_assert!(w.close_packets_polled <= 1, "the close packet went out twice");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary event orders: no panic, and the promises `check` lists hold at every step.
    #[test]
    fn arbitrary_event_orders(
        rev in prop::sample::select(vec![EioRevision::V3, EioRevision::V4]),
        ws in any::<bool>(),
        evs in prop::collection::vec(event(), 0..60),
    ) {
        let transport = if ws { Transport::Websocket } else { Transport::Polling };
        let (mut s, acts) = ServerSession::open(rev, transport, cfg());
        let mut w = Watch::default();
        check(&mut w, &Event::GetGone, &acts)?;
        w.get_waiting = false;
        for (now, tev) in evs.into_iter().enumerate() {
            let now = now as u64 * 50;
            let ev = match tev {
                TEv::E(ev) => ev,
                TEv::Config(c) => { s.set_config(c); continue; }
                TEv::Fire(i) => {
                    let t = w.armed.get(i).copied().unwrap_or(Timer { kind: TimerKind::Ping, seq: 1000 });
                    w.armed.retain(|x| *x != t);
                    Event::Timer(t)
                }
            };
            match s.handle(now, ev.clone()) {
                Ok(acts) => check(&mut w, &ev, &acts)?,
                Err(e) => prop_assert!(e.to_string().contains("rule:"), "{e}"),
            }
            prop_assert_eq!(s.closed().is_some(), w.closed);
        }
    }
}
