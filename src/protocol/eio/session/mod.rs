//! One Engine.IO session as a pure state machine, server side ([`server`]) and client side
//! ([`client`]).
//!
//! No sockets, no clocks, no tasks: the I/O shells (`mock/` as server, `wire/` as client,
//! `proxy/` as observer) feed events and carry out the actions returned. Time comes in as
//! milliseconds on a clock the shell chooses; timers go out as [`Timer`] ids the shell arms
//! and fires back, so a shell that fires a cancelled timer late cannot confuse the session.
pub mod client;
pub mod observer;
pub mod server;

pub use client::{ClientAction, ClientEvent, ClientSession};
pub use observer::{Leg, Observer, Seen};
pub use server::{Action, Closing, Conn, Event, Outgoing, PollAnswer, ServerConfig, ServerSession, SessionError, Violation};

/// The transport carrying a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Polling,
    Websocket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Server v4: time to send the next ping. Client v3: time to send the next ping.
    Ping,
    /// The peer's pong (or, for a v4 client, the server's next ping) is overdue.
    PongTimeout,
}

/// A timer the session asked for; `seq` tells a late firing of a cancelled timer apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    pub kind: TimerKind,
    pub seq: u64,
}

/// Timers a session has armed, at most one per kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    armed: Vec<Timer>,
    next: u64,
}

impl Timers {
    /// Arms `kind`, replacing an armed timer of that kind; returns the ids to cancel and arm.
    pub(crate) fn arm(&mut self, kind: TimerKind) -> (Option<Timer>, Timer) {
        let old = self.take(kind);
        self.next += 1;
        let t = Timer { kind, seq: self.next };
        self.armed.push(t);
        (old, t)
    }

    pub(crate) fn take(&mut self, kind: TimerKind) -> Option<Timer> {
        let i = self.armed.iter().position(|t| t.kind == kind)?;
        Some(self.armed.swap_remove(i))
    }

    /// True when `t` was armed (and is now spent); false for a stale or unknown id.
    pub(crate) fn fire(&mut self, t: Timer) -> bool {
        match self.armed.iter().position(|a| *a == t) {
            Some(i) => {
                self.armed.swap_remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn drain(&mut self) -> Vec<Timer> {
        std::mem::take(&mut self.armed)
    }
}
