//! The interop matrix: every client target × every server target × each server
//! profile, through the interop scenarios, compared with the documented tables.
pub mod compat;
pub mod known;
pub mod play;
pub mod scenario;

use crate::project::Project;
use crate::suite::model::FixtureSpec;
use crate::suite::{Layer, Revision};
use crate::targets::catalog::{Role, TargetDef};
use crate::targets::{ServerRequest, Target};
use compat::{Agreement, Documented};
use futures_util::StreamExt;
use play::{Outcome, Play, ScenarioResult};
use scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CellVerdict {
    #[serde(rename = "YES")]
    Yes,
    #[serde(rename = "PARTIAL")]
    Partial,
    #[serde(rename = "NO")]
    No,
}

impl CellVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CellVerdict::Yes => "YES",
            CellVerdict::Partial => "PARTIAL",
            CellVerdict::No => "NO",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub client: String,
    pub server: String,
    pub profile: String,
    pub verdict: CellVerdict,
    /// Why, in one line: the failing scenarios, or why it never connects.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented: Option<Documented>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// The reason from `fixtures/expectations/matrix.toml` when this disagreement is a known finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<String>,
    pub scenarios: Vec<ScenarioResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub cells: Vec<Cell>,
    pub clients: Vec<String>,
    pub servers: Vec<String>,
    pub wall_ms: u64,
    /// Documented cells with no measured counterpart (no such target here).
    pub not_measured: Vec<Documented>,
    /// Why the matrix fails: disagreements with the tables that are not listed as known,
    /// and listed ones that no longer disagree. Empty = exit 0.
    pub unexpected: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MatrixOptions {
    pub time_scale: f64,
    pub jobs: usize,
    /// Target-name prefixes; empty = all.
    pub clients: Vec<String>,
    pub servers: Vec<String>,
}

fn speaks_sio(def: &TargetDef) -> bool {
    def.revisions.iter().chain(&def.allow_eio3).any(|r| matches!(r, Revision::Sio4 | Revision::Sio5))
}

fn selected(def: &TargetDef, prefixes: &[String]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| def.name.starts_with(p.as_str()))
}

/// Server profiles that apply to a server target.
pub fn profiles(def: &TargetDef) -> Vec<&'static str> {
    if def.allow_eio3.is_empty() {
        vec!["default"]
    } else {
        vec!["default", "allowEIO3"]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("{0}")]
    Setup(String),
}

/// Server reports buffered per shared server; a scenario that falls this far behind is
/// told how many it lost.
const SERVER_FEED_CAPACITY: usize = 16_384;

struct Unit<'a> {
    cell: usize,
    scenario: &'a Scenario,
    websocket_only: bool,
}

