//! What the mock server saw and did, as structured events the client steps query.
//!
//! Every event is stamped with its time; waiters are woken through a watch channel that
//! carries the number of events, so a step can wait for "anything new" without polling.
use crate::protocol::eio::Packet;
use crate::protocol::sio::SioPacket;
use crate::suite::Transport;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;

/// An HTTP request as the mock received it (websocket handshakes included).
#[derive(Debug, Clone)]
pub struct RequestRec {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub websocket: bool,
}

impl RequestRec {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Sent by the client, received by the mock.
    FromClient,
    /// Sent by the mock.
    ToClient,
}

#[derive(Debug, Clone)]
pub enum Ev {
    Request(RequestRec),
    /// An Engine.IO packet on a session (1-based session number).
    Packet {
        session: usize,
        transport: Transport,
        dir: Dir,
        packet: Packet,
    },
    /// A complete Socket.IO packet the client sent (attachments reassembled).
    Sio {
        session: usize,
        packet: SioPacket,
    },
    /// The mock answered a handshake: a new session.
    Handshake {
        session: usize,
        sid: String,
        transport: Transport,
    },
    /// The mock accepted a Socket.IO CONNECT with this socket id.
    SioConnected {
        session: usize,
        nsp: String,
        socket_id: String,
    },
    Upgraded {
        session: usize,
    },
    /// The mock sent a heartbeat ping (v4).
    PingSent {
        session: usize,
    },
    /// The client answered the last ping after this many ms (v4).
    Pong {
        session: usize,
        after_ms: u64,
    },
    SessionClosed {
        session: usize,
        reason: String,
    },
    /// Something the client did that a server would refuse (two GETs at once, bad payload…).
    Note {
        session: Option<usize>,
        what: String,
    },
}

#[derive(Debug)]
pub struct Stamped {
    pub at: Instant,
    pub ev: Ev,
}

pub struct Record {
    events: Mutex<Vec<Arc<Stamped>>>,
    tx: watch::Sender<usize>,
}

impl Default for Record {
    fn default() -> Self {
        Record { events: Mutex::new(Vec::new()), tx: watch::channel(0).0 }
    }
}

impl Record {
    pub fn push(&self, ev: Ev) {
        let n = {
            let mut e = self.events.lock().unwrap_or_else(|p| p.into_inner());
            e.push(Arc::new(Stamped { at: Instant::now(), ev }));
            e.len()
        };
        self.tx.send_replace(n);
    }

    pub fn len(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events from index `from` on, with their indices.
    pub fn since(&self, from: usize) -> Vec<(usize, Arc<Stamped>)> {
        let e = self.events.lock().unwrap_or_else(|p| p.into_inner());
        e.iter().enumerate().skip(from).map(|(i, s)| (i, s.clone())).collect()
    }

    /// Waits until there are more than `seen` events, or the deadline. True if there are.
    pub async fn wait_beyond(&self, seen: usize, deadline: Instant) -> bool {
        let mut rx = self.tx.subscribe();
        loop {
            if *rx.borrow_and_update() > seen {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return *rx.borrow() > seen,
            }
        }
    }
}
