//! The target catalog, `fixtures/targets.toml`.
use crate::suite::Revision;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub family: BTreeMap<String, Family>,
    #[serde(default)]
    pub target: Vec<TargetDef>,
}

/// How a driver family is prepared (one install serves all its targets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Directory, relative to the project root, the preparation runs in.
    pub dir: String,
    /// Command that installs the family's pinned packages.
    pub prepare: Vec<String>,
    /// Files whose content decides whether a preparation is still valid.
    pub inputs: Vec<String>,
    /// Programs that must be on PATH.
    pub requires: Vec<String>,
    /// What to install when a required program is missing.
    pub install_hint: String,
}

/// Server or client; the same notion suites use (`[suite] role`).
pub use crate::suite::model::Role;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDef {
    pub name: String,
    pub role: Role,
    pub family: String,
    /// Revisions spoken with the default options.
    pub revisions: Vec<Revision>,
    /// Revisions spoken only when started with allowEIO3.
    #[serde(default)]
    pub allow_eio3: Vec<Revision>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Driver command, run from the project root.
    pub command: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Deliberately broken targets that exist to prove the harness fails them.
    #[serde(default)]
    pub test_only: bool,
    /// The only suites that apply (empty: every suite of its role and revisions). For targets
    /// broken on purpose for one suite, e.g. a server that dies on the first invalid packet,
    /// which every other suite would only turn into a screen of errors.
    #[serde(default)]
    pub suites: Vec<String>,
}

impl TargetDef {
    /// How a suite of this revision runs on the target: None if it does not speak it,
    /// Some(true) if it needs allowEIO3.
    /// Whether cases of `suite` apply to this target (`suites` in the catalog).
    pub fn runs_suite(&self, suite: &str) -> bool {
        self.suites.is_empty() || self.suites.iter().any(|s| s == suite)
    }

    pub fn speaks(&self, rev: Revision) -> Option<bool> {
        if self.revisions.contains(&rev) {
            Some(false)
        } else if self.allow_eio3.contains(&rev) {
            Some(true)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}: cannot read the target catalog: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("unknown target `{name}`; known targets: {known}")]
    Unknown { name: String, known: String },
}

impl Catalog {
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Io(path.display().to_string(), e))?;
        let cat: Catalog = toml::from_str(&text).map_err(|e| CatalogError::Parse(path.display().to_string(), e.to_string()))?;
        for (i, t) in cat.target.iter().enumerate() {
            if cat.target[..i].iter().any(|o| o.name == t.name) {
                return Err(CatalogError::Parse(path.display().to_string(), format!("target `{}` is defined twice", t.name)));
            }
            if !cat.family.contains_key(&t.family) {
                return Err(CatalogError::Parse(
                    path.display().to_string(),
                    format!("target `{}` names family `{}`, which is not defined", t.name, t.family),
                ));
            }
        }
        Ok(cat)
    }

    /// Exact name, or a unique prefix (`socket.io@4` → `socket.io@4.8.1`).
    pub fn find(&self, name: &str) -> Result<&TargetDef, CatalogError> {
        if let Some(t) = self.target.iter().find(|t| t.name == name) {
            return Ok(t);
        }
        let matches: Vec<&TargetDef> = self.target.iter().filter(|t| t.name.starts_with(name)).collect();
        if matches.len() == 1 {
            return Ok(matches[0]);
        }
        Err(CatalogError::Unknown {
            name: name.to_string(),
            known: self.target.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}
