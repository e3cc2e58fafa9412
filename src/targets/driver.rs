//! A server driver running as a local process, commanded over JSON lines on stdin/stdout.
//!
//! The driver is killed when the handle drops (kill_on_drop) and, as a second line of
//! defence, exits by itself when its stdin closes, so it cannot outlive the harness.
//!
//! The same handle drives a driver whose stdin/stdout are carried by something else, e.g. a
//! container's control socket (`Driver::attach`, used by `targets::container`).
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

const TAIL_LINES: usize = 30;
/// Longest line accepted from a driver; a broken driver cannot make the harness buffer more.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("could not start `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("driver `{command}` did not become ready within {ms} ms; last output:\n{tail}")]
    NotReady { command: String, ms: u64, tail: String },
    #[error("driver `{command}` exited before it was ready ({status}); last output:\n{tail}")]
    Exited { command: String, status: String, tail: String },
    #[error("the driver is gone; last output:\n{0}")]
    Gone(String),
    #[error("the driver did not answer `{0}` in time")]
    NoAnswer(String),
    #[error("the driver cannot do this: {0}")]
    Unsupported(String),
    #[error("the driver failed: {0}")]
    Failed(String),
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;
type Subscribers = Arc<Mutex<HashMap<String, mpsc::Sender<Value>>>>;

/// Reports a subscriber may have waiting before later ones are dropped (and the drop noted
/// in the driver's tail): a driver that reports every packet of a flood cannot make the
/// harness hold them all.
pub const REPORTS_QUEUED: usize = 16_384;

/// Where a driver runs when it is not a local child process (a container). Dropping it must
/// end the driver and remove whatever was started for it.
pub trait RemoteHost: Send + Sync {
    /// How it ended, for an error message (called when stdout closed before the ready line).
    fn exit_status(&self) -> Pin<Box<dyn Future<Output = String> + Send + '_>>;
    /// Ends it for good, after the driver was asked to exit by closing its stdin.
    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

enum Host {
    Process(Child),
    Remote(Box<dyn RemoteHost>),
}

pub struct Driver {
    command: String,
    child: Mutex<Option<Host>>,
    /// Set when the driver's stdout ends (it exited, or its channel broke).
    stdout_closed: Arc<AtomicBool>,
    stdin: Mutex<Option<mpsc::UnboundedSender<String>>>,
    waiters: Waiters,
    subs: Subscribers,
    tail: Arc<Mutex<VecDeque<String>>>,
    pub ready: Value,
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: String) {
    if let Ok(mut t) = tail.lock() {
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}

async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(buf.len());
        }
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            if buf.len() < MAX_LINE {
                buf.extend_from_slice(&chunk[..i.min(MAX_LINE - buf.len())]);
            }
            r.consume(i + 1);
            return Ok(buf.len() + 1);
        }
        let n = chunk.len();
        if buf.len() < MAX_LINE {
            buf.extend_from_slice(&chunk[..n.min(MAX_LINE - buf.len())]);
        }
        r.consume(n);
    }
}

