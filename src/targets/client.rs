//! Client targets: clients commanded through a client driver, over the control protocol of
//! `fixtures/drivers/README.md` (commands and reports keyed by `client`).
use super::catalog::Role;
use super::driver::Driver;
use super::Target;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

impl Target {
    /// Server targets are driven as a client; client targets are served by the mock.
    pub fn role(&self) -> Role {
        match self {
            Target::Process { def, .. } => def.role,
            Target::Url { .. } => Role::Server,
        }
    }

    /// The clients of one case. Every client it opens is closed when it drops.
    pub fn client_session(&self, key: &str) -> Result<ClientSession, String> {
        match self {
            Target::Process { def, driver, .. } if def.role == Role::Client => Ok(ClientSession::new(driver.clone(), key)),
            _ => Err(format!("target {} is not a client target", self.name())),
        }
    }

    /// The driver's ready line (`impl`, `protocol` or `engine.io`), for client targets.
    pub fn ready_line(&self) -> Option<&Value> {
        match self {
            Target::Process { driver, .. } => Some(&driver.ready),
            Target::Url { .. } => None,
        }
    }
}

pub struct ClientSession {
    driver: Arc<Driver>,
    prefix: String,
    /// Case-level client name → driver-level key.
    clients: BTreeMap<String, String>,
    /// Clients already closed by a `close` command.
    closed: std::collections::BTreeSet<String>,
    tx: mpsc::Sender<(String, Value)>,
    rx: mpsc::Receiver<(String, Value)>,
}

impl ClientSession {
    fn new(driver: Arc<Driver>, prefix: &str) -> Self {
        let (tx, rx) = mpsc::channel(super::driver::REPORTS_QUEUED);
        ClientSession { driver, prefix: prefix.to_string(), clients: BTreeMap::new(), closed: Default::default(), tx, rx }
    }

    /// Sends a command for a client (`connect`, `emit`, `ack`, `send`, `disconnect`, `close`)
    /// with the given fields; returns the line as sent (with the case-level client name).
    pub fn command(&mut self, client: &str, cmd: &str, fields: Map<String, Value>) -> Result<Value, String> {
        let key = match self.clients.get(client) {
            Some(k) => k.clone(),
            None => {
                let key = format!("{}.{client}", self.prefix);
                let mut rx = self.driver.subscribe(&key);
                let (tx, name) = (self.tx.clone(), client.to_string());
                tokio::spawn(async move {
                    while let Some(v) = rx.recv().await {
                        if tx.send((name.clone(), v)).await.is_err() {
                            break;
                        }
                    }
                });
                self.clients.insert(client.to_string(), key.clone());
                key
            }
        };
        let mut line = Map::new();
        line.insert("cmd".into(), json!(cmd));
        line.insert("client".into(), json!(key));
        for (k, v) in fields {
            line.insert(k, v);
        }
        if cmd == "close" {
            self.closed.insert(client.to_string());
        }
        if !self.driver.send(&Value::Object(line.clone())) {
            return Err(format!("the client driver is gone; last output:\n{}", self.driver.tail()));
        }
        line.insert("client".into(), json!(client));
        Ok(Value::Object(line))
    }

    /// The next report of any of this case's clients, with the case-level client name
    /// (the report's own `client` field is rewritten to it too).
    pub async fn next_report(&mut self, deadline: Instant) -> Option<(String, Value)> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some((name, mut v))) => {
                if let Some(o) = v.as_object_mut() {
                    o.insert("client".into(), json!(name));
                }
                Some((name, v))
            }
            _ => None,
        }
    }

    pub fn driver_alive(&self) -> bool {
        self.driver.alive()
    }

    pub fn driver_tail(&self) -> String {
        self.driver.tail()
    }
}

impl Drop for ClientSession {
    fn drop(&mut self) {
        for (name, key) in &self.clients {
            if self.closed.contains(name) {
                self.driver.unsubscribe(key);
                continue;
            }
            self.driver.send(&json!({"cmd": "close", "client": key}));
            self.driver.unsubscribe(key);
        }
    }
}