pub async fn run(project: &Project, opts: &MatrixOptions, on_cell: &(dyn Fn(&Cell) + Sync)) -> Result<Matrix, MatrixError> {
    let started = Instant::now();
    let scenarios = scenario::load(&project.root.join("suites").join(scenario::DIR)).map_err(|e| MatrixError::Setup(e.to_string()))?;
    let tables = compat::load_tables(&project.root.join("fixtures/compat")).map_err(MatrixError::Setup)?;
    let known = known::load(&known::file(&project.root)).map_err(MatrixError::Setup)?;
    let usable = |d: &&TargetDef| !d.test_only && !matches!(project.readiness(d), crate::targets::prepare::Readiness::Unavailable(_));
    let client_defs: Vec<TargetDef> = project
        .catalog
        .target
        .iter()
        .filter(|d| d.role == Role::Client && speaks_sio(d))
        .filter(usable)
        .filter(|d| selected(d, &opts.clients))
        .cloned()
        .collect();
    let server_defs: Vec<TargetDef> = project
        .catalog
        .target
        .iter()
        .filter(|d| d.role == Role::Server && speaks_sio(d))
        .filter(usable)
        .filter(|d| selected(d, &opts.servers))
        .cloned()
        .collect();
    if client_defs.is_empty() || server_defs.is_empty() {
        return Err(MatrixError::Setup(format!(
            "the matrix needs at least one client and one server target (found {} clients, {} servers)",
            client_defs.len(),
            server_defs.len()
        )));
    }
    let ready = Duration::from_millis((15_000.0 * opts.time_scale) as u64);
    // Drivers and servers start in parallel; one client driver serves every cell of its client.
    let client_drivers = futures_util::future::join_all(client_defs.iter().map(|d| async move {
        // (start_driver prepares the family for the process backend, builds its image for containers)
        project.start_driver(d, ready).await.map(Arc::new).map_err(|e| format!("{}: {e}", d.name))
    }))
    .await;
    let mut clients = Vec::new();
    for (d, r) in client_defs.iter().zip(client_drivers) {
        clients.push((d.clone(), r.map_err(MatrixError::Setup)?));
    }
    let server_targets = futures_util::future::join_all(
        server_defs.iter().map(|d| async move { project.open_target(d, opts.time_scale).await.map_err(|e| format!("{}: {e}", d.name)) }),
    )
    .await;
    let mut servers: Vec<(TargetDef, Target)> = Vec::new();
    for (d, r) in server_defs.iter().zip(server_targets) {
        servers.push((d.clone(), r.map_err(MatrixError::Setup)?));
    }
    // One server per (server target, profile), shared by every client.
    let fixture = FixtureSpec::default();
    let mut endpoints: BTreeMap<(String, &'static str), Result<crate::targets::ServerInstance, String>> = BTreeMap::new();
    let mut feeds: BTreeMap<(String, &'static str), play::ServerFeed> = BTreeMap::new();
    let mut forwarders = Vec::new();
    for (d, t) in &servers {
        for p in profiles(d) {
            let req = ServerRequest {
                key: format!("matrix-{}-{p}", d.name),
                layer: Layer::SocketIo,
                fixture: &fixture,
                allow_eio3: p == "allowEIO3",
            };
            let mut ep = t.server(req, ready).await.map_err(|e| e.to_string());
            if let Some(mut events) = ep.as_mut().ok().and_then(|e| e.events.take()) {
                let (feed, _) = tokio::sync::broadcast::channel(SERVER_FEED_CAPACITY);
                let tx = feed.clone();
                forwarders.push(tokio::spawn(async move {
                    while let Some(v) = events.recv().await {
                        let _ = tx.send(v);
                    }
                }));
                feeds.insert((d.name.clone(), p), feed);
            }
            endpoints.insert((d.name.clone(), p), ep);
        }
    }
    let mut cells: Vec<Cell> = Vec::new();
    for (c, _) in &clients {
        for (s, _) in &servers {
            for p in profiles(s) {
                let documented = compat::documented(&tables, &c.name, &s.name).and_then(|d| compat::for_profile(d, p));
                cells.push(Cell {
                    client: c.name.clone(),
                    server: s.name.clone(),
                    profile: p.to_string(),
                    verdict: CellVerdict::No,
                    reason: String::new(),
                    documented,
                    agreement: None,
                    known: None,
                    scenarios: vec![],
                });
            }
        }
    }
    let cycle = FixtureSpec::default().ping_interval_or_default() + FixtureSpec::default().ping_timeout_or_default();
    let play_for = |cell: &Cell| -> Result<Play<'_>, String> {
        let driver = clients.iter().find(|(d, _)| d.name == cell.client).map(|(_, dr)| dr.as_ref()).ok_or("no driver")?;
        let ep = endpoints
            .iter()
            .find(|((n, p), _)| *n == cell.server && *p == cell.profile)
            .map(|(_, e)| e)
            .ok_or("no server")?
            .as_ref()
            .map_err(|e| e.clone())?;
        let server = feeds.iter().find(|((n, p), _)| *n == cell.server && *p == cell.profile).map(|(_, f)| f);
        Ok(Play { driver, upstream: &ep.base, server, ping_cycle_ms: cycle, scale: opts.time_scale })
    };
    // The gate first: a pair that never connects is NO without playing the rest.
    let connect = scenarios.iter().find(|s| s.gate).ok_or_else(|| MatrixError::Setup("no scenario is the gate".into()))?;
    let first: Vec<Unit> =
        (0..cells.len()).flat_map(|i| [false, true].map(|ws| Unit { cell: i, scenario: connect, websocket_only: ws })).collect();
    let results = play_units(&cells, &first, &play_for, opts.jobs).await;
    for (u, r) in first.iter().zip(results) {
        cells[u.cell].scenarios.push(r);
    }
    let rest: Vec<Unit> = (0..cells.len())
        .filter(|&i| cells[i].scenarios.iter().any(|r| r.outcome != Outcome::NoConnect))
        .flat_map(|i| {
            let cs = &cells[i];
            scenarios.iter().filter(|s| s.id != connect.id).flat_map(move |s| {
                play::variants(s)
                    .into_iter()
                    // A transport variant that never connects is not replayed (a pinned one always runs).
                    .filter(move |ws| {
                        s.transports.is_some()
                            || cs
                                .scenarios
                                .iter()
                                .any(|r| r.transports == if *ws { "websocket" } else { "default" } && r.outcome != Outcome::NoConnect)
                    })
                    .map(move |ws| Unit { cell: i, scenario: s, websocket_only: ws })
            })
        })
        .collect();
    let results = play_units(&cells, &rest, &play_for, opts.jobs).await;
    for (u, r) in rest.iter().zip(results) {
        cells[u.cell].scenarios.push(r);
    }
    for cell in &mut cells {
        judge(cell, &connect.id);
        on_cell(cell);
    }
    let unexpected = check_known(&mut cells, &known);
    for f in forwarders {
        f.abort();
    }
    for ((_, _), ep) in endpoints {
        drop(ep);
    }
    for (_, t) in &servers {
        t.shutdown().await;
    }
    for (_, d) in &clients {
        d.shutdown().await;
    }
    let measured: Vec<(String, String)> = cells.iter().map(|c| (c.client.clone(), c.server.clone())).collect();
    let not_measured = not_measured(&tables, &measured, project);
    Ok(Matrix {
        clients: clients.iter().map(|(d, _)| d.name.clone()).collect(),
        servers: servers.iter().map(|(d, _)| d.name.clone()).collect(),
        cells,
        wall_ms: started.elapsed().as_millis() as u64,
        not_measured,
        unexpected,
    })
}

/// Marks the disagreements listed as known and returns what makes the matrix fail.
fn check_known(cells: &mut [Cell], known: &[known::Known]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cells.iter_mut() {
        let entry = known.iter().find(|k| k.client == c.client && k.server == c.server && k.profile == c.profile);
        let label = format!("{} × {} [{}]", c.client, c.server, c.profile);
        match (c.agreement, entry) {
            (Some(a), Some(k)) if a.is_disagreement() => c.known = Some(k.reason.clone()),
            (Some(a), None) if a.is_disagreement() => {
                out.push(format!("{label}: {} (measured {}: {})", a.describe(), c.verdict.as_str(), c.reason))
            }
            (_, Some(_)) => out.push(format!(
                "{label}: listed as a known disagreement, but it {} now; remove the entry",
                c.agreement.map(|a| a.describe()).unwrap_or("is not documented")
            )),
            _ => {}
        }
    }
    out
}

async fn play_units<'a>(
    cells: &[Cell],
    units: &[Unit<'a>],
    play_for: &(dyn Fn(&Cell) -> Result<Play<'a>, String> + Sync),
    jobs: usize,
) -> Vec<ScenarioResult> {
    futures_util::stream::iter(units.iter())
        .map(|u| async move {
            match play_for(&cells[u.cell]) {
                Ok(play) => play.run(u.scenario, u.websocket_only).await,
                Err(e) => ScenarioResult {
                    scenario: u.scenario.id.clone(),
                    transports: if u.websocket_only { "websocket" } else { "default" }.into(),
                    outcome: Outcome::NoConnect,
                    message: format!("the server could not be started: {e}"),
                    evidence: None,
                    duration_ms: 0,
                    transcript: vec![],
                },
            }
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// YES when every scenario passes (unsupported ones aside), NO when no variant ever
/// connects, PARTIAL otherwise; the reason names what failed.
fn judge(cell: &mut Cell, gate: &str) {
    cell.scenarios.sort_by(|a, b| (a.scenario.as_str(), a.transports.as_str()).cmp(&(b.scenario.as_str(), b.transports.as_str())));
    let connected = cell.scenarios.iter().any(|r| r.scenario == gate && r.outcome == Outcome::Pass);
    let failing: Vec<&ScenarioResult> = cell.scenarios.iter().filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::NoConnect)).collect();
    if !connected {
        cell.verdict = CellVerdict::No;
        let r = cell.scenarios.iter().find(|r| r.scenario == gate);
        cell.reason = r
            .map(|r| match &r.evidence {
                Some(e) => format!("never connects: {} — {e}", r.message.trim_start_matches("step 1 (connect): ")),
                None => format!("never connects: {}", r.message.trim_start_matches("step 1 (connect): ")),
            })
            .unwrap_or_else(|| "never connects".into());
    } else if failing.is_empty() {
        cell.verdict = CellVerdict::Yes;
        let unsupported: Vec<String> = cell
            .scenarios
            .iter()
            .filter(|r| r.outcome == Outcome::Unsupported)
            .map(|r| format!("{} [{}]", r.scenario, r.transports))
            .collect();
        cell.reason = if unsupported.is_empty() { String::new() } else { format!("client cannot run: {}", unsupported.join(", ")) };
    } else {
        cell.verdict = CellVerdict::Partial;
        cell.reason = failing
            .iter()
            .map(|r| {
                format!(
                    "{} [{}]: {}{}",
                    r.scenario,
                    r.transports,
                    r.message,
                    r.evidence.as_ref().map(|e| format!(" — {e}")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    cell.agreement = cell.documented.as_ref().map(|d| compat::compare(d, cell.verdict));
}

fn not_measured(tables: &[compat::Table], measured: &[(String, String)], _project: &Project) -> Vec<Documented> {
    let mut out = Vec::new();
    for t in tables {
        for (row, cols) in &t.cells {
            for col in cols.keys() {
                let (rp, cp) = (&t.rows[row], &t.columns[col]);
                let hit = measured.iter().any(|(c, s)| c.starts_with(rp.as_str()) && s.starts_with(cp.as_str()));
                if !hit {
                    out.extend(compat::documented(std::slice::from_ref(t), rp, cp));
                }
            }
        }
    }
    out
}
