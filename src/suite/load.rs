//! Loading suite files, with errors that name the file, the line and what is wrong.
use super::client_steps::ClientStep;
use super::model::{CaseDef, Layer, Revision, Role, SuiteFile, SuiteHeader};
use super::steps::ServerStep;
use super::vocabulary::{self, Steps};
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
    /// Server suite (the harness is a client) or client suite (the harness plays the server).
    pub role: Role,
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Line of the `id = "…"` entry of a case, so semantic errors point somewhere useful.
fn line_of_id(text: &str, id: &str) -> usize {
    let needle = format!("\"{id}\"");
    text.lines().position(|l| l.trim_start().starts_with("id") && l.contains(&needle)).map(|i| i + 1).unwrap_or(1)
}

/// Line of a case's field, of its `step`-th `[[case.step]]` (0-based), or of a field inside
/// that step, counted from the case's `id` line up to the next `[[case]]`.
fn line_of(text: &str, id: &str, step: Option<usize>, field: Option<&str>) -> usize {
    let id_line = line_of_id(text, id);
    let lines: Vec<&str> = text.lines().collect();
    let case_end = (id_line..lines.len()).find(|&i| lines[i].trim() == "[[case]]").unwrap_or(lines.len());
    let key = |l: &str, f: &str| l.trim_start().strip_prefix(f).is_some_and(|r| r.trim_start().starts_with('='));
    let Some(n) = step else {
        let found = field.and_then(|f| (id_line - 1..case_end).find(|&i| key(lines[i], f)));
        return found.map(|i| i + 1).unwrap_or(id_line);
    };
    let Some(start) = (id_line..case_end).filter(|&i| lines[i].trim() == "[[case.step]]").nth(n) else { return id_line };
    let end = (start + 1..case_end).find(|&i| lines[i].trim_start().starts_with("[[")).unwrap_or(case_end);
    // The field as a key of the step, else inside an inline table (`packets = [{ binary = … }]`).
    let inline = |l: &str, f: &str| {
        l.match_indices(f).any(|(at, _)| {
            let before = l[..at].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && l[at + f.len()..].trim_start().starts_with('=')
        })
    };
    let found =
        field.and_then(|f| (start + 1..end).find(|&i| key(lines[i], f)).or_else(|| (start + 1..end).find(|&i| inline(lines[i], f))));
    found.unwrap_or(start) + 1
}

/// The header alone: it names the role, hence the vocabulary the steps are read in.
#[derive(serde::Deserialize)]
struct HeaderOnly {
    suite: SuiteHeader,
}

fn steps_as<S>(f: SuiteFile<S>, steps: impl Fn(S) -> Steps) -> SuiteFile<Steps> {
    SuiteFile { suite: f.suite, cases: f.cases.into_iter().map(|c| c.map_steps(&steps)).collect() }
}

/// Reads the file as `T`; a syntax or type error names its line. With the suite's `role`, a
/// `do` outside its vocabulary names its case and step, and whether it is the other role's.
fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str, role: Option<Role>) -> Result<T, SuiteError> {
    toml::from_str(text).map_err(|e| {
        let (mut line, mut col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let mut message = e.message().trim().to_string();
        let is_key = |l: &str, name: &str| l.trim_start().strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='));
        // An unknown field is reported on its table (a step's `[[case.step]]`): point at the key.
        if let Some(name) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            if let Some(i) = text.lines().enumerate().skip(line.saturating_sub(1)).find(|(_, l)| is_key(l, name)).map(|(i, _)| i) {
                (line, col) = (i + 1, 1);
            }
        }
        // An unknown `do` is reported on its step's table: point at the `do` line.
        if let Some(kind) = message.strip_prefix("unknown variant `").and_then(|r| r.split('`').next()) {
            let step =
                text.lines().enumerate().skip(line.saturating_sub(1)).take_while(|(i, l)| *i < line || !l.trim_start().starts_with("[["));
            let tag = format!("\"{kind}\"");
            if let Some(i) = step.filter(|(_, l)| is_key(l, "do") && l.contains(&tag)).map(|(i, _)| i).next() {
                (line, col) = (i + 1, 1);
                if let Some(role) = role {
                    message = unknown_step(text, line, kind, role);
                }
            }
        }
        SuiteError::Syntax { file: file.to_path_buf(), line, col, message }
    })
}

/// The message for a `do` the suite's role does not have, at `line`, naming its case and
/// step number: a step of the other role is called that, anything else is unknown.
fn unknown_step(text: &str, line: usize, kind: &str, role: Role) -> String {
    let before: Vec<&str> = text.lines().take(line).collect();
    let case_at = before.iter().rposition(|l| l.trim() == "[[case]]").unwrap_or(0);
    let id = before[case_at..]
        .iter()
        .find(|l| l.trim_start().strip_prefix("id").is_some_and(|r| r.trim_start().starts_with('=')))
        .and_then(|l| l.split('"').nth(1));
    let number = before[case_at..].iter().filter(|l| l.trim() == "[[case.step]]").count();
    let place = match id {
        Some(id) => format!("case `{id}`, step {number}: "),
        None => String::new(),
    };
    if vocabulary::kinds(role.other()).contains(&kind) {
        return format!("{place}step `{kind}` is for {} suites; this is a {} suite (`[suite] role`)", role.other().as_str(), role.as_str());
    }
    format!("{place}unknown step `{kind}`; {} suites have {}", role.as_str(), vocabulary::kinds(role).join(", "))
}

pub fn load_file(file: &Path) -> Result<Vec<Case>, SuiteError> {
    let text = std::fs::read_to_string(file).map_err(|source| SuiteError::Io { file: file.to_path_buf(), source })?;
    let role = parse::<HeaderOnly>(file, &text, None)?.suite.role;
    let parsed = match role {
        Role::Server => steps_as(parse::<SuiteFile<Vec<ServerStep>>>(file, &text, Some(role))?, Steps::Server),
        Role::Client => steps_as(parse::<SuiteFile<Vec<ClientStep>>>(file, &text, Some(role))?, Steps::Client),
    };
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
            role: parsed.suite.role,
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
