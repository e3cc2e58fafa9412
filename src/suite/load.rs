//! Loading suite files, with errors that name the file, the line and what is wrong.
use super::model::{CaseDef, Layer, Revision, Role};
use super::read::{line_of, line_of_id, read};
use super::steps::ServerStep;
use super::vocabulary::Steps;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{file}: cannot read: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{file}:{line}:{col}: {message}")]
    Syntax { file: PathBuf, line: usize, col: usize, message: String },
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error("no suite directory at {0} (expected suites/<name>/*.toml)")]
    NoSuites(PathBuf),
}

/// A case ready to run: its definition and where it came from.
#[derive(Debug, Clone)]
pub struct Case {
    pub def: Arc<CaseDef>,
    pub suite: String,
    pub revision: Revision,
    pub layer: Layer,
    pub file: PathBuf,
    /// Run with a witness session, alone on a driver of its own (`[suite] witness`).
    pub witness: bool,
    /// Memory growth that fails a witness case, in MB.
    pub memory_limit_mb: u64,
}

/// Default of `[suite] memory_limit_mb`.
pub const MEMORY_LIMIT_MB: u64 = 256;

impl Case {
    pub fn id(&self) -> &str {
        &self.def.id
    }

    /// Server case (the harness is a client) or client case (the harness plays the server),
    /// as its steps' vocabulary says.
    pub fn role(&self) -> Role {
        self.def.steps.role()
    }
}

#[derive(Debug, Default)]
pub struct Suites {
    pub cases: Vec<Case>,
}

impl Suites {
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.cases.iter().map(|c| c.suite.clone()).collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    }
}

/// Loads every `<dir>/<name>/*.toml` (sorted) but the directories in `others` (files of
/// another format that live beside the suites), checking that ids are unique across all suites.
pub fn load_all(dir: &Path, others: &[&str]) -> Result<Suites, SuiteError> {
    let rd = std::fs::read_dir(dir).map_err(|_| SuiteError::NoSuites(dir.to_path_buf()))?;
    let mut files = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() && p.file_name().is_some_and(|n| !others.iter().any(|o| n == *o)) {
            if let Ok(inner) = std::fs::read_dir(&p) {
                for f in inner.flatten() {
                    let fp = f.path();
                    if fp.extension().is_some_and(|e| e == "toml") {
                        files.push(fp);
                    }
                }
            }
        }
    }
    files.sort();
    let mut out = Suites::default();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for f in files {
        for case in load_file(&f)? {
            if let Some(prev) = seen.insert(case.def.id.clone(), f.clone()) {
                return Err(SuiteError::Invalid {
                    file: f,
                    message: format!("case id `{}` is already defined in {}", case.def.id, prev.display()),
                });
            }
            out.cases.push(case);
        }
    }
    Ok(out)
}

pub fn load_file(file: &Path) -> Result<Vec<Case>, SuiteError> {
    let text = std::fs::read_to_string(file).map_err(|source| SuiteError::Io { file: file.to_path_buf(), source })?;
    let parsed = read(file, &text)?;
    let dir_name = file.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let at = |id: &str, message: String| {
        let line = line_of_id(&text, id);
        SuiteError::Syntax { file: file.to_path_buf(), line, col: 1, message }
    };
    if parsed.suite.name != dir_name {
        return Err(SuiteError::Invalid {
            file: file.to_path_buf(),
            message: format!("[suite] name is `{}` but the file lives in directory `{}`; they must agree", parsed.suite.name, dir_name),
        });
    }
    // The same file as plain TOML, to see which events each case's steps send.
    let raw: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Table(Default::default()));
    let raw_cases: HashMap<&str, &toml::Value> = raw
        .get("case")
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|c| Some((c.get("id")?.as_str()?, c))).collect())
        .unwrap_or_default();
    let mut cases = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for def in parsed.cases {
        let prefix = format!("{}/", parsed.suite.name);
        if !def.id.starts_with(&prefix) {
            return Err(at(&def.id, format!("case id `{}` must start with `{prefix}`", def.id)));
        }
        if def.id.chars().any(|c| c.is_whitespace() || c == ':') {
            return Err(at(&def.id, format!("case id `{}` must not contain spaces or ':'", def.id)));
        }
        if !ids.insert(def.id.clone()) {
            return Err(at(&def.id, format!("case id `{}` appears twice", def.id)));
        }
        if def.steps.is_empty() {
            return Err(at(&def.id, format!("case `{}` has no [[case.step]]", def.id)));
        }
        if let Err(p) = super::validate::check_case(&def, &parsed.suite) {
            let line = line_of(&text, &def.id, p.step, p.field);
            let place = match p.step {
                Some(i) => format!("case `{}`, step {} ({})", def.id, i + 1, def.steps.kind(i)),
                None => format!("case `{}`", def.id),
            };
            return Err(SuiteError::Syntax { file: file.to_path_buf(), line, col: 1, message: format!("{place}: {}", p.message) });
        }
        check_handlers(&def, parsed.suite.role, raw_cases.get(def.id.as_str()).copied(), &text).map_err(|(line, message)| {
            SuiteError::Syntax { file: file.to_path_buf(), line: line.unwrap_or_else(|| line_of_id(&text, &def.id)), col: 1, message }
        })?;
        if def.transports.is_empty() {
            return Err(at(&def.id, format!("case `{}` lists no transports", def.id)));
        }
        if !def.revisions.is_empty() && !def.revisions.contains(&parsed.suite.revision) {
            return Err(at(&def.id, format!("case `{}` does not apply to its own suite's revision {}", def.id, parsed.suite.revision)));
        }
        let base = Case {
            def: Arc::new(def),
            suite: parsed.suite.name.clone(),
            revision: parsed.suite.revision,
            layer: parsed.suite.layer,
            file: file.to_path_buf(),
            witness: parsed.suite.witness,
            memory_limit_mb: parsed.suite.memory_limit_mb.unwrap_or(MEMORY_LIMIT_MB),
        };
        let through = parsed.suite.also_through.map(|rev| through_socket_io(&base, rev)).transpose().map_err(|m| at(&base.def.id, m))?;
        for c in std::iter::once(base).chain(through) {
            if parsed.suite.each_transport {
                cases.extend(per_transport(&c));
            } else {
                cases.push(c);
            }
        }
    }
    Ok(cases)
}

