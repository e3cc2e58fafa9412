//! Interop scenarios (`suites/interop/*.toml`): what a real client does against a real server.
use crate::suite::load::SuiteError;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Where the scenarios live, under `suites/` (a format of their own, not a suite).
pub const DIR: &str = "interop";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "scenario")]
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub requirement: String,
    /// The client reconnects on its own in this scenario.
    #[serde(default)]
    pub reconnection: bool,
    /// The scenario every cell plays first: nothing else is played on a transport variant on
    /// which its connect step fails, and a pair that passes it on no variant is NO. Exactly
    /// one scenario is the gate.
    #[serde(default)]
    pub gate: bool,
    /// Pin the transports (one variant only), e.g. `["polling"]` for a payload-encoding check.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The client connects (through the proxy) and must report connect.
    Connect {
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        auth: Option<Value>,
    },
    /// The client emits; with `ack` the emit carries an ack callback.
    Emit {
        event: String,
        args: Vec<Value>,
        #[serde(default)]
        ack: bool,
    },
    /// The client reports an event whose arguments match the pattern.
    ExpectEvent {
        name: String,
        args: Vec<Value>,
        /// Objects in `args` need only the keys given.
        #[serde(default)]
        partial: bool,
    },
    /// The ack of the last emit with `ack` arrives with these arguments.
    ExpectAck { args: Vec<Value> },
    /// The server emits `name` with an ack; the client answers with `reply`.
    AnswerAck { name: String, args: Vec<Value>, reply: Vec<Value> },
    /// No disconnect for `cycles` × (pingInterval + pingTimeout).
    StayConnected { cycles: u32 },
    /// The client reports disconnect with this reason (a JSON pattern string).
    ExpectDisconnect { reason: String },
    /// The proxy restarts: every connection is cut and new ones are refused for `down_ms`.
    Cut {
        #[serde(default = "default_down")]
        down_ms: u64,
    },
    /// The client connects again on its own, with a new socket id.
    ExpectReconnect {},
    /// The server application saw this client connect to `namespace` (default `/`), with an
    /// auth payload matching `auth` when given (its driver's socket.io `connection` report).
    ExpectServerConnection {
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        auth: Option<Value>,
        /// Objects in `auth` need only the keys given.
        #[serde(default)]
        partial: bool,
    },
    /// The server application received this event from this client, with these arguments
    /// (its driver's `received` report): the client-to-server direction, judged where it arrives.
    ExpectServerReceived {
        name: String,
        args: Vec<Value>,
        #[serde(default)]
        namespace: Option<String>,
        /// Whether the client asked for an ack.
        #[serde(default)]
        ack: Option<bool>,
    },
    /// The server application received the client's answer to its emit of `name` with an ack.
    ExpectServerAck { name: String, args: Vec<Value> },
}

fn default_down() -> u64 {
    400
}

pub fn load(dir: &Path) -> Result<Vec<Scenario>, SuiteError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|_| SuiteError::NoSuites(dir.to_path_buf()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<Scenario> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| SuiteError::Io { file: f.clone(), source })?;
        let parsed: File = toml::from_str(&text).map_err(|e| {
            let off = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
            let line = text[..off].matches('\n').count() + 1;
            SuiteError::Syntax { file: f.clone(), line, col: 1, message: e.message().trim().to_string() }
        })?;
        for s in parsed.scenarios {
            if !s.id.starts_with("interop/") {
                return Err(SuiteError::Invalid { file: f.clone(), message: format!("scenario id `{}` must start with `interop/`", s.id) });
            }
            if out.iter().any(|o| o.id == s.id) {
                return Err(SuiteError::Invalid { file: f.clone(), message: format!("scenario id `{}` appears twice", s.id) });
            }
            if !matches!(s.steps.first(), Some(Step::Connect { .. })) {
                return Err(SuiteError::Invalid {
                    file: f.clone(),
                    message: format!("scenario `{}` must start with a connect step", s.id),
                });
            }
            // An authoring mistake is the suite's, never the cell's: refused here, not failed at run time.
            let mut emitted_with_ack = false;
            for (i, step) in s.steps.iter().enumerate() {
                match step {
                    Step::Emit { ack: true, .. } => emitted_with_ack = true,
                    Step::ExpectAck { .. } if !emitted_with_ack => {
                        return Err(SuiteError::Invalid {
                            file: f.clone(),
                            message: format!("scenario `{}`, step {}: expect_ack needs an earlier emit with `ack = true`", s.id, i + 1),
                        });
                    }
                    _ => {}
                }
            }
            out.push(s);
        }
    }
    match out.iter().filter(|s| s.gate).count() {
        1 => Ok(out),
        n => Err(SuiteError::Invalid {
            file: dir.to_path_buf(),
            message: format!("exactly one scenario must be the gate (`gate = true`: the one every cell plays first), found {n}"),
        }),
    }
}