impl Driver {
    pub async fn start(root: &Path, argv: &[String], ready_within: Duration) -> Result<Driver, DriverError> {
        let command = argv.join(" ");
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| DriverError::Spawn { command: command.clone(), source: std::io::Error::other("empty driver command") })?;
        let mut child = Command::new(prog)
            .args(args)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DriverError::Spawn { command: command.clone(), source })?;
        let stdout = Box::new(child.stdout.take().expect("stdout is piped"));
        let stderr = Box::new(child.stderr.take().expect("stderr is piped"));
        let stdin = Box::new(child.stdin.take().expect("stdin is piped"));
        Self::wire(command, stdout, Some(stderr), stdin, Host::Process(child), ready_within).await
    }

    /// A driver whose stdin/stdout are carried by `host` (e.g. a container's control socket):
    /// the same control protocol, ready line and lifecycle as a local process. `stderr`, when
    /// given, feeds the output tail shown in error messages.
    pub async fn attach(
        command: String,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        stdin: Box<dyn AsyncWrite + Send + Unpin>,
        stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
        host: Box<dyn RemoteHost>,
        ready_within: Duration,
    ) -> Result<Driver, DriverError> {
        Self::wire(command, stdout, stderr, stdin, Host::Remote(host), ready_within).await
    }

    async fn wire(
        command: String,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
        stdin: Box<dyn AsyncWrite + Send + Unpin>,
        mut child: Host,
        ready_within: Duration,
    ) -> Result<Driver, DriverError> {
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let stdout_closed = Arc::new(AtomicBool::new(false));
        let waiters: Waiters = Arc::default();
        let subs: Subscribers = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel::<Value>();

        let mut stdout = BufReader::new(stdout);
        let (t, w, s, closed) = (tail.clone(), waiters.clone(), subs.clone(), stdout_closed.clone());
        tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            let mut dropped = std::collections::HashSet::<String>::new();
            let mut buf = Vec::new();
            while let Ok(n) = read_bounded_line(&mut stdout, &mut buf).await {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf).to_string();
                push_tail(&t, format!("stdout: {line}"));
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                let event = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
                // Server drivers key their lines by listen `id`, client drivers by `client`.
                let id = v.get("client").or_else(|| v.get("id")).and_then(|e| e.as_str()).unwrap_or("").to_string();
                if event == "ready" {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(v);
                    }
                    continue;
                }
                let is_reply = matches!(event, "listening" | "unsupported" | "error" | "closed");
                if is_reply {
                    if let Some(tx) = w.lock().ok().and_then(|mut m| m.remove(&id)) {
                        let _ = tx.send(v);
                        continue;
                    }
                }
                if let Some(tx) = s.lock().ok().and_then(|m| m.get(&id).cloned()) {
                    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(v) {
                        let first = dropped.insert(id.clone());
                        if first {
                            push_tail(&t, format!("siospec: over {REPORTS_QUEUED} reports for `{id}` not yet read; later ones dropped"));
                        }
                    }
                }
            }
            closed.store(true, Ordering::SeqCst);
        });
        if let Some(stderr) = stderr {
            let mut stderr = BufReader::new(stderr);
            let t = tail.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Ok(n) = read_bounded_line(&mut stderr, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                    push_tail(&t, format!("stderr: {}", String::from_utf8_lossy(&buf)));
                }
            });
        }
        let mut stdin = stdin;
        let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = stdin_rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.write_all(b"\n").await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
            // End of input for the driver (a socket gets its write side shut down).
            let _ = stdin.shutdown().await;
        });
        let tail_text =
            |t: &Arc<Mutex<VecDeque<String>>>| t.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default();
        let ready = tokio::select! {
            r = tokio::time::timeout(ready_within, ready_rx) => match r {
                Ok(Ok(v)) => v,
                Ok(Err(_)) => {
                    // stdout ended before a ready line: the process is exiting.
                    let status = match &mut child {
                        Host::Process(child) => tokio::time::timeout(Duration::from_secs(2), child.wait()).await
                            .map(|s| s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))
                            .unwrap_or_else(|_| "still running".into()),
                        Host::Remote(r) => r.exit_status().await,
                    };
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Host::Remote(r) = child {
                        r.stop().await;
                    }
                    return Err(DriverError::Exited { command, status, tail: tail_text(&tail) });
                }
                Err(_) => {
                    match child {
                        Host::Process(mut child) => {
                            let _ = child.start_kill();
                        }
                        Host::Remote(r) => r.stop().await,
                    }
                    return Err(DriverError::NotReady { command, ms: ready_within.as_millis() as u64, tail: tail_text(&tail) });
                }
            },
        };
        Ok(Driver { command, child: Mutex::new(Some(child)), stdout_closed, stdin: Mutex::new(Some(stdin_tx)), waiters, subs, tail, ready })
    }

    pub fn tail(&self) -> String {
        self.tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// Sends a command and waits for the reply carrying the same id.
    pub async fn request(&self, id: &str, cmd: Value, within: Duration) -> Result<Value, DriverError> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id.to_string(), tx);
        }
        if !self.send_line(cmd.to_string()) {
            return Err(DriverError::Gone(self.tail()));
        }
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(DriverError::Gone(self.tail())),
            Err(_) => {
                if let Ok(mut w) = self.waiters.lock() {
                    w.remove(id);
                }
                Err(DriverError::NoAnswer(cmd.to_string()))
            }
        }
    }

    /// Starts a server with these options; its events arrive on the returned receiver.
    pub async fn listen(&self, id: &str, options: Value, within: Duration) -> Result<(u16, mpsc::Receiver<Value>), DriverError> {
        let (tx, rx) = mpsc::channel(REPORTS_QUEUED);
        if let Ok(mut s) = self.subs.lock() {
            s.insert(id.to_string(), tx);
        }
        let reply = self.request(id, json!({"cmd": "listen", "id": id, "options": options}), within).await?;
        match reply.get("event").and_then(|e| e.as_str()) {
            Some("listening") => {
                let port = reply.get("port").and_then(|p| p.as_u64()).filter(|p| *p > 0 && *p < 65536);
                port.map(|p| (p as u16, rx)).ok_or_else(|| DriverError::Failed(format!("listening reply without a port: {reply}")))
            }
            Some("unsupported") => {
                let what = reply.get("reason").or(reply.get("option")).map(|v| v.as_str().unwrap_or("").to_string());
                Err(DriverError::Unsupported(what.unwrap_or_else(|| reply.to_string())))
            }
            _ => Err(DriverError::Failed(reply.get("message").and_then(|m| m.as_str()).unwrap_or(&reply.to_string()).to_string())),
        }
    }

    /// Lines keyed by `key` (a listen id or a client name) arrive on the returned receiver.
    pub fn subscribe(&self, key: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(REPORTS_QUEUED);
        if let Ok(mut s) = self.subs.lock() {
            s.insert(key.to_string(), tx);
        }
        rx
    }

    pub fn unsubscribe(&self, key: &str) {
        if let Ok(mut s) = self.subs.lock() {
            s.remove(key);
        }
    }

    /// Sends a command without waiting for a reply; false when the driver is gone.
    pub fn send(&self, cmd: &Value) -> bool {
        self.send_line(cmd.to_string())
    }

    /// Closes a server started by `listen`; fire and forget.
    pub fn close(&self, id: &str) {
        if let Ok(mut s) = self.subs.lock() {
            s.remove(id);
        }
        self.send_line(json!({"cmd": "close", "id": id}).to_string());
    }

    fn send_line(&self, line: String) -> bool {
        self.stdin.lock().ok().and_then(|s| s.as_ref().map(|tx| tx.send(line).is_ok())).unwrap_or(false)
    }

    /// The process id of a driver running as a local child (None in a container or once gone).
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok().and_then(|c| match c.as_ref() {
            Some(Host::Process(c)) => c.id(),
            _ => None,
        })
    }

    /// How the driver ended, if it did: its exit status (local process) and the last lines it
    /// wrote, stderr included — what a crash of the implementation left behind.
    pub fn ended(&self) -> Option<String> {
        let status = self.child.lock().ok().and_then(|mut c| match c.as_mut() {
            Some(Host::Process(c)) => match c.try_wait() {
                Ok(Some(st)) => Some(st.to_string()),
                _ => None,
            },
            Some(Host::Remote(_)) => self.stdout_closed.load(Ordering::SeqCst).then(|| "its channel closed".to_string()),
            None => None,
        })?;
        Some(format!("{status}; last output:\n{}", self.tail()))
    }

    /// Whether the process is still running.
    pub fn alive(&self) -> bool {
        self.child
            .lock()
            .ok()
            .and_then(|mut c| {
                c.as_mut().map(|c| match c {
                    Host::Process(c) => matches!(c.try_wait(), Ok(None)),
                    Host::Remote(_) => !self.stdout_closed.load(Ordering::SeqCst),
                })
            })
            .unwrap_or(false)
    }

    pub async fn shutdown(&self) {
        let child = self.child.lock().ok().and_then(|mut c| c.take());
        // Closing stdin asks the driver to exit; kill it if it does not.
        match child {
            Some(Host::Process(mut child)) => {
                if let Ok(mut s) = self.stdin.lock() {
                    s.take();
                }
                if tokio::time::timeout(Duration::from_millis(1500), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
            Some(Host::Remote(host)) => {
                if let Ok(mut s) = self.stdin.lock() {
                    s.take();
                }
                let closed = self.stdout_closed.clone();
                let _ = tokio::time::timeout(Duration::from_millis(1500), async move {
                    while !closed.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await;
                host.stop().await;
            }
            None => {}
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            match c.as_mut() {
                Some(Host::Process(child)) => {
                    let _ = child.start_kill();
                }
                // Dropping the host ends the driver and removes what it started.
                Some(Host::Remote(_)) => {
                    c.take();
                }
                None => {}
            }
        }
    }
}
