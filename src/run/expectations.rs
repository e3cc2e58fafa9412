//! Per-target expectation files: known deviations, each with its reason.
use super::verdict::Verdict;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "expect")]
    entries: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    case: String,
    /// One verdict, or several for a race inside the implementation (any of them is expected).
    verdict: OneOrMany,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Clone)]
pub struct Expectations {
    map: HashMap<String, (Vec<Verdict>, String)>,
}

pub fn file_for(root: &Path, target: &str) -> PathBuf {
    let safe: String = target.chars().map(|c| if c.is_ascii_alphanumeric() || "@.-_".contains(c) { c } else { '_' }).collect();
    root.join("fixtures").join("expectations").join(format!("{safe}.toml"))
}

impl Expectations {
    /// A missing file means no known deviations.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let f: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut map = HashMap::new();
        for e in f.entries {
            let names = match &e.verdict {
                OneOrMany::One(v) => vec![v.clone()],
                OneOrMany::Many(v) => v.clone(),
            };
            if names.is_empty() {
                return Err(format!("{}: case {}: an expectation needs a verdict", path.display(), e.case));
            }
            let v = names
                .iter()
                .map(|n| Verdict::parse(n).ok_or_else(|| format!("{}: case {}: unknown verdict `{n}`", path.display(), e.case)))
                .collect::<Result<Vec<_>, _>>()?;
            if e.reason.trim().is_empty() {
                return Err(format!("{}: case {}: an expectation needs a reason", path.display(), e.case));
            }
            if map.insert(e.case.clone(), (v, e.reason)).is_some() {
                return Err(format!("{}: case {} is listed twice", path.display(), e.case));
            }
        }
        Ok(Expectations { map })
    }

    pub fn get(&self, id: &str) -> Option<&(Vec<Verdict>, String)> {
        self.map.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }
}
