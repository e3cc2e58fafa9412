//! The harness as a server, for client targets: one port on 127.0.0.1 serving Engine.IO
//! polling and websocket on the same path (hyper + tokio-tungstenite), speaking Engine.IO
//! v3/v4 and Socket.IO v4/v5 through the codecs in `protocol/`.
//!
//! Everything it sees and does goes to the case transcript and to a structured [`Record`]
//! the client steps query. A case scripts it: `mock` steps change its [`Behaviour`] (what it
//! advertises, whether it pings, answers the probe, accepts websockets, refuses handshakes or
//! CONNECTs, is a plain websocket echo server or unreachable), `mock_send` and `mock_close`
//! make it act. Reads are bounded ([`MAX_BODY`] per body or websocket message). Dropping the
//! [`Mock`] stops every task and closes every connection it has.
pub mod behaviour;
mod engine;
pub mod record;
mod server;

pub use behaviour::Behaviour;
pub use engine::Out;
pub use record::{Dir, Ev, Record, RequestRec, Stamped};

use crate::suite::client_steps::{CloseHow, MockMode, MockStep};
use crate::wire::Transcript;
use engine::State;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// Largest HTTP body or websocket message the mock reads from a client.
pub const MAX_BODY: usize = crate::wire::MAX_READ;

pub(crate) struct Shared {
    st: Mutex<State>,
    pub(crate) record: Record,
    pub(crate) transcript: Transcript,
    tasks: Mutex<Tasks>,
    rng: Mutex<u64>,
    /// Time zero of the session machines' clock.
    epoch: tokio::time::Instant,
}

#[derive(Default)]
struct Tasks {
    accept: Option<(AbortHandle, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
    /// Connections, websocket loops and heartbeats; aborted when the mock goes away.
    others: Vec<AbortHandle>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn track(&self, h: AbortHandle) {
        if let Ok(mut t) = self.tasks.lock() {
            t.others.retain(|h| !h.is_finished());
            t.others.push(h);
        }
    }

    /// Milliseconds since the mock started: the session machines' clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A fresh id in the shape Engine.IO uses (20 URL-safe characters).
    pub(crate) fn new_id(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut r = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        (0..20)
            .map(|_| {
                // xorshift64*
                *r ^= *r >> 12;
                *r ^= *r << 25;
                *r ^= *r >> 27;
                let v = r.wrapping_mul(0x2545_f491_4f6c_dd1d);
                ALPHABET[(v >> 58) as usize] as char
            })
            .collect()
    }
}

pub struct Mock {
    shared: Arc<Shared>,
    port: u16,
    /// Bound to the port but never listening: while the mock is unreachable the port refuses
    /// connections yet cannot be handed to another listener (SO_REUSEPORT on both sockets).
    _reserve: tokio::net::TcpSocket,
}

/// A listener on 127.0.0.1:`port` (0 = ephemeral) that shares its port with the reservation.
fn bind_listener(port: u16) -> std::io::Result<TcpListener> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseport(true)?;
    sock.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    sock.listen(1024)
}

impl Mock {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    pub async fn start(b: Behaviour, transcript: Transcript) -> std::io::Result<Mock> {
        let listener = bind_listener(0)?;
        let port = listener.local_addr()?.port();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            ^ ((port as u64) << 32)
            | 1;
        let shared = Arc::new(Shared {
            st: Mutex::new(State::new(b)),
            record: Record::default(),
            transcript,
            tasks: Mutex::new(Tasks::default()),
            rng: Mutex::new(seed),
            epoch: tokio::time::Instant::now(),
        });
        let reserve = tokio::net::TcpSocket::new_v4()?;
        reserve.set_reuseport(true)?;
        reserve.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
        let mock = Mock { shared, port, _reserve: reserve };
        mock.listen_on(listener);
        Ok(mock)
    }

    fn listen_on(&self, listener: TcpListener) {
        let sh = self.shared.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let h = tokio::spawn(server::accept_loop(sh, listener, stopped));
        if let Ok(mut t) = self.shared.tasks.lock() {
            t.accept = Some((h.abort_handle(), stop, h));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL a client is given: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn record(&self) -> &Record {
        &self.shared.record
    }

    pub fn behaviour(&self) -> Behaviour {
        self.shared.lock().b.clone()
    }

    /// Applies a `mock` step. Becoming unreachable stops listening and cuts every connection
    /// (a server that went away); leaving that mode listens on the same port again.
    pub async fn apply(&self, step: &MockStep) -> Result<(), String> {
        let (was, now) = {
            let mut st = self.shared.lock();
            let was = st.b.mode;
            st.b.apply(step)?;
            (was, st.b.mode)
        };
        if was != MockMode::Unreachable && now == MockMode::Unreachable {
            self.shared.transcript.log(format!("# mock: stops listening on port {}", self.port));
            let (handles, accept) = {
                let mut t = self.shared.tasks.lock().unwrap_or_else(|p| p.into_inner());
                (t.others.drain(..).collect::<Vec<AbortHandle>>(), t.accept.take())
            };
            // Stop accepting first and wait until the listener is closed, so the port refuses
            // connections by the time the next step runs.
            if let Some((abort, stop, join)) = accept {
                let _ = stop.send(());
                if tokio::time::timeout(std::time::Duration::from_secs(1), join).await.is_err() {
                    abort.abort();
                }
            }
            for h in handles {
                h.abort();
            }
            self.shared.close_all("server unreachable");
        } else if was == MockMode::Unreachable && now != MockMode::Unreachable {
            let mut last = None;
            for _ in 0..50 {
                match bind_listener(self.port) {
                    Ok(l) => {
                        self.shared.transcript.log(format!("# mock: listens again on port {}", self.port));
                        self.listen_on(l);
                        return Ok(());
                    }
                    Err(e) => last = Some(e),
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            return Err(format!("the mock cannot listen on port {} again: {}", self.port, last.map(|e| e.to_string()).unwrap_or_default()));
        }
        Ok(())
    }

    /// Sends packets to the client on a session (default: the latest).
    pub fn send(&self, session: Option<usize>, items: Vec<Out>) -> Result<(), String> {
        self.shared.send(session, items)
    }

    pub fn close_session(&self, session: Option<usize>, how: CloseHow) -> Result<(), String> {
        self.shared.close_by_step(session, how)
    }

    /// The Engine.IO revision of session `n` (1-based), or of the latest one.
    pub fn session_rev(&self, n: Option<usize>) -> Option<crate::protocol::eio::EioRevision> {
        let st = self.shared.lock();
        match n {
            Some(n) => st.sessions.get(n.checked_sub(1)?).map(|s| s.m.rev()),
            None => st.sessions.last().map(|s| s.m.rev()),
        }
    }

    /// Number of sessions (handshakes answered) so far.
    pub fn sessions(&self) -> usize {
        self.shared.lock().sessions.len()
    }

    /// Engine.IO sids and Socket.IO socket ids the mock handed out, with stable names, so
    /// transcripts can be redacted.
    pub fn volatile(&self) -> Vec<(String, String)> {
        let st = self.shared.lock();
        let mut v = Vec::new();
        for s in &st.sessions {
            v.push((s.sid.clone(), format!("sid{}", s.n)));
            for (i, id) in s.socket_ids.iter().enumerate() {
                v.push((id.clone(), format!("socket{}.{}", s.n, i + 1)));
            }
        }
        v
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Ok(mut t) = self.shared.tasks.lock() {
            if let Some((a, _, _)) = t.accept.take() {
                a.abort();
            }
            for h in t.others.drain(..) {
                h.abort();
            }
        }
        self.shared.close_all("mock stopped");
    }
}