/// The same Engine.IO case through the Socket.IO endpoint of a `rev` target (`also_through`).
fn through_socket_io(c: &Case, rev: Revision) -> Result<Case, String> {
    if rev.eio() != c.revision.eio() || rev.sio().is_none() {
        return Err(format!("`also_through = \"{rev}\"` must name the Socket.IO revision carried by {}", c.revision));
    }
    let seg = format!("/{}/", c.revision);
    if !c.def.id.contains(&seg) {
        return Err(format!("case id `{}` has no `{seg}` segment for `also_through` to replace", c.def.id));
    }
    let mut def = (*c.def).clone();
    def.id = def.id.replacen(&seg, &format!("/{rev}/"), 1);
    def.revisions.clear();
    Ok(Case { def: Arc::new(def), revision: rev, layer: Layer::SocketIo, ..c.clone() })
}

/// One case per transport when it lists both (`each_transport`); its handshakes use that one.
fn per_transport(c: &Case) -> Vec<Case> {
    if c.def.transports.len() < 2 {
        return vec![c.clone()];
    }
    c.def
        .transports
        .iter()
        .map(|&t| {
            let mut def = (*c.def).clone();
            def.id = format!("{}/{}", def.id, t.as_str());
            def.transports = vec![t];
            if let Steps::Server(steps) = &mut def.steps {
                for step in steps {
                    if let ServerStep::Handshake(h) = step {
                        h.transport = t;
                    }
                }
            }
            Case { def: Arc::new(def), ..c.clone() }
        })
        .collect()
}

/// A case's `handlers` name handlers of the standard fixture (`fixtures/standard.toml`), and a
/// server case that sends an event only siospec's drivers handle (`close-me`, …) declares it,
/// so that it is `unsupported`, not failed, against a server started by hand.
/// The error carries the line of the `handlers` entry when there is one.
fn check_handlers(def: &CaseDef, role: Role, raw: Option<&toml::Value>, text: &str) -> Result<(), (Option<usize>, String)> {
    let std = super::standard::standard();
    let handlers_line = || {
        let start = line_of_id(text, &def.id);
        text.lines()
            .enumerate()
            .skip(start)
            .take_while(|(_, l)| l.trim() != "[[case]]")
            .find(|(_, l)| l.trim_start().starts_with("handlers"))
            .map(|(i, _)| i + 1)
    };
    for h in &def.handlers {
        if std.is_standard_handler(h) || std.is_extra_handler(h) {
            continue;
        }
        return Err((
            handlers_line(),
            format!(
                "case `{}`: unknown handler `{h}` in `handlers`; fixtures/standard.toml has {}",
                def.id,
                std.handler_names().join(", ")
            ),
        ));
    }
    if role != Role::Server {
        return Ok(());
    }
    let mut strings = Vec::new();
    if let Some(steps) = raw.and_then(|c| c.get("step")) {
        collect_strings(steps, &mut strings);
    }
    for extra in &std.extra {
        let sends = format!("[\"{}\"", extra.name);
        if strings.iter().any(|s| s.contains(&sends)) && !def.handlers.iter().any(|h| h == &extra.name) {
            // The line of the packet that sends it, within the case.
            let start = line_of_id(text, &def.id);
            let line = text
                .lines()
                .enumerate()
                .skip(start)
                .take_while(|(_, l)| l.trim() != "[[case]]")
                .find(|(_, l)| l.contains(&sends))
                .map(|(i, _)| i + 1);
            return Err((
                line,
                format!(
                    "case `{}` sends `{}`, a handler only siospec's own drivers serve: declare it with `handlers = [\"{}\"]` (fixtures/standard.toml)",
                    def.id, extra.name, extra.name
                ),
            ));
        }
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a toml::Value, out: &mut Vec<&'a str>) {
    match v {
        toml::Value::String(s) => out.push(s),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
