//! Loading suite files, with errors that name the file, the line and what is wrong.
use super::model::{CaseDef, Layer, Revision, Role, SuiteFile};
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
}

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

/// Loads every `suites/<name>/*.toml` (sorted), checking that ids are unique across all suites.
pub fn load_all(dir: &Path) -> Result<Suites, SuiteError> {
    let rd = std::fs::read_dir(dir).map_err(|_| SuiteError::NoSuites(dir.to_path_buf()))?;
    let mut files = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        // Interop scenarios have a format of their own (src/matrix/scenario.rs).
        if p.is_dir() && p.file_name().is_some_and(|n| n != "interop") {
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

pub fn load_file(file: &Path) -> Result<Vec<Case>, SuiteError> {
    let text = std::fs::read_to_string(file).map_err(|source| SuiteError::Io { file: file.to_path_buf(), source })?;
    let parsed: SuiteFile = toml::from_str(&text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
        SuiteError::Syntax { file: file.to_path_buf(), line, col, message: e.message().trim().to_string() }
    })?;
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
        for step in &def.steps {
            if step.is_client_step() != (parsed.suite.role == Role::Client) && step.kind() != "sleep" {
                return Err(at(
                    &def.id,
                    format!(
                        "case `{}`: step `{}` is for {} suites; this is a {} suite (`[suite] role`)",
                        def.id,
                        step.kind(),
                        if step.is_client_step() { "client" } else { "server" },
                        parsed.suite.role.as_str()
                    ),
                ));
            }
        }
        if def.transports.is_empty() {
            return Err(at(&def.id, format!("case `{}` lists no transports", def.id)));
        }
        if !def.revisions.is_empty() && !def.revisions.contains(&parsed.suite.revision) {
            return Err(at(&def.id, format!("case `{}` does not apply to its own suite's revision {}", def.id, parsed.suite.revision)));
        }
        cases.push(Case {
            def: Arc::new(def),
            suite: parsed.suite.name.clone(),
            revision: parsed.suite.revision,
            layer: parsed.suite.layer,
            role: parsed.suite.role,
            file: file.to_path_buf(),
        });
    }
    Ok(cases)
}
