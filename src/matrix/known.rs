//! Known disagreements with the documented tables (`fixtures/expectations/matrix.toml`):
//! cells where the measured matrix differs from the guide for a reason someone checked.
//! The matrix fails on a disagreement that is not listed, and on a listed one that no
//! longer disagrees, so the list stays true.
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// Exact target names.
    pub client: String,
    pub server: String,
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Why the table and this machine differ: the finding, with the scenario and evidence.
    pub reason: String,
}

fn default_profile() -> String {
    "default".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "cell")]
    cells: Vec<Known>,
}

pub fn file(root: &Path) -> PathBuf {
    root.join("fixtures/expectations/matrix.toml")
}

/// The listed cells; none when the file does not exist.
pub fn load(path: &Path) -> Result<Vec<Known>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let f: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1).unwrap_or(1);
        format!("{}:{line}: {}", path.display(), e.message().trim())
    })?;
    for (i, k) in f.cells.iter().enumerate() {
        if k.reason.trim().is_empty() {
            return Err(format!("{}: cell {} ({} × {}) has no reason", path.display(), i + 1, k.client, k.server));
        }
        if f.cells[..i].iter().any(|o| o.client == k.client && o.server == k.server && o.profile == k.profile) {
            return Err(format!("{}: {} × {} [{}] is listed twice", path.display(), k.client, k.server, k.profile));
        }
    }
    Ok(f.cells)
}
